//! The SQL kept in `sql/` (one statement per file, named for what it produces), embedded at
//! compile time, with the names of the views each statement reads.
//!
//! No user input is ever formatted into SQL: user-named columns are bound through the
//! DataFrame API (exact identifiers, no parsing) into views with fixed column names, and the
//! statements below only refer to those views.

/// Per (split, label) row counts; see `sql/label_counts.sql`. Reads [`LABEL_INPUT_VIEW`].
pub const LABEL_COUNTS: &str = include_str!("../../sql/label_counts.sql");
/// Per split null-text counts; see `sql/null_texts.sql`. Reads [`TEXT_INPUT_VIEW`].
pub const NULL_TEXTS: &str = include_str!("../../sql/null_texts.sql");
/// Label strings → ids; see `sql/encode_labels.sql`. Reads [`INPUT_VIEW`].
pub const ENCODE_LABELS: &str = include_str!("../../sql/encode_labels.sql");
/// Row count of one split; see `sql/count_rows.sql`. Reads [`INPUT_VIEW`].
pub const COUNT_ROWS: &str = include_str!("../../sql/count_rows.sql");
/// Per split rows and labelled rows (regression); see `sql/null_labels.sql`. Reads
/// [`LABEL_INPUT_VIEW`].
pub const NULL_LABELS: &str = include_str!("../../sql/null_labels.sql");
/// Per split null lists and null elements of list labels; see `sql/list_label_checks.sql`.
/// Reads [`LABEL_INPUT_VIEW`].
pub const LIST_LABEL_CHECKS: &str = include_str!("../../sql/list_label_checks.sql");
/// Per split checks of words and tags; see `sql/token_checks.sql`. Reads [`TOKEN_INPUT_VIEW`].
pub const TOKEN_CHECKS: &str = include_str!("../../sql/token_checks.sql");
/// Per row: words and tags differ in length; see `sql/token_mismatches.sql`. Reads
/// [`TOKEN_SPLIT_VIEW`].
pub const TOKEN_MISMATCHES: &str = include_str!("../../sql/token_mismatches.sql");
/// Per (split, label) rows containing the label; see `sql/multi_label_counts.sql`. Reads
/// [`LABEL_INPUT_VIEW`].
pub const MULTI_LABEL_COUNTS: &str = include_str!("../../sql/multi_label_counts.sql");
/// Per (split, label) tags; see `sql/token_label_counts.sql`. Reads [`LABEL_INPUT_VIEW`].
pub const TOKEN_LABEL_COUNTS: &str = include_str!("../../sql/token_label_counts.sql");
/// Lists of label strings → lists of ids; see `sql/encode_label_lists.sql`. Reads [`INPUT_VIEW`].
pub const ENCODE_LABEL_LISTS: &str = include_str!("../../sql/encode_label_lists.sql");
/// Lists of label strings → multi-hot vectors; see `sql/encode_multi_hot.sql`. Reads
/// [`INPUT_VIEW`].
pub const ENCODE_MULTI_HOT: &str = include_str!("../../sql/encode_multi_hot.sql");

/// `label_input(split, label)`: every split's label column, unioned (a string; a list of strings
/// for list labels; float32 for regression).
pub const LABEL_INPUT_VIEW: &str = "label_input";
/// `text_input(split, text)`: every split's text column, unioned.
pub const TEXT_INPUT_VIEW: &str = "text_input";
/// `token_input(split, tokens, label)`: every split's words and tags, unioned.
pub const TOKEN_INPUT_VIEW: &str = "token_input";
/// `token_split(tokens, label)`: one split's words and tags, in row order.
pub const TOKEN_SPLIT_VIEW: &str = "token_split";
/// `input`: the split being encoded or counted.
pub const INPUT_VIEW: &str = "input";
/// `source`: in a `--select-sql` query, the split being exported.
pub const SOURCE_VIEW: &str = "source";

/// The column holding the id (renamed `label` after projection).
pub const LABEL_ID_COLUMN: &str = "__label_id";

#[cfg(test)]
mod tests {
    use deltalake::datafusion::sql::parser::DFParser;

    use super::*;

    /// Every statement, by file name (the `sql/` files a test parses).
    pub const ALL: &[(&str, &str)] = &[
        ("label_counts.sql", LABEL_COUNTS),
        ("null_texts.sql", NULL_TEXTS),
        ("encode_labels.sql", ENCODE_LABELS),
        // Read with the label table's layout, below the stages.
        ("read_label_map.sql", crate::storage::label_layout::READ_LABEL_MAP),
        ("count_rows.sql", COUNT_ROWS),
        ("null_labels.sql", NULL_LABELS),
        ("list_label_checks.sql", LIST_LABEL_CHECKS),
        ("token_checks.sql", TOKEN_CHECKS),
        ("token_mismatches.sql", TOKEN_MISMATCHES),
        ("multi_label_counts.sql", MULTI_LABEL_COUNTS),
        ("token_label_counts.sql", TOKEN_LABEL_COUNTS),
        ("encode_label_lists.sql", ENCODE_LABEL_LISTS),
        ("encode_multi_hot.sql", ENCODE_MULTI_HOT),
    ];

    /// Every file in `sql/` is embedded here and parses as exactly one statement.
    #[test]
    fn every_sql_file_is_embedded_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("sql/ exists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let mut embedded: Vec<String> = ALL.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded, "every sql/ file is embedded in ALL, and nothing else");
        for (name, text) in ALL {
            let statements = DFParser::parse_sql(text).unwrap_or_else(|e| panic!("sql/{name}: {e}"));
            assert_eq!(statements.len(), 1, "sql/{name} holds one statement");
        }
    }
}
