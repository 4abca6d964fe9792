//! The label-map Delta table: read back by the Python `deltalake` package, stable ids across
//! runs, `extend` / `strict` / `rebuild`.

use deltalake::protocol::SaveMode;
use serde_json::json;

use crate::harness::*;

#[test]
fn label_table_keeps_ids_when_a_new_label_arrives() {
    let dir = tmp();
    let train = dir.path().join("train");
    let test = dir.path().join("test");
    let lt = dir.path().join("labels");
    let v0 = rows("first", 40, &["spam", "ham", "eggs"]);
    let t0 = rows("eval", 9, &["ham", "spam"]);
    write_rows(&train, &v0, SaveMode::ErrorIfExists);
    write_rows(&test, &t0, SaveMode::ErrorIfExists);
    let prepare = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "prepare".to_string(),
            "--json".into(),
            "--train".into(),
            train.display().to_string(),
            "--eval".into(),
            test.display().to_string(),
            "--label-table".into(),
            lt.display().to_string(),
            "--output".into(),
            dir.path().join(out).display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run(args)
    };
    let s = ok_json(&prepare("out1", &[]));
    assert_eq!(s["labels"], json!(["eggs", "ham", "spam"]));
    assert_eq!(s["label_table"]["version"], 0);
    let expect = expect_json(
        dir.path(),
        &[("train", &v0), ("test", &t0)],
        &["eggs", "ham", "spam"],
        json!({"label_table": lt, "label_table_version": 0}),
    );
    check_py("check_dataset.py", &[&dir.path().join("out1"), &expect]);
    let counts = dir.path().join("counts.json");
    std::fs::write(
        &counts,
        serde_json::to_vec(&json!({
            "id2label": {"0": "eggs", "1": "ham", "2": "spam"},
            "version": 0,
            "counts": {"train": {"eggs": 13, "ham": 13, "spam": 14}, "test": {"eggs": 0, "ham": 5, "spam": 4}}
        }))
        .unwrap(),
    )
    .unwrap();
    check_py("check_label_table.py", &[&lt, &counts]);

    // A new train version adds a label that sorts first: old ids stay, it gets max+1.
    let v1 = rows("second", 5, &["apple"]);
    write_rows(&train, &v1, SaveMode::Append);
    // strict refuses it, naming it, and writes nothing.
    let o = prepare("out-strict", &["--label-map-mode", "strict"]);
    fails(&o, 1, &["`apple`", "strict"]);
    assert!(!dir.path().join("out-strict").exists());
    let s = ok_json(&prepare("out2", &[]));
    assert_eq!(s["labels"], json!(["eggs", "ham", "spam", "apple"]));
    assert_eq!(s["new_labels"], json!(["apple"]));
    assert_eq!(s["label_table"]["version"], 1);
    let mut all = v0.clone();
    all.extend(v1.clone());
    let expect = expect_json(
        dir.path(),
        &[("train", &all), ("test", &t0)],
        &["eggs", "ham", "spam", "apple"],
        json!({"label_table": lt, "label_table_version": 1}),
    );
    check_py("check_dataset.py", &[&dir.path().join("out2"), &expect]);

    // rebuild recomputes the code-point order.
    let s = ok_json(&prepare("out3", &["--label-map-mode", "rebuild"]));
    assert_eq!(s["labels"], json!(["apple", "eggs", "ham", "spam"]));
    // The commit metadata names the sources and versions.
    let meta = py(
        "import sys, json, deltalake\n\
         h = deltalake.DeltaTable(sys.argv[1]).history(1)[0]\n\
         print(json.dumps(h.get('delta_hf')))",
        &[lt.to_str().unwrap()],
    );
    let meta: serde_json::Value = serde_json::from_str(meta.trim()).unwrap();
    assert_eq!(meta["sources"][0]["split"], "train");
    assert_eq!(meta["sources"][0]["version"], 1);
    assert!(meta["run_id"].as_str().unwrap().len() > 10);
}
