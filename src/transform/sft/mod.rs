//! Supervised fine-tuning data (`--messages-col`, `--prompt-col`/`--completion-col`, `--lm`):
//! every row becomes `input_ids` (list<int32>), `labels` (list<int64>, -100 where masked) and
//! `attention_mask` (list<int8>), plus the `--keep-col` columns — what TRL 1.16's `SFTTrainer`
//! computes in its dataset preparation (`_prepare_dataset`), row for row:
//! - conversations are rendered with the chat template ([`template`], transformers'
//!   `apply_chat_template`) and tokenized without special tokens; plain text (`--lm`, plain
//!   prompt-completion) gets the EOS token appended unless it ends with it, and is tokenized
//!   with the tokenizer's special tokens;
//! - masks ([`mask`]): `--assistant-only-loss` (the template's generation marks), the
//!   completion mask of prompt-completion rows (on unless `--completion-only-loss false`, the
//!   prompt rendered with `add_generation_prompt=True`, the common-prefix rule);
//! - `--max-length` truncation (`--truncation-mode`), then rows whose labels are all -100 are
//!   dropped (only with `--max-length`, as TRL filters them only then);
//! - a bad row (the template's `raise_exception`, a message without role or content, a null or
//!   empty conversation, no assistant token with `--assistant-only-loss`, JSON that does not
//!   parse) fails the run naming the split, the row's position and the message, or is dropped
//!   and counted with `--skip-invalid-rows`.
//!
//! With `--packing` ([`pack`], TRL's `pack_dataset`) rows are neither truncated nor filtered
//! (TRL does neither when packing): the prepared rows go to the packer, which writes
//! `input_ids`, `labels` and `seq_lengths` only.
//!
//! The rows of a split are mapped in their order (one stream per split), so positions are the
//! row's index in the split as selected. Rendering and tokenizing run on rayon's pool, a batch
//! at a time.

pub mod mask;
pub mod pack;
pub mod template;
pub mod value;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use deltalake::arrow::array::{
    Array, ArrayRef, Int8Array, Int32Array, Int64Array, ListArray, RecordBatch, UInt32Array,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::compute::take;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::prelude::DataFrame;
use futures::StreamExt;
use minijinja::value::Value;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::mask::{IGNORE, TruncationMode};
use self::pack::{PackOptions, PackStats, Packer, TaskRange, TaskRows};
use self::template::{ChatTemplate, TemplateSource};
use crate::error::{Error, Result};
use crate::source::tokenizer::{LoadedTokenizer, Provenance};
use crate::transform::columns::column;
use crate::transform::stats;
use crate::transform::tokenize::{ATTENTION_MASK, INPUT_IDS, Tokenize, TokenizeOptions};

/// The labels column.
pub const LABELS: &str = "labels";
/// The per-row template keyword arguments column TRL reads.
pub const TEMPLATE_KWARGS_COL: &str = "chat_template_kwargs";
/// The tools column read when present (without `--tools-col`).
pub const DEFAULT_TOOLS_COL: &str = "tools";
/// The special tokens transformers passes to templates (`SPECIAL_TOKENS_ATTRIBUTES`).
const SPECIAL_TOKENS: [&str; 7] =
    ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];
/// Rows prepared at once before packing (bounds the memory of prepared token ids).
const PACK_CHUNK_ROWS: usize = 512;
/// `--packing`: how many such pieces are prepared at once (the next while one is packed).
const PACK_IN_FLIGHT: usize = 2;
/// First positions kept per reason of invalid rows.
const FIRST_POSITIONS: usize = 5;

/// What the rows hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "shape")]
pub enum SftInput {
    /// `--messages-col`: a conversation per row.
    Messages { column: String },
    /// `--prompt-col` / `--completion-col`: two strings or two conversations.
    PromptCompletion { prompt: String, completion: String },
    /// `--lm`: plain text (`--text-col`).
    Lm { text: String },
}

impl SftInput {
    /// The input columns, in order: what `--split-from` hashes by default and what `--dedup`
    /// and the leak check compare (issue 23).
    pub fn columns(&self) -> Vec<String> {
        match self {
            SftInput::Messages { column } => vec![column.clone()],
            SftInput::PromptCompletion { prompt, completion } => vec![prompt.clone(), completion.clone()],
            SftInput::Lm { text } => vec![text.clone()],
        }
    }
}

/// `--chat-template`: a file (its text is part of the export) or a template name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateChoice {
    File { path: String, text: String },
    Name(String),
}

/// The SFT settings of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftOptions {
    pub input: SftInput,
    pub chat_template: Option<TemplateChoice>,
    /// `--tools-col` (None: a `tools` column when present).
    pub tools_col: Option<String>,
    /// `--template-kwargs`: a JSON object's text.
    pub template_kwargs: Option<String>,
    pub assistant_only_loss: bool,
    /// Prompt-completion: mask the prompt (TRL's default).
    pub completion_only_loss: bool,
    pub max_length: Option<usize>,
    pub truncation_mode: TruncationMode,
    pub skip_invalid_rows: bool,
    /// `--packing` with `--max-length` (as max length) and `--packing-window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackOptions>,
}

impl SftOptions {
    /// The columns read, besides the kept ones.
    fn input_columns(&self) -> Vec<&str> {
        match &self.input {
            SftInput::Messages { column } => vec![column],
            SftInput::PromptCompletion { prompt, completion } => vec![prompt, completion],
            SftInput::Lm { text } => vec![text],
        }
    }

    /// The loss rule, in words.
    pub fn mask_rule(&self) -> &'static str {
        match (&self.input, self.assistant_only_loss, self.completion_only_loss) {
            (SftInput::PromptCompletion { .. }, true, true) => "assistant tokens of the completion",
            (SftInput::PromptCompletion { .. }, false, true) => "completion tokens",
            (_, true, _) => "assistant tokens",
            _ => "all tokens",
        }
    }
}

/// The chat templates a run may use.
struct Templates {
    /// The template of rows without tools (`--chat-template NAME`, the only one, or `default`).
    main: Option<ChatTemplate>,
    /// A named `tool_use` template, for rows with tools (unless a name was chosen).
    tool_use: Option<ChatTemplate>,
}

impl Templates {
    fn pick(&self, has_tools: bool) -> Option<&ChatTemplate> {
        match (&self.tool_use, has_tools) {
            (Some(t), true) => Some(t),
            _ => self.main.as_ref(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &ChatTemplate> {
        self.main.iter().chain(self.tool_use.iter())
    }
}

/// A configured SFT pass: tokenizer, templates, settings and per-split statistics.
pub struct Sft {
    opts: SftOptions,
    tokenizer: tokenizers::Tokenizer,
    templates: Option<Templates>,
    /// Special tokens, then `--template-kwargs`, as template variables.
    globals: Vec<(String, Value)>,
    eos: Option<String>,
    model_max_length: Option<usize>,
    provenance: Provenance,
    /// `--keep-col`.
    keep: Vec<String>,
    stats: Mutex<BTreeMap<String, Arc<Mutex<SplitStats>>>>,
    /// The first error of a packed stream (its stream can only carry DataFusion errors).
    failure: Mutex<Option<Error>>,
    /// A fan-out task's rows of each split (`--packing`: the plan's row ranges).
    task_rows: Mutex<BTreeMap<String, TaskRange>>,
    /// A fan-out task without `--packing`: per split, how its rows are named in messages (the
    /// task's rows are counted from 0; where they begin in the split is not known here).
    task_names: Mutex<BTreeMap<String, String>>,
}

/// What is known about a split while it is written. A fan-out task records its part of each
/// split in its manifest; `commit` merges the parts in task order ([`SplitStats::merge`]) into
/// what `prepare` knows of the whole split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitStats {
    /// The split position of the first row, when positions are the split's; `None` in a fan-out
    /// task without `--packing` (positions count from the task's first row).
    start: Option<u64>,
    /// The next row's position.
    next: u64,
    rows_out: u64,
    fully_masked: u64,
    /// By reason: count and first positions.
    invalid: BTreeMap<String, InvalidRows>,
    tokens: u64,
    trainable: u64,
    truncated: u64,
    over_model_max: u64,
    /// Token lengths of the rows written, exactly (as the report keeps its lengths).
    lengths: stats::Lengths,
    /// `--packing`: the packer's statistics once the split is packed.
    packed: Option<PackStats>,
}

impl Default for SplitStats {
    fn default() -> Self {
        SplitStats {
            start: Some(0),
            next: 0,
            rows_out: 0,
            fully_masked: 0,
            invalid: BTreeMap::new(),
            tokens: 0,
            trainable: 0,
            truncated: 0,
            over_model_max: 0,
            lengths: stats::Lengths::default(),
            packed: None,
        }
    }
}

impl SplitStats {
    /// Add the next part of the split (parts merged in row order, from `SplitStats::default()`):
    /// counts summed, lengths merged exactly, a part's positions counted from its first row made
    /// the split's (its first row follows the rows merged so far; the fan-out's tasks hold the
    /// split's rows in order), the first positions kept.
    pub fn merge(&mut self, part: &SplitStats) {
        let offset = if part.start.is_none() { self.next } else { 0 };
        self.next += part.rows_in();
        self.rows_out += part.rows_out;
        self.fully_masked += part.fully_masked;
        for (reason, r) in &part.invalid {
            let e = self.invalid.entry(reason.clone()).or_default();
            e.count += r.count;
            let room = FIRST_POSITIONS.saturating_sub(e.first_positions.len());
            e.first_positions.extend(r.first_positions.iter().take(room).map(|p| p + offset));
        }
        self.tokens += part.tokens;
        self.trainable += part.trainable;
        self.truncated += part.truncated;
        self.over_model_max += part.over_model_max;
        self.lengths.merge(&part.lengths);
        self.packed = match (self.packed, part.packed) {
            (Some(a), Some(b)) => Some(a.merged(&b)),
            (a, b) => a.or(b),
        };
    }

    /// The rows given to the pass.
    fn rows_in(&self) -> u64 {
        self.next - self.start.unwrap_or(0)
    }

    /// The split's summary.
    pub fn summary(&self, name: &str) -> SftSplitSummary {
        let pct = |p: f64| self.lengths.nearest_rank(p).unwrap_or(0) as usize;
        SftSplitSummary {
            name: name.to_string(),
            rows_in: self.rows_in(),
            rows_out: self.rows_out,
            invalid: self.invalid.clone(),
            fully_masked: self.fully_masked,
            tokens: self.tokens,
            trainable_tokens: self.trainable,
            truncated_rows: self.truncated,
            length: Lengths { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: pct(1.0) },
            longer_than_model_max_length: self.over_model_max,
            packing: self.packed.map(|p| PackSummary { stats: p, fill_ratio: p.fill_ratio() }),
        }
    }
}

/// A row's result: `Err` when it cannot be prepared.
type RowResult<T> = std::result::Result<T, Invalid>;

/// A row's tools, template and keyword arguments.
type RowContext<'a> = (Value, &'a ChatTemplate, Vec<(String, Value)>);

/// A row that cannot be prepared: why (a short key) and the message.
#[derive(Debug)]
struct Invalid {
    reason: &'static str,
    message: String,
}

fn invalid(reason: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { reason, message: message.into() }
}

/// One prepared row.
struct RowOut {
    ids: Vec<u32>,
    labels: Vec<i64>,
    truncated: bool,
    /// The length before truncation.
    full_len: usize,
    /// Every label -100 after truncation (with `--max-length`, TRL drops the row).
    fully_masked: bool,
}

/// The columns of a batch the rows are read from.
struct Cols {
    a: ArrayRef,
    b: Option<ArrayRef>,
    /// Whether the input is conversational.
    chat: bool,
    tools: Option<ArrayRef>,
    kwargs: Option<ArrayRef>,
}

/// The per-split summary of an SFT export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SftSplitSummary {
    pub name: String,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Invalid rows dropped by `--skip-invalid-rows`, by reason: count and first positions.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub invalid: BTreeMap<String, InvalidRows>,
    pub fully_masked: u64,
    pub tokens: u64,
    pub trainable_tokens: u64,
    pub truncated_rows: u64,
    pub length: Lengths,
    /// Rows longer than the tokenizer's `model_max_length` (before truncation).
    pub longer_than_model_max_length: u64,
    /// `--packing`: what the packer did (rows in/out, tokens, fill ratio).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackSummary>,
}

/// A split's packing, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackSummary {
    #[serde(flatten)]
    pub stats: PackStats,
    /// Tokens written over the room of the packed rows.
    pub fill_ratio: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvalidRows {
    pub count: u64,
    pub first_positions: Vec<u64>,
}

/// Token lengths of the rows written (nearest-rank percentiles).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lengths {
    pub p50: usize,
    pub p90: usize,
    pub p99: usize,
    pub max: usize,
}

/// What the output records about an SFT export. A plan records it without splits; `commit`
/// reads it back and adds the splits its tasks recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SftSummary {
    pub input: SftInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSource>,
    pub tokenizer: Provenance,
    pub mask_rule: String,
    pub max_length: Option<usize>,
    pub truncation_mode: TruncationMode,
    pub model_max_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackOptions>,
    #[serde(skip_deserializing)]
    pub splits: Vec<SftSplitSummary>,
}

impl SftSplitSummary {
    /// Rows dropped, by reason (`fully_masked`, `invalid`): what the split's `dropped` adds.
    pub fn dropped(&self) -> BTreeMap<String, u64> {
        let bad: u64 = self.invalid.values().map(|r| r.count).sum();
        [("fully_masked", self.fully_masked), ("invalid", bad)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_string(), n))
            .collect()
    }
}

impl SftSummary {
    /// Warnings for the run: rows longer than the tokenizer's `model_max_length`.
    pub fn warnings(&self) -> Vec<String> {
        let Some(m) = self.model_max_length else { return Vec::new() };
        self.splits
            .iter()
            .filter(|sp| sp.longer_than_model_max_length > 0)
            .map(|sp| {
                format!(
                    "split `{}`: {} rows are longer than the tokenizer's model_max_length {m}{}",
                    sp.name,
                    sp.longer_than_model_max_length,
                    if self.max_length.is_none() { " (no --max-length: nothing was truncated)" } else { "" }
                )
            })
            .collect()
    }

    /// One paragraph for `dataset_info.json`'s description.
    pub fn describe(&self) -> String {
        let mut s =
            format!("SFT data (TRL 1.16 SFTTrainer preparation) tokenized with `{}`", self.tokenizer.source);
        if let Some(sha) = &self.tokenizer.revision_sha {
            s.push_str(&format!(" (commit {sha})"));
        }
        s.push_str(&format!(", tokenizer.json sha256 {}", self.tokenizer.sha256));
        if let Some(t) = &self.template {
            s.push_str(&format!(", chat template from {}", t.origin));
            if let Some(n) = &t.name {
                s.push_str(&format!(" (`{n}`)"));
            }
            s.push_str(&format!(" sha256 {}", t.sha256));
        }
        s.push_str(&format!("; loss on {}", self.mask_rule));
        match self.max_length {
            Some(n) => s.push_str(&format!(
                "; max length {n} ({})",
                match self.truncation_mode {
                    TruncationMode::KeepStart => "keep start",
                    TruncationMode::KeepEnd => "keep end",
                }
            )),
            None => s.push_str("; no truncation"),
        }
        if let Some(p) = &self.packing {
            s.push_str(&format!(
                "; packed ({}, windows of {} rows) into rows of at most {} tokens with seq_lengths",
                p.strategy.trl_name(),
                p.window,
                p.max_length
            ));
        }
        s.push('.');
        s
    }

    /// The human-readable lines of the run summary.
    pub fn render(&self) -> String {
        let mut s = format!("sft: loss on {}", self.mask_rule);
        if let Some(t) = &self.template {
            s.push_str(&format!(", template {} (sha256 {})", t.origin, &t.sha256[..12]));
        }
        s.push('\n');
        for sp in &self.splits {
            s.push_str(&format!(
                "  {:<12} {} rows in, {} out; {} tokens, {} trainable; {} truncated; length p50 {} p90 {} p99 {} max {}\n",
                sp.name,
                sp.rows_in,
                sp.rows_out,
                sp.tokens,
                sp.trainable_tokens,
                sp.truncated_rows,
                sp.length.p50,
                sp.length.p90,
                sp.length.p99,
                sp.length.max
            ));
            if let Some(p) = &sp.packing {
                s.push_str(&format!(
                    "    packed {} rows into {} (fill ratio {:.3})\n",
                    p.stats.rows_in, p.stats.rows_out, p.fill_ratio
                ));
            }
            for (why, r) in &sp.invalid {
                s.push_str(&format!(
                    "    {} invalid rows dropped ({}), first at {:?}\n",
                    r.count,
                    why.replace('_', " "),
                    r.first_positions
                ));
            }
        }
        s
    }
}

impl Sft {
    /// Configure the pass: the tokenizer as transformers loads it (no truncation, no padding),
    /// the chat template(s) and the settings, checked before any row is read.
    pub fn new(loaded: LoadedTokenizer, opts: &SftOptions, keep: &[String]) -> Result<Sft> {
        let config = loaded.config.clone();
        let special_map = loaded.special_tokens_map.clone();
        let chat_file = loaded.chat_template_file.clone();
        let provenance = loaded.provenance.clone();
        let shown = provenance.source.clone();
        let cfg = |key: &str| config.get(key).or_else(|| special_map.get(key)).filter(|v| !v.is_null());
        let (tokenize, _) = Tokenize::new(loaded, &TokenizeOptions::default(), "text")?;
        let tokenizer = tokenize.untruncated()?;

        let mut globals: Vec<(String, Value)> = Vec::new();
        for name in SPECIAL_TOKENS {
            if let Some(t) = cfg(name).and_then(token_content) {
                globals.push((name.to_string(), Value::from(t)));
            }
        }
        let eos = cfg("eos_token").and_then(token_content);
        if let Some(k) = &opts.template_kwargs {
            let v = value::parse_json(k)
                .map_err(|e| Error::Usage(format!("--template-kwargs `{k}` is {e}; give a JSON object")))?;
            if v.kind() != minijinja::value::ValueKind::Map {
                return Err(Error::Usage(format!(
                    "--template-kwargs `{k}` must be a JSON object, e.g. '{{\"enable_thinking\": false}}'"
                )));
            }
            for key in v.try_iter().map_err(|e| Error::Internal(e.to_string()))? {
                let val = v.get_item(&key).unwrap_or_default();
                globals.push((key.to_string(), val));
            }
        }
        let model_max_length =
            cfg("model_max_length").and_then(serde_json::Value::as_f64).filter(|n| *n > 0.0 && *n < 1e18);

        let templates = templates(opts, &config, chat_file, &shown)?;
        if matches!(opts.input, SftInput::Lm { .. }) && opts.assistant_only_loss {
            return Err(Error::Usage(
                "--assistant-only-loss needs conversations (--messages-col, or conversational \
                 --prompt-col/--completion-col); --lm rows have no assistant turns"
                    .into(),
            ));
        }
        if opts.assistant_only_loss
            && let Some(t) = &templates
        {
            for tpl in t.all() {
                if !tpl.source.generation_marks {
                    return Err(Error::Usage(format!(
                        "--assistant-only-loss: the chat template from {}{} has no {{% generation %}} ... \
                         {{% endgeneration %}} marks, so assistant tokens cannot be told apart; give a template \
                         that marks them with --chat-template FILE (TRL ships training variants of common \
                         templates in trl/chat_templates/*_training.jinja)",
                        tpl.source.origin,
                        tpl.source.name.as_ref().map(|n| format!(" (`{n}`)")).unwrap_or_default()
                    )));
                }
            }
        }
        if matches!(opts.input, SftInput::Messages { .. }) && templates.is_none() {
            return Err(no_template(&shown));
        }
        Ok(Sft {
            opts: opts.clone(),
            tokenizer,
            templates,
            globals,
            eos,
            model_max_length: model_max_length.map(|n| n as usize),
            provenance,
            keep: keep.to_vec(),
            stats: Mutex::new(BTreeMap::new()),
            failure: Mutex::new(None),
            task_rows: Mutex::new(BTreeMap::new()),
            task_names: Mutex::new(BTreeMap::new()),
        })
    }

    /// The columns of a split as the pass reads them (checked against the settings before any
    /// row is read): the input columns, the tools and template-kwargs columns when present, and
    /// the kept columns.
    pub fn project(&self, df: DataFrame, split: &str, table: &str) -> Result<DataFrame> {
        let schema = df.schema().as_arrow().clone();
        let available: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let find = |c: &str, flag: &'static str| -> Result<DataType> {
            schema.field_with_name(c).map(|f| f.data_type().clone()).map_err(|_| Error::MissingColumn {
                column: c.to_string(),
                what: "table",
                table: table.to_string(),
                available: available.join(", "),
                flag,
            })
        };
        let mut wanted: Vec<String> = Vec::new();
        let conversational = |c: &str, flag: &'static str, dt: &DataType| -> Result<bool> {
            match dt {
                dt if value::is_list(dt) => Ok(true),
                dt if value::is_string(dt) => Ok(false),
                other => Err(Error::Usage(format!(
                    "{flag} `{c}` of split `{split}` is {other}: it must hold a conversation (a list of \
                     {{role, content}} structs, or JSON text of one) or a string"
                ))),
            }
        };
        match &self.opts.input {
            SftInput::Messages { column } => {
                let dt = find(column, "--messages-col")?;
                conversational(column, "--messages-col", &dt)?;
                wanted.push(column.clone());
            }
            SftInput::PromptCompletion { prompt, completion } => {
                let p = conversational(prompt, "--prompt-col", &find(prompt, "--prompt-col")?)?;
                let c =
                    conversational(completion, "--completion-col", &find(completion, "--completion-col")?)?;
                if p != c {
                    return Err(Error::Usage(format!(
                        "--prompt-col `{prompt}` and --completion-col `{completion}` of split `{split}` must both \
                         be strings or both be conversations"
                    )));
                }
                if p && self.templates.is_none() {
                    return Err(no_template(&self.provenance.source));
                }
                if !p {
                    if self.opts.assistant_only_loss {
                        return Err(Error::Usage(format!(
                            "--assistant-only-loss needs conversations, and --prompt-col `{prompt}` of split \
                             `{split}` holds plain strings"
                        )));
                    }
                    self.need_eos()?;
                }
                wanted.push(prompt.clone());
                wanted.push(completion.clone());
            }
            SftInput::Lm { text } => {
                let dt = find(text, "--text-col")?;
                if !value::is_string(&dt) {
                    return Err(Error::Usage(format!(
                        "--lm: --text-col `{text}` of split `{split}` is {dt}, not a string"
                    )));
                }
                self.need_eos()?;
                wanted.push(text.clone());
            }
        }
        if !matches!(self.opts.input, SftInput::Lm { .. }) {
            match &self.opts.tools_col {
                Some(t) => {
                    find(t, "--tools-col")?;
                    wanted.push(t.clone());
                }
                None if available.iter().any(|a| a == DEFAULT_TOOLS_COL) => {
                    wanted.push(DEFAULT_TOOLS_COL.to_string())
                }
                None => {}
            }
            if available.iter().any(|a| a == TEMPLATE_KWARGS_COL) {
                wanted.push(TEMPLATE_KWARGS_COL.to_string());
            }
        }
        for k in &self.keep {
            find(k, "--keep-col")?;
        }
        let mut seen = std::collections::HashSet::new();
        let exprs: Vec<_> = wanted
            .iter()
            .chain(self.keep.iter())
            .filter(|c| seen.insert(c.to_string()))
            .map(|c| column(c).alias(c.as_str()))
            .collect();
        Ok(df.select(exprs)?)
    }

    /// Plain text gets the EOS token appended: the tokenizer must name one.
    fn need_eos(&self) -> Result<()> {
        match &self.eos {
            Some(_) => Ok(()),
            None => Err(Error::Usage(format!(
                "tokenizer `{}` names no eos_token (tokenizer_config.json), which plain-text SFT rows end \
                 with (TRL appends it); use a tokenizer directory with its tokenizer_config.json",
                self.provenance.source
            ))),
        }
    }

    /// The schema of the mapped batches: the token columns, then the kept columns.
    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let list = |dt: DataType| DataType::List(Arc::new(Field::new("item", dt, true)));
        let mut fields = vec![
            Field::new(INPUT_IDS, list(DataType::Int32), true),
            Field::new(LABELS, list(DataType::Int64), true),
            Field::new(ATTENTION_MASK, list(DataType::Int8), true),
        ];
        for k in &self.keep {
            if let Ok(f) = input.field_with_name(k) {
                fields.push(f.clone());
            }
        }
        Arc::new(Schema::new(fields))
    }

    /// `--packing`: the packing settings.
    pub fn packing(&self) -> Option<PackOptions> {
        self.opts.packing
    }

    /// `--packing`: split `split`'s rows (`input`, in order) prepared and packed, as one
    /// stream, and its schema (`input_ids`, `labels`, and `seq_lengths` but for `wrapped`).
    /// The preparation of a batch runs on a blocking thread; the packer holds one window.
    pub fn packed_stream(
        self: &Arc<Self>,
        input: SendableRecordBatchStream,
        split: &str,
    ) -> Result<(SendableRecordBatchStream, SchemaRef)> {
        let opts = self.opts.packing.ok_or_else(|| Error::Internal("no packing".into()))?;
        let prepared = self.output_schema(input.schema().as_ref());
        let packer = Packer::new(opts, &prepared)?;
        let schema = packer.output_schema();
        let stats = self.register(split);
        let task = self.task_rows.lock().expect("task rows lock").get(split).cloned().map(|r| {
            let mut st = stats.lock().expect("stats lock");
            (st.start, st.next) = (Some(r.first_row), r.first_row);
            TaskRows::new(r)
        });
        let me = self.clone();
        let split = split.to_string();
        type Prepared = tokio::task::JoinHandle<Result<Vec<RowResult<RowOut>>>>;
        struct State {
            input: SendableRecordBatchStream,
            input_done: bool,
            /// The rest of the input batch last read, not yet sent to be prepared.
            pending: Option<RecordBatch>,
            /// Pieces being prepared, in order: the next one is prepared while the one before
            /// it is assembled and packed, and the input decoded.
            preparing: std::collections::VecDeque<(RecordBatch, Prepared)>,
            packer: Packer,
            task: Option<TaskRows>,
            ready: std::collections::VecDeque<RecordBatch>,
            done: bool,
        }
        let state = State {
            input,
            input_done: false,
            pending: None,
            preparing: Default::default(),
            packer,
            task,
            ready: Default::default(),
            done: false,
        };
        let fail = move |me: &Arc<Sft>, e: Error| {
            let shown = e.to_string();
            me.failure.lock().expect("failure lock").get_or_insert(e);
            DataFusionError::Execution(shown)
        };
        let stream = futures::stream::unfold(state, move |mut st| {
            let (me, stats, split) = (me.clone(), stats.clone(), split.clone());
            async move {
                loop {
                    if let Some(b) = st.ready.pop_front() {
                        return Some((Ok(b), st));
                    }
                    if st.done {
                        return None;
                    }
                    // Keep PACK_IN_FLIGHT pieces of a few hundred rows being prepared (a batch
                    // of long conversations holds hundreds of MB of token ids once prepared).
                    while st.preparing.len() < PACK_IN_FLIGHT {
                        let batch = match st.pending.take() {
                            Some(b) => b,
                            None if st.input_done => break,
                            None => match st.input.next().await {
                                Some(Ok(batch)) => match st.task.as_mut() {
                                    None => batch,
                                    Some(t) => match t.apply(&batch) {
                                        Some(b) => b,
                                        None => continue,
                                    },
                                },
                                Some(Err(e)) => {
                                    st.done = true;
                                    return Some((Err(e), st));
                                }
                                None => {
                                    st.input_done = true;
                                    break;
                                }
                            },
                        };
                        let n = PACK_CHUNK_ROWS.min(batch.num_rows());
                        if n < batch.num_rows() {
                            st.pending = Some(batch.slice(n, batch.num_rows() - n));
                        }
                        let piece = batch.slice(0, n);
                        let (m, p) = (me.clone(), piece.clone());
                        st.preparing
                            .push_back((piece, tokio::task::spawn_blocking(move || m.prepare_rows(&p))));
                    }
                    if let Some((piece, handle)) = st.preparing.pop_front() {
                        let prepared = handle
                            .await
                            .map_err(|e| Error::Internal(format!("SFT thread failed: {e}")))
                            .and_then(|r| r)
                            .and_then(|rows| me.assemble(&piece, rows, &split, &stats))
                            .and_then(|b| st.packer.push(&b));
                        match prepared {
                            Ok(out) => st.ready.extend(out),
                            Err(e) => {
                                st.done = true;
                                return Some((Err(fail(&me, e)), st));
                            }
                        }
                        continue;
                    }
                    st.done = true;
                    let finished = st.packer.finish().and_then(|last| {
                        if let Some(t) = &st.task {
                            t.finish(&split, st.packer.stats().rows_in)?;
                        }
                        Ok(last)
                    });
                    match finished {
                        Ok(last) => st.ready.extend(last),
                        Err(e) => return Some((Err(fail(&me, e)), st)),
                    }
                    stats.lock().expect("stats lock").packed = Some(st.packer.stats());
                }
            }
        });
        Ok((Box::pin(RecordBatchStreamAdapter::new(schema.clone(), stream)), schema))
    }

    /// A fan-out task (`--packing`): split `split`'s rows of this task are `range` of the rows its
    /// files yield; positions in messages are the split's.
    pub fn set_task_rows(&self, split: &str, range: TaskRange) {
        self.task_rows.lock().expect("task rows lock").insert(split.to_string(), range);
    }

    /// A fan-out task without `--packing`: its rows of split `split` are named in messages as
    /// `row N of task T` (counted from the task's first file, `first_file`).
    pub fn set_task(&self, split: &str, task: usize, first_file: Option<&str>) {
        let name = match first_file {
            Some(f) => format!("task {task} (whose files begin with `{f}`)"),
            None => format!("task {task}"),
        };
        self.task_names.lock().expect("task names lock").insert(split.to_string(), name);
    }

    /// The error that stopped a packed stream, if one did (taken once).
    pub fn take_failure(&self) -> Option<Error> {
        self.failure.lock().expect("failure lock").take()
    }

    /// The batch mapping of split `split` (its rows must come in order, in one stream).
    /// Split `split`'s statistics, registered empty.
    fn register(&self, split: &str) -> Arc<Mutex<SplitStats>> {
        // A task without --packing counts its rows from its first (where it begins is not known).
        let relative = self.task_names.lock().expect("task names lock").contains_key(split);
        let start = if relative { None } else { Some(0) };
        let stats = Arc::new(Mutex::new(SplitStats { start, ..Default::default() }));
        self.stats.lock().expect("stats lock").insert(split.to_string(), stats.clone());
        stats
    }

    pub fn mapper(
        self: &Arc<Self>,
        split: &str,
    ) -> impl Fn(&RecordBatch) -> Result<RecordBatch> + Send + Sync + use<> {
        let stats = self.register(split);
        let me = self.clone();
        let split = split.to_string();
        move |batch: &RecordBatch| me.apply(batch, &split, &stats)
    }

    /// Prepare one batch: every row rendered, tokenized, masked and truncated; dropped rows left out.
    fn apply(&self, batch: &RecordBatch, split: &str, stats: &Mutex<SplitStats>) -> Result<RecordBatch> {
        let results = self.prepare_rows(batch)?;
        self.assemble(batch, results, split, stats)
    }

    /// Every row of a batch rendered, tokenized, masked and truncated, in parallel (rayon).
    fn prepare_rows(&self, batch: &RecordBatch) -> Result<Vec<RowResult<RowOut>>> {
        let cols = self.cols(batch)?;
        Ok((0..batch.num_rows()).into_par_iter().map(|i| self.row(&cols, i)).collect())
    }

    /// The output batch of prepared rows; statistics and row positions counted (batches of a
    /// split must be assembled in their order).
    fn assemble(
        &self,
        batch: &RecordBatch,
        results: Vec<RowResult<RowOut>>,
        split: &str,
        stats: &Mutex<SplitStats>,
    ) -> Result<RecordBatch> {
        let mut st = stats.lock().expect("stats lock");
        let base = st.next;
        st.next += batch.num_rows() as u64;
        let mut kept: Vec<u32> = Vec::new();
        let mut offsets: Vec<i32> = vec![0];
        let mut ids: Vec<i32> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            let position = base + i as u64;
            match r {
                Err(bad) => {
                    if !self.opts.skip_invalid_rows {
                        let row = match self.task_names.lock().expect("task names lock").get(split) {
                            Some(task) => format!("row {position} of {task}"),
                            None => format!("row {position}"),
                        };
                        return Err(Error::Data(format!(
                            "split `{split}`, {row}: {} ({}); fix the row, or pass --skip-invalid-rows \
                             to drop such rows (they are counted in the summary)",
                            bad.message,
                            bad.reason.replace('_', " ")
                        )));
                    }
                    let e = st.invalid.entry(bad.reason.to_string()).or_default();
                    e.count += 1;
                    if e.first_positions.len() < FIRST_POSITIONS {
                        e.first_positions.push(position);
                    }
                    if self.opts.packing.is_some() {
                        // An empty row: the packer drops it, but it still counts in its window,
                        // so windows are the split's rows (as a fan-out task's ranges are).
                        offsets.push(ids.len() as i32);
                        kept.push(i as u32);
                    }
                }
                Ok(row) => {
                    if self.model_max_length.is_some_and(|m| row.full_len > m) {
                        st.over_model_max += 1;
                    }
                    st.truncated += u64::from(row.truncated);
                    if row.fully_masked {
                        st.fully_masked += 1;
                        continue;
                    }
                    st.tokens += row.ids.len() as u64;
                    st.trainable += row.labels.iter().filter(|l| **l != IGNORE).count() as u64;
                    st.lengths.add(row.ids.len() as u64);
                    st.rows_out += 1;
                    ids.extend(row.ids.iter().map(|&x| x as i32));
                    labels.extend(row.labels);
                    if ids.len() > i32::MAX as usize {
                        return Err(Error::Internal("a batch has more than 2^31 tokens".into()));
                    }
                    offsets.push(ids.len() as i32);
                    kept.push(i as u32);
                }
            }
        }
        drop(st);
        let offsets = OffsetBuffer::new(offsets.into());
        let list = |values: ArrayRef| -> Result<ArrayRef> {
            let item = Arc::new(Field::new("item", values.data_type().clone(), true));
            Ok(Arc::new(ListArray::try_new(item, offsets.clone(), values, None)?))
        };
        let n_tokens = ids.len();
        let mut columns: Vec<ArrayRef> = vec![
            list(Arc::new(Int32Array::from(ids)))?,
            list(Arc::new(Int64Array::from(labels)))?,
            list(Arc::new(Int8Array::from(vec![1i8; n_tokens])))?,
        ];
        let indices = UInt32Array::from(kept);
        for k in &self.keep {
            let c = batch
                .column_by_name(k)
                .ok_or_else(|| Error::Internal(format!("kept column `{k}` is not in the batch")))?;
            columns.push(take(c.as_ref(), &indices, None)?);
        }
        Ok(RecordBatch::try_new(self.output_schema(batch.schema().as_ref()), columns)?)
    }

    /// The columns of a batch the rows are read from.
    fn cols(&self, batch: &RecordBatch) -> Result<Cols> {
        let get = |c: &str| {
            batch
                .column_by_name(c)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("column `{c}` is not in the batch")))
        };
        let names = self.opts.input_columns();
        let a = get(names[0])?;
        let b = names.get(1).map(|c| get(c)).transpose()?;
        let chat = value::is_list(a.data_type()) || matches!(self.opts.input, SftInput::Messages { .. });
        let tools_name = self.opts.tools_col.as_deref().unwrap_or(DEFAULT_TOOLS_COL);
        let tools = match &self.opts.input {
            SftInput::Lm { .. } => None,
            _ => batch.column_by_name(tools_name).cloned(),
        };
        let kwargs = match &self.opts.input {
            SftInput::Lm { .. } => None,
            _ => batch.column_by_name(TEMPLATE_KWARGS_COL).cloned(),
        };
        Ok(Cols { a, b, chat, tools, kwargs })
    }

    /// Prepare row `i` (flagged when truncation left it fully masked).
    fn row(&self, c: &Cols, i: usize) -> RowResult<RowOut> {
        let (ids, labels) = match (&self.opts.input, c.chat) {
            (SftInput::Messages { .. }, _) => {
                let messages = conversation(&c.a, i)?;
                let (tools, template, extra) = self.row_context(c, i)?;
                let r = self.render(template, messages, &tools, false, &extra)?;
                let (ids, assistant) = self.encode_chat(&r.text, &r.spans)?;
                let labels = mask::labels(&ids, assistant.as_deref(), None);
                (ids, labels)
            }
            (SftInput::PromptCompletion { .. }, true) => {
                let prompt = conversation(&c.a, i)?;
                let completion = conversation(c.b.as_ref().expect("completion column"), i)?;
                let (tools, template, extra) = self.row_context(c, i)?;
                let p = self.render(template, prompt.clone(), &tools, true, &extra)?;
                let prompt_ids = self.encode_ids(&p.text)?;
                let both: Vec<Value> = prompt
                    .try_iter()
                    .into_iter()
                    .flatten()
                    .chain(completion.try_iter().into_iter().flatten())
                    .collect();
                let r = self.render(template, Value::from(both), &tools, false, &extra)?;
                let (ids, assistant) = self.encode_chat(&r.text, &r.spans)?;
                let start = mask::common_prefix(&prompt_ids, &ids);
                let labels =
                    mask::labels(&ids, assistant.as_deref(), self.opts.completion_only_loss.then_some(start));
                (ids, labels)
            }
            (SftInput::PromptCompletion { .. }, false) => {
                let prompt = text(&c.a, i, "prompt")?;
                let completion =
                    self.with_eos(text(c.b.as_ref().expect("completion column"), i, "completion")?);
                let prompt_ids = self.encode_plain(prompt)?;
                let ids = self.encode_plain(&format!("{prompt}{completion}"))?;
                let start = mask::common_prefix(&prompt_ids, &ids);
                let labels = mask::labels(&ids, None, self.opts.completion_only_loss.then_some(start));
                (ids, labels)
            }
            (SftInput::Lm { .. }, _) => {
                let t = self.with_eos(text(&c.a, i, "text")?);
                let ids = self.encode_plain(&t)?;
                let labels = mask::labels(&ids, None, None);
                (ids, labels)
            }
        };
        let (mut ids, mut labels) = (ids, labels);
        let full_len = ids.len();
        // With packing TRL neither truncates nor drops fully masked rows: the packer cuts.
        let cut = self.opts.max_length.filter(|_| self.opts.packing.is_none());
        let truncated = match cut {
            Some(max) => mask::truncate(&mut ids, &mut labels, max, self.opts.truncation_mode),
            None => false,
        };
        let fully_masked = cut.is_some() && labels.iter().all(|l| *l == IGNORE);
        Ok(RowOut { ids, labels, truncated, full_len, fully_masked })
    }

    /// The row's tools (None when absent or null), its template and its keyword arguments.
    fn row_context(&self, c: &Cols, i: usize) -> RowResult<RowContext<'_>> {
        let tools = match &c.tools {
            None => Value::from(()),
            Some(a) if a.is_null(i) => Value::from(()),
            Some(a) => match value::string_at(a, i) {
                Some(s) => value::parse_json(s).map_err(|e| invalid("bad_json", format!("tools: {e}")))?,
                None => value::cell(a, i),
            },
        };
        let template = self
            .templates
            .as_ref()
            .and_then(|t| t.pick(!tools.is_none()))
            .ok_or_else(|| invalid("no_template", "no chat template"))?;
        let mut extra = Vec::new();
        if let Some(a) = &c.kwargs
            && !a.is_null(i)
        {
            let v = match value::string_at(a, i) {
                Some(s) => value::parse_json(s)
                    .map_err(|e| invalid("bad_json", format!("{TEMPLATE_KWARGS_COL}: {e}")))?,
                None => value::cell(a, i),
            };
            if v.kind() != minijinja::value::ValueKind::Map {
                return Err(invalid("bad_json", format!("{TEMPLATE_KWARGS_COL} is not a mapping")));
            }
            for k in v.try_iter().into_iter().flatten() {
                let val = v.get_item(&k).unwrap_or_default();
                extra.push((k.to_string(), val));
            }
        }
        Ok((tools, template, extra))
    }

    /// Render a conversation: special tokens, `--template-kwargs`, the row's kwargs (later win),
    /// then `messages`, `tools`, `documents` and `add_generation_prompt`.
    fn render(
        &self,
        template: &ChatTemplate,
        messages: Value,
        tools: &Value,
        add_generation_prompt: bool,
        extra: &[(String, Value)],
    ) -> std::result::Result<template::Rendered, Invalid> {
        let mut vars: Vec<(String, Value)> = self.globals.clone();
        vars.extend(extra.iter().cloned());
        vars.push(("messages".into(), messages));
        vars.push(("tools".into(), tools.clone()));
        vars.push(("documents".into(), Value::from(())));
        vars.push(("add_generation_prompt".into(), Value::from(add_generation_prompt)));
        let ctx: Value = Value::from_iter(vars);
        template.render(ctx).map_err(|m| invalid("template_error", m))
    }

    /// Rendered text → ids (without special tokens, as `apply_chat_template` tokenizes) and,
    /// with `--assistant-only-loss`, the assistant mask of the `{% generation %}` spans.
    fn encode_chat(&self, text: &str, spans: &[(usize, usize)]) -> RowResult<(Vec<u32>, Option<Vec<bool>>)> {
        if !self.opts.assistant_only_loss {
            return Ok((self.encode_ids(text)?, None));
        }
        // Byte offsets (`encode`), turned into the character offsets transformers compares the
        // spans with: `encode_char_offsets` builds a hash map of every byte per call.
        let e = self.tokenizer.encode(text, false).map_err(|e| invalid("tokenizer_error", e.to_string()))?;
        let offsets = mask::char_offsets(text, e.get_offsets());
        let m = mask::assistant_mask(&offsets, spans);
        if !m.iter().any(|b| *b) {
            return Err(invalid(
                "no_assistant_tokens",
                "--assistant-only-loss, but the row has no assistant token (no {% generation %} text)",
            ));
        }
        Ok((e.get_ids().to_vec(), Some(m)))
    }

    /// Rendered text → ids only, without special tokens (no offsets computed).
    fn encode_ids(&self, text: &str) -> std::result::Result<Vec<u32>, Invalid> {
        let e =
            self.tokenizer.encode_fast(text, false).map_err(|e| invalid("tokenizer_error", e.to_string()))?;
        Ok(e.get_ids().to_vec())
    }

    /// Plain text → ids, with the tokenizer's special tokens.
    fn encode_plain(&self, text: &str) -> std::result::Result<Vec<u32>, Invalid> {
        let e =
            self.tokenizer.encode_fast(text, true).map_err(|e| invalid("tokenizer_error", e.to_string()))?;
        Ok(e.get_ids().to_vec())
    }

    fn with_eos<'a>(&self, t: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.eos {
            Some(eos) if !t.ends_with(eos.as_str()) => std::borrow::Cow::Owned(format!("{t}{eos}")),
            _ => std::borrow::Cow::Borrowed(t),
        }
    }

    pub fn summary(&self, splits: &[String]) -> SftSummary {
        let stats = self.stats.lock().expect("stats lock");
        let splits = splits
            .iter()
            .map(|name| match stats.get(name) {
                Some(st) => st.lock().expect("stats lock").summary(name),
                None => SplitStats::default().summary(name),
            })
            .collect();
        SftSummary {
            input: self.opts.input.clone(),
            template: self
                .templates
                .as_ref()
                .and_then(|t| t.main.as_ref().or(t.tool_use.as_ref()))
                .map(|t| t.source.clone()),
            tokenizer: self.provenance.clone(),
            mask_rule: self.opts.mask_rule().to_string(),
            max_length: self.opts.max_length,
            truncation_mode: self.opts.truncation_mode,
            model_max_length: self.model_max_length,
            packing: self.opts.packing,
            splits,
        }
    }

    /// A fan-out task's statistics of split `name`, for its manifest.
    pub fn split_stats(&self, name: &str) -> Option<SplitStats> {
        let stats = self.stats.lock().expect("stats lock");
        stats.get(name).map(|st| st.lock().expect("stats lock").clone())
    }
}

/// No chat template for conversational input (exit 2, before any row is read).
fn no_template(source: &str) -> Error {
    Error::Usage(format!(
        "tokenizer `{source}` has no chat template (no `chat_template` in tokenizer_config.json and no \
         chat_template.jinja beside it), and the rows are conversations; give one with --chat-template FILE"
    ))
}

/// The templates of a run: `--chat-template FILE`, else the tokenizer's.
fn templates(
    opts: &SftOptions,
    config: &serde_json::Value,
    chat_file: Option<String>,
    shown: &str,
) -> Result<Option<Templates>> {
    let compile = |text: &str, origin: String, name: Option<String>| {
        ChatTemplate::compile(text, origin.clone(), name)
            .map_err(|e| Error::Usage(format!("the chat template from {origin} does not compile: {e}")))
    };
    let chosen_name = match &opts.chat_template {
        Some(TemplateChoice::File { path, text }) => {
            return Ok(Some(Templates {
                main: Some(compile(text, format!("--chat-template `{path}`"), None)?),
                tool_use: None,
            }));
        }
        Some(TemplateChoice::Name(n)) => Some(n.clone()),
        None => None,
    };
    let single = |text: &str, origin: String| -> Result<Option<Templates>> {
        if let Some(n) = &chosen_name {
            return Err(Error::Usage(format!(
                "--chat-template `{n}`: tokenizer `{shown}` has a single chat template ({origin}), not a list of \
                 named ones; give a template file or leave --chat-template out"
            )));
        }
        Ok(Some(Templates { main: Some(compile(text, origin, None)?), tool_use: None }))
    };
    if let Some(text) = chat_file {
        return single(&text, format!("`{shown}` chat_template.jinja"));
    }
    match config.get("chat_template") {
        None | Some(serde_json::Value::Null) => match chosen_name {
            Some(n) => Err(Error::Usage(format!(
                "--chat-template `{n}`: tokenizer `{shown}` has no chat template; give a template file"
            ))),
            None => Ok(None),
        },
        Some(serde_json::Value::String(t)) => single(t, format!("`{shown}` tokenizer_config.json")),
        Some(serde_json::Value::Array(list)) => {
            let mut named: Vec<(String, String)> = Vec::new();
            for item in list {
                let (Some(n), Some(t)) = (
                    item.get("name").and_then(|v| v.as_str()),
                    item.get("template").and_then(|v| v.as_str()),
                ) else {
                    return Err(Error::Usage(format!(
                        "tokenizer `{shown}`: tokenizer_config.json's chat_template list holds an entry without \
                         `name` and `template`"
                    )));
                };
                named.push((n.to_string(), t.to_string()));
            }
            let origin = format!("`{shown}` tokenizer_config.json");
            let get = |n: &str| named.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str());
            let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
            match chosen_name {
                Some(n) => match get(&n) {
                    Some(t) => Ok(Some(Templates {
                        main: Some(compile(t, origin, Some(n.clone()))?),
                        tool_use: None,
                    })),
                    None => Err(Error::Usage(format!(
                        "--chat-template `{n}`: tokenizer `{shown}` has no template of that name; it has {}",
                        names.join(", ")
                    ))),
                },
                None => {
                    let Some(default) = get("default") else {
                        return Err(Error::Usage(format!(
                            "tokenizer `{shown}` has several chat templates ({}) and none is `default`; choose \
                             one with --chat-template NAME",
                            names.join(", ")
                        )));
                    };
                    let tool_use = get("tool_use")
                        .map(|t| compile(t, origin.clone(), Some("tool_use".into())))
                        .transpose()?;
                    Ok(Some(Templates {
                        main: Some(compile(default, origin.clone(), Some("default".into()))?),
                        tool_use,
                    }))
                }
            }
        }
        Some(other) => Err(Error::Usage(format!(
            "tokenizer `{shown}`: tokenizer_config.json's chat_template is {other}, not a string or a list"
        ))),
    }
}

/// A special token's content: a string, or an `AddedToken` dict's `content`.
fn token_content(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(String::from),
        _ => None,
    }
}

/// The text of a plain cell (a null is invalid).
fn text<'a>(a: &'a ArrayRef, i: usize, what: &str) -> std::result::Result<&'a str, Invalid> {
    value::string_at(a, i).ok_or_else(|| invalid("null_text", format!("the {what} is null")))
}

/// The conversation of a cell, as transformers normalises it: a list of messages (JSON text is
/// parsed), each a mapping whose null values are dropped, with a role and content (or tool
/// calls or reasoning); `reasoning_content` / `thinking` / `reasoning` aliased to each other.
fn conversation(a: &ArrayRef, i: usize) -> std::result::Result<Value, Invalid> {
    if a.is_null(i) {
        return Err(invalid("null_conversation", "the conversation is null"));
    }
    let raw = match value::string_at(a, i) {
        Some(s) => {
            value::parse_json(s).map_err(|e| invalid("bad_json", format!("the conversation is {e}")))?
        }
        None => value::cell(a, i),
    };
    use minijinja::value::ValueKind;
    match raw.kind() {
        ValueKind::None => return Err(invalid("null_conversation", "the conversation is null")),
        ValueKind::Seq => {}
        other => {
            return Err(invalid("not_a_conversation", format!("the conversation is a {other}, not a list")));
        }
    }
    let mut out = Vec::new();
    for (n, m) in raw.try_iter().into_iter().flatten().enumerate() {
        if m.kind() != ValueKind::Map {
            return Err(invalid("not_a_message", format!("message {n} is a {}, not a mapping", m.kind())));
        }
        let mut pairs: Vec<(Value, Value)> = Vec::new();
        for k in m.try_iter().into_iter().flatten() {
            let v = m.get_item(&k).unwrap_or_default();
            if !v.is_none() && !v.is_undefined() {
                pairs.push((k, v));
            }
        }
        let get = |key: &str| pairs.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone());
        if get("role").is_none() {
            return Err(invalid("missing_role", format!("message {n} has no role")));
        }
        let reasoning = ["reasoning_content", "thinking", "reasoning"].iter().find_map(|k| get(k));
        if get("content").is_none() && get("tool_calls").is_none() && reasoning.is_none() {
            return Err(invalid("missing_content", format!("message {n} has no content")));
        }
        let message = match reasoning {
            None => Value::from_iter(pairs),
            Some(r) => {
                let mut v: Vec<(Value, Value)> = vec![(Value::from("thinking"), r.clone())];
                v.extend(pairs);
                v.push((Value::from("reasoning_content"), r));
                // Later pairs win, keeping the first position (a Python dict literal).
                let mut merged: Vec<(Value, Value)> = Vec::new();
                for (k, val) in v {
                    match merged.iter_mut().find(|(mk, _)| *mk == k) {
                        Some(slot) => slot.1 = val,
                        None => merged.push((k, val)),
                    }
                }
                Value::from_iter(merged)
            }
        };
        out.push(message);
    }
    if out.is_empty() {
        return Err(invalid("empty_conversation", "the conversation has no message"));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut st = SplitStats::default();
        (1..=100).for_each(|l| st.lengths.add(l));
        let l = st.summary("train").length;
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50, 90, 99, 100));
    }

    /// A part of a split: `rows` rows from `start` (`None`: counted from its first row), the
    /// given lengths written, bad rows at `bad` (positions as the part counts them).
    fn part(start: Option<u64>, rows: u64, lengths: &[u64], bad: &[u64]) -> SplitStats {
        let mut st = SplitStats { start, next: start.unwrap_or(0) + rows, ..Default::default() };
        for l in lengths {
            st.lengths.add(*l);
            st.tokens += l;
            st.rows_out += 1;
        }
        if !bad.is_empty() {
            let first = bad.iter().take(FIRST_POSITIONS).copied().collect();
            st.invalid
                .insert("bad_json".into(), InvalidRows { count: bad.len() as u64, first_positions: first });
        }
        st
    }

    #[test]
    fn merged_parts_are_the_whole_split() {
        // The whole split: 10 rows, bad rows at 1, 4, 5, 6, 8 and 9.
        let lengths = [3, 9, 1, 7, 7, 2];
        let whole = part(Some(0), 10, &lengths, &[1, 4, 5, 6, 8, 9]);
        // Three tasks without packing (positions their own), then the same with packing
        // (positions the split's), merged in task order from a fresh start.
        let merge = |parts: &[SplitStats]| {
            let mut acc = SplitStats::default();
            parts.iter().for_each(|p| acc.merge(p));
            acc.summary("train")
        };
        let relative = [
            part(None, 3, &lengths[..2], &[1]),
            part(None, 4, &lengths[2..4], &[1, 2, 3]),
            part(None, 3, &lengths[4..], &[1, 2]),
        ];
        let absolute = [
            part(Some(0), 3, &lengths[..2], &[1]),
            part(Some(3), 4, &lengths[2..4], &[4, 5, 6]),
            part(Some(7), 3, &lengths[4..], &[8, 9]),
        ];
        for parts in [&relative, &absolute] {
            let got = merge(parts);
            assert_eq!(got, whole.summary("train"));
            assert_eq!(got.invalid["bad_json"].first_positions, vec![1, 4, 5, 6, 8]);
            assert_eq!((got.rows_in, got.rows_out, got.length.p50, got.length.max), (10, 6, 3, 9));
            assert_eq!(got.dropped(), BTreeMap::from([("invalid".to_string(), 6)]));
        }
    }

    #[test]
    fn packing_fill_ratio_is_of_the_merged_sums() {
        let packed =
            |rows_out, tokens_out| PackStats { max_length: 10, rows_out, tokens_out, ..Default::default() };
        let mut acc = SplitStats::default();
        for p in [packed(1, 10), packed(3, 15)] {
            acc.merge(&SplitStats { packed: Some(p), ..Default::default() });
        }
        let p = acc.summary("train").packing.expect("packed");
        assert_eq!((p.stats.rows_out, p.stats.tokens_out), (4, 25));
        assert_eq!(p.fill_ratio, 25.0 / 40.0);
    }
}
