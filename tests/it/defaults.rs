//! The default output directory (no `--output`): one per distinct export. Settings that change
//! the rows or the ids (`--labels`, `--labels-from`, `--label-table`, `--drop-nulls`) give
//! another directory; the same settings give the same one.

use deltalake::protocol::SaveMode;

use crate::harness::*;

#[test]
fn settings_that_change_ids_or_rows_change_the_default_output() {
    let dir = tmp();
    let train = dir.path().join("train");
    write_text_table(
        &train,
        &[(Some("t1"), Some("b")), (Some("t2"), Some("a")), (Some("t3"), None)],
        SaveMode::ErrorIfExists,
    );
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "b\na\n").unwrap();
    let other_labels = dir.path().join("other.txt");
    std::fs::write(&other_labels, "a\nb\n").unwrap();
    let cache = dir.path().join("cache");
    let export = |extra: &[&str]| -> String {
        let mut args =
            vec!["prepare", "--train", train.to_str().unwrap(), "--drop-nulls", "--overwrite", "--json"];
        args.extend_from_slice(extra);
        let o = bin().env("HF_DATASETS_CACHE", &cache).args(&args).output().unwrap();
        ok_json(&o)["output"].as_str().expect("output in the summary").to_string()
    };
    let lt = dir.path().join("lt");
    let base = export(&[]);
    let with_labels = export(&["--labels", labels.to_str().unwrap()]);
    let with_other_labels = export(&["--labels", other_labels.to_str().unwrap()]);
    let with_table = export(&["--label-table", lt.to_str().unwrap()]);
    let from_table = export(&["--labels-from", lt.to_str().unwrap()]);
    let outputs = [&base, &with_labels, &with_other_labels, &with_table, &from_table];
    for (i, a) in outputs.iter().enumerate() {
        assert!(a.starts_with(cache.to_str().unwrap()), "{a}");
        for b in &outputs[i + 1..] {
            assert_ne!(a, b, "two different exports share a default output");
        }
    }
    // Without --drop-nulls the run refuses the null label: it must not land in `base` either.
    let o = bin()
        .env("HF_DATASETS_CACHE", &cache)
        .args(["prepare", "--train", train.to_str().unwrap(), "--overwrite"])
        .output()
        .unwrap();
    fails(&o, 1, &["--drop-nulls"]);
    // The same settings again: the same directory, and ids as the labels file says.
    assert_eq!(export(&["--labels", labels.to_str().unwrap()]), with_labels);
    let names = py(
        "import sys, datasets; print(datasets.load_from_disk(sys.argv[1])['train'].features['label'].names)",
        &[&with_labels],
    );
    assert_eq!(names.trim(), "['b', 'a']");
    assert_eq!(ls(&cache.join("delta-hf")).len(), outputs.len());
}
