//! Command-line behaviour: usage errors, help, defaults.

use std::collections::BTreeSet;

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

/// The flags of a help text: every `--name` token, taken whole (so `--labels-from` is never
/// taken for `--labels`), and every short `-x`.
fn flags_in(help: &str) -> BTreeSet<String> {
    let b = help.as_bytes();
    let mut out = BTreeSet::new();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let starts = b[i] == b'-' && (i == 0 || !word(b[i - 1]));
        if starts {
            let mut j = i;
            while j < b.len() && word(b[j]) {
                j += 1;
            }
            let tok = &help[i..j];
            let name = tok.trim_start_matches('-');
            let dashes = tok.len() - name.len();
            if (dashes == 2 && name.len() > 1 || dashes == 1 && name.len() == 1)
                && name.starts_with(|c: char| c.is_ascii_lowercase())
            {
                out.insert(tok.to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// `delta-hf <args> --help`: exit 0, and its flags.
#[track_caller]
fn help_flags(args: &[&str]) -> BTreeSet<String> {
    let o = run(args.iter().copied().chain(["--help"]));
    assert_eq!(o.status.code(), Some(0), "{args:?} --help failed:\n{}{}", stdout(&o), stderr(&o));
    let h = stdout(&o);
    assert!(h.contains("Usage: delta-hf"), "{args:?} --help:\n{h}");
    flags_in(&h)
}

/// Each command's `--help` exits 0 and lists exactly its flags (those of README.md's tables,
/// plus `--help`), each matched as a whole token: a missing or an undocumented flag fails.
#[test]
fn help_lists_the_interface() {
    let prepare = [
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
        "--label-kind",
        "--tokens-col",
        "--multi-hot",
        "--label-all-tokens",
        "--label-order",
        "--labels",
        "--labels-from",
        "--output",
        "-o",
        "--format",
        "--max-shard-size",
        "--num-shards",
        "--label-table",
        "--label-table-location",
        "--storage-option",
        "--profile",
        "--retry-timeout",
        "--label-map-mode",
        "--working-dir",
        "--overwrite",
        "--fsync",
        "--drop-nulls",
        "--require-train-labels",
        "--tokenizer",
        "--max-length",
        "--padding",
        "--text-pair-col",
        "--drop-text",
        // --format mds (issue 22).
        "--mds-compression",
        "--mds-hashes",
        // Issue 23 (hygiene).
        "--split-from",
        "--split-ratios",
        "--split-key",
        "--stratify",
        "--group-col",
        "--dedup",
        "--dedup-normalize",
        "--near-dup-threshold",
        "--leaks",
        // SFT exports (issue 21).
        "--messages-col",
        "--prompt-col",
        "--completion-col",
        "--lm",
        "--chat-template",
        "--tools-col",
        "--template-kwargs",
        "--assistant-only-loss",
        "--completion-only-loss",
        "--truncation-mode",
        "--skip-invalid-rows",
        "--packing",
        "--packing-window",
        "--memory-limit",
        "--json",
        "--quiet",
        "-q",
        // issue 22
        "--private",
        // issue 23: the report
        "--report-table",
    ];
    let size = [
        "--config",
        "--revision",
        "--viewer-endpoint",
        "--no-viewer",
        "--retry-timeout",
        "--json",
        "--quiet",
        "-q",
    ];
    let pull = [
        "--config",
        "--revision",
        "--to",
        "--split-table",
        "--overwrite",
        "--parquet-branch",
        "--max-workers",
        "--storage-option",
        "--profile",
        "--retry-timeout",
        "--json",
        "--quiet",
        "-q",
    ];
    let demo_data = ["--dir", "--rows"];
    let plan: Vec<&str> = prepare.iter().copied().chain(["--tasks", "--plan"]).collect();
    let run_task = [
        "--plan",
        "--task",
        "--working-dir",
        "--storage-option",
        "--profile",
        "--retry-timeout",
        "--json",
        "--quiet",
        "-q",
    ];
    let commit = ["--plan", "--storage-option", "--profile", "--retry-timeout", "--json", "--quiet", "-q"];
    for (cmd, want) in [
        ("prepare", &prepare[..]),
        ("size", &size[..]),
        ("pull", &pull[..]),
        ("demo-data", &demo_data[..]),
        ("plan", &plan[..]),
        ("run-task", &run_task[..]),
        ("commit", &commit[..]),
    ] {
        let mut want: BTreeSet<String> = want.iter().map(|f| f.to_string()).collect();
        want.extend(["--help".to_string(), "-h".to_string()]);
        let got = help_flags(&[cmd]);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "`{cmd} --help`: missing {missing:?}, not expected {extra:?}"
        );
    }
    // The top level lists the commands.
    let o = run(["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for cmd in ["prepare", "size", "pull", "demo-data", "plan", "run-task", "commit"] {
        assert!(h.lines().any(|l| l.split_whitespace().next() == Some(cmd)), "--help lacks `{cmd}`:\n{h}");
    }
    let o = run(["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("delta-hf "), "{}", stdout(&o));
}

/// The flag scanner itself: a flag is a whole token.
#[test]
fn flags_in_takes_whole_tokens() {
    let got = flags_in("  --labels-from <CARD>  [env: DELTA_HF_LABELS=]\n  -o, --output <DIR>  a-b --x\n");
    let want: BTreeSet<String> = ["--labels-from", "-o", "--output"].iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
}

/// Every flag a command's `--help` shows is documented in README.md (as `` `--flag` ``).
#[test]
fn every_flag_is_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for cmd in ["prepare", "size", "pull", "plan", "run-task", "commit"] {
        for f in help_flags(&[cmd]) {
            if f == "--help" || f == "-h" {
                continue;
            }
            let documented = readme.contains(&format!("`{f}`")) || readme.contains(&format!("`{f} "));
            assert!(documented, "`{cmd}` flag {f} is not in README.md");
        }
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
