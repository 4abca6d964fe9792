//! Parsed flags → one validated settings struct per command, without touching any table or
//! service (ripgrep's low-args → high-args split). Commands never look at raw flags.
//!
//! Precedence, written down once: command line > environment variable (`DELTA_HF_*`, named on
//! each flag in [`crate::cli`]) > default.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{
    CommitArgs, PlanArgs, PrepareArgs, PullArgs, ReportArgs, RunTaskArgs, SizeArgs, StorageArgs,
};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::sink::format::mds::MdsOptions;
use crate::sink::format::{Format, FormatOptions};
use crate::sink::hf_dataset::ShardPolicy;
use crate::source::labels_from::LabelsFrom;
use crate::source::tokenizer::TokenizerSpec;
use crate::storage::connector::Connector;
use crate::storage::hub::commit::HubTarget;
use crate::storage::location::{OutputSpec, Pin, TableRef, parse_timestamp};
use crate::transform::columns::{Columns, LABEL, TEXT};
use crate::transform::hygiene::dedup::{DedupSpec, LeaksMode};
use crate::transform::hygiene::split::{SplitFrom, parse_ratios};
use crate::transform::kind::{Decided, KindFlags, LabelKind};
use crate::transform::label_map::{LabelMapMode, LabelOrder};
use crate::transform::select::Selection;
use crate::transform::sft::mask::TruncationMode;
use crate::transform::sft::pack::PackOptions;
use crate::transform::sft::{LABELS as SFT_LABELS, SftInput, SftOptions, TemplateChoice};
use crate::transform::tokenize::{
    ALIGNED_LABELS, ATTENTION_MASK, INPUT_IDS, TOKEN_TYPE_IDS, TokenizeOptions,
};

/// One split to export.
#[derive(Debug, Clone)]
pub struct SplitInput {
    /// The split name (`train`, `test`, ...).
    pub name: String,
    /// Its table, pinned if asked.
    pub table: TableRef,
}

/// How to reach storage: `--storage-option` pairs and the Databricks profile.
#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    pub options: Vec<String>,
    pub profile: Option<String>,
}

impl StorageSettings {
    pub(crate) fn from_args(a: StorageArgs) -> Self {
        StorageSettings { options: a.storage_options, profile: a.profile }
    }

    /// The run's connector (options checked; nothing is contacted yet).
    pub fn connector(&self) -> Result<Connector> {
        Connector::new(&self.options, self.profile.as_deref())
    }
}

/// What a command prints: `--json`, `--quiet`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// The summary as JSON on stdout.
    pub json: bool,
    /// Nothing but errors (no progress, no summary unless `json`).
    pub quiet: bool,
}

impl From<ReportArgs> for Report {
    fn from(a: ReportArgs) -> Self {
        Report { json: a.json, quiet: a.quiet }
    }
}

/// `--select-sql`: the file as given and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectSql {
    pub file: String,
    pub query: String,
}

/// What an export is: every setting that shapes the rows, columns, ids and files written,
/// resolved from the flags (`prepare`) or read from a plan, which embeds it as it is (`plan`,
/// `run-task`, `commit`). Where the rows come from (tables, versions), where they go, how
/// storage is reached and what is printed are not part of it.
///
/// A new export flag is one field here, set in [`PrepareSettings::from_args`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// The user's columns: `--text-col`, `--label-col`, `--keep-col`, `--tokens-col`.
    pub columns: Columns,
    /// `--select-sql`.
    pub select_sql: Option<SelectSql>,
    /// `false` with `--no-labels`: no label map, the selected columns go out as they are.
    pub with_labels: bool,
    /// `--label-kind` as given (`auto` is resolved from the label column's type).
    pub label_kind: LabelKind,
    /// `--multi-hot`: multi-label ids as float32 vectors.
    pub multi_hot: bool,
    /// `--label-all-tokens`: with a tokenizer, every sub-word of a word gets its tag.
    pub label_all_tokens: bool,
    pub drop_nulls: bool,
    pub require_train_labels: bool,
    pub label_order: LabelOrder,
    pub label_map_mode: LabelMapMode,
    /// The output format (`--format`).
    pub format: Format,
    /// `--max-shard-size` or `--num-shards`.
    pub shards: ShardPolicy,
    pub fsync: bool,
    /// `--memory-limit` in bytes.
    pub memory_limit: Option<usize>,
    /// How to tokenize (`--max-length`, `--padding`, `--text-pair-col`, `--drop-text`), with
    /// `--tokenizer`.
    pub tokenize: Option<TokenizeOptions>,
    // --format mds (issue 22): `--mds-compression`, `--mds-hashes` (absent for other formats).
    /// The output format's own options.
    #[serde(default, skip_serializing_if = "FormatOptions::is_empty")]
    pub format_options: FormatOptions,
    // Issue 23 (hygiene): splits from one table; duplicates and leaks.
    /// `--split-from` (with the stratified cuts once computed).
    #[serde(default)]
    pub split_from: Option<SplitFrom>,
    /// `--dedup`, `--dedup-normalize`, `--near-dup-threshold`, `--leaks`.
    #[serde(default)]
    pub dedup: DedupSpec,
    /// SFT exports (issue 21): `--messages-col`, `--prompt-col`/`--completion-col` or `--lm`
    /// and their options (then there is no label map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sft: Option<SftOptions>,
}

impl ExportSpec {
    /// How every split is selected.
    pub fn selection(&self) -> Selection {
        if self.sft.is_some() {
            // Every column as selected: the SFT pass picks and checks its own.
            let columns = Columns { keep: Vec::new(), ..self.columns.clone() };
            return Selection {
                columns,
                select_sql: self.select_sql.as_ref().map(|q| (PathBuf::from(&q.file), q.query.clone())),
                with_labels: false,
                tokenize: None,
            };
        }
        Selection {
            columns: self.columns.clone(),
            select_sql: self.select_sql.as_ref().map(|q| (PathBuf::from(&q.file), q.query.clone())),
            with_labels: self.with_labels,
            tokenize: self.tokenize.as_ref().map(|o| o.pair_col.clone()),
        }
    }
}

/// Everything `prepare` needs, validated.
#[derive(Debug, Clone)]
pub struct PrepareSettings {
    pub splits: Vec<SplitInput>,
    /// What the export is.
    pub spec: ExportSpec,
    /// The `--labels` file and the labels it lists, in order.
    pub labels_file: Option<(PathBuf, Vec<String>)>,
    /// `--labels-from`: resolved (read) when the run starts.
    pub labels_from: Option<LabelsFrom>,
    pub output: Option<OutputSpec>,
    pub label_table: Option<TableRef>,
    /// Where a new Unity Catalog label table is created.
    pub label_table_location: Option<String>,
    pub storage: StorageSettings,
    pub working_dir: Option<PathBuf>,
    pub overwrite: bool,
    /// `--tokenizer` (its options are the spec's `tokenize`); read when the run starts.
    pub tokenizer: Option<TokenizerSpec>,
    pub report: Report,
    // issue 22: `--output hf://datasets/OWNER/NAME[@BRANCH]` (then `output` is `None`), `--private`.
    pub hub_output: Option<HubTarget>,
    pub private: bool,
    /// issue 23: `--report-table`, where the report is appended.
    pub report_table: Option<TableRef>,
}

impl PrepareSettings {
    /// Validate the flags. Reads the small `--labels` and `--select-sql` files; touches no table.
    pub fn from_args(mut a: PrepareArgs) -> Result<Self> {
        let splits = splits(&a)?;
        let sft = sft_settings(&a)?;
        if sft.is_some() {
            // No label map: the SFT pass writes the labels.
            a.no_labels = true;
        }
        // Issue 23: read before the flags are moved out of `a`.
        let (split_from, dedup) = (split_from(&a, sft.as_ref())?, dedup_spec(&a)?);
        let tokenize = tokenize_settings(&a)?;
        let shards = shard_policy(a.num_shards, &a.max_shard_size)?;
        // issue 22: an `hf://` output is published as the Hub's Parquet layout.
        let hub_output = a.output.as_deref().and_then(HubTarget::parse).transpose()?;
        if let (Some(t), ShardPolicy::MaxBytes(n)) = (&hub_output, &shards)
            && *n > HUB_SINGLE_PART_BYTES
        {
            return Err(Error::Usage(format!(
                "--max-shard-size {} is above the 5 GB the Hub takes in one part, and delta-hf does \
                 not upload in parts; publish to {} with --max-shard-size 5GB or less",
                a.max_shard_size,
                t.shown()
            )));
        }
        let format = match (&hub_output, a.format) {
            (Some(_), Format::Arrow) => Format::Parquet,
            (Some(t), f) if f != Format::Parquet => {
                return Err(Error::Usage(format!(
                    "--output {} is published as the Hub's Parquet layout; drop --format {}",
                    t.shown(),
                    serde_json::to_value(f)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                )));
            }
            (_, f) => f,
        };
        let format_options = format_options(&a, shards)?;
        let select_sql = a
            .select_sql
            .map(|p| {
                read_small(&p, "--select-sql").map(|query| SelectSql { file: p.display().to_string(), query })
            })
            .transpose()?;
        let labels_file = match a.labels {
            Some(p) => {
                let labels = parse_labels_file(&read_small(&p, "--labels")?, &p)?;
                Some((p, labels))
            }
            None => None,
        };
        let columns =
            Columns { text: a.text_col, label: a.label_col, keep: a.keep_cols, tokens: a.tokens_col };
        check_columns(&columns, !a.no_labels)?;
        if a.no_labels && (a.label_table.is_some() || labels_file.is_some() || a.labels_from.is_some()) {
            return Err(Error::Usage(
                "--no-labels exports no label map: drop --label-table / --labels / --labels-from".into(),
            ));
        }
        let memory_limit = a
            .memory_limit
            .as_deref()
            .map(|s| parse_size(s, "--memory-limit").map(|n| n as usize))
            .transpose()?;
        let s = PrepareSettings {
            splits,
            spec: ExportSpec {
                columns,
                select_sql,
                with_labels: !a.no_labels,
                label_kind: a.label_kind,
                multi_hot: a.multi_hot,
                label_all_tokens: a.label_all_tokens,
                drop_nulls: a.drop_nulls,
                require_train_labels: a.require_train_labels,
                label_order: a.label_order,
                label_map_mode: a.label_map_mode,
                format,
                shards,
                fsync: a.fsync,
                memory_limit,
                tokenize: tokenize.as_ref().map(|(_, o)| o.clone()),
                format_options,
                split_from,
                dedup,
                sft,
            },
            labels_file,
            labels_from: a.labels_from.as_deref().map(LabelsFrom::parse).transpose()?,
            output: match hub_output {
                Some(_) => None,
                None => a.output.as_deref().map(OutputSpec::parse).transpose()?,
            },
            label_table: a.label_table.as_deref().map(TableRef::parse_location).transpose()?,
            label_table_location: a.label_table_location,
            storage: StorageSettings::from_args(a.storage),
            working_dir: a.working_dir,
            overwrite: a.overwrite,
            tokenizer: tokenize.map(|(t, _)| t),
            report: a.report.into(),
            hub_output,
            private: a.private,
            report_table: a.report_table.as_deref().map(TableRef::parse_location).transpose()?,
        };
        s.check_kind_flags()?;
        Ok(s)
    }

    /// The flags that only some label kinds take, checked by the kind when the flags decide
    /// it (under `auto` the label column's type decides, and the check comes then:
    /// [`crate::transform::kind::Kind::check_flags`]). With `--no-labels` none of them applies.
    fn check_kind_flags(&self) -> Result<()> {
        let e = &self.spec;
        if !e.with_labels {
            let given = [
                (e.label_kind != LabelKind::Auto, "--label-kind"),
                (e.columns.tokens.is_some(), "--tokens-col"),
                (e.multi_hot, "--multi-hot"),
                (e.label_all_tokens, "--label-all-tokens"),
            ];
            return match given.iter().find(|(g, _)| *g) {
                Some((_, flag)) => Err(Error::Usage(format!(
                    "{flag} is about the label column, and --no-labels exports none; drop {flag} or --no-labels"
                ))),
                None => Ok(()),
            };
        }
        match e.label_kind.decided_by_flags(e.columns.tokens.is_some()) {
            Some(kind) => kind.check_flags(&self.kind_flags(), Decided::ByFlags),
            None => Ok(()),
        }
    }

    /// The flags of this export that only some label kinds take.
    pub fn kind_flags(&self) -> KindFlags {
        let label_map_flags = [
            (self.label_table.is_some(), "--label-table"),
            (self.labels_file.is_some(), "--labels"),
            (self.labels_from.is_some(), "--labels-from"),
        ];
        KindFlags {
            tokens_col: self.spec.columns.tokens.clone(),
            multi_hot: self.spec.multi_hot,
            label_all_tokens: self.spec.label_all_tokens,
            label_map_flags: label_map_flags.iter().filter(|(g, _)| *g).map(|(_, f)| *f).collect(),
        }
    }

    /// Whether the export has a label map (not `--no-labels`).
    pub fn with_labels(&self) -> bool {
        self.spec.with_labels
    }

    /// Everything besides the tables' locations and versions that changes what an export
    /// holds (rows, columns, ids): the key of the default output directory. Its text is kept
    /// as it was first written, so re-runs keep finding their directory.
    pub fn output_key(&self) -> String {
        let e = &self.spec;
        format!(
            "{:?}|{:?}|{:?}|{}|{:?}|{:?}|labels={:?}|labels_from={:?}|label_table={:?}|mode={:?}|drop_nulls={}",
            e.columns.text,
            e.columns.label,
            e.columns.keep,
            e.with_labels,
            e.select_sql.as_ref().map(|x| &x.query),
            e.label_order,
            self.labels_file.as_ref().map(|x| &x.1),
            self.labels_from.as_ref().map(LabelsFrom::spec),
            self.label_table
                .as_ref()
                .map(|t| t.url().map(|u| u.to_string()).unwrap_or_else(|_| t.name.clone())),
            e.label_map_mode,
            e.drop_nulls,
        ) + &self.label_kind_key()
            + &self.hygiene_key()
            + &match (&self.tokenizer, &e.tokenize) {
                // The source and options (a tokenizer changed in place at the same path is not seen).
                (Some(spec), Some(o)) => format!("|tokenizer={spec:?}|{o:?}"),
                _ => String::new(),
            }
            + &e.sft.as_ref().map(|o| format!("|sft={o:?}")).unwrap_or_default()
    }

    /// The hygiene settings, only when not the defaults (so older keys stay as they were).
    fn hygiene_key(&self) -> String {
        let e = &self.spec;
        let d = &e.dedup;
        let mut k = String::new();
        if let Some(sf) = &e.split_from {
            k += &format!("|split_from={:?}|{:?}|{:?}|{:?}", sf.ratios, sf.keys, sf.group_col, sf.stratify);
        }
        if d.dedup.is_some() || d.leaks != LeaksMode::Report {
            k += &format!("|dedup={:?}|{:?}|{}|{:?}", d.dedup, d.normalize, d.threshold, d.leaks);
        }
        k
    }

    /// The label-kind settings, only when not the defaults (so older keys stay as they were).
    fn label_kind_key(&self) -> String {
        let e = &self.spec;
        match (e.label_kind, &e.columns.tokens, e.multi_hot) {
            (LabelKind::Auto, None, false) => String::new(),
            (k, t, m) => format!("|kind={}|tokens={t:?}|multi_hot={m}", k.as_str()),
        }
    }
}

/// Everything `plan` needs: the export (as for `prepare`), the task count and the plan's place.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub prepare: PrepareSettings,
    pub tasks: usize,
    /// `--plan`, where the plan document goes.
    pub plan: OutputSpec,
}

impl PlanSettings {
    /// Validate the flags: those of `prepare`, and what a fan-out cannot do.
    pub fn from_args(a: PlanArgs) -> Result<Self> {
        if a.tasks == 0 {
            return Err(Error::Usage("--tasks must be at least 1".into()));
        }
        if a.prepare.output.is_none() {
            return Err(Error::Usage(
                "plan needs --output: every task and the commit write to it, so it must be named \
                 (a shared path, an object-store URI or a /Volumes/... path)"
                    .into(),
            ));
        }
        // issue 22: the fan-out publishes to directories and stores only.
        if a.prepare.output.as_deref().is_some_and(|o| o.starts_with("hf://")) {
            return Err(Error::Usage(
                "plan cannot publish to the Hub: commit the fan-out to a directory or store, or use \
                 `prepare --output hf://...`"
                    .into(),
            ));
        }
        if a.prepare.num_shards.is_some() {
            return Err(Error::Usage(
                "--num-shards cuts a split at global row counts, which the tasks of a plan do not know; \
                 with plan each task cuts its own shards by --max-shard-size"
                    .into(),
            ));
        }
        // Issue 23: the drops are decided over every split at once, which tasks cannot do yet.
        if a.prepare.dedup.is_some() || a.prepare.leaks == LeaksMode::Drop {
            return Err(Error::Usage(
                "--dedup and --leaks drop decide over every split's rows at once, which the fan-out \
                 (plan / run-task / commit) does not do yet; run them with `delta-hf prepare`"
                    .into(),
            ));
        }
        let plan = plan_location(&a.plan)?;
        Ok(PlanSettings { prepare: PrepareSettings::from_args(a.prepare)?, tasks: a.tasks, plan })
    }
}

impl PrepareSettings {
    /// The export a plan describes, for its tasks and its commit (no file is read: the
    /// `--select-sql` text and the label map are in the plan).
    pub fn from_plan(
        p: &Plan,
        storage: StorageSettings,
        working_dir: Option<PathBuf>,
        report: Report,
    ) -> Result<Self> {
        let splits = p
            .splits
            .iter()
            .map(|sp| {
                let mut table = TableRef::parse_location(&sp.location)?;
                table.name = sp.table.clone();
                table.pin = Some(Pin::Version(sp.version));
                Ok(SplitInput { name: sp.name.clone(), table })
            })
            .collect::<Result<Vec<_>>>()?;
        let label_table = match &p.label_table {
            Some(t) => {
                let mut r = TableRef::parse_location(&t.url)?;
                r.name = t.table.clone();
                Some(r)
            }
            None => None,
        };
        Ok(PrepareSettings {
            splits,
            spec: p.export.clone(),
            labels_file: None,
            labels_from: None,
            output: Some(OutputSpec::parse(&p.output.location)?),
            label_table_location: p.label_table.as_ref().and_then(|t| t.location.clone()),
            label_table,
            storage,
            working_dir,
            overwrite: p.output.overwrite,
            tokenizer: p.tokenizer.as_ref().map(|t| TokenizerSpec::parse(&t.pinned)).transpose()?,
            report,
            hub_output: None,
            private: false,
            report_table: match &p.report_table {
                Some(t) => {
                    let mut r = TableRef::parse_location(&t.url)?;
                    r.name = t.table.clone();
                    Some(r)
                }
                None => None,
            },
        })
    }
}

/// Everything `run-task` needs besides the plan itself.
#[derive(Debug, Clone)]
pub struct RunTaskSettings {
    pub plan: OutputSpec,
    pub task: usize,
    pub working_dir: Option<PathBuf>,
    pub storage: StorageSettings,
    pub report: Report,
}

impl RunTaskSettings {
    pub fn from_args(a: RunTaskArgs) -> Result<Self> {
        Ok(RunTaskSettings {
            plan: plan_location(&a.plan)?,
            task: a.task,
            working_dir: a.working_dir,
            storage: StorageSettings::from_args(a.storage),
            report: a.report.into(),
        })
    }
}

/// Everything `commit` needs besides the plan itself.
#[derive(Debug, Clone)]
pub struct CommitSettings {
    pub plan: OutputSpec,
    pub storage: StorageSettings,
    pub report: Report,
}

impl CommitSettings {
    pub fn from_args(a: CommitArgs) -> Result<Self> {
        Ok(CommitSettings {
            plan: plan_location(&a.plan)?,
            storage: StorageSettings::from_args(a.storage),
            report: a.report.into(),
        })
    }
}

fn plan_location(s: &str) -> Result<OutputSpec> {
    OutputSpec::parse(s).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(m.replace("--output", "--plan")),
        e => e,
    })
}

/// The splits of `--split`, `--train` and `--eval`, each with its pin (or `--version` /
/// `--timestamp`).
fn splits(a: &PrepareArgs) -> Result<Vec<SplitInput>> {
    let global_pin = match (&a.version, &a.timestamp) {
        (Some(v), _) => Some(Pin::Version(*v)),
        (None, Some(t)) => Some(Pin::Timestamp(parse_timestamp(t)?)),
        (None, None) => None,
    };
    let mut specs: Vec<(String, String)> = Vec::new();
    // Issue 23: --split-from names the splits by --split-ratios, all from one table.
    if let Some(table) = &a.split_from {
        for (name, _) in parse_ratios(a.split_ratios.as_deref().unwrap_or(""))? {
            specs.push((name, table.clone()));
        }
    }
    specs.extend(a.train.iter().map(|t| ("train".to_string(), t.clone())));
    specs.extend(a.eval.iter().map(|t| ("test".to_string(), t.clone())));
    for s in &a.splits {
        let (name, table) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!("--split `{s}` must be NAME=TABLE, e.g. --split train=/data/reviews_train"))
        })?;
        specs.push((name.trim().to_string(), table.trim().to_string()));
    }
    if specs.is_empty() {
        return Err(Error::Usage(
            "no split given: name at least one with --split NAME=TABLE (or --train/--eval)".into(),
        ));
    }
    let mut splits: Vec<SplitInput> = Vec::new();
    for (name, table) in specs {
        validate_split_name(&name)?;
        if splits.iter().any(|s| s.name == name) {
            return Err(Error::Usage(format!("split `{name}` is given more than once")));
        }
        let table = TableRef::parse(&table)?.with_default_pin(global_pin.as_ref());
        splits.push(SplitInput { name, table });
    }
    Ok(splits)
}

/// The largest file the Hub's LFS `basic` transfer takes in one PUT (5 GB, S3's single-part
/// limit; larger files get a multipart answer).
const HUB_SINGLE_PART_BYTES: u64 = 5_000_000_000;

/// `--split-from` and its flags, checked (the columns are checked against the table later).
fn split_from(a: &PrepareArgs, sft: Option<&SftOptions>) -> Result<Option<SplitFrom>> {
    if a.split_from.is_none() {
        return Ok(None);
    }
    let ratios = parse_ratios(a.split_ratios.as_deref().unwrap_or(""))?;
    let keys = match (&a.group_col, a.split_keys.is_empty()) {
        (Some(g), _) => vec![g.clone()],
        (None, false) => {
            let mut seen = HashSet::new();
            if let Some(k) = a.split_keys.iter().find(|k| !seen.insert(*k)) {
                return Err(Error::Usage(format!("--split-key `{k}` is given more than once")));
            }
            a.split_keys.clone()
        }
        // SFT inputs (no labels): the conversation, the prompt and completion, or the text.
        (None, true) if let Some(o) = sft => o.input.columns(),
        (None, true) => {
            let mut k = vec![a.tokens_col.clone().unwrap_or_else(|| a.text_col.clone())];
            if !a.no_labels {
                k.push(a.label_col.clone());
            }
            k
        }
    };
    let stratify = match a.stratify {
        false => None,
        true if sft.is_some() => {
            return Err(Error::Usage(
                "--stratify cuts each class separately, and an SFT export (--messages-col, --prompt-col, \
                 --lm) has no classes; drop --stratify"
                    .into(),
            ));
        }
        true if a.no_labels => {
            return Err(Error::Usage(
                "--stratify cuts each class separately, and --no-labels has none; drop one".into(),
            ));
        }
        true if a.tokens_col.is_some() || !matches!(a.label_kind, LabelKind::Auto | LabelKind::Single) => {
            return Err(Error::Usage(format!(
                "--stratify needs one class per row (--label-kind single), not --label-kind {}; drop --stratify",
                if a.tokens_col.is_some() { "token" } else { a.label_kind.as_str() }
            )));
        }
        true => Some(a.label_col.clone()),
    };
    Ok(Some(SplitFrom { ratios, keys, group_col: a.group_col.clone(), stratify, strata: None }))
}

/// `--dedup` and the leak check's settings.
fn dedup_spec(a: &PrepareArgs) -> Result<DedupSpec> {
    let t = a.near_dup_threshold;
    if !(t > 0.0 && t <= 1.0) {
        return Err(Error::Usage(format!("--near-dup-threshold {t} must be above 0 and at most 1")));
    }
    Ok(DedupSpec { dedup: a.dedup, normalize: a.dedup_normalize, threshold: t, leaks: a.leaks })
}

fn shard_policy(num_shards: Option<usize>, max_shard_size: &str) -> Result<ShardPolicy> {
    match num_shards {
        Some(0) => Err(Error::Usage("--num-shards must be at least 1".into())),
        Some(n) => Ok(ShardPolicy::Count(n)),
        None => match parse_size(max_shard_size, "--max-shard-size")? {
            0 => Err(Error::Usage("--max-shard-size must be more than 0 bytes".into())),
            n => Ok(ShardPolicy::MaxBytes(n)),
        },
    }
}

/// `--format mds`'s options; its flags with another format are exit 2. MDS offsets are 32-bit,
/// so its shards stay under 4 GiB.
fn format_options(a: &PrepareArgs, shards: ShardPolicy) -> Result<FormatOptions> {
    if a.format != Format::Mds {
        let given =
            [(a.mds_compression.is_some(), "--mds-compression"), (!a.mds_hashes.is_empty(), "--mds-hashes")];
        return match given.iter().find(|(g, _)| *g) {
            Some((_, flag)) => {
                Err(Error::Usage(format!("{flag} is an option of --format mds; drop it or add --format mds")))
            }
            None => Ok(FormatOptions::default()),
        };
    }
    if let ShardPolicy::MaxBytes(n) = shards
        && n >= 1 << 32
    {
        return Err(Error::Usage(format!(
            "--max-shard-size {n} bytes: MDS shards must stay under 4 GiB (their offsets are 32-bit)"
        )));
    }
    Ok(FormatOptions { mds: Some(MdsOptions::parse(a.mds_compression.as_deref(), &a.mds_hashes)?) })
}

/// Text and label must differ and kept columns must not clash with them or repeat.
fn check_columns(c: &Columns, with_labels: bool) -> Result<()> {
    if with_labels {
        if c.text == c.label {
            return Err(Error::Usage(format!(
                "--text-col and --label-col both name `{}`; they must differ",
                c.text
            )));
        }
        for k in &c.keep {
            if k == TEXT || k == LABEL || *k == c.text || *k == c.label {
                return Err(Error::Usage(format!(
                    "--keep-col `{k}` clashes with the text or label column; the export writes the \
                     text as `text` and the label as `label`"
                )));
            }
        }
    }
    let mut seen = HashSet::new();
    match c.keep.iter().find(|k| !seen.insert(*k)) {
        Some(k) => Err(Error::Usage(format!("--keep-col `{k}` is given more than once"))),
        None => Ok(()),
    }
}

fn read_small(path: &Path, flag: &'static str) -> Result<String> {
    let action = match flag {
        "--labels" => "cannot read --labels file",
        _ => "cannot read --select-sql file",
    };
    std::fs::read_to_string(path).map_err(|e| Error::io(action, path, e))
}

/// Everything `pull` needs, validated.
#[derive(Debug, Clone)]
pub struct PullSettings {
    pub dataset: String,
    pub config: Option<String>,
    pub revision: String,
    /// `--to PREFIX`.
    pub to: Option<String>,
    /// `--split-table SPLIT=TABLE`, in order.
    pub split_tables: Vec<(String, String)>,
    pub overwrite: bool,
    pub parquet_branch: bool,
    pub max_workers: usize,
    pub storage: StorageSettings,
    pub report: Report,
}

impl PullSettings {
    pub fn from_args(a: PullArgs) -> Result<Self> {
        if a.to.is_none() && a.split_tables.is_empty() {
            return Err(Error::Usage(
                "say where the tables go: --to PREFIX (one table per split at PREFIX/<split>) or \
                 --split-table SPLIT=TABLE"
                    .into(),
            ));
        }
        if a.max_workers == 0 {
            return Err(Error::Usage("--max-workers must be at least 1".into()));
        }
        let mut split_tables = Vec::new();
        for s in &a.split_tables {
            let (split, table) = s.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--split-table `{s}` must be SPLIT=TABLE, e.g. --split-table train=/data/imdb_train"
                ))
            })?;
            split_tables.push((split.trim().to_string(), table.trim().to_string()));
        }
        Ok(PullSettings {
            dataset: a.hub.dataset,
            config: a.hub.config,
            revision: a.hub.revision,
            to: a.to,
            split_tables,
            overwrite: a.overwrite,
            parquet_branch: a.parquet_branch,
            max_workers: a.max_workers,
            storage: StorageSettings::from_args(a.storage),
            report: a.report.into(),
        })
    }
}

/// Everything `size` needs.
#[derive(Debug, Clone)]
pub struct SizeSettings {
    pub dataset: String,
    pub config: Option<String>,
    pub revision: String,
    /// The dataset viewer's base URL, unless `--no-viewer`.
    pub viewer: Option<String>,
    pub report: Report,
}

impl SizeSettings {
    pub fn from_args(a: SizeArgs) -> Self {
        SizeSettings {
            dataset: a.hub.dataset,
            config: a.hub.config,
            revision: a.hub.revision,
            viewer: (!a.no_viewer).then_some(a.viewer_endpoint),
            report: a.report.into(),
        }
    }
}

/// `--tokenizer` and its options, checked against the columns.
fn tokenize_settings(a: &PrepareArgs) -> Result<Option<(TokenizerSpec, TokenizeOptions)>> {
    let Some(src) = &a.tokenizer else { return Ok(None) };
    if a.max_length == Some(0) {
        return Err(Error::Usage("--max-length must be at least 1".into()));
    }
    if let (Some(p), Some(_)) = (&a.text_pair_col, &a.tokens_col) {
        return Err(Error::Usage(format!(
            "--text-pair-col `{p}`: a token-classification export (--tokens-col) tokenizes its words alone; \
             drop --text-pair-col"
        )));
    }
    if let Some(p) = &a.text_pair_col {
        let clash = p == &a.text_col || (!a.no_labels && (p == &a.label_col || p == TEXT || p == LABEL));
        if clash {
            return Err(Error::Usage(format!(
                "--text-pair-col `{p}` names the text or label column; it must be another column"
            )));
        }
        if matches!(p.as_str(), INPUT_IDS | TOKEN_TYPE_IDS | ATTENTION_MASK) {
            return Err(Error::Usage(format!("--text-pair-col `{p}` clashes with a token column")));
        }
    }
    let aligned = a.tokens_col.is_some().then_some(ALIGNED_LABELS);
    for k in &a.keep_cols {
        if matches!(k.as_str(), INPUT_IDS | TOKEN_TYPE_IDS | ATTENTION_MASK) || Some(k.as_str()) == aligned {
            return Err(Error::Usage(format!(
                "--keep-col `{k}` clashes with the `{k}` column --tokenizer writes; rename it in --select-sql \
                 or leave it out"
            )));
        }
    }
    let options = TokenizeOptions {
        max_length: a.max_length,
        padding: a.padding,
        pair_col: a.text_pair_col.clone(),
        drop_text: a.drop_text,
    };
    Ok(Some((TokenizerSpec::parse(src)?, options)))
}

/// SFT exports (issue 21): the input shape and its options; `None` without `--messages-col`,
/// `--prompt-col` or `--lm` (then the SFT-only flags are refused).
fn sft_settings(a: &PrepareArgs) -> Result<Option<SftOptions>> {
    let input = match (&a.messages_col, &a.prompt_col, &a.completion_col, a.lm) {
        (Some(m), None, None, false) => SftInput::Messages { column: m.clone() },
        (None, Some(p), Some(c), false) => {
            if p == c {
                return Err(Error::Usage(format!(
                    "--prompt-col and --completion-col both name `{p}`; they must differ"
                )));
            }
            SftInput::PromptCompletion { prompt: p.clone(), completion: c.clone() }
        }
        (None, None, None, true) => SftInput::Lm { text: a.text_col.clone() },
        (None, None, None, false) => {
            let given = [
                (a.chat_template.is_some(), "--chat-template"),
                (a.tools_col.is_some(), "--tools-col"),
                (a.template_kwargs.is_some(), "--template-kwargs"),
                (a.assistant_only_loss, "--assistant-only-loss"),
                (a.completion_only_loss.is_some(), "--completion-only-loss"),
                (a.truncation_mode != TruncationMode::default(), "--truncation-mode"),
                (a.skip_invalid_rows, "--skip-invalid-rows"),
                (a.packing.is_some(), "--packing"),
            ];
            return match given.iter().find(|(g, _)| *g) {
                Some((_, flag)) => Err(Error::Usage(format!(
                    "{flag} is an SFT option: it needs --messages-col, --prompt-col/--completion-col or --lm"
                ))),
                None => Ok(None),
            };
        }
        _ => {
            return Err(Error::Usage(
                "give one SFT input: --messages-col, --prompt-col with --completion-col, or --lm".into(),
            ));
        }
    };
    if a.tokenizer.is_none() {
        return Err(Error::Usage("SFT exports need --tokenizer".into()));
    }
    if a.num_shards.is_some() {
        return Err(Error::Usage(
            "--num-shards cuts a split at row counts known before writing, and an SFT export drops rows \
             (fully masked, invalid) as it writes; use --max-shard-size"
                .into(),
        ));
    }
    for k in &a.keep_cols {
        if [INPUT_IDS, SFT_LABELS, ATTENTION_MASK].contains(&k.as_str()) {
            return Err(Error::Usage(format!(
                "--keep-col `{k}` clashes with the `{k}` column an SFT export writes; rename it in --select-sql"
            )));
        }
    }
    let chat_template = match &a.chat_template {
        None => None,
        Some(t) if Path::new(t).is_file() || t.ends_with(".jinja") || t.contains('/') => {
            let text = std::fs::read_to_string(t)
                .map_err(|e| Error::io("cannot read --chat-template file", t, e))?;
            Some(TemplateChoice::File { path: t.clone(), text })
        }
        Some(name) => Some(TemplateChoice::Name(name.clone())),
    };
    let packing = match (a.packing, a.max_length) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Usage("--packing needs --max-length (the packed rows' length)".into()));
        }
        (Some(strategy), Some(max_length)) => {
            if a.packing_window == 0 {
                return Err(Error::Usage("--packing-window must be at least 1".into()));
            }
            if let Some(k) = a.keep_cols.first() {
                return Err(Error::Usage(format!(
                    "--keep-col `{k}` with --packing: packed rows hold several source rows, and only \
                     input_ids and labels are packed (as TRL does); drop --keep-col or --packing"
                )));
            }
            if a.truncation_mode != TruncationMode::default() {
                return Err(Error::Usage(
                    "--truncation-mode does not apply with --packing: bfd keeps the start of a long row, \
                     bfd-split and wrapped split it"
                        .into(),
                ));
            }
            Some(PackOptions { strategy, max_length, window: a.packing_window })
        }
    };
    Ok(Some(SftOptions {
        input,
        chat_template,
        tools_col: a.tools_col.clone(),
        template_kwargs: a.template_kwargs.clone(),
        assistant_only_loss: a.assistant_only_loss,
        completion_only_loss: a.completion_only_loss.unwrap_or(true),
        max_length: a.max_length,
        truncation_mode: a.truncation_mode,
        skip_invalid_rows: a.skip_invalid_rows,
        packing,
    }))
}

/// `datasets` requires split names matching `^\w+(\.\w+)*$`.
fn validate_split_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "split name `{name}` is not valid for `datasets`: use letters, digits and `_`, \
             optionally dot-separated (e.g. `train`, `validation`, `test.small`)"
        )))
    }
}

/// One label per line; blank lines and surrounding whitespace ignored; duplicates refused.
pub fn parse_labels_file(text: &str, path: &Path) -> Result<Vec<String>> {
    let mut labels = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if !seen.insert(l.to_string()) {
            return Err(Error::Usage(format!(
                "--labels file `{}` lists `{l}` twice (line {})",
                path.display(),
                i + 1
            )));
        }
        labels.push(l.to_string());
    }
    if labels.is_empty() {
        return Err(Error::Usage(format!("--labels file `{}` lists no label", path.display())));
    }
    Ok(labels)
}

/// Parse a size the way `datasets` does: `500MB` (decimal), `256MiB` (binary), `1GB`, `2KiB`,
/// or plain bytes. Units are case-insensitive; fractions allowed (`1.5GB`).
pub fn parse_size(s: &str, flag: &str) -> Result<u64> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    const UNITS: &[(&str, f64)] = &[
        ("PIB", 1125899906842624.0),
        ("TIB", 1099511627776.0),
        ("GIB", 1073741824.0),
        ("MIB", 1048576.0),
        ("KIB", 1024.0),
        ("PB", 1e15),
        ("TB", 1e12),
        ("GB", 1e9),
        ("MB", 1e6),
        ("KB", 1e3),
        ("B", 1.0),
    ];
    let (num, mult) = UNITS
        .iter()
        .find_map(|(u, m)| upper.strip_suffix(u).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((upper.clone(), 1.0));
    let value: f64 = num.parse().map_err(|_| {
        Error::Usage(format!("{flag} `{s}` is not a size; use e.g. `500MB`, `256MiB` or bytes"))
    })?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::Usage(format!("{flag} `{s}` must be a positive size")));
    }
    Ok((value * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_datasets() {
        assert_eq!(parse_size("500MB", "x").unwrap(), 500_000_000);
        assert_eq!(parse_size("1MiB", "x").unwrap(), 1_048_576);
        assert_eq!(parse_size("1.5gb", "x").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("1234", "x").unwrap(), 1234);
        assert!(parse_size("lots", "x").is_err());
    }

    #[test]
    fn split_names() {
        assert!(validate_split_name("train").is_ok());
        assert!(validate_split_name("test.small").is_ok());
        assert!(validate_split_name("my-split").is_err());
        assert!(validate_split_name("").is_err());
    }
}
