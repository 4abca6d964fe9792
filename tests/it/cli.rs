//! Command-line behaviour: usage errors, help, defaults.

use deltalake::protocol::SaveMode;

use crate::harness::*;

#[test]
fn usage_errors_exit_2() {
    let o = run(["prepare"]);
    fails(&o, 2, &["--split"]);
    let o = run(["prepare", "--split", "no-equals-sign"]);
    fails(&o, 2, &["NAME=TABLE"]);
    let o = run(["prepare", "--split", "bad-name=/x"]);
    fails(&o, 2, &["bad-name"]);
    let o = run(["prepare", "--train", "/x", "--max-shard-size", "lots"]);
    fails(&o, 2, &["--max-shard-size"]);
    let o = run(["prepare", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_lists_the_interface() {
    let o = run(["prepare", "--help"]);
    let h = stdout(&o);
    for flag in [
        "--split",
        "--train",
        "--eval",
        "--version",
        "--timestamp",
        "--text-col",
        "--label-col",
        "--keep-col",
        "--select-sql",
        "--no-labels",
        "--label-order",
        "--labels",
        "--output",
        "--max-shard-size",
        "--num-shards",
        "--label-table",
        "--label-map-mode",
        "--working-dir",
        "--overwrite",
        "--drop-nulls",
        "--require-train-labels",
        "--json",
        "--quiet",
    ] {
        assert!(h.contains(flag), "--help lacks {flag}");
    }
}

/// Without --output the dataset lands under $HF_DATASETS_CACHE and the path is printed;
/// labels in eval but not train warn, or fail with --require-train-labels.
#[test]
fn default_output_and_train_label_check() {
    let dir = tmp();
    write_rows(&dir.path().join("train"), &rows("a", 10, &["x", "y"]), SaveMode::ErrorIfExists);
    write_rows(&dir.path().join("eval"), &rows("b", 10, &["x", "q"]), SaveMode::ErrorIfExists);
    let cache = dir.path().join("cache");
    let o = bin()
        .env("HF_DATASETS_CACHE", &cache)
        .args([
            "prepare",
            "--train",
            dir.path().join("train").to_str().unwrap(),
            "--eval",
            dir.path().join("eval").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    ok(&o);
    let printed = stdout(&o);
    assert!(printed.contains(cache.to_str().unwrap()), "{printed}");
    assert!(stderr(&o).contains("`q`"), "no warning about q: {}", stderr(&o));
    let made = ls(&cache.join("delta-hf"));
    assert_eq!(made.len(), 1);
    assert!(cache.join("delta-hf").join(&made[0]).join("dataset_dict.json").exists());
    let o = run([
        "prepare",
        "--require-train-labels",
        "--train",
        dir.path().join("train").to_str().unwrap(),
        "--eval",
        dir.path().join("eval").to_str().unwrap(),
        "--output",
        dir.path().join("o").to_str().unwrap(),
    ]);
    fails(&o, 1, &["`q`", "train"]);
}
