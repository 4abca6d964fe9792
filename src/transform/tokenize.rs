//! Tokenization in the write pass (`prepare --tokenizer`): the text column (and the pair column)
//! of every batch becomes `input_ids` (list<int32>), `token_type_ids` (list<int8>, when the model
//! takes them) and `attention_mask` (list<int8>), appended after the other columns — the columns,
//! types and values `Dataset.map(tokenizer, batched=True)` writes.
//!
//! Parity with transformers' fast tokenizer (`TokenizersBackend` in transformers 5) loaded with
//! `AutoTokenizer.from_pretrained(dir)` (or `PreTrainedTokenizerFast(tokenizer_file=f)` for a bare
//! file) and called with `truncation=True[, max_length=N][, padding="max_length"]`:
//! - named special tokens of `tokenizer_config.json` / `special_tokens_map.json` that the
//!   tokenizer lacks are added as special tokens (transformers does the same on load);
//! - `add_bos_token` / `add_eos_token` in the config, or no post-processor at all, give the
//!   template transformers builds (`update_post_processor`);
//! - truncation longest-first to `--max-length`, else `model_max_length` when it is a real length,
//!   on `truncation_side`; padding to the max length on `padding_side` with the pad token;
//! - `token_type_ids` when `model_input_names` (config, else the tokenizer class or model type,
//!   as transformers 5 decides) has them;
//! - file settings for truncation/padding in `tokenizer.json` are replaced by these, as
//!   transformers does on every call.
//!
//! The encoding of a batch runs on rayon's global pool (`encode_batch_fast`: ids without
//! offsets), 256 rows (32 per core) at a time, called from the write stage's mapping thread:
//! no pool of our own, so the scan, the writers and the tokenizer share the cores, and memory
//! is bounded by the chunk, not by the batch or the table.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Int8Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;
use tokenizers::{
    AddedToken, PaddingDirection, PaddingParams, PaddingStrategy, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::error::{Error, Result};
use crate::source::tokenizer::{LoadedTokenizer, Provenance};

/// The appended columns.
pub const INPUT_IDS: &str = "input_ids";
/// Token classification: the word tags aligned to sub-words (after the token columns).
pub const ALIGNED_LABELS: &str = "labels";
pub const TOKEN_TYPE_IDS: &str = "token_type_ids";
pub const ATTENTION_MASK: &str = "attention_mask";

/// transformers' "no maximum length" sentinel is `int(1e30)`; anything this large means none.
const NO_LENGTH: f64 = 1e18;

/// Tokenizer classes (minus `Fast`) whose `model_input_names` hold `token_type_ids` in
/// transformers 5.
const TYPE_ID_CLASSES: &[&str] = &[
    "BertTokenizer",
    "CanineTokenizer",
    "ConvBertTokenizer",
    "DPRContextEncoderTokenizer",
    "DPRQuestionEncoderTokenizer",
    "DebertaTokenizer",
    "DebertaV2Tokenizer",
    "FNetTokenizer",
    "LayoutLMv2Tokenizer",
    "MarkupLMTokenizer",
    "MobileBertTokenizer",
    "SqueezeBertTokenizer",
    "TapasTokenizer",
];

/// `config.json` model types whose auto tokenizer returns `token_type_ids` in transformers 5
/// (used when `tokenizer_config.json` names neither the inputs nor a class).
const TYPE_ID_MODEL_TYPES: &[&str] = &[
    "align",
    "bark",
    "bert",
    "blip",
    "bros",
    "canine",
    "chinese_clip",
    "convbert",
    "deberta",
    "deberta-v2",
    "distilbert",
    "dpr",
    "electra",
    "ernie",
    "flava",
    "fnet",
    "git",
    "layoutlm",
    "layoutlmv2",
    "lxmert",
    "markuplm",
    "megatron-bert",
    "mobilebert",
    "nezha",
    "nomic_bert",
    "realm",
    "retribert",
    "squeezebert",
    "tapas",
    "tvp",
    "vilt",
    "visual_bert",
];

/// `--padding`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Padding {
    /// No padding (dynamic padding is the collator's job).
    #[default]
    None,
    /// Every row padded to the max length.
    MaxLength,
}

/// The tokenization asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenizeOptions {
    pub max_length: Option<usize>,
    pub padding: Padding,
    /// The second text of a pair (its column name in the output).
    pub pair_col: Option<String>,
    /// Leave the text (and pair) column out.
    pub drop_text: bool,
}

/// What the output records about the tokenization.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenizeSummary {
    #[serde(flatten)]
    pub provenance: Provenance,
    /// The effective max length (`None`: no truncation).
    pub max_length: Option<usize>,
    pub padding: Padding,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_pair_col: Option<String>,
    /// The appended columns, in order.
    pub columns: Vec<&'static str>,
}

impl TokenizeSummary {
    /// One sentence for `dataset_info.json`'s description.
    pub fn describe(&self) -> String {
        let p = &self.provenance;
        let mut s = format!("Tokenized with `{}`", p.source);
        if let Some(sha) = &p.revision_sha {
            s.push_str(&format!(" (commit {sha})"));
        }
        s.push_str(&format!(", tokenizer.json sha256 {}", p.sha256));
        match self.max_length {
            Some(n) => s.push_str(&format!(", max length {n}")),
            None => s.push_str(", no truncation"),
        }
        s.push_str(match self.padding {
            Padding::None => ", no padding",
            Padding::MaxLength => ", padded to max length",
        });
        if let Some(c) = &self.text_pair_col {
            s.push_str(&format!(", text pairs with `{c}`"));
        }
        s.push('.');
        s
    }
}

/// A configured tokenizer and the columns it reads.
#[derive(Clone)]
pub struct Tokenize {
    tokenizer: Arc<tokenizers::Tokenizer>,
    text_col: String,
    pair_col: Option<String>,
    drop_text: bool,
    type_ids: bool,
    /// Token classification: the text column holds words, and these tags are aligned.
    words: Option<WordTags>,
    summary: TokenizeSummary,
}

/// Token classification (`token` label kind with `--tokenizer`): the words are encoded as
/// `is_split_into_words=True` and the word tags aligned to the sub-words as `labels`.
#[derive(Debug, Clone)]
struct WordTags {
    /// The tag-id column (one id per word).
    tags_col: String,
    /// `--label-all-tokens`.
    all_tokens: bool,
}

impl Tokenize {
    /// Configure `loaded` as transformers would for `opts`; returns the warnings to show.
    pub fn new(
        loaded: LoadedTokenizer,
        opts: &TokenizeOptions,
        text_col: &str,
    ) -> Result<(Self, Vec<String>)> {
        let LoadedTokenizer { mut tokenizer, config, special_tokens_map, model_type, provenance, .. } =
            loaded;
        let source = provenance.source.clone();
        let fail = |reason: String| Error::Tokenizer { spec: source.clone(), reason };
        let mut warnings = Vec::new();
        let cfg =
            |key: &str| config.get(key).or_else(|| special_tokens_map.get(key)).filter(|v| !v.is_null());

        add_missing_specials(&mut tokenizer, &config, &special_tokens_map)
            .map_err(|e| fail(e.to_string()))?;
        let add_bos = cfg("add_bos_token").and_then(Value::as_bool);
        let add_eos = cfg("add_eos_token").and_then(Value::as_bool);
        if add_bos.is_some() || add_eos.is_some() || tokenizer.get_post_processor().is_none() {
            let template = bos_eos_template(
                &tokenizer,
                add_bos.unwrap_or(false).then(|| cfg("bos_token").and_then(token_content)).flatten(),
                add_eos.unwrap_or(false).then(|| cfg("eos_token").and_then(token_content)).flatten(),
            )
            .map_err(fail)?;
            tokenizer.with_post_processor(Some(template));
        }
        if let Some(split) = cfg("split_special_tokens").and_then(Value::as_bool) {
            tokenizer.set_encode_special_tokens(split);
        }

        let model_max =
            cfg("model_max_length").and_then(Value::as_f64).filter(|n| *n > 0.0 && *n < NO_LENGTH);
        let max_length = match (opts.max_length, model_max) {
            (Some(n), _) => Some(n),
            (None, Some(n)) => Some(n as usize),
            (None, None) => {
                warnings.push(format!(
                    "tokenizer `{source}` has no model_max_length and no --max-length was given: texts \
                     are not truncated"
                ));
                None
            }
        };
        let truncation_side = side(cfg("truncation_side"));
        let padding_side = side(cfg("padding_side"));
        tokenizer
            .with_truncation(max_length.map(|max_length| TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: if truncation_side == "left" {
                    TruncationDirection::Left
                } else {
                    TruncationDirection::Right
                },
            }))
            .map_err(|e| fail(format!("--max-length {}: {e}", max_length.unwrap_or(0))))?;
        let padding = match opts.padding {
            Padding::None => None,
            Padding::MaxLength => {
                let Some(length) = max_length else {
                    return Err(Error::Usage(format!(
                        "--padding max-length needs a length: pass --max-length (tokenizer `{source}` has \
                         no model_max_length)"
                    )));
                };
                let pad_token = cfg("pad_token").and_then(token_content).ok_or_else(|| {
                    Error::Usage(format!(
                        "--padding max-length: tokenizer `{source}` has no pad token (no `pad_token` in \
                         tokenizer_config.json); use --padding none and pad in the collator"
                    ))
                })?;
                let pad_id = tokenizer
                    .token_to_id(&pad_token)
                    .ok_or_else(|| fail(format!("the pad token `{pad_token}` is not in the vocabulary")))?;
                let pad_type_id = cfg("pad_token_type_id").and_then(Value::as_u64).unwrap_or(0) as u32;
                Some(PaddingParams {
                    strategy: PaddingStrategy::Fixed(length),
                    direction: if padding_side == "left" {
                        PaddingDirection::Left
                    } else {
                        PaddingDirection::Right
                    },
                    pad_to_multiple_of: None,
                    pad_id,
                    pad_type_id,
                    pad_token,
                })
            }
        };
        tokenizer.with_padding(padding);

        let type_ids = takes_type_ids(&config, model_type.as_deref());
        let mut columns = vec![INPUT_IDS];
        if type_ids {
            columns.push(TOKEN_TYPE_IDS);
        }
        columns.push(ATTENTION_MASK);
        let summary = TokenizeSummary {
            provenance,
            max_length,
            padding: opts.padding,
            text_pair_col: opts.pair_col.clone(),
            columns,
        };
        let t = Tokenize {
            tokenizer: Arc::new(tokenizer),
            text_col: text_col.to_string(),
            pair_col: opts.pair_col.clone(),
            drop_text: opts.drop_text,
            type_ids,
            words: None,
            summary,
        };
        Ok((t, warnings))
    }

    /// The same tokenizer for token classification: `words_col` (a list of words) is encoded
    /// pre-tokenized, and the tag ids of `tags_col` are aligned to its sub-words as `labels`
    /// (see [`align_tags`]). Pairs are not supported there.
    pub fn for_words(&self, words_col: &str, tags_col: &str, label_all_tokens: bool) -> Result<Tokenize> {
        if let Some(p) = &self.pair_col {
            return Err(Error::Usage(format!(
                "--text-pair-col `{p}`: a token-classification export (--tokens-col) tokenizes its words \
                 alone; drop --text-pair-col"
            )));
        }
        let mut t = self.clone();
        t.text_col = words_col.to_string();
        t.words = Some(WordTags { tags_col: tags_col.to_string(), all_tokens: label_all_tokens });
        t.summary.columns.push(ALIGNED_LABELS);
        Ok(t)
    }

    /// The configured tokenizer without truncation or padding (SFT exports truncate after
    /// masking, as TRL does).
    pub fn untruncated(&self) -> Result<tokenizers::Tokenizer> {
        let mut t = self.tokenizer.as_ref().clone();
        t.with_truncation(None).map_err(|e| Error::Internal(format!("tokenizer: {e}")))?;
        t.with_padding(None);
        Ok(t)
    }

    /// Provenance and settings, for the description, the summary and the label table.
    pub fn summary(&self) -> &TokenizeSummary {
        &self.summary
    }

    /// Whether `name` is one of the input columns this reads.
    fn is_text(&self, name: &str) -> bool {
        name == self.text_col || self.pair_col.as_deref() == Some(name)
    }

    /// The schema of tokenized batches: the input's columns (less the texts with `--drop-text`),
    /// then the token columns.
    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let mut fields: Vec<Field> = input
            .fields()
            .iter()
            .filter(|f| !(self.drop_text && self.is_text(f.name())))
            .map(|f| f.as_ref().clone())
            .collect();
        for c in &self.summary.columns {
            let item = match *c {
                INPUT_IDS => DataType::Int32,
                ALIGNED_LABELS => DataType::Int64,
                _ => DataType::Int8,
            };
            fields.push(Field::new(*c, DataType::List(Arc::new(Field::new("item", item, true))), true));
        }
        Arc::new(Schema::new(fields))
    }

    /// Tokenize one batch (on rayon's pool) and append the token columns.
    ///
    /// The rows are encoded a chunk at a time: the tokenizer's `Encoding`s cost far more than
    /// the ids kept from them (tokens as strings, offsets, word ids: ~90 bytes a token, so a
    /// batch of 8,192 long texts would hold ~300 MiB of them), and only one chunk's live at once.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        self.apply_counting(batch).map(|(b, _)| b)
    }

    /// [`Tokenize::apply`], and how many rows of the batch the truncation cut (the report's
    /// share truncated).
    pub fn apply_counting(&self, batch: &RecordBatch) -> Result<(RecordBatch, u64)> {
        let chunk = chunk_rows();
        let mut out = TokenColumns::new(self.type_ids, batch.num_rows());
        if let Some(w) = &self.words {
            let tags = self.tag_lists(batch, &w.tags_col)?;
            let mut words = self.word_lists(batch)?.into_iter();
            for row_tags in tags.chunks(chunk) {
                let inputs: Vec<Vec<&str>> = words.by_ref().take(row_tags.len()).collect();
                // Not `encode_batch_fast`: without offsets it keeps no word ids either.
                let encodings = self.tokenizer.encode_batch(inputs, true).map_err(|e| self.failed(e))?;
                out.push(&encodings, Some((row_tags, w.all_tokens)))?;
            }
            let truncated = out.truncated;
            return Ok((self.assemble(batch, out)?, truncated));
        }
        let texts = self.strings(batch, &self.text_col)?;
        let pairs = self.pair_col.as_ref().map(|p| self.strings(batch, p)).transpose()?;
        for start in (0..texts.len()).step_by(chunk) {
            let rows = start..(start + chunk).min(texts.len());
            let encodings = match &pairs {
                None => self.tokenizer.encode_batch_fast(rows.map(|i| texts.value(i)).collect(), true),
                Some(p) => self
                    .tokenizer
                    .encode_batch_fast(rows.map(|i| (texts.value(i), p.value(i))).collect::<Vec<_>>(), true),
            }
            .map_err(|e| self.failed(e))?;
            out.push(&encodings, None)?;
        }
        let truncated = out.truncated;
        Ok((self.assemble(batch, out)?, truncated))
    }

    fn failed(&self, e: tokenizers::Error) -> Error {
        Error::Data(format!("tokenizer `{}` failed: {e}", self.summary.provenance.source))
    }

    /// The batch's columns (less the texts with `--drop-text`), then the token columns, then
    /// the aligned labels for token classification.
    fn assemble(&self, batch: &RecordBatch, out: TokenColumns) -> Result<RecordBatch> {
        let offsets = OffsetBuffer::new(out.offsets.into());
        let list = |values: ArrayRef| -> Result<ArrayRef> {
            let item = Arc::new(Field::new("item", values.data_type().clone(), true));
            Ok(Arc::new(ListArray::try_new(item, offsets.clone(), values, None)?))
        };
        let schema = self.output_schema(batch.schema().as_ref());
        let mut columns: Vec<ArrayRef> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| !(self.drop_text && self.is_text(f.name())))
            .map(|(_, c)| c.clone())
            .collect();
        columns.push(list(Arc::new(Int32Array::from(out.ids)))?);
        if self.type_ids {
            columns.push(list(Arc::new(Int8Array::from(out.types)))?);
        }
        columns.push(list(Arc::new(Int8Array::from(out.mask)))?);
        if self.words.is_some() {
            columns.push(list(Arc::new(Int64Array::from(out.labels)))?);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// The words of each row (token classification), refusing null lists and null words.
    fn word_lists<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<Vec<&'a str>>> {
        let name = &self.text_col;
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("the column `{name}` to tokenize is not in the batch")))?;
        let list = col.as_list_opt::<i32>().ok_or_else(|| {
            Error::Internal(format!("the words column `{name}` is {}, not a list", col.data_type()))
        })?;
        let values = list.values().as_string_opt::<i32>().ok_or_else(|| {
            Error::Internal(format!("the words of `{name}` are {}, not strings", list.value_type()))
        })?;
        if list.null_count() > 0 || values.null_count() > 0 {
            return Err(Error::Data(format!(
                "column `{name}` has a null word list or a null word: the tokenizer needs words (pass \
                 --drop-nulls, or fill them in --select-sql)"
            )));
        }
        let offsets = list.value_offsets();
        Ok(offsets
            .windows(2)
            .map(|w| (w[0] as usize..w[1] as usize).map(|i| values.value(i)).collect())
            .collect())
    }

    /// The tag ids of each row (a null list gives no tags: every sub-word -100).
    fn tag_lists(&self, batch: &RecordBatch, name: &str) -> Result<Vec<Vec<i64>>> {
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("the tag column `{name}` is not in the batch")))?;
        let col = deltalake::arrow::compute::cast(
            col,
            &DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        )?;
        let list = col.as_list::<i32>();
        let values = list.values().as_primitive::<deltalake::arrow::datatypes::Int64Type>();
        Ok((0..list.len())
            .map(|r| match list.is_null(r) {
                true => Vec::new(),
                false => {
                    let (a, b) = (list.value_offsets()[r] as usize, list.value_offsets()[r + 1] as usize);
                    (a..b).map(|i| if values.is_null(i) { -100 } else { values.value(i) }).collect()
                }
            })
            .collect())
    }

    /// A text column as UTF-8, refusing nulls (the tokenizer has no input for them).
    fn strings(&self, batch: &RecordBatch, name: &str) -> Result<StringArray> {
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("the column `{name}` to tokenize is not in the batch")))?;
        let col = deltalake::arrow::compute::cast(col, &DataType::Utf8)?;
        let s = col.as_any().downcast_ref::<StringArray>().expect("utf8 after cast").clone();
        if s.null_count() > 0 {
            return Err(Error::Data(format!(
                "column `{name}` has {} null value{}: the tokenizer needs text (pass --drop-nulls for the \
                 text column, or fill them in --select-sql)",
                s.null_count(),
                if s.null_count() == 1 { "" } else { "s" }
            )));
        }
        Ok(s)
    }
}

/// `"left"` or `"right"` (default).
/// Rows handed to the tokenizer at once: enough for rayon to spread over every core, few enough
/// that their `Encoding`s stay small (~10 MiB for 256 rows of 500 tokens).
fn chunk_rows() -> usize {
    (32 * rayon::current_num_threads()).max(256)
}

/// The token columns of one batch, filled a chunk of encodings at a time.
struct TokenColumns {
    offsets: Vec<i32>,
    ids: Vec<i32>,
    mask: Vec<i8>,
    /// Only filled when the model takes type ids.
    types: Vec<i8>,
    with_types: bool,
    /// Token classification: the word tags aligned to sub-words.
    labels: Vec<i64>,
    /// Rows the truncation cut (their encoding has overflowing tokens), for the report.
    truncated: u64,
}

impl TokenColumns {
    fn new(with_types: bool, rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TokenColumns {
            offsets,
            ids: Vec::new(),
            mask: Vec::new(),
            types: Vec::new(),
            with_types,
            labels: Vec::new(),
            truncated: 0,
        }
    }

    fn push(&mut self, encodings: &[tokenizers::Encoding], tags: Option<(&[Vec<i64>], bool)>) -> Result<()> {
        let total = self.ids.len() + encodings.iter().map(|e| e.len()).sum::<usize>();
        if total > i32::MAX as usize {
            return Err(Error::Internal("a batch has more than 2^31 tokens".into()));
        }
        for e in encodings {
            self.ids.extend(e.get_ids().iter().map(|&i| i as i32));
            self.mask.extend(e.get_attention_mask().iter().map(|&m| m as i8));
            if self.with_types {
                self.types.extend(e.get_type_ids().iter().map(|&t| t as i8));
            }
            self.offsets.push(self.ids.len() as i32);
            self.truncated += u64::from(!e.get_overflowing().is_empty());
        }
        if let Some((tags, all_tokens)) = tags {
            for (e, row_tags) in encodings.iter().zip(tags) {
                self.labels.extend(align_tags(e.get_word_ids(), row_tags, all_tokens));
            }
        }
        Ok(())
    }
}

fn side(v: Option<&Value>) -> &'static str {
    match v.and_then(Value::as_str) {
        Some("left") => "left",
        _ => "right",
    }
}

/// A special token's content: a string, or an `AddedToken` dict's `content`.
fn token_content(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// An `AddedToken` from a config value, special.
fn added_token(v: &Value) -> Option<AddedToken> {
    let content = token_content(v)?;
    let flag = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
    Some(
        AddedToken::from(content, true)
            .single_word(flag("single_word", false))
            .lstrip(flag("lstrip", false))
            .rstrip(flag("rstrip", false))
            .normalized(flag("normalized", false)),
    )
}

/// Named special tokens (and extra / additional special tokens, and `added_tokens_decoder`)
/// of the configs that the tokenizer does not have yet, added as special tokens.
fn add_missing_specials(
    tok: &mut tokenizers::Tokenizer,
    config: &Value,
    special_map: &Value,
) -> tokenizers::Result<()> {
    const NAMED: [&str; 7] =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];
    let mut wanted: Vec<&Value> = Vec::new();
    if let Some(Value::Object(decoder)) = config.get("added_tokens_decoder") {
        let mut entries: Vec<(u64, &Value)> =
            decoder.iter().filter_map(|(k, v)| k.parse::<u64>().ok().map(|id| (id, v))).collect();
        entries.sort_by_key(|(id, _)| *id);
        wanted.extend(entries.into_iter().map(|(_, v)| v));
    }
    for source in [config, special_map] {
        for key in NAMED {
            if let Some(v) = source.get(key).filter(|v| !v.is_null()) {
                wanted.push(v);
            }
        }
        for key in ["extra_special_tokens", "additional_special_tokens"] {
            if let Some(Value::Array(list)) = source.get(key) {
                wanted.extend(list.iter());
            }
        }
    }
    let have: std::collections::HashSet<String> =
        tok.get_added_vocabulary().get_vocab().keys().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<AddedToken> = wanted
        .into_iter()
        .filter_map(added_token)
        .filter(|t| !have.contains(&t.content) && seen.insert(t.content.clone()))
        .collect();
    if !missing.is_empty() {
        tok.add_special_tokens(missing)?;
    }
    Ok(())
}

/// transformers' `update_post_processor`: `[bos:0] $A:0 [eos:0]` and `... [bos:1] $B:1 [eos:1]`.
fn bos_eos_template(
    tok: &tokenizers::Tokenizer,
    bos: Option<String>,
    eos: Option<String>,
) -> std::result::Result<tokenizers::processors::template::TemplateProcessing, String> {
    let mut single = Vec::new();
    let mut pair_b = Vec::new();
    let mut specials = Vec::new();
    if let Some(b) = &bos {
        let id = tok.token_to_id(b).ok_or_else(|| format!("bos token `{b}` is not in the vocabulary"))?;
        single.push(format!("{b}:0"));
        pair_b.push(format!("{b}:1"));
        specials.push((b.clone(), id));
    }
    single.push("$A:0".to_string());
    pair_b.push("$B:1".to_string());
    if let Some(e) = &eos {
        let id = tok.token_to_id(e).ok_or_else(|| format!("eos token `{e}` is not in the vocabulary"))?;
        single.push(format!("{e}:0"));
        pair_b.push(format!("{e}:1"));
        specials.push((e.clone(), id));
    }
    let single = single.join(" ");
    let pair = format!("{single} {}", pair_b.join(" "));
    let mut builder = tokenizers::processors::template::TemplateProcessing::builder();
    builder.try_single(single).map_err(|e| format!("{e:?}"))?;
    builder.try_pair(pair).map_err(|e| format!("{e:?}"))?;
    builder.special_tokens(specials);
    builder.build().map_err(|e| e.to_string())
}

/// Whether the model takes `token_type_ids`, as transformers 5 decides.
fn takes_type_ids(config: &Value, model_type: Option<&str>) -> bool {
    if let Some(Value::Array(names)) = config.get("model_input_names") {
        return names.iter().any(|n| n.as_str() == Some(TOKEN_TYPE_IDS));
    }
    if let Some(class) = config.get("tokenizer_class").and_then(Value::as_str) {
        let class = class.strip_suffix("Fast").unwrap_or(class);
        if class != "PreTrainedTokenizer" {
            return TYPE_ID_CLASSES.contains(&class);
        }
        return false;
    }
    model_type.is_some_and(|m| TYPE_ID_MODEL_TYPES.contains(&m))
}

/// The sub-word labels of one row of word tags, as transformers' token-classification recipe
/// (`run_ner.py`) computes them from `word_ids()`: special tokens (no word) get -100; the first
/// sub-word of a word gets the word's tag; the others get -100, or with `label_all_tokens`
/// (`--label-all-tokens`) the word's tag as well. (run_ner.py can also turn B-X into I-X there;
/// the tag ids are kept as they are, so the map stays the one label map of the export.)
pub fn align_tags(word_ids: &[Option<u32>], tags: &[i64], label_all_tokens: bool) -> Vec<i64> {
    const IGNORE: i64 = -100;
    let mut out = Vec::with_capacity(word_ids.len());
    let mut previous = None;
    for w in word_ids {
        let label = match w {
            None => IGNORE,
            Some(w) if Some(*w) != previous || label_all_tokens => {
                tags.get(*w as usize).copied().unwrap_or(IGNORE)
            }
            Some(_) => IGNORE,
        };
        out.push(label);
        previous = *w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word ids from transformers 5.24 (`word_ids()` of the WordPiece fixture of
    /// `tests/python/tokenize_ref.py` with `is_split_into_words=True, max_length=16`), labels by
    /// the `run_ner.py` loop (without its B-to-I option), tags over [O, B-PER, I-PER, B-LOC, I-LOC].
    #[test]
    fn alignment_matches_run_ner() {
        let w = |v: &[i64]| v.iter().map(|&x| (x >= 0).then_some(x as u32)).collect::<Vec<_>>();
        type Case<'a> = (&'a [i64], &'a [i64], bool, &'a [i64]);
        let cases: [Case; 6] = [
            (
                &[-1, 0, 1, 2, 3, 4, 4, 4, 4, -1],
                &[0, 1, 2, 3, 0],
                false,
                &[-100, 0, 1, 2, 3, 0, -100, -100, -100, -100],
            ),
            (
                &[-1, 0, 1, 2, 3, 4, 4, 4, 4, -1],
                &[0, 1, 2, 3, 0],
                true,
                &[-100, 0, 1, 2, 3, 0, 0, 0, 0, -100],
            ),
            (
                &[-1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 3, -1],
                &[3, 0, 1, 4],
                false,
                &[-100, 3, -100, -100, -100, -100, -100, -100, -100, 1, -100, -100, 4, -100],
            ),
            (
                &[-1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 3, -1],
                &[3, 0, 1, 4],
                true,
                &[-100, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 4, -100],
            ),
            // Truncated: words past the limit have no sub-words left.
            (
                &[-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, -1],
                &[1; 40],
                false,
                &[-100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -100],
            ),
            (
                &[-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, -1],
                &[1; 40],
                true,
                &[-100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -100],
            ),
        ];
        for (word_ids, tags, all, want) in cases {
            assert_eq!(align_tags(&w(word_ids), tags, all), want, "{word_ids:?} {all}");
        }
        // A word id past the tags (cannot happen after the length check) is ignored, not a panic.
        assert_eq!(align_tags(&w(&[-1, 0, 1, -1]), &[3], false), vec![-100, 3, -100, -100]);
    }

    #[test]
    fn type_ids_as_transformers_decides() {
        let cfg = |v: Value| v;
        assert!(takes_type_ids(
            &cfg(serde_json::json!({"model_input_names": ["input_ids", "token_type_ids"]})),
            None
        ));
        assert!(!takes_type_ids(&cfg(serde_json::json!({"model_input_names": ["input_ids"]})), Some("bert")));
        assert!(takes_type_ids(&cfg(serde_json::json!({"tokenizer_class": "BertTokenizerFast"})), None));
        assert!(!takes_type_ids(
            &cfg(serde_json::json!({"tokenizer_class": "PreTrainedTokenizerFast"})),
            Some("bert")
        ));
        assert!(takes_type_ids(&Value::Null, Some("bert")));
        assert!(!takes_type_ids(&Value::Null, Some("roberta")));
        assert!(!takes_type_ids(&Value::Null, None));
    }
}
