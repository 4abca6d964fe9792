//! Label kinds: what a label column holds (one class, several, one per word, a number), how its
//! Arrow type decides the kind under `--label-kind auto`, and the columns each kind writes.
//!
//! | kind | label column type | written as |
//! |---|---|---|
//! | single | string, integer, boolean | `label`: `ClassLabel` (int64) |
//! | multi | an array of those | `labels`: `Sequence(ClassLabel)` (list<int64>), or with `--multi-hot` a `Sequence(Value("float32"), length=N)` |
//! | token | an array of those, with `--tokens-col` (an array of strings) | `tokens`: `Sequence(Value("string"))`, `ner_tags`: `Sequence(ClassLabel)` |
//! | regression | float, double, decimal (integers too when asked for) | `label`: `Value("float32")`, NaN as null |
//!
//! A type no kind takes, or an explicit kind that does not fit the type, is refused before any
//! row is read.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field};
use deltalake::datafusion::functions::math::expr_fn::isnan;
use deltalake::datafusion::prelude::{DataFrame, Expr, cast, lit, when};
use deltalake::datafusion::scalar::ScalarValue;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::transform::select::{Columns, LABEL, column};

/// What the label column holds (`--label-kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LabelKind {
    /// From the column's type: scalar → single, array → multi (token with `--tokens-col`),
    /// float/double/decimal → regression.
    #[default]
    Auto,
    /// One class per row (string, integer or boolean column).
    Single,
    /// Several classes per row (an array column), e.g. go_emotions.
    Multi,
    /// One tag per word (an array column beside `--tokens-col`), e.g. NER or POS.
    Token,
    /// A number per row (float, double or decimal).
    Regression,
}

/// The output column of the label of a single-label or regression export.
pub const SINGLE_LABEL: &str = "label";
/// The output column of the words of a token-classification export.
pub const TOKENS: &str = "tokens";
/// The output column of the label ids of a multi-label export.
pub const MULTI_LABELS: &str = "labels";
/// The output column of the tag ids of a token-classification export.
pub const TOKEN_TAGS: &str = "ner_tags";

/// The broad shape of a column type, as far as labels go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// string, integer, boolean: class names are the string forms.
    Classes,
    /// An integer: classes, or a regression target when asked for.
    Integer,
    /// float, double, decimal.
    Number,
    /// An array of classes.
    ListOfClasses,
    Other,
}

fn type_shape(dt: &DataType) -> Shape {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => Shape::Classes,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Shape::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => Shape::Number,
        DataType::Dictionary(_, v) => match type_shape(v) {
            Shape::Classes | Shape::Integer => Shape::Classes,
            _ => Shape::Other,
        },
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => match type_shape(f.data_type()) {
            Shape::Classes | Shape::Integer => Shape::ListOfClasses,
            _ => Shape::Other,
        },
        _ => Shape::Other,
    }
}

impl LabelKind {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelKind::Auto => "auto",
            LabelKind::Single => "single",
            LabelKind::Multi => "multi",
            LabelKind::Token => "token",
            LabelKind::Regression => "regression",
        }
    }

    /// Whether rows get class ids from a label map (every kind but regression).
    pub fn has_label_map(self) -> bool {
        self != LabelKind::Regression
    }

    /// The kind of label column `column` of type `dt`: `self` when it fits, the kind its type
    /// implies for `auto` (`with_tokens`: `--tokens-col` was given), else an error (exit 1)
    /// naming the column, its type and the kinds.
    pub fn resolve(self, column: &str, dt: &DataType, with_tokens: bool) -> Result<LabelKind> {
        let s = type_shape(dt);
        let implied = match s {
            Shape::Classes | Shape::Integer => Some(LabelKind::Single),
            Shape::ListOfClasses if with_tokens => Some(LabelKind::Token),
            Shape::ListOfClasses => Some(LabelKind::Multi),
            Shape::Number => Some(LabelKind::Regression),
            Shape::Other => None,
        };
        let fits = match self {
            LabelKind::Auto => implied.is_some(),
            LabelKind::Single => matches!(s, Shape::Classes | Shape::Integer),
            LabelKind::Multi | LabelKind::Token => s == Shape::ListOfClasses,
            LabelKind::Regression => matches!(s, Shape::Number | Shape::Integer),
        };
        match (self, fits, implied) {
            (LabelKind::Auto, true, Some(k)) => Ok(k),
            (k, true, _) => Ok(k),
            (LabelKind::Auto, _, _) | (_, _, None) => Err(Error::Data(format!(
                "label column `{column}` has type {dt}, which no label kind takes: {KINDS}; cast or \
                 convert it in --select-sql"
            ))),
            (k, false, Some(other)) => Err(Error::Data(format!(
                "--label-kind {} does not fit label column `{column}` of type {dt}: {} takes {}; the \
                 column's type is --label-kind {} (or leave --label-kind at auto)",
                k.as_str(),
                k.as_str(),
                k.takes(),
                other.as_str()
            ))),
        }
    }

    fn takes(self) -> &'static str {
        match self {
            LabelKind::Auto => "any of these",
            LabelKind::Single => "a string, integer or boolean column",
            LabelKind::Multi => "an array of strings, integers or booleans",
            LabelKind::Token => {
                "an array of strings, integers or booleans (one tag per word of --tokens-col)"
            }
            LabelKind::Regression => "a float, double, decimal or integer column",
        }
    }

    /// The expression the label column is written through before the label pass: the string
    /// form of classes (single), lists of those strings (multi, token), float32 with NaN as
    /// null (regression). `label` is the column.
    pub fn label_expr(self, label: Expr) -> Expr {
        match self {
            LabelKind::Auto | LabelKind::Single => cast(label, DataType::Utf8),
            LabelKind::Multi | LabelKind::Token => cast(label, string_list()),
            LabelKind::Regression => {
                let value = cast(label, DataType::Float32);
                when(isnan(value.clone()), lit(ScalarValue::Float32(None))).otherwise(value).expect("a CASE")
            }
        }
    }

    /// The output column holding the label (ids, vector or value) of this kind.
    pub fn output_column(self) -> &'static str {
        match self {
            LabelKind::Multi => MULTI_LABELS,
            LabelKind::Token => TOKEN_TAGS,
            _ => SINGLE_LABEL,
        }
    }

    /// What a per-label count counts, for the summary.
    pub fn counts_what(self) -> &'static str {
        match self {
            LabelKind::Multi => "rows containing the label",
            LabelKind::Token => "tags",
            _ => "rows",
        }
    }
}

impl LabelKind {
    /// Whether the label column is written with a `ClassLabel` (`Sequence(ClassLabel)` for lists).
    pub fn writes_class_label(self, multi_hot: bool) -> bool {
        match self {
            LabelKind::Regression => false,
            LabelKind::Multi => !multi_hot,
            _ => true,
        }
    }

    /// `label_map.json`: what a transformers config takes (`AutoConfig.for_model(...,
    /// num_labels=..., id2label=..., label2id=..., problem_type=...)`).
    pub fn label_map_document(self, names: &[String]) -> Value {
        if self == LabelKind::Regression {
            return json!({"problem_type": "regression", "num_labels": 1});
        }
        let id2label: serde_json::Map<String, Value> =
            names.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
        let label2id: serde_json::Map<String, Value> =
            names.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
        let mut doc = json!({"id2label": id2label, "label2id": label2id, "num_labels": names.len()});
        if self == LabelKind::Multi {
            doc["problem_type"] = json!("multi_label_classification");
        }
        doc
    }
}

/// Resolve the label kind from every split's label column type (all splits must agree) and
/// cast the label — and the words of `--tokens-col` — for it. Only the schemas are looked at:
/// nothing is read, so a refusal comes before any work.
pub fn shape(
    inputs: &mut [DataFrame],
    requested: LabelKind,
    columns: &Columns,
    splits: &[String],
) -> Result<LabelKind> {
    let mut resolved: Option<(LabelKind, &str)> = None;
    for (df, split) in inputs.iter_mut().zip(splits) {
        let schema = df.schema().clone();
        let label_type = schema.field_with_unqualified_name(LABEL)?.data_type().clone();
        let kind = requested.resolve(&columns.label, &label_type, columns.tokens.is_some())?;
        if let Some(tokens) = &columns.tokens {
            if kind != LabelKind::Token {
                return Err(Error::Data(format!(
                    "--tokens-col `{tokens}` makes a token-classification export, which needs label column \
                     `{}` to be an array (one tag per word), not {label_type}",
                    columns.label
                )));
            }
            let words = schema.field_with_unqualified_name(TOKENS)?.data_type().clone();
            if !is_word_list(&words) {
                return Err(Error::Data(format!(
                    "--tokens-col `{tokens}` must be an array of strings (the words), not {words}"
                )));
            }
        }
        match resolved {
            Some((first, first_split)) if first != kind => {
                return Err(Error::Data(format!(
                    "label column `{}` is --label-kind {} in split `{first_split}` but {} in split `{split}`; \
                     give every split the same type (cast it in --select-sql)",
                    columns.label,
                    first.as_str(),
                    kind.as_str()
                )));
            }
            _ => resolved = Some((kind, split)),
        }
        for k in &columns.keep {
            if k == kind.output_column() || (kind == LabelKind::Token && k == TOKENS) {
                return Err(Error::Usage(format!(
                    "--keep-col `{k}` clashes with the `{k}` column a --label-kind {} export writes",
                    kind.as_str()
                )));
            }
        }
        let exprs: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                LABEL => kind.label_expr(column(LABEL)).alias(LABEL),
                TOKENS if columns.tokens.is_some() => cast(column(TOKENS), string_list()).alias(TOKENS),
                name => column(name),
            })
            .collect();
        *df = df.clone().select(exprs)?;
    }
    resolved.map(|(k, _)| k).ok_or_else(|| Error::Internal("no split".into()))
}

/// The kinds and what they take, for messages.
const KINDS: &str = "single (string, integer or boolean), multi or token (an array of those), regression \
                     (float, double or decimal)";

/// `list<string>`: the type list labels and words are read as.
pub fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Whether `dt` can be read as words (`--tokens-col`): an array of strings.
pub fn is_word_list(dt: &DataType) -> bool {
    match dt {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => {
            matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                || matches!(f.data_type(), DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(dt: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("element", dt, true)))
    }

    #[test]
    fn auto_follows_the_type() {
        let r = |dt: &DataType, tokens| LabelKind::Auto.resolve("c", dt, tokens).unwrap();
        assert_eq!(r(&DataType::Utf8, false), LabelKind::Single);
        assert_eq!(r(&DataType::Int32, false), LabelKind::Single);
        assert_eq!(r(&DataType::Boolean, false), LabelKind::Single);
        assert_eq!(r(&list(DataType::Utf8), false), LabelKind::Multi);
        assert_eq!(r(&list(DataType::Int64), true), LabelKind::Token);
        assert_eq!(r(&DataType::Float64, false), LabelKind::Regression);
        assert_eq!(r(&DataType::Decimal128(10, 2), false), LabelKind::Regression);
        let e = LabelKind::Auto.resolve("score", &list(DataType::Float64), false).unwrap_err().to_string();
        assert!(e.contains("`score`") && e.contains("Float64") && e.contains("regression"), "{e}");
    }

    #[test]
    fn explicit_kinds_must_fit() {
        assert_eq!(
            LabelKind::Regression.resolve("c", &DataType::Int64, false).unwrap(),
            LabelKind::Regression
        );
        let e = LabelKind::Single.resolve("c", &DataType::Float64, false).unwrap_err().to_string();
        assert!(e.contains("--label-kind single") && e.contains("--label-kind regression"), "{e}");
        let e = LabelKind::Multi.resolve("c", &DataType::Utf8, false).unwrap_err().to_string();
        assert!(e.contains("--label-kind multi") && e.contains("--label-kind single"), "{e}");
        assert!(LabelKind::Regression.resolve("c", &list(DataType::Utf8), false).is_err());
    }

    #[test]
    fn words_are_string_lists() {
        assert!(is_word_list(&list(DataType::Utf8View)));
        assert!(!is_word_list(&list(DataType::Int64)));
        assert!(!is_word_list(&DataType::Utf8));
    }
}
