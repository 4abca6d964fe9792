//! The export's column names: the user's (`--text-col`, `--label-col`, `--keep-col`,
//! `--tokens-col`) and the fixed names the stages bind them to. A leaf module: every stage of
//! `transform/` reads these names, none of them is defined twice.

use deltalake::datafusion::common::Column;
use deltalake::datafusion::prelude::Expr;

/// The output column of the text in a labelled export.
pub const TEXT: &str = "text";
/// The output column of the label in a labelled export (also the label as selected, before
/// its kind encodes it).
pub const LABEL: &str = "label";
/// The output column of the words of a token-classification export.
pub const TOKENS: &str = "tokens";
/// The output column of the label ids of a multi-label export.
pub const MULTI_LABELS: &str = "labels";
/// The output column of the tag ids of a token-classification export.
pub const TOKEN_TAGS: &str = "ner_tags";

/// The columns of an export, as the user named them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Columns {
    pub text: String,
    pub label: String,
    pub keep: Vec<String>,
    /// `--tokens-col`: the words of a token-classification export (then no text column).
    pub tokens: Option<String>,
}

/// A column by its exact name (no parsing of dots or case).
pub fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}
