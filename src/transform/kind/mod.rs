//! Label kinds: what a label column holds (one class, several, one per word, a number), how its
//! Arrow type decides the kind under `--label-kind auto`, and everything that differs by kind,
//! each kind in a module of its own behind one interface ([`Kind`]):
//!
//! | kind | module | label column type | written as |
//! |---|---|---|---|
//! | single | [`single`] | string, integer, boolean | `label`: `ClassLabel` (int64) |
//! | multi | [`multi`] | an array of those | `labels`: `Sequence(ClassLabel)` (list<int64>), or with `--multi-hot` a `Sequence(Value("float32"), length=N)` |
//! | token | [`token`] | an array of those, with `--tokens-col` (an array of strings) | `tokens`: `Sequence(Value("string"))`, `ner_tags`: `Sequence(ClassLabel)` |
//! | regression | [`regression`] | float, double, decimal (integers too when asked for) | `label`: `Value("float32")`, NaN as null |
//!
//! A type no kind takes, or an explicit kind that does not fit the type, is refused before any
//! row is read. The flags that only some kinds take are checked once per run, by the kind
//! ([`Kind::check_flags`]): when the kind is known from the flags (`--label-kind`, or
//! `--tokens-col`), while the settings are validated; under `auto`, as soon as the column's
//! type has decided it (still before any row is read).
//!
//! **To add a kind**: a module here implementing [`Kind`], a variant of [`LabelKind`], and its
//! arm in [`LabelKind::behaviour`]. Nothing outside this folder matches on kinds.

use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::datatypes::{DataType, Field};
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::transform::columns::{Columns, LABEL, TEXT, TOKENS, column};
use crate::transform::label_map::{LabelCounts, LabelMap};
use crate::transform::label_pass::LabelPass;
use crate::transform::stats::LabelStat;
use crate::transform::tokenize::Tokenize;

pub mod multi;
pub mod regression;
pub mod single;
pub mod token;

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

/// The options of an export that only some kinds take, as given.
#[derive(Debug, Clone, Default)]
pub struct KindFlags {
    /// `--tokens-col` (the words of a token-classification export).
    pub tokens_col: Option<String>,
    /// `--multi-hot`.
    pub multi_hot: bool,
    /// `--label-all-tokens`.
    pub label_all_tokens: bool,
    /// The flags given among those that are about a label map (`--label-table`, `--labels`,
    /// `--labels-from`), in that order.
    pub label_map_flags: Vec<&'static str>,
}

/// How the kind being checked was decided: named by the flags, or implied by the label
/// column's type under `--label-kind auto` (`column` names it, for messages).
#[derive(Debug, Clone, Copy)]
pub enum Decided<'a> {
    ByFlags,
    ByType { column: &'a str },
}

/// The outcome of the label pass: counts, the map, and rows dropped per split.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub counts: LabelCounts,
    pub map: LabelMap,
    pub dropped: Vec<u64>,
    /// Rows exported per split.
    pub rows: Vec<u64>,
    /// The label kind the pass ran for.
    pub kind: LabelKind,
}

/// Everything that differs by label kind. One implementation per kind, in the modules of this
/// folder; [`LabelKind::behaviour`] picks it.
#[async_trait(?Send)]
pub trait Kind: Send + Sync {
    /// What a label column must be for this kind, for messages.
    fn takes(&self) -> &'static str;
    /// Whether a label column of this broad type can be this kind.
    fn fits(&self, shape: Shape) -> bool;
    /// The expression the label column is written through before the label pass.
    fn label_expr(&self, label: Expr) -> Expr;
    /// The output column holding the label (ids, vector or value).
    fn output_column(&self) -> &'static str;
    /// The output column the rows are read from beside the label: the text, or the words.
    fn first_column(&self) -> &'static str {
        TEXT
    }
    /// Whether rows get class ids from a label map.
    fn has_label_map(&self) -> bool {
        true
    }
    /// Whether the label column is written with a `ClassLabel` (`Sequence(ClassLabel)` for
    /// lists).
    fn writes_class_label(&self, _multi_hot: bool) -> bool {
        true
    }
    /// What a per-label count counts, for the summary.
    fn counts_what(&self) -> &'static str {
        "rows"
    }
    /// A line the summary prints for this kind (kinds without a map say what they write).
    fn summary_line(&self) -> Option<&'static str> {
        None
    }
    /// Refuse the flags this kind does not take (exit 2, naming the flag and the kind).
    fn check_flags(&self, flags: &KindFlags, decided: Decided<'_>) -> Result<()>;
    /// The label pass: checks over every split, counts and the map; `inputs` lose their null
    /// rows with `--drop-nulls`.
    async fn label_pass(
        &self,
        pass: &LabelPass<'_>,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        warn: &dyn Fn(String),
    ) -> Result<Labelled>;
    /// The rows `--drop-nulls` keeps, filtered as the pass filters a split that has nulls. A
    /// fan-out task applies it to its files (a split without nulls loses nothing).
    fn keep_non_null(&self, input: DataFrame) -> Result<DataFrame> {
        let first = self.first_column();
        Ok(input.filter(column(first).is_not_null().and(column(LABEL).is_not_null()))?)
    }
    /// The split encoded with the run's map (registered in `ctx`): columns `text` (or `tokens`),
    /// the kind's label column, then the kept columns.
    async fn encode(&self, ctx: &SessionContext, input: DataFrame, multi_hot: bool) -> Result<DataFrame>;
    /// `label_map.json`: what a transformers config takes (`AutoConfig.for_model(...,
    /// num_labels=..., id2label=..., label2id=..., problem_type=...)`).
    fn label_map_document(&self, names: &[String]) -> Value {
        class_map_document(names)
    }
    /// The tokenizer configured for this kind (token classification tokenizes the words and
    /// aligns the tags); the others tokenize the text column as configured.
    fn tokenizer(&self, t: Arc<Tokenize>, _label_all_tokens: bool) -> Result<Arc<Tokenize>> {
        Ok(t)
    }
    /// How the report counts the written label column (issue 23): class ids by default, none
    /// for kinds without a map.
    fn label_stat(&self, _multi_hot: bool) -> LabelStat {
        match self.has_label_map() {
            true => LabelStat::Classes(self.output_column()),
            false => LabelStat::None,
        }
    }
}

/// `id2label`, `label2id`, `num_labels` for the map `names`.
pub(crate) fn class_map_document(names: &[String]) -> Value {
    let id2label: serde_json::Map<String, Value> =
        names.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
    let label2id: serde_json::Map<String, Value> =
        names.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
    json!({"id2label": id2label, "label2id": label2id, "num_labels": names.len()})
}

/// The broad shape of a column type, as far as labels go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
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

    /// What this kind does: the one place a kind is matched to its module. `auto` behaves as
    /// `single` (it is resolved before anything kind-specific runs).
    pub fn behaviour(self) -> &'static dyn Kind {
        match self {
            LabelKind::Auto | LabelKind::Single => &single::Single,
            LabelKind::Multi => &multi::Multi,
            LabelKind::Token => &token::Token,
            LabelKind::Regression => &regression::Regression,
        }
    }

    /// The kind the flags alone decide: `--label-kind` when given, token classification when
    /// `--tokens-col` is; `None` when the label column's type decides.
    pub fn decided_by_flags(self, tokens_col: bool) -> Option<LabelKind> {
        match self {
            LabelKind::Auto if tokens_col => Some(LabelKind::Token),
            LabelKind::Auto => None,
            k => Some(k),
        }
    }

    /// Refuse the flags this kind does not take (exit 2): `--tokens-col` for every kind but
    /// the one that reads words, then the kind's own rules ([`Kind::check_flags`]).
    pub fn check_flags(self, flags: &KindFlags, decided: Decided<'_>) -> Result<()> {
        let k = self.behaviour();
        if flags.tokens_col.is_some() && matches!(decided, Decided::ByFlags) && k.first_column() != TOKENS {
            return Err(Error::Usage(format!(
                "--tokens-col makes a token-classification export; it does not go with --label-kind {}",
                self.as_str()
            )));
        }
        k.check_flags(flags, decided)
    }

    /// Whether rows get class ids from a label map (every kind but regression).
    pub fn has_label_map(self) -> bool {
        self.behaviour().has_label_map()
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
            k => k.behaviour().fits(s),
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
                k.behaviour().takes(),
                other.as_str()
            ))),
        }
    }

    /// The expression the label column is written through before the label pass.
    pub fn label_expr(self, label: Expr) -> Expr {
        self.behaviour().label_expr(label)
    }

    /// The output column holding the label (ids, vector or value) of this kind.
    pub fn output_column(self) -> &'static str {
        self.behaviour().output_column()
    }

    /// What a per-label count counts, for the summary.
    pub fn counts_what(self) -> &'static str {
        self.behaviour().counts_what()
    }

    /// Whether the label column is written with a `ClassLabel` (`Sequence(ClassLabel)` for lists).
    pub fn writes_class_label(self, multi_hot: bool) -> bool {
        self.behaviour().writes_class_label(multi_hot)
    }

    /// `label_map.json` for the map `names`.
    pub fn label_map_document(self, names: &[String]) -> Value {
        self.behaviour().label_map_document(names)
    }

    /// How the report counts the written label column.
    pub fn label_stat(self, multi_hot: bool) -> LabelStat {
        self.behaviour().label_stat(multi_hot)
    }
}

/// The flags only some kinds take, each refused by the kinds that do not (exit 2).
pub(crate) fn refuse_flag(flag: &str, kind: LabelKind, decided: Decided<'_>, what: &str) -> Error {
    match decided {
        Decided::ByFlags => Error::Usage(format!("{flag} is for {what}, not --label-kind {}", kind.as_str())),
        Decided::ByType { column } => Error::Usage(format!(
            "{flag} is for {what}, and label column `{column}` makes this a --label-kind {} export (from \
             its type); drop {flag}, or pass the --label-kind it is for",
            kind.as_str()
        )),
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
            if k == kind.output_column() || (kind.behaviour().first_column() == TOKENS && k == TOKENS) {
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
