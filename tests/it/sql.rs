//! The SQL in `sql/`: every file there (a new one too) parses with DataFusion's parser as
//! exactly one query, says what it is on its first line, and is in the binary (embedded and
//! used, so the linker kept it); and the statements run on whatever a user's table holds:
//! column names that must be quoted, label values that look like SQL.

use deltalake::datafusion::sql::parser::{DFParser, Statement};
use deltalake::protocol::SaveMode;
use serde_json::json;

use crate::harness::*;

#[test]
fn every_sql_file_parses_and_is_embedded() {
    let dir = root().join("sql");
    let binary = std::fs::read(exe()).expect("read the binary under test");
    let mut names = ls(&dir);
    names.retain(|n| !n.starts_with('.'));
    assert!(names.len() >= 5, "sql/ holds {names:?}");
    for name in names {
        assert!(name.ends_with(".sql"), "sql/{name}: only .sql files belong in sql/");
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let stem = name.trim_end_matches(".sql");
        assert!(
            text.starts_with(&format!("-- {stem}: ")),
            "sql/{name} does not start with `-- {stem}: <what it gives>`"
        );
        let statements =
            DFParser::parse_sql(&text).unwrap_or_else(|e| panic!("sql/{name} does not parse: {e}"));
        assert_eq!(statements.len(), 1, "sql/{name} holds {} statements", statements.len());
        match &statements[0] {
            Statement::Statement(s) => {
                assert!(
                    matches!(**s, deltalake::datafusion::sql::sqlparser::ast::Statement::Query(_)),
                    "sql/{name} is not a query: {s}"
                )
            }
            other => panic!("sql/{name} is not a query: {other:?}"),
        }
        // The file's text, byte for byte, is in the binary: `include_str!`ed by code the binary
        // runs (an unused constant would not survive the link).
        assert!(
            binary.windows(text.len()).any(|w| w == text.as_bytes()),
            "sql/{name} is not in the binary: embed it with include_str! where it runs"
        );
    }
}

/// Column names that SQL must quote (upper case, a reserved word, a dash, a quote) and label
/// values that would break a statement they were pasted into: every statement of a labelled
/// export (null checks, label counts, the label map, encoding, the label table) takes them as
/// names and values, and the dataset holds exactly the rows.
#[test]
fn columns_and_labels_that_need_quoting_round_trip() {
    let dir = tmp();
    let (text_col, label_col, keep_col) = ("Review-Text", "select", "From \"Where\"");
    let labels = ["it's", "x'); DROP TABLE input; --", "\"quoted\" label", "Ünïcode; --"];
    let train: Vec<(String, String)> =
        (0..40).map(|i| (format!("text {i} ' \" ;"), labels[i % labels.len()].to_string())).collect();
    let test: Vec<(String, String)> =
        (0..9).map(|i| (format!("test {i} -- x"), labels[(i + 1) % 3].to_string())).collect();
    for (split, rows) in [("train", &train), ("test", &test)] {
        let texts: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let labels: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let ids: Vec<i64> = (0..rows.len() as i64).collect();
        let b = batch(vec![(text_col, strs(&texts)), (label_col, strs(&labels)), (keep_col, ints(&ids))]);
        write_batches(&dir.path().join(split), vec![b], SaveMode::ErrorIfExists);
    }
    let out = dir.path().join("out");
    let lt = dir.path().join("labels");
    let o = Prepare::new(&out)
        .json()
        .split("train", dir.path().join("train"))
        .split("test", dir.path().join("test"))
        .text_col(text_col)
        .label_col(label_col)
        .keep_cols(&[keep_col])
        .label_table(&lt)
        .opt("--max-shard-size", "1KB")
        .run();
    let summary = ok_json(&o);
    let mut names = labels.to_vec();
    names.sort();
    assert_eq!(summary["labels"], json!(names));
    let expect = expect_json(
        dir.path(),
        &[("train", &train), ("test", &test)],
        &names,
        json!({"label_table": lt, "label_table_version": 0}),
    );
    check_py("check_dataset.py", &[&out, &expect]);
    // The kept column, under its own name, in source order per split.
    let kept = py(
        "import sys, datasets\nd = datasets.load_from_disk(sys.argv[1])\n\
         print([sorted(d[s][sys.argv[2]]) == list(range(d[s].num_rows)) for s in d])",
        &[out.to_str().unwrap(), keep_col],
    );
    assert_eq!(kept.trim(), "[True, True]");

    // A second run reads the label table back (read_label_map.sql): the ids stay, a new label
    // that looks like SQL too gets the next one.
    let new_label = "'); DELETE FROM label_table; --";
    let more: Vec<(String, String)> =
        (0..8).map(|i| (format!("more {i}"), [labels[i % 4], new_label][i % 2].to_string())).collect();
    let texts: Vec<&str> = more.iter().map(|r| r.0.as_str()).collect();
    let more_labels: Vec<&str> = more.iter().map(|r| r.1.as_str()).collect();
    let b = batch(vec![(text_col, strs(&texts)), (label_col, strs(&more_labels))]);
    write_batches(&dir.path().join("more"), vec![b], SaveMode::ErrorIfExists);
    let again = dir.path().join("again");
    let o = Prepare::new(&again)
        .json()
        .train(dir.path().join("more"))
        .text_col(text_col)
        .label_col(label_col)
        .label_table(&lt)
        .run();
    let summary = ok_json(&o);
    let mut grown = names.clone();
    grown.push(new_label);
    assert_eq!(summary["labels"], json!(grown));
    assert_eq!(summary["new_labels"], json!([new_label]));
    let expect = expect_json(
        dir.path(),
        &[("train", &more)],
        &grown,
        json!({"label_table": lt, "label_table_version": 1}),
    );
    check_py("check_dataset.py", &[&again, &expect]);
}
