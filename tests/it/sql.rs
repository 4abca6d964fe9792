//! The SQL in `sql/`: every file there (a new one too) parses with DataFusion's parser as
//! exactly one query, says what it is on its first line, and is embedded in the binary.

use deltalake::datafusion::sql::parser::{DFParser, Statement};

use crate::harness::*;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &std::path::Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn every_sql_file_parses_and_is_embedded() {
    let dir = root().join("sql");
    let mut src = String::new();
    sources(&root().join("src"), &mut src);
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
        assert!(
            src.contains(&format!("sql/{name}\")")),
            "sql/{name} is embedded nowhere in src/ (include_str!)"
        );
    }
}
