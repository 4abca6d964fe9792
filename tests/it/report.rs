//! The report (issue 23): `report.json` / `report.html` in the output and `--report-table`,
//! checked by `tests/python/check_report.py` against recomputations from the written dataset
//! (`load_from_disk`): NumPy's percentiles, scikit-learn's `compute_class_weight("balanced")`,
//! `pos_weight` for multi-label, the share truncated by tokenizing the texts again with
//! transformers; the table read back with `deltalake`; the page rendered by headless Chromium;
//! the fan-out's report equal to `prepare`'s.

use std::path::{Path, PathBuf};
use std::process::Command;

use deltalake::arrow::array::{ArrayRef, StringArray};
use deltalake::protocol::SaveMode;
use serde_json::{Value, json};

use crate::harness::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A label that must reach the page escaped.
const MARKUP: &str = "<script>alert(1)</script>";

/// An imbalanced single-label split of `n` rows in `parts` commits (so a plan has several
/// files): texts of many lengths with multi-byte characters, labels 70% `a`, 20% `b`, 10%
/// [`MARKUP`] (`extra` replaces `b` on every fifth row: a label only this split has), and two
/// null texts and three null labels.
fn write_single(path: &Path, n: usize, parts: usize, extra: Option<&str>) {
    let per = n.div_ceil(parts);
    for part in 0..parts {
        let rows: Vec<usize> = (part * per..((part + 1) * per).min(n)).collect();
        let texts: Vec<Option<String>> = rows
            .iter()
            .map(|&i| match i {
                3 | 40 => None,
                i => Some(format!("{}row {i} é😀 {}", "word ".repeat(i % 23), "x".repeat(i % 7))),
            })
            .collect();
        let labels: Vec<Option<String>> = rows
            .iter()
            .map(|&i| match (i, i % 10) {
                (5 | 17 | 61, _) => None,
                (_, 0..=6) => Some("a".into()),
                (i, 7 | 8) => Some(match extra {
                    Some(e) if i % 5 == 3 => e.to_string(),
                    _ => "b".into(),
                }),
                _ => Some(MARKUP.into()),
            })
            .collect();
        let t: ArrayRef = std::sync::Arc::new(StringArray::from(texts));
        let l: ArrayRef = std::sync::Arc::new(StringArray::from(labels));
        let mode = if part == 0 { SaveMode::ErrorIfExists } else { SaveMode::Append };
        write_batches(path, vec![batch(vec![("text", t), ("label", l)])], mode);
    }
}

/// A WordPiece tokenizer (`tokenize_ref.py fixtures`, with a `tokenizer_config.json`).
fn wordpiece(dir: &Path) -> PathBuf {
    let o = Command::new(python())
        .arg(root().join("tests/python/tokenize_ref.py"))
        .arg("fixtures")
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let layout: Value = serde_json::from_slice(&o.stdout).unwrap();
    PathBuf::from(layout["tokenizers"]["wordpiece"].as_str().unwrap())
}

fn check_report(out: &Path, extra: &[&Path]) -> String {
    let mut args: Vec<&Path> = vec![Path::new("check"), out];
    args.extend(extra);
    let o = run_py_with(&python(), "check_report.py", &args);
    assert!(o.contains("ok"), "{o}");
    o
}

fn tables(dir: &Path) -> (PathBuf, PathBuf) {
    let (train, test) = (dir.join("train"), dir.join("test"));
    write_single(&train, 200, 3, None);
    write_single(&test, 45, 2, Some("d"));
    (train, test)
}

fn report_json(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn report_numbers_equal_numpy_sklearn_and_the_table() {
    let dir = tmp();
    let (train, test) = tables(dir.path());
    let tok = wordpiece(&dir.path().join("tok"));
    let out = dir.path().join("out");
    let table = dir.path().join("report_table");
    let run = |json: bool| {
        let mut p = Prepare::new(&out)
            .split("train", &train)
            .split("test", &test)
            .drop_nulls()
            .opt("--tokenizer", &tok)
            .opt("--max-length", "24")
            .opt("--report-table", &table)
            .overwrite();
        if json {
            p = p.json();
        }
        p.run()
    };
    let summary = ok_json(&run(true));
    let r = &summary["report"];
    assert_eq!(summary["report_table"]["version"], json!(0), "{summary}");
    // 2 null texts and 3 null labels in train, dropped; rows in = the table's rows.
    assert_eq!(r["splits"][0]["dropped"], json!({"nulls": 5}));
    assert_eq!(r["splits"][0]["rows_in"], json!(200));
    assert_eq!(r["splits"][0]["rows_out"], json!(195));
    assert_eq!(r["weights"], json!("class_weights"));
    // `d` never occurs in train: weight 0 there.
    let d = r["labels"].as_array().unwrap().iter().position(|l| l == "d").unwrap();
    assert_eq!(r["splits"][0]["classes"][d]["weight"], json!(0.0));
    assert!(r["splits"][0]["tokens"]["truncated"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(report_json(&out)["run_id"], summary["run_id"]);
    check_report(&out, &[Path::new("--tokenizer"), &tok, Path::new("--report-table"), &table]);

    // The page escapes the data's markup.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains(MARKUP));

    // A second run appends to the table (version 1); the terminal shows the same numbers.
    let o = run(false);
    ok(&o);
    let text = stdout(&o);
    let report_line =
        |l: &&str| l.trim_start().starts_with("train") && l.contains(" 200 ") && l.contains('%');
    assert!(text.lines().any(|l| report_line(&l) && l.contains(" 195 ")), "{text}");
    assert!(text.contains("dropped: 5 nulls") && text.contains("class_weights (train):"), "{text}");
    assert!(text.contains("report table:") && text.contains("(version 1)"), "{text}");
    check_report(&out, &[Path::new("--tokenizer"), &tok, Path::new("--report-table"), &table]);
    let rows = py(
        "import sys; from deltalake import DeltaTable; t = DeltaTable(sys.argv[1]).to_pyarrow_table(); \
         print(t.num_rows, len(set(t.column('run_id').to_pylist())))",
        &[&s(&table)],
    );
    assert_eq!(rows.trim(), "4 2", "two runs of two splits");
}

#[test]
fn multi_label_pos_weight_multi_hot_and_token_tags() {
    let dir = tmp();
    for (case, flags) in [
        ("multi", vec!["--label-col", "emotions"]),
        ("multi", vec!["--label-col", "emotions", "--multi-hot"]),
        ("token", vec!["--tokens-col", "words", "--label-col", "tags"]),
    ] {
        let root = dir.path().join(case);
        if !root.exists() {
            let w = run_py_with(&python(), "label_kinds.py", &[Path::new("write"), &root, Path::new(case)]);
            assert!(w.contains("ok"), "{w}");
        }
        let second = if case == "token" { "validation" } else { "test" };
        let out = dir.path().join(format!("out-{}", flags.len()));
        let summary = ok_json(
            &Prepare::new(&out)
                .split("train", root.join("train"))
                .split(second, root.join(second))
                .args(&flags)
                .json()
                .run(),
        );
        let r = &summary["report"];
        let key = if case == "multi" { "pos_weight" } else { "class_weights" };
        assert_eq!(r["weights"], json!(key), "{r}");
        let doc: Value = serde_json::from_slice(&std::fs::read(out.join("label_map.json")).unwrap()).unwrap();
        assert_eq!(doc[key].as_array().map(Vec::len), Some(summary["num_labels"].as_u64().unwrap() as usize));
        if case == "multi" {
            // BCEWithLogitsLoss' pos_weight: negatives / positives (joy: 3 of the train rows).
            let joy = &r["splits"][0]["positives"][2];
            assert_eq!(joy["label"], json!("joy"));
            let n = r["splits"][0]["rows_out"].as_f64().unwrap();
            assert_eq!(joy["pos_weight"], json!((n - 3.0) / 3.0));
        }
        check_report(&out, &[]);
    }
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        return skip("report_html_renders_in_headless_chromium", "no chromium (apt-get install chromium)");
    };
    let dir = tmp();
    let (train, test) = tables(dir.path());
    let out = dir.path().join("out");
    ok(&Prepare::new(&out).split("train", &train).split("test", &test).drop_nulls().quiet().run());
    let shot = dir.path().join("shot.png");
    let page = url::Url::from_file_path(out.join("report.html")).unwrap();
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=1000,1400",
        ])
        .arg(format!("--screenshot={}", s(&shot)))
        .arg(page.as_str())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(shot.is_file(), "no screenshot: {}", stderr(&o));
    let seen = run_py_with(&python(), "check_report.py", &[Path::new("screenshot"), &shot]);
    assert!(seen.starts_with("ok"), "{seen}");
}

#[test]
fn fanout_report_equals_prepare() {
    let dir = tmp();
    let (train, test) = tables(dir.path());
    let tok = wordpiece(&dir.path().join("tok"));
    let reference = dir.path().join("ref");
    let flags = |out: &Path| -> Vec<String> {
        vec![
            "--split".into(),
            format!("train={}", s(&train)),
            "--split".into(),
            format!("test={}", s(&test)),
            "--drop-nulls".into(),
            "--tokenizer".into(),
            s(&tok),
            "--max-length".into(),
            "12".into(),
            "--output".into(),
            s(out),
        ]
    };
    ok(&bin().arg("prepare").args(flags(&reference)).arg("--quiet").output().unwrap());
    let out = dir.path().join("out");
    let table = dir.path().join("report_table");
    let plan = s(&dir.path().join("plan.json"));
    let o = bin()
        .arg("plan")
        .args(flags(&out))
        .args(["--tasks", "3", "--plan", &plan, "--report-table", &s(&table), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    for i in 0..3 {
        ok(&bin().args(["run-task", "--plan", &plan, "--task", &i.to_string(), "--quiet"]).output().unwrap());
    }
    let summary = ok_json(&bin().args(["commit", "--plan", &plan, "--json"]).output().unwrap());
    assert_eq!(summary["report_table"]["version"], json!(0), "{summary}");
    // The tasks' parts merge into the report one process writes.
    let (a, b) = (report_json(&out), report_json(&reference));
    assert_eq!(a["splits"], b["splits"]);
    assert_eq!(
        std::fs::read_to_string(out.join("label_map.json")).unwrap(),
        std::fs::read_to_string(reference.join("label_map.json")).unwrap()
    );
    check_report(&out, &[Path::new("--tokenizer"), &tok, Path::new("--report-table"), &table]);
}
