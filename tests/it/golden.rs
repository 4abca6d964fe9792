//! The Spark-written golden tables: every table with `expected/` exports with `--no-labels`
//! to rows equal to Spark's (checked by `tests/python/check_golden.py` through
//! `datasets.load_from_disk`); the tables that must be refused are refused, naming why, and
//! leave no output.

use crate::harness::*;

#[test]
fn golden_tables_read_like_spark() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut names: Vec<String> = ls(&golden_dir());
    names.retain(|n| golden(n).join("expected").is_dir());
    assert!(names.len() >= 15, "golden fixtures not found at {}", golden_dir().display());
    for name in names {
        let dir = tmp();
        let out = dir.path().join("out");
        let table = golden(&name).join("delta");
        let o = run([
            "prepare",
            "--no-labels",
            "--quiet",
            "--split",
            &format!("train={}", table.display()),
            "--output",
            out.to_str().unwrap(),
        ]);
        if !o.status.success() {
            failures.push(format!("{name}: delta-hf failed: {}", stderr(&o)));
            continue;
        }
        let c = std::process::Command::new(python())
            .arg(root().join("tests/python/check_golden.py"))
            .arg(&out)
            .arg("train")
            .arg(golden(&name).join("expected"))
            .output()
            .unwrap();
        if !c.status.success() {
            failures.push(format!("{name}: {}{}", stdout(&c), stderr(&c)));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{} of the golden tables differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 15);
}

/// Each refusal: exit 3, the reason named, no output directory, no staging left behind.
#[test]
fn unreadable_tables_are_refused() {
    let cases: &[(&str, &[&str])] = &[
        (
            "deltalog-state-reconstruction-without-protocol",
            &["deltalog-state-reconstruction-without-protocol", "protocol"],
        ),
        ("versions-not-contiguous", &["versions-not-contiguous", "missing"]),
        ("no-delta-log-folder", &["not a Delta table", "_delta_log"]),
    ];
    for (name, needles) in cases {
        let dir = tmp();
        let out = dir.path().join("out");
        let o = run([
            "prepare",
            "--no-labels",
            "--split",
            &format!("train={}", golden(name).join("delta").display()),
            "--output",
            out.to_str().unwrap(),
        ]);
        let err = fails(&o, 3, needles);
        assert!(err.contains("cannot be read"), "{name}: {err}");
        assert_eq!(ls(dir.path()), Vec::<String>::new(), "{name}: something was written");
    }
}

/// A missing table is named; so is an unknown column, with the columns that exist.
#[test]
fn missing_table_and_column() {
    let dir = tmp();
    let out = dir.path().join("out");
    let missing = dir.path().join("nope");
    let o = run(["prepare", "--train", missing.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    fails(&o, 3, &["nope", "not found"]);
    let o = run([
        "prepare",
        "--train",
        golden("data-reader-primitives").join("delta").to_str().unwrap(),
        "--text-col",
        "as_string",
        "--label-col",
        "labl",
        "--output",
        out.to_str().unwrap(),
    ]);
    fails(&o, 1, &["`labl`", "as_int", "as_string", "--label-col"]);
    assert!(!out.exists());
}

/// Unsupported reader features are refused by name before scanning.
#[test]
fn unsupported_reader_feature_is_named() {
    use deltalake::protocol::SaveMode;
    let dir = tmp();
    let t = dir.path().join("t");
    write_rows(&t, &rows("x", 5, &["a"]), SaveMode::ErrorIfExists);
    // Rewrite the protocol to require typeWidening (as Databricks does after a type change).
    let log = t.join("_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("{\"protocol\"") {
            lines.push(r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["typeWidening"],"writerFeatures":["typeWidening"]}}"#.into());
        } else {
            lines.push(line.to_string());
        }
    }
    assert!(lines.iter().any(|l| l.contains("typeWidening")), "no protocol line in {text}");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("out");
    let o = run(["prepare", "--train", t.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    fails(&o, 3, &["`typeWidening`", "Workaround"]);
    assert!(!out.exists());
}
