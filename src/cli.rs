//! The command line: `delta-hf prepare`, `size`, `pull`, `demo-data` and their flags (clap
//! structs only; [`crate::settings`] validates them).
//!
//! Every flag a job sets can also come from an environment variable (named on each flag, all
//! `DELTA_HF_*`); precedence is command line > environment > default. The first doc line of a
//! flag is its `-h` text, the rest shows with `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sink::format::Format;
use crate::transform::kind::LabelKind;
use crate::transform::label_map::{LabelMapMode, LabelOrder};
use crate::transform::tokenize::Padding;

/// The flags an SFT export (issue 21) does not take: the classification ones.
const SFT_CLASHES: [&str; 10] = [
    "label_col",
    "label_kind",
    "labels",
    "labels_from",
    "label_table",
    "tokens_col",
    "multi_hot",
    "label_all_tokens",
    "text_pair_col",
    "padding",
];

/// Turn Delta Lake tables into Hugging Face `datasets` caches with one shared label map.
#[derive(Debug, Parser)]
#[command(name = "delta-hf", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export Delta tables as a `load_from_disk`-ready DatasetDict, with a shared label map.
    Prepare(Box<PrepareArgs>),
    /// Show a Hugging Face Hub dataset's sizes, splits, configs and data files.
    Size(SizeArgs),
    /// Download a Hub dataset's Parquet files (verified, cached) into one Delta table per split.
    Pull(Box<PullArgs>),
    /// Fan-out, step 1: pin the inputs, compute the label map and split the export into N tasks (PLAN).
    Plan(Box<PlanArgs>),
    /// Fan-out, step 2: write one task's shards and manifest into the plan's staging area.
    #[command(name = "run-task")]
    RunTask(RunTaskArgs),
    /// Fan-out, step 3: check every task's manifest, record the label table and publish the dataset.
    Commit(CommitArgs),
    /// Generate the deterministic demo Delta tables used by `make demo`.
    #[command(name = "demo-data")]
    DemoData(DemoDataArgs),
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// A split and its table: `NAME=TABLE[@vN|@TIMESTAMP]` (repeatable, at least one).
    ///
    /// TABLE is a local path, a `file://`, `s3://`, `abfss://`, `az://` or `gs://` URI, or a Unity
    /// Catalog name `catalog.schema.table` (or `uc://catalog.schema.table`). A suffix `@v3` reads version 3,
    /// `@2024-05-01T00:00:00Z` the latest version committed at or before that instant.
    /// Split names follow `datasets`' rule: word characters, optionally dot-separated.
    #[arg(long = "split", value_name = "NAME=TABLE", env = "DELTA_HF_SPLITS", value_delimiter = ',')]
    pub splits: Vec<String>,

    /// Shorthand for `--split train=TABLE`.
    #[arg(long, value_name = "TABLE", env = "DELTA_HF_TRAIN")]
    pub train: Option<String>,

    /// Shorthand for `--split test=TABLE` (the evaluation split).
    #[arg(long, value_name = "TABLE", env = "DELTA_HF_EVAL", alias = "test")]
    pub eval: Option<String>,

    /// Read every split at this table version (unless its spec pins one).
    #[arg(long, value_name = "N", env = "DELTA_HF_VERSION", conflicts_with = "timestamp")]
    pub version: Option<u64>,

    /// Read every split as of this RFC 3339 instant (unless its spec pins one).
    #[arg(long, value_name = "RFC3339", env = "DELTA_HF_TIMESTAMP")]
    pub timestamp: Option<String>,

    /// Column holding the text (written as `text`).
    #[arg(long, default_value = "text", env = "DELTA_HF_TEXT_COL")]
    pub text_col: String,

    /// Column holding the label (written as `label`, a ClassLabel id).
    #[arg(long, default_value = "label", env = "DELTA_HF_LABEL_COL")]
    pub label_col: String,

    /// Carry this column through unchanged (repeatable).
    #[arg(long = "keep-col", value_name = "NAME", env = "DELTA_HF_KEEP_COLS", value_delimiter = ',')]
    pub keep_cols: Vec<String>,

    /// A DataFusion SQL file that reshapes each split before export.
    ///
    /// The query runs once per split. In it, `source` is the split being exported and every
    /// split is also a table under its own name. It must return the text and label columns
    /// (and any `--keep-col`), or with `--no-labels` exactly the columns to export.
    #[arg(long, value_name = "FILE", env = "DELTA_HF_SELECT_SQL")]
    pub select_sql: Option<PathBuf>,

    /// What the label column holds: auto (from its type), single, multi, token or regression.
    ///
    /// auto: a string, integer or boolean column is single; an array of those is multi (token
    /// with --tokens-col); a float, double or decimal column is regression; any other type is
    /// refused. An explicit kind that does not fit the column's type is refused too.
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_LABEL_KIND", conflicts_with = "no_labels")]
    pub label_kind: LabelKind,

    /// Column holding the words (an array of strings) of a token-classification export.
    ///
    /// Written as `tokens`; --label-col then holds one tag per word, written as `ner_tags`.
    #[arg(long, value_name = "NAME", env = "DELTA_HF_TOKENS_COL", conflicts_with = "no_labels")]
    pub tokens_col: Option<String>,

    /// Multi-label: write `labels` as a float32 multi-hot vector per row instead of a list of ids.
    #[arg(long, env = "DELTA_HF_MULTI_HOT", conflicts_with = "no_labels")]
    pub multi_hot: bool,

    /// Token classification with a tokenizer: every sub-word gets its word's tag, not only the first.
    #[arg(long, env = "DELTA_HF_LABEL_ALL_TOKENS", conflicts_with = "no_labels")]
    pub label_all_tokens: bool,

    /// Export the selected (default: all) columns as they are, with no label map.
    #[arg(long, env = "DELTA_HF_NO_LABELS")]
    pub no_labels: bool,

    /// Order of newly assigned label ids.
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_LABEL_ORDER")]
    pub label_order: LabelOrder,

    /// A file listing the labels, one per line, in id order; a label outside it is an error.
    #[arg(long, value_name = "FILE", env = "DELTA_HF_LABELS", conflicts_with = "label_order")]
    pub labels: Option<PathBuf>,

    /// Take the label order from a Hub dataset card or a label table; a label outside it is an error.
    ///
    /// `hf://datasets/OWNER/NAME[@REVISION][:CONFIG]` uses the ClassLabel names of the card's
    /// `dataset_info` (the feature named by --label-col, else the only ClassLabel), so ids match
    /// the published dataset. Anything else is a Delta table: a label table (`id`, `label`
    /// columns, as `--label-table` writes), or a table written by `delta-hf pull` (its ClassLabel
    /// names are in the commit metadata).
    #[arg(long, value_name = "CARD|TABLE", env = "DELTA_HF_LABELS_FROM", conflicts_with_all = ["labels", "label_order"])]
    pub labels_from: Option<String>,

    /// Output directory of the DatasetDict [default: under $HF_DATASETS_CACHE].
    ///
    /// A local path, an object-store URI (`s3://`, `abfss://`, `az://`, `gs://`) or a Unity
    /// Catalog volume path `/Volumes/<catalog>/<schema>/<volume>/<dir>`. Non-local outputs are
    /// staged in --working-dir and uploaded with `dataset_dict.json` last. Or a Hub dataset repo
    /// `hf://datasets/OWNER/NAME[@BRANCH]` (implies --format parquet; `HF_TOKEN`, `HF_ENDPOINT`):
    /// published as one commit, replacing the previous export's files.
    #[arg(long, short, value_name = "DIR", env = "DELTA_HF_OUTPUT")]
    pub output: Option<String>,

    /// The output format: `arrow` is `datasets`' `save_to_disk` layout (`load_from_disk`);
    /// `parquet` the Hub layout `push_to_hub` writes (`data/<split>-NNNNN-of-MMMMM.parquet` and
    /// a `README.md` dataset card; `load_dataset`); `mds` Mosaic Streaming's shards
    /// (`StreamingDataset`).
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_FORMAT")]
    pub format: Format,

    /// Largest shard, in `datasets` units (`500MB`, `1GB`, `256MiB`, bytes).
    #[arg(long, default_value = "500MB", env = "DELTA_HF_MAX_SHARD_SIZE")]
    pub max_shard_size: String,

    /// Exactly this many shards per split (rows split as evenly as possible).
    #[arg(long, value_name = "N", env = "DELTA_HF_NUM_SHARDS")]
    pub num_shards: Option<usize>,

    /// A Delta table recording the label map (id, label, per-split counts); created if absent.
    #[arg(long, value_name = "TABLE", env = "DELTA_HF_LABEL_TABLE")]
    pub label_table: Option<String>,

    /// How an existing label table's ids are used.
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_LABEL_MAP_MODE")]
    pub label_map_mode: LabelMapMode,

    /// Where the dataset is staged before it is published [default: a hidden temp dir beside
    /// the output].
    #[arg(long, value_name = "DIR", env = "DELTA_HF_WORKING_DIR")]
    pub working_dir: Option<PathBuf>,

    /// Replace an existing output directory (atomically where the filesystem allows).
    #[arg(long, env = "DELTA_HF_OVERWRITE")]
    pub overwrite: bool,

    /// Flush every shard to disk before publishing, so a machine crash cannot leave a
    /// published dataset with unwritten data (a killed process never can; this costs time).
    #[arg(long, env = "DELTA_HF_FSYNC")]
    pub fsync: bool,

    /// Drop rows whose text or label is null instead of failing.
    #[arg(long, env = "DELTA_HF_DROP_NULLS")]
    pub drop_nulls: bool,

    /// Fail when a split has labels the `train` split does not (default: warn).
    #[arg(long, env = "DELTA_HF_REQUIRE_TRAIN_LABELS")]
    pub require_train_labels: bool,

    /// Memory limit for DataFusion's operators (e.g. `2GB`); default: no limit.
    #[arg(long, value_name = "SIZE", env = "DELTA_HF_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,

    /// Where the label table is created when `--label-table` is a Unity Catalog name that does
    /// not exist yet (a storage URI; the table is registered as EXTERNAL there).
    #[arg(long, value_name = "URI", env = "DELTA_HF_LABEL_TABLE_LOCATION")]
    pub label_table_location: Option<String>,

    /// Tokenize the text column: a `tokenizer.json`, a directory holding one, a URI or volume
    /// path, or `hf://MODEL_ID[@REVISION]` (through the Hugging Face cache).
    ///
    /// Appends `input_ids`, `attention_mask` (and `token_type_ids` when the model takes them),
    /// equal to transformers' fast tokenizer through `Dataset.map(batched=True)`.
    #[arg(long, value_name = "SRC", env = "DELTA_HF_TOKENIZER")]
    pub tokenizer: Option<String>,

    /// Truncate to N tokens (longest first for pairs) [default: the tokenizer's
    /// `model_max_length`, else no truncation].
    #[arg(long, value_name = "N", env = "DELTA_HF_MAX_LENGTH", requires = "tokenizer")]
    pub max_length: Option<usize>,

    /// Padding of the token columns: none (the collator pads each batch) or to the max length.
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_PADDING", requires = "tokenizer")]
    pub padding: Padding,

    /// The second text of sentence pairs (the tokenizer's pair template); kept as a column.
    #[arg(long, value_name = "COL", env = "DELTA_HF_TEXT_PAIR_COL", requires = "tokenizer")]
    pub text_pair_col: Option<String>,

    /// Leave the text (and pair) column out of the tokenized output.
    #[arg(long, env = "DELTA_HF_DROP_TEXT", requires = "tokenizer")]
    pub drop_text: bool,

    // issue 23: the report
    /// Append the report (`report.json` of the output) to this Delta table, one row per split
    /// and run; created if absent (a path, a URI or a Unity Catalog name).
    #[arg(long, value_name = "TABLE", env = "DELTA_HF_REPORT_TABLE")]
    pub report_table: Option<String>,

    // --format mds (issue 22).
    /// With --format mds: shard compression, `none`, `zstd` or `zstd:LEVEL` (1-22) [default: zstd].
    ///
    /// Compressed shards are `shard.NNNNN.mds.zstd`; `StreamingDataset` decompresses them into its
    /// local cache.
    #[arg(long, value_name = "none|zstd[:LEVEL]", env = "DELTA_HF_MDS_COMPRESSION")]
    pub mds_compression: Option<String>,

    /// With --format mds: hash every shard file with these (`sha1`, `xxh64`, ... as `streaming`
    /// names them; comma-separated or repeated), recorded in `index.json`.
    ///
    /// delta-hf computes md5, sha1, sha224, sha256, sha384, sha512, xxh32, xxh64, xxh3_64,
    /// xxh3_128 and xxh128. `StreamingDataset(validate_hash=NAME)` checks one of them.
    #[arg(long = "mds-hashes", value_name = "NAME", env = "DELTA_HF_MDS_HASHES", value_delimiter = ',')]
    pub mds_hashes: Vec<String>,

    // Issue 23 (hygiene): splits from one table, duplicates and leaks.
    /// Cut the splits from this one table (`TABLE[@vN|@TIMESTAMP]`) by a hash of each row's key
    /// (see --split-ratios); instead of --split/--train/--eval.
    ///
    /// A row goes to the split whose cumulative ratio first exceeds `xxh64(key, seed=0) / 2^64`,
    /// `key` being its key columns' canonical forms joined by U+001F (README "Splits from one
    /// table"): the same on every machine, and rows never move when rows are added.
    #[arg(long, value_name = "TABLE", env = "DELTA_HF_SPLIT_FROM", conflicts_with_all = ["splits", "train", "eval"])]
    pub split_from: Option<String>,

    /// The splits cut by --split-from, in order: `NAME=RATIO,...` summing to 1 (e.g.
    /// `train=0.8,validation=0.1,test=0.1`).
    #[arg(long, value_name = "NAME=RATIO,...", env = "DELTA_HF_SPLIT_RATIOS", requires = "split_from")]
    pub split_ratios: Option<String>,

    /// The columns hashed for --split-from (repeatable) [default: the text column (the words
    /// with --tokens-col), and the label column unless --no-labels].
    #[arg(
        long = "split-key",
        value_name = "COL",
        env = "DELTA_HF_SPLIT_KEYS",
        value_delimiter = ',',
        requires = "split_from"
    )]
    pub split_keys: Vec<String>,

    /// --split-from: cut each class separately, so each split holds each class within one row
    /// of its ratio (single-label kinds; rows may move when the table grows).
    #[arg(long, env = "DELTA_HF_STRATIFY", requires = "split_from")]
    pub stratify: bool,

    /// --split-from: hash this column's value only, so a group (a user, a document) never spans
    /// two splits.
    #[arg(long, value_name = "COL", env = "DELTA_HF_GROUP_COL", requires = "split_from", conflicts_with_all = ["split_keys", "stratify"])]
    pub group_col: Option<String>,

    /// Drop duplicate rows: `exact` (same normalised text) or `near` (MinHash LSH over word
    /// 5-grams, --near-dup-threshold); the first row is kept, splits in the order given.
    #[arg(long, value_enum, env = "DELTA_HF_DEDUP")]
    pub dedup: Option<crate::transform::hygiene::dedup::DedupMode>,

    /// How texts are compared by --dedup and the leak check: `nfkc` (NFKC, case-folded,
    /// whitespace collapsed and trimmed) or `none` (the raw text).
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_DEDUP_NORMALIZE")]
    pub dedup_normalize: crate::transform::hygiene::dedup::Normalize,

    /// --dedup near: the estimated Jaccard similarity of word 5-grams from which two texts are
    /// near-duplicates.
    #[arg(long, value_name = "J", default_value_t = 0.8, env = "DELTA_HF_NEAR_DUP_THRESHOLD")]
    pub near_dup_threshold: f64,

    /// Rows of the other splits that duplicate a training row: `report` counts them, `drop`
    /// removes them too (exact duplicates always; near ones with --dedup near).
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_LEAKS")]
    pub leaks: crate::transform::hygiene::dedup::LeaksMode,

    // SFT exports (issue 21): conversations, prompt-completion pairs or plain text → input_ids,
    // labels (-100 where masked) and attention_mask, as TRL's SFTTrainer prepares them.
    /// Fine-tune on conversations: an array<struct<role, content, ...>> column, or a string
    /// column holding the same as JSON; rendered with the tokenizer's chat template.
    ///
    /// Writes `input_ids`, `labels` (-100 where masked) and `attention_mask` (plus --keep-col),
    /// equal to TRL 1.16's SFTTrainer preparation.
    #[arg(long, value_name = "COL", env = "DELTA_HF_MESSAGES_COL", requires = "tokenizer",
          conflicts_with_all = SFT_CLASHES)]
    pub messages_col: Option<String>,

    /// Fine-tune on prompt-completion pairs: the prompt column (a string, or a conversation);
    /// with --completion-col.
    #[arg(long, value_name = "COL", env = "DELTA_HF_PROMPT_COL", requires_all = ["tokenizer", "completion_col"],
          conflicts_with_all = SFT_CLASHES, conflicts_with = "messages_col")]
    pub prompt_col: Option<String>,

    /// The completion column of prompt-completion pairs (a string, or a conversation).
    #[arg(long, value_name = "COL", env = "DELTA_HF_COMPLETION_COL", requires = "prompt_col")]
    pub completion_col: Option<String>,

    /// Plain language modelling on --text-col: the EOS token appended unless present.
    #[arg(long, env = "DELTA_HF_LM", requires = "tokenizer", conflicts_with_all = SFT_CLASHES,
          conflicts_with_all = ["messages_col", "prompt_col"])]
    pub lm: bool,

    /// The chat template: a Jinja file, or the name of one of the tokenizer's named templates
    /// [default: the tokenizer's chat_template.jinja, else tokenizer_config.json's
    /// chat_template (`default` of a list, `tool_use` for rows with tools)].
    #[arg(long, value_name = "FILE|NAME", env = "DELTA_HF_CHAT_TEMPLATE")]
    pub chat_template: Option<String>,

    /// The tools column of conversations (a list, or JSON text) [default: `tools` when present].
    #[arg(long, value_name = "COL", env = "DELTA_HF_TOOLS_COL")]
    pub tools_col: Option<String>,

    /// Keyword arguments for the chat template, a JSON object (e.g. '{"enable_thinking": false}');
    /// a row's `chat_template_kwargs` column, when present, wins.
    #[arg(long, value_name = "JSON", env = "DELTA_HF_TEMPLATE_KWARGS")]
    pub template_kwargs: Option<String>,

    /// Train on assistant tokens only (the template's {% generation %} marks).
    #[arg(long, env = "DELTA_HF_ASSISTANT_ONLY_LOSS")]
    pub assistant_only_loss: bool,

    /// Prompt-completion pairs: mask the prompt tokens (TRL's default: true).
    #[arg(long, value_name = "BOOL", env = "DELTA_HF_COMPLETION_ONLY_LOSS", requires = "prompt_col")]
    pub completion_only_loss: Option<bool>,

    /// Which end of a row longer than --max-length is kept.
    #[arg(long, value_enum, default_value_t, env = "DELTA_HF_TRUNCATION_MODE")]
    pub truncation_mode: crate::transform::sft::mask::TruncationMode,

    /// Drop the rows that cannot be prepared (counted per reason in the summary) instead of failing.
    #[arg(long, env = "DELTA_HF_SKIP_INVALID_ROWS")]
    pub skip_invalid_rows: bool,

    /// Pack the SFT rows into rows of at most --max-length tokens, as TRL's pack_dataset does:
    /// bfd (best fit decreasing, long rows truncated), bfd-split (long rows split) or wrapped.
    ///
    /// Writes `input_ids`, `labels` and (bfd, bfd-split) `seq_lengths` for position ids.
    #[arg(long, value_enum, value_name = "STRATEGY", env = "DELTA_HF_PACKING", requires = "max_length")]
    pub packing: Option<crate::transform::sft::pack::Strategy>,

    /// Rows packed together: consecutive windows of N rows of each split (TRL packs in
    /// `Dataset.map`'s batches of 1,000 rows).
    #[arg(long, value_name = "N", env = "DELTA_HF_PACKING_WINDOW", requires = "packing",
          default_value_t = crate::transform::sft::pack::DEFAULT_WINDOW)]
    pub packing_window: usize,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub report: ReportArgs,

    // issue 22: publishing to the Hub (`--output hf://datasets/OWNER/NAME[@BRANCH]`).
    /// With `--output hf://...`: create the dataset repo as private when it does not exist.
    #[arg(long, env = "DELTA_HF_PRIVATE")]
    pub private: bool,
}

/// What a command prints (shared by every command that reports).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct ReportArgs {
    /// Print the summary as JSON on stdout.
    #[arg(long, env = "DELTA_HF_JSON")]
    pub json: bool,

    /// Print nothing but errors (no progress, no summary unless --json).
    #[arg(long, short, env = "DELTA_HF_QUIET")]
    pub quiet: bool,
}

/// How to reach cloud storage and Unity Catalog (shared by every command that opens tables).
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// An object-store option `KEY=VALUE` passed to every table and output (repeatable), e.g.
    /// `AWS_ENDPOINT_URL=http://127.0.0.1:9000`, `AWS_REGION=eu-west-1`.
    ///
    /// Keys are those of delta-rs / object_store (`AWS_*`, `AZURE_*`, `GOOGLE_*`); the usual
    /// credential environment variables are read too, options win over them.
    #[arg(
        long = "storage-option",
        value_name = "KEY=VALUE",
        env = "DELTA_HF_STORAGE_OPTIONS",
        value_delimiter = ','
    )]
    pub storage_options: Vec<String>,

    /// Databricks config profile (a `[section]` of `~/.databrickscfg`) used for Unity Catalog.
    #[arg(long, value_name = "NAME", env = "DATABRICKS_CONFIG_PROFILE")]
    pub profile: Option<String>,

    #[command(flatten)]
    pub retry: RetryArgs,
}

/// How long remote operations may retry (every command that reaches a store or a service).
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// How long one remote operation (an object read, write or listing, a Unity Catalog or Hub
    /// call) may keep retrying transient failures (5xx, 429, timeouts, resets, cut bodies) before
    /// the run fails with exit 6: `90s`, `5m`, `500ms`.
    ///
    /// Retries back off exponentially with jitter and honour `Retry-After`. Object stores also
    /// take the storage options `retry_timeout`, `max_retries`, `init_backoff`, `max_backoff`
    /// and `base` (object_store's), which win for them.
    #[arg(long, value_name = "DURATION", env = "DELTA_HF_RETRY_TIMEOUT", default_value = "3m",
          value_parser = crate::storage::retry::parse_duration)]
    pub retry_timeout: std::time::Duration,
}

impl Default for RetryArgs {
    fn default() -> Self {
        RetryArgs { retry_timeout: crate::storage::retry::DEFAULT_BUDGET }
    }
}

/// Which Hub dataset, config and revision (shared by `size` and `pull`).
#[derive(Debug, Clone, Args)]
pub struct HubDatasetArgs {
    /// The dataset repo id, `OWNER/NAME` (e.g. `stanfordnlp/imdb`).
    #[arg(value_name = "DATASET")]
    pub dataset: String,

    /// The config (subset) [default: the card's default, or the only one].
    #[arg(long, value_name = "NAME", env = "DELTA_HF_HUB_CONFIG")]
    pub config: Option<String>,

    /// Branch, tag or commit sha to read.
    #[arg(long, value_name = "REV", default_value = "main", env = "DELTA_HF_HUB_REVISION")]
    pub revision: String,
}

#[derive(Debug, Args)]
pub struct SizeArgs {
    #[command(flatten)]
    pub hub: HubDatasetArgs,

    /// Base URL of the dataset viewer API asked for sizes the card does not give (`/size`).
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://datasets-server.huggingface.co",
        env = "DELTA_HF_VIEWER_ENDPOINT"
    )]
    pub viewer_endpoint: String,

    /// Do not ask the dataset viewer (card and file listing only).
    #[arg(long, env = "DELTA_HF_NO_VIEWER")]
    pub no_viewer: bool,

    #[command(flatten)]
    pub retry: RetryArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub hub: HubDatasetArgs,

    /// Write each split to the Delta table `PREFIX/<split>` (a local directory or URI prefix;
    /// `uc://catalog.schema` gives `catalog.schema.<split>`, `uc://c.s.stem` gives `c.s.stem_<split>`).
    #[arg(long, value_name = "PREFIX", env = "DELTA_HF_PULL_TO")]
    pub to: Option<String>,

    /// Write split SPLIT to TABLE (repeatable); with it, only the named splits are pulled
    /// unless --to is given too (then --to places the others).
    #[arg(
        long = "split-table",
        value_name = "SPLIT=TABLE",
        env = "DELTA_HF_SPLIT_TABLES",
        value_delimiter = ','
    )]
    pub split_tables: Vec<String>,

    /// Replace existing tables (a new version of each; the old stays readable by time travel).
    #[arg(long, env = "DELTA_HF_OVERWRITE")]
    pub overwrite: bool,

    /// Read the `refs/convert/parquet` branch (the Hub's Parquet conversion) even when the
    /// repo's own files are Parquet.
    #[arg(long, env = "DELTA_HF_PARQUET_BRANCH")]
    pub parquet_branch: bool,

    /// How many files are downloaded at once.
    #[arg(long, value_name = "N", default_value_t = 8, env = "DELTA_HF_MAX_WORKERS")]
    pub max_workers: usize,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `delta-hf plan`: every `prepare` flag, plus the number of tasks and where the plan goes.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub prepare: PrepareArgs,

    /// Split the export into N tasks (each split's files, balanced by bytes, in row order).
    #[arg(long, value_name = "N", env = "DELTA_HF_TASKS")]
    pub tasks: usize,

    /// Where to write the plan (JSON): a local path, an object-store URI or a `/Volumes/...` path.
    #[arg(long, value_name = "PLAN", env = "DELTA_HF_PLAN")]
    pub plan: String,
}

/// `delta-hf run-task`: one task of a plan.
#[derive(Debug, Args)]
pub struct RunTaskArgs {
    /// The plan written by `delta-hf plan` (a local path, an object-store URI or a `/Volumes/...` path).
    #[arg(long, value_name = "PLAN", env = "DELTA_HF_PLAN")]
    pub plan: String,

    /// The task to run, from 0 to N-1.
    #[arg(long, value_name = "I", env = "DELTA_HF_TASK")]
    pub task: usize,

    /// Local scratch directory for the shards before they go to the staging area [default: the
    /// system temp dir, or beside the staging area for a local output].
    #[arg(long, value_name = "DIR", env = "DELTA_HF_WORKING_DIR")]
    pub working_dir: Option<PathBuf>,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `delta-hf commit`: publish a plan's completed tasks as one dataset.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The plan written by `delta-hf plan` (a local path, an object-store URI or a `/Volumes/...` path).
    #[arg(long, value_name = "PLAN", env = "DELTA_HF_PLAN")]
    pub plan: String,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct DemoDataArgs {
    /// Directory to create the demo tables in (`train/` and `eval/`).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,

    /// Rows in the train table (the eval table gets a fifth of it).
    #[arg(long, default_value_t = 5000)]
    pub rows: usize,
}
