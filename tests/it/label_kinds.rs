//! Label kinds (issue 11): multi-label, multi-hot, token classification and regression exports
//! end to end on Delta tables written here with the Python `deltalake` package
//! (`tests/python/label_kinds.py` holds the rows and derives the expected output from them), read
//! back with `datasets.load_from_disk`, the label table with `deltalake`, `label_map.json` with
//! transformers; the refusals; and the same output loading identically in `datasets` 2.21, 3.6,
//! 4.x and 5.x.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::*;

/// The CASE's tables under `<dir>/<case>/<split>`.
fn fixture(dir: &Path, case: &str) -> PathBuf {
    let root = dir.join(case);
    let out = py_script("label_kinds.py", &["write", root.to_str().unwrap(), case]);
    assert!(out.contains("ok"), "{out}");
    root
}

fn py_script(script: &str, args: &[&str]) -> String {
    let paths: Vec<&Path> = args.iter().map(Path::new).collect();
    run_py_with(&python(), script, &paths)
}

fn check(root: &Path, case: &str, output: &Path, label_table: Option<&Path>) {
    let mut args = vec!["check", root.to_str().unwrap(), case, output.to_str().unwrap()];
    if let Some(t) = label_table {
        args.push(t.to_str().unwrap());
    }
    py_script("label_kinds.py", &args);
}

/// `label_map.json` builds a transformers BERT config with these fields.
fn check_model_config(output: &Path, names: Option<&[&str]>, num_labels: usize, problem_type: Option<&str>) {
    let expect = output.with_extension("model-config.json");
    std::fs::write(
        &expect,
        serde_json::to_vec(&json!({"names": names, "num_labels": num_labels, "problem_type": problem_type}))
            .unwrap(),
    )
    .unwrap();
    check_py("check_model_config.py", &[&output.join("label_map.json"), &expect]);
}

/// `prepare --json ... --output OUT`.
fn prepare(out: &Path) -> Prepare {
    Prepare::new(out).json()
}

const EMOTIONS: [&str; 8] = ["Zoo", "anger", "joy", "love", "neutral", "sadness", "surprise", "émoi"];
const NER: [&str; 6] = ["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER", "O"];

/// An `array<string>` label column used to be exported as one class per array string form
/// (`"[anger, joy]"`): now `auto` makes it a multi-label export.
#[test]
fn array_label_column_is_a_multi_label_export() {
    let dir = tmp();
    let root = fixture(dir.path(), "multi");
    let out = dir.path().join("out");
    let lt = dir.path().join("label_map");
    let summary = ok_json(
        &prepare(&out)
            .train(root.join("train"))
            .eval(root.join("test"))
            .label_col("emotions")
            .keep_cols(&["tags", "spans"])
            .label_table(&lt)
            .run(),
    );
    assert_eq!(summary["label_kind"], "multi");
    assert_eq!(summary["labels"], json!(EMOTIONS));
    // rows containing each label, per split, in id order
    let train = &summary["splits"][0];
    assert_eq!(train["rows_per_label"][2], json!(["joy", 3]));
    assert_eq!(summary["splits"][1]["rows_per_label"][4], json!(["neutral", 1]));
    let warnings = summary["warnings"].to_string();
    assert!(warnings.contains("`neutral`") && warnings.contains("`surprise`"), "{warnings}");
    check(&root, "multi", &out, Some(&lt));
    check_model_config(&out, Some(&EMOTIONS), 8, Some("multi_label_classification"));

    // The text summary names the kind and what the counts count.
    let o = Prepare::new(dir.path().join("out-text")).train(root.join("train")).label_col("emotions").run();
    ok(&o);
    let text = stdout(&o);
    assert!(text.contains("multi") && text.contains("rows containing"), "{text}");
}

#[test]
fn multi_hot_vectors() {
    let dir = tmp();
    let root = fixture(dir.path(), "multi");
    let out = dir.path().join("out");
    let summary = ok_json(
        &prepare(&out)
            .train(root.join("train"))
            .eval(root.join("test"))
            .label_col("emotions")
            .label_kind("multi")
            .arg("--multi-hot")
            .keep_cols(&["tags", "spans"])
            .run(),
    );
    assert_eq!(summary["label_kind"], "multi");
    check(&root, "multi_hot", &out, None);
    check_model_config(&out, Some(&EMOTIONS), 8, Some("multi_label_classification"));
}

#[test]
fn token_classification_export() {
    let dir = tmp();
    let root = fixture(dir.path(), "token");
    let out = dir.path().join("out");
    let lt = dir.path().join("tags");
    let summary = ok_json(
        &prepare(&out)
            .split("train", root.join("train"))
            .split("validation", root.join("validation"))
            .tokens_col("words")
            .label_col("tags")
            .keep_cols(&["sentence_id"])
            .label_table(&lt)
            .run(),
    );
    assert_eq!(summary["label_kind"], "token");
    assert_eq!(summary["labels"], json!(NER));
    assert_eq!(summary["splits"][0]["rows_per_label"][5], json!(["O", 4]));
    assert_eq!(summary["splits"][0]["num_rows"], 4);
    check(&root, "token", &out, Some(&lt));
    check_model_config(&out, Some(&NER), 6, None);

    // Integer tags: names are their string forms in code-point order; explicit kind and env.
    let root = fixture(dir.path(), "token_int");
    let out = dir.path().join("out-int");
    let o = prepare(&out)
        .train(root.join("train"))
        .eval(root.join("test"))
        .tokens_col("words")
        .label_col("tags")
        .keep_cols(&["sentence_id"])
        .env("DELTA_HF_LABEL_KIND", "token")
        .run();
    let summary = ok_json(&o);
    assert_eq!(summary["labels"], json!(["1", "10", "2", "7"]));
    check(&root, "token_int", &out, None);
}

/// A `double` score used to become one class per distinct value: now `auto` makes it a
/// regression export; NaN counts as null.
#[test]
fn float_label_column_is_a_regression_export() {
    let dir = tmp();
    let root = fixture(dir.path(), "regression");
    let scores =
        |out: &Path| Prepare::new(out).train(root.join("train")).eval(root.join("test")).label_col("score");
    // NaN and null scores: refused with the counts, nothing written.
    let refused = dir.path().join("refused");
    let o = scores(&refused).run();
    fails(&o, 1, &["`score`", "2 rows in `train`", "NaN", "--drop-nulls"]);
    assert!(!refused.exists());

    let out = dir.path().join("out");
    let summary = ok_json(&scores(&out).drop_nulls().json().run());
    assert_eq!(summary["label_kind"], "regression");
    assert_eq!(summary["splits"][0]["dropped_rows"], 2);
    assert_eq!(summary["labels"], json!([]));
    check(&root, "regression", &out, None);
    check_model_config(&out, None, 1, Some("regression"));

    // A decimal column is a regression target too.
    let root = fixture(dir.path(), "decimal");
    let out = dir.path().join("out-decimal");
    let summary =
        ok_json(&prepare(&out).train(root.join("train")).eval(root.join("test")).label_col("score").run());
    assert_eq!(summary["label_kind"], "regression");
    check(&root, "decimal", &out, None);
}

/// Every refusal happens before anything is written: no output, no label table.
#[test]
fn refusals_leave_no_output() {
    let dir = tmp();
    let out = dir.path().join("out");
    let lt = dir.path().join("lt");
    let nothing_written = || {
        assert!(!out.exists(), "an output was written");
        assert!(!lt.exists(), "a label table was written");
        let hidden: Vec<String> = ls(dir.path()).into_iter().filter(|n| n.starts_with('.')).collect();
        assert!(hidden.is_empty(), "staging left behind: {hidden:?}");
    };

    // Words and tags of different lengths: the count and the first rows' positions.
    let root = fixture(dir.path(), "token_mismatch");
    let o = prepare(&out)
        .split("train", root.join("train"))
        .split("validation", root.join("validation"))
        .tokens_col("words")
        .label_col("tags")
        .label_table(&lt)
        .run();
    fails(&o, 1, &["3 rows", "2 in `train` (rows 1, 3)", "1 in `validation` (row 0)", "`words`", "`tags`"]);
    nothing_written();

    // A null element of a label list: refused with counts, even with --drop-nulls.
    let root = fixture(dir.path(), "multi_null_element");
    let (train, test) = (root.join("train"), root.join("test"));
    for extra in [&[][..], &["--drop-nulls"][..]] {
        let a = prepare(&out).train(&train).eval(&test).label_col("emotions").label_table(&lt).args(extra);
        fails(&a.run(), 1, &["`emotions`", "null element", "1 row in `train`", "1 row in `test`"]);
        nothing_written();
    }

    // A type no kind takes.
    let root = fixture(dir.path(), "map_label");
    let o = prepare(&out).train(root.join("train")).run();
    fails(&o, 1, &["`label`", "Map", "single", "multi", "token", "regression"]);
    nothing_written();

    // Explicit kinds that do not fit the column.
    let root = fixture(dir.path(), "multi");
    let train = root.join("train");
    let o = prepare(&out).train(&train).label_col("emotions").label_kind("regression").run();
    fails(&o, 1, &["--label-kind regression", "`emotions`", "--label-kind multi"]);
    let o = prepare(&out).train(&train).label_col("main").label_kind("multi").run();
    fails(&o, 1, &["--label-kind multi", "`main`", "--label-kind single"]);
    let o = Prepare::new(&out).train(&train).label_col("emotions").env("DELTA_HF_LABEL_KIND", "single").run();
    fails(&o, 1, &["--label-kind single", "`emotions`"]);
    nothing_written();

    // Regression with a label table: a usage error before any work, saying why — when asked for
    // and when the column's type makes it one.
    let root = fixture(dir.path(), "regression");
    let train = root.join("train");
    for kind in ["regression", "auto"] {
        let o = prepare(&out).train(&train).label_col("score").label_kind(kind).label_table(&lt).run();
        fails(&o, 2, &["--label-table", "regression", "no label map"]);
        nothing_written();
    }

    // Flags that contradict each other are usage errors.
    let o = prepare(&out).train(&train).label_kind("token").run();
    fails(&o, 2, &["--tokens-col"]);
    let o = prepare(&out).train(&train).label_kind("single").arg("--multi-hot").run();
    fails(&o, 2, &["--multi-hot"]);
    nothing_written();
}

/// One output per kind with a ClassLabel, a Sequence(ClassLabel), kept lists of strings and of
/// structs and a multi-hot vector loads in every `datasets` release with the same features and
/// values.
#[test]
fn outputs_load_alike_in_datasets_2_21_3_6_4_and_5() {
    let pythons = compat_pythons();
    let releases: Vec<&String> = pythons.keys().collect();
    assert_eq!(releases, ["2.21", "3.6", "4.8", "5.2"], "the compatibility releases");
    let dir = tmp();
    let root = fixture(dir.path(), "multi");
    let token = fixture(dir.path(), "token");
    let (train, test) = (root.join("train"), root.join("test"));
    let outputs: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        ("single", dir.path().join("single"), vec!["--label-col", "main"]),
        ("multi", dir.path().join("multi-out"), vec!["--label-col", "emotions"]),
        ("multi-hot", dir.path().join("hot"), vec!["--label-col", "emotions", "--multi-hot"]),
    ];
    for (_, out, args) in &outputs {
        ok(&prepare(out).train(&train).eval(&test).args(args).keep_cols(&["tags", "spans"]).run());
    }
    let token_out = dir.path().join("token-out");
    let tokens = |out: &Path| {
        prepare(out)
            .split("train", token.join("train"))
            .split("validation", token.join("validation"))
            .tokens_col("words")
            .label_col("tags")
    };
    ok(&tokens(&token_out).run());
    // Token classification tokenized: list<int32>, list<int8> and the aligned list<int64> labels.
    let tok = dir.path().join("tok");
    run_py_with(&python(), "tokenize_ref.py", &[Path::new("fixtures"), &tok]);
    let tokenized_out = dir.path().join("token-tokenized");
    ok(&tokens(&tokenized_out).opt("--tokenizer", tok.join("tok/wordpiece")).run());
    let mut all = outputs.iter().map(|(n, p, _)| (*n, p.clone())).collect::<Vec<_>>();
    all.push(("token", token_out));
    all.push(("token-tokenized", tokenized_out));
    for (name, out) in &all {
        let mut dumps: Vec<(String, Value)> = Vec::new();
        for (release, python) in &pythons {
            let d: Value = serde_json::from_str(&run_py_with(python, "dump_dataset.py", &[out])).unwrap();
            assert!(
                d["datasets"].as_str().unwrap().starts_with(release.as_str()),
                "{release}: {}",
                d["datasets"]
            );
            dumps.push((release.clone(), d["splits"].clone()));
        }
        let (first, reference) = &dumps[0];
        for (release, splits) in &dumps[1..] {
            assert_eq!(splits, reference, "{name}: datasets {release} reads it differently from {first}");
        }
        // ... and as intended: shard metadata and dataset_info.json agree.
        for (split, v) in reference.as_object().unwrap() {
            assert_eq!(v["features"], v["shard_features"], "{name}/{split}");
        }
        let f = &reference["train"]["features"];
        match *name {
            "single" => assert_eq!(f["label"]["class_label"].as_array().unwrap().len(), 8),
            "multi" => assert_eq!(f["labels"]["list"]["class_label"], json!(EMOTIONS)),
            "multi-hot" => assert_eq!(f["labels"], json!({"list": {"value": "float32"}, "length": 8})),
            "token" => assert_eq!(f["ner_tags"]["list"]["class_label"], json!(NER)),
            _ => {
                assert_eq!(f["ner_tags"]["list"]["class_label"], json!(NER));
                for (col, ty) in [("input_ids", "int32"), ("attention_mask", "int8"), ("labels", "int64")] {
                    assert_eq!(f[col], json!({"list": {"value": ty}, "length": -1}), "{col}");
                }
            }
        }
        if !name.starts_with("token") {
            assert_eq!(f["tags"], json!({"list": {"value": "string"}, "length": -1}), "{name}");
            assert_eq!(f["spans"]["list"]["struct"]["kind"], json!({"value": "string"}), "{name}");
        }
    }
}
