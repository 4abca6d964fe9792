//! The stages of an export, shared by `prepare` (which runs them in one process) and the
//! fan-out commands (`plan` resolves and computes the label map, `run-task` writes a part,
//! `commit` writes the metadata and records): resolve the inputs, the analysis (select, the
//! label kind, the label pass: [`analyse`], the one front half of `prepare` and `plan`), write,
//! the metadata files, the label-table record and the summary.

use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::Schema;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::error::{Error, Result, scan_error};
use crate::plan::Plan;
use crate::settings::PrepareSettings;
use crate::sink::fanout::{self, Area};
use crate::sink::format::Format;
use crate::sink::hf_dataset::{self, BatchMap, ShardPolicy, SplitOutput};
use crate::sink::label_table;
use crate::sink::report;
use crate::source::label_table as label_table_source;
use crate::source::labels_from::LabelsFrom;
use crate::source::table::{self, OpenedTable};
use crate::source::tokenizer::{self, TokenizerSpec};
use crate::storage::connector::Connector;
use crate::storage::location::OutputSpec;
use crate::storage::session;
use crate::summary::{LabelTableSummary, SplitSummary, Summary, Timings};
use crate::transform::columns::TEXT;
use crate::transform::encode::{self, LabelId};
use crate::transform::kind::{self, Decided, LabelKind, Labelled};
use crate::transform::label_map::{LabelMapMode, ListedLabels};
use crate::transform::label_pass::LabelPass;
use crate::transform::list_encode::ListLabels;
use crate::transform::select;
use crate::transform::sft::{Sft, SftOptions, SftSummary};
use crate::transform::stats::{LabelStat, Observer, SplitStats};
use crate::transform::tokenize::Tokenize;
use crate::ui::Ui;
// Issue 23 (hygiene).
use crate::transform::hygiene::dedup::{self as hygiene_dedup, DedupMode, Drops, LeakCounter, LeaksMode};
use crate::transform::hygiene::routed::{self as hygiene_routed, Routed};
use crate::transform::hygiene::{HygieneSummary, SplitFromSummary, split as hygiene_split};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// What the resolve stage found about the inputs (shared with `plan`).
pub(super) struct Inputs {
    pub cx: Connector,
    pub tables: Vec<OpenedTable>,
    pub listed: Option<ListedLabels>,
    /// The label table's map and the version it was read at.
    pub existing: Option<(Vec<String>, u64)>,
    /// `--tokenizer`, read and configured.
    pub tokenize: Option<Arc<Tokenize>>,
    /// SFT exports (issue 21): the tokenizer, chat template and masks, configured.
    pub sft: Option<Arc<Sft>>,
}

/// One split's source as recorded in the outputs: split name, table name, version read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Source {
    pub split: String,
    pub table: String,
    pub version: u64,
}

/// Each split's source: its name, its table and the version opened.
pub(super) fn sources(s: &PrepareSettings, tables: &[OpenedTable]) -> Vec<Source> {
    s.splits
        .iter()
        .zip(tables)
        .map(|(sp, t)| Source { split: sp.name.clone(), table: t.name().to_string(), version: t.version })
        .collect()
}

/// Stage timings: each `lap` records the time since the previous one.
pub(super) struct Clock {
    lap: Instant,
    pub timings: Timings,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { lap: Instant::now(), timings: Timings::default() }
    }
}

impl Clock {
    pub fn lap(&mut self, slot: impl FnOnce(&mut Timings) -> &mut f64) {
        *slot(&mut self.timings) = self.lap.elapsed().as_secs_f64();
        self.lap = Instant::now();
    }
}

/// The inputs: the tokenizer, every split's snapshot (protocol checked), any fixed label list
/// and the label table's map, before any row is read.
pub(super) async fn resolve_inputs(s: &PrepareSettings, ui: &Ui) -> Result<Inputs> {
    let cx = s.storage.connector()?;
    let (tokenize, sft) = match (&s.tokenizer, &s.spec.sft) {
        (Some(spec), Some(o)) => (None, Some(Arc::new(load_sft(s, spec, o, &cx, ui).await?))),
        (Some(spec), None) => (Some(Arc::new(load_tokenizer(s, spec, &cx, ui).await?)), None),
        (None, _) => (None, None),
    };
    let mut tables = Vec::with_capacity(s.splits.len());
    for split in &s.splits {
        // --split-from: one snapshot, every split cut from it.
        let t = match (&s.spec.split_from, tables.first()) {
            (Some(_), Some(first)) => {
                let t: &OpenedTable = first;
                t.clone()
            }
            _ => table::open(&split.table, &cx).await?,
        };
        ui.step(format!("split {}: {} at version {}", split.name, t.name(), t.version));
        tables.push(t);
    }
    let listed = match (&s.labels_file, &s.labels_from) {
        _ if !s.with_labels() => None,
        (Some((_, labels)), _) => Some(ListedLabels::from_file(labels.clone())),
        (None, Some(from)) => Some(listed_from(from, s, &cx, ui).await?),
        (None, None) => None,
    };
    let existing = match &s.label_table {
        Some(t) if s.with_labels() => label_table_source::read(t, &cx).await?,
        _ => None,
    };
    Ok(Inputs { cx, tables, listed, existing, tokenize, sft })
}

/// SFT exports (issue 21): read `--tokenizer` and its chat template, configure the pass
/// (templates compiled and checked before any data is read).
pub(super) async fn load_sft(
    s: &PrepareSettings,
    spec: &TokenizerSpec,
    o: &SftOptions,
    cx: &Connector,
    ui: &Ui,
) -> Result<Sft> {
    let loaded = tokenizer::load(spec, cx).await?;
    let sft = Sft::new(loaded, o, &s.spec.columns.keep)?;
    let summary = sft.summary(&[]);
    let p = &summary.tokenizer;
    ui.step(format!("tokenizer {} (tokenizer.json sha256 {})", p.source, &p.sha256[..12]));
    if let Some(t) = &summary.template {
        ui.step(format!(
            "chat template from {} (sha256 {}); loss on {}",
            t.origin,
            &t.sha256[..12],
            summary.mask_rule
        ));
    }
    Ok(sft)
}

/// Read `--tokenizer` and configure it for the text column (before any data is read).
pub(super) async fn load_tokenizer(
    s: &PrepareSettings,
    spec: &TokenizerSpec,
    cx: &Connector,
    ui: &Ui,
) -> Result<Tokenize> {
    let opts = s.spec.tokenize.clone().unwrap_or_default();
    let loaded = tokenizer::load(spec, cx).await?;
    let text = if s.with_labels() { TEXT } else { s.spec.columns.text.as_str() };
    let (t, warnings) = Tokenize::new(loaded, &opts, text)?;
    for w in warnings {
        ui.warn(w);
    }
    let p = &t.summary().provenance;
    ui.step(format!("tokenizer {} (tokenizer.json sha256 {})", p.source, &p.sha256[..12]));
    Ok(t)
}

async fn listed_from(
    from: &LabelsFrom,
    s: &PrepareSettings,
    cx: &Connector,
    ui: &Ui,
) -> Result<ListedLabels> {
    let l = from.resolve(&s.spec.columns.label, cx).await?;
    ui.step(format!("label order from {}: {} labels", from.spec(), l.labels.len()));
    Ok(l)
}

/// Register every split's table in `ctx` under the split's name (only the data files in
/// `files[i]` of split `i` when given, for a fan-out task), then select each.
pub(super) async fn select(
    s: &PrepareSettings,
    ctx: &SessionContext,
    tables: &[OpenedTable],
    files: Option<&[Vec<String>]>,
) -> Result<Vec<DataFrame>> {
    for (i, (split, t)) in s.splits.iter().zip(tables).enumerate() {
        let mut provider = t.provider(ctx, files.map(|f| f[i].as_slice())).await?;
        // --split-from: the split is the table's rows whose key hashes into it.
        if let Some(sf) = &s.spec.split_from {
            sf.check_columns(&provider.schema(), t.name())?;
            provider = ctx.read_table(provider)?.filter(sf.filter(i))?.into_view();
        }
        ctx.register_table(TableReference::bare(split.name.clone()), provider)?;
    }
    let selection = s.spec.selection();
    let mut inputs = Vec::with_capacity(s.splits.len());
    for (split, t) in s.splits.iter().zip(tables) {
        inputs.push(selection.split(ctx, &split.name, t.name()).await?);
    }
    Ok(inputs)
}

/// What the analysis found: every split's DataFrame (selected, its label cast for the kind,
/// its null rows dropped with `--drop-nulls`), the label pass's result and the tokenizer
/// configured for the kind.
pub(super) struct Analysis {
    pub frames: Vec<DataFrame>,
    pub labelled: Option<Labelled>,
    pub tokenize: Option<Arc<Tokenize>>,
    /// SFT exports (issue 21).
    pub sft: Option<Arc<Sft>>,
    /// `prepare --split-from`: the splits' files, kept until the export is written.
    pub routed: Option<Routed>,
}

/// The front half of an export, the same for `prepare` and `plan`: select every split, the
/// label kind from the label column's type, then the label pass over every split (null
/// checks, counts, the map). `row_local`: a `--select-sql` query must work row by row (a
/// fan-out task sees only its files). The clock gets a lap after the kind (`resolve`) and
/// after the pass (`label_map`).
pub(super) async fn analyse(
    s: &PrepareSettings,
    ctx: &SessionContext,
    inputs: &mut Inputs,
    row_local: bool,
    clock: &mut Clock,
    ui: &Ui,
) -> Result<Analysis> {
    let mut frames = select(s, ctx, &inputs.tables, None).await?;
    // prepare --split-from: the table read once, the splits from local files (not for `plan`,
    // which reads no rows; a fan-out task filters the files it reads).
    let routed = match (&s.spec.split_from, row_local) {
        (Some(sf), false) => route_splits(s, sf, ctx, &inputs.tables, &mut frames, ui).await?,
        _ => None,
    };
    if let Some(sft) = &inputs.sft {
        // SFT exports (issue 21): the columns the pass reads, checked before any row is read.
        for ((split, t), df) in s.splits.iter().zip(&inputs.tables).zip(frames.iter_mut()) {
            *df = sft.project(df.clone(), &split.name, t.name())?;
        }
    }
    if row_local && let Some(q) = &s.spec.select_sql {
        for (split, df) in s.splits.iter().zip(&frames) {
            select::check_row_local(df, &split.name, std::path::Path::new(&q.file))?;
        }
    }
    let kind = match s.with_labels() {
        true => Some(label_kind(s, &mut frames, ui)?),
        false => None,
    };
    let tokenize = match (kind, inputs.tokenize.take()) {
        (Some(k), Some(t)) => Some(k.behaviour().tokenizer(t, s.spec.label_all_tokens)?),
        (_, t) => t,
    };
    clock.lap(|t| &mut t.resolve);
    let labelled = match kind {
        Some(kind) => Some(
            label_pass(s, ctx, &mut frames, inputs.listed.as_ref(), inputs.existing.as_ref(), ui, kind)
                .await?,
        ),
        None => None,
    };
    clock.lap(|t| &mut t.label_map);
    Ok(Analysis { frames, labelled, tokenize, sft: inputs.sft.clone(), routed })
}

/// `--split-from` in `prepare`: the table's columns that the selected frames use, read once
/// and routed to their splits' files ([`hygiene_routed`]); each split re-registered as its
/// files and `frames` selected again from them. When the files cannot be written (the working
/// directory is full or read-only) the splits stay filters of the table, with a warning.
async fn route_splits(
    s: &PrepareSettings,
    sf: &hygiene_split::SplitFrom,
    ctx: &SessionContext,
    tables: &[OpenedTable],
    frames: &mut [DataFrame],
    ui: &Ui,
) -> Result<Option<Routed>> {
    use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
    let mut used = std::collections::HashSet::new();
    for df in frames.iter() {
        used.extend(df.schema().fields().iter().map(|f| f.name().clone()));
        df.logical_plan().apply_with_subqueries(|node| {
            for e in node.expressions() {
                used.extend(e.column_refs().into_iter().map(|c| c.name.clone()));
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let t = &tables[0];
    let provider = t.provider(ctx, None).await?;
    let schema = provider.schema();
    let mut columns: Vec<String> =
        schema.fields().iter().map(|f| f.name().clone()).filter(|c| used.contains(c)).collect();
    if columns.is_empty() {
        // Only rows are counted: one column keeps them.
        columns.push(sf.keys[0].clone());
    }
    let parent = s.working_dir.clone().unwrap_or_else(std::env::temp_dir);
    let bar = ui.rows_bar(None, format!("splitting {}", t.name()));
    let batch_size = ctx.state().config().batch_size();
    let routed =
        hygiene_routed::route(ctx.read_table(provider)?, sf, &columns, &parent, batch_size, &bar).await;
    bar.finish_and_clear();
    let routed = match routed {
        Ok(r) => r,
        Err(e @ Error::Output { .. }) => {
            ui.warn(format!("{e}; each split is read as a filter of the table instead (set --working-dir)"));
            return Ok(None);
        }
        Err(e) => return Err(scan_error_of(e, t.name())),
    };
    let shown: Vec<String> =
        s.splits.iter().zip(&routed.rows).map(|(x, n)| format!("{} {n}", x.name)).collect();
    ui.step(format!("split {} once: {} rows", t.name(), shown.join(", ")));
    for (split, provider) in s.splits.iter().zip(&routed.splits) {
        ctx.deregister_table(TableReference::bare(split.name.clone()))?;
        ctx.register_table(TableReference::bare(split.name.clone()), provider.clone())?;
    }
    let selection = s.spec.selection();
    for (df, (split, t)) in frames.iter_mut().zip(s.splits.iter().zip(tables)) {
        *df = selection.split(ctx, &split.name, t.name()).await?;
    }
    Ok(Some(routed))
}

/// A DataFusion error while reading `table` as the table's error.
fn scan_error_of(e: Error, table: &str) -> Error {
    match e {
        Error::DataFusion(e) => scan_error(e, table),
        e => e,
    }
}

/// The label kind from the label column's type (`--label-kind`), before any row is read; the
/// label (and words) cast for it. Under `auto`, the kind just decided checks the flags it does
/// not take (an explicit kind checked them with the settings).
pub(super) fn label_kind(s: &PrepareSettings, inputs: &mut [DataFrame], ui: &Ui) -> Result<LabelKind> {
    let names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
    let e = &s.spec;
    let kind = kind::shape(inputs, e.label_kind, &e.columns, &names)?;
    if e.label_kind.decided_by_flags(e.columns.tokens.is_some()).is_none() {
        kind.check_flags(&s.kind_flags(), Decided::ByType { column: &e.columns.label })?;
    }
    if e.label_all_tokens && s.tokenizer.is_none() {
        ui.warn(
            "--label-all-tokens only changes how tags are aligned to sub-words when the export is tokenized; \
             the word-level `ner_tags` are written as they are"
                .into(),
        );
    }
    Ok(kind)
}

/// The label pass of `kind` over every split.
async fn label_pass(
    s: &PrepareSettings,
    ctx: &SessionContext,
    inputs: &mut [DataFrame],
    listed: Option<&ListedLabels>,
    existing: Option<&(Vec<String>, u64)>,
    ui: &Ui,
    kind: LabelKind,
) -> Result<Labelled> {
    ui.step("counting labels");
    let names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
    let e = &s.spec;
    let pass = LabelPass {
        splits: &names,
        columns: &e.columns,
        drop_nulls: e.drop_nulls,
        require_train_labels: e.require_train_labels,
        order: e.label_order,
        mode: e.label_map_mode,
        table: s.label_table.as_ref().map(|t| (t.name.as_str(), existing.map(|e| e.0.as_slice()))),
        listed,
    };
    kind.behaviour().label_pass(&pass, ctx, inputs, &|m| ui.warn(m)).await
}

/// Every split at once: each partition decodes on its own task and writes on its own thread,
/// so the cores stay busy to the end. At most one partition per core decodes at a time (more
/// would only hold more row groups in memory); one at a time when tokenizing. With `checksums`,
/// each shard's CRC-32 is computed as it is written. `rows[i]` is split `i`'s row count when known.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write(
    s: &PrepareSettings,
    ctx: &SessionContext,
    inputs: Vec<DataFrame>,
    labelled: Option<&Labelled>,
    rows: &[Option<u64>],
    dir: &std::path::Path,
    format: Format,
    tokenize: Option<Arc<Tokenize>>,
    sft: Option<Arc<Sft>>,
    checksums: bool,
    ui: &Ui,
    drops: Option<&Arc<Drops>>,
    leaks: Option<&Arc<LeakCounter>>,
) -> Result<Vec<(SplitOutput, serde_json::Value)>> {
    let class_names = labelled.map(|l| l.map.names.as_slice());
    if let Some(names) = class_names {
        ctx.register_udf(LabelId::udf(names));
        ctx.register_udf(ListLabels::label_ids(names));
        ctx.register_udf(ListLabels::multi_hot(names));
    }
    // The column written as a ClassLabel (a Sequence of one for lists), if any.
    let e = &s.spec;
    let class_label = labelled
        .filter(|l| l.kind.writes_class_label(e.multi_hot))
        .map(|l| (l.kind.output_column(), l.map.names.as_slice()));
    // Tokenizing, one partition decodes at a time: the tokenizer spreads each batch over every
    // core already, and each decoding partition holds a row group in memory (peak RSS would grow
    // with the partitions, i.e. with the number of files, not with the work done).
    let decoding = match (&tokenize, &sft) {
        (None, None) => ctx.state().config().target_partitions(),
        _ => 1,
    };
    let decoders = Arc::new(Semaphore::new(decoding));
    let observer = observer(s, labelled, tokenize.is_some() || sft.is_some());
    let mut writes = Vec::with_capacity(inputs.len());
    for (i, (split, input)) in s.splits.iter().zip(inputs).enumerate() {
        let df = match labelled {
            Some(l) => l.kind.behaviour().encode(ctx, input, e.multi_hot).await?,
            None => input,
        };
        let known_rows = rows[i];
        let total_rows = match (e.shards, known_rows) {
            (ShardPolicy::Count(_), None) => Some(encode::count_rows(ctx, df.clone()).await?),
            (_, known) => known,
        };
        let mut schema: Schema = df.schema().as_arrow().clone();
        if let Some(t) = &tokenize {
            schema = t.output_schema(&schema).as_ref().clone();
        }
        // The report's statistics are observed on the batches on their way to the writer
        // (before the tokenizer, which maps them there too): no pass of their own.
        let stats = Arc::new(std::sync::Mutex::new(observer.empty()));
        let batch_map: Option<BatchMap> = match sft.as_ref().filter(|x| x.packing().is_none()) {
            // SFT exports (issue 21): the rows observed, prepared, and their tokens observed.
            Some(x) => {
                schema = x.output_schema(&schema).as_ref().clone();
                Some(observe_sft(observer.clone(), x.mapper(&split.name), stats.clone()))
            }
            None => Some(observe(observer.clone(), tokenize.clone(), stats.clone())),
        };
        // The leak check fused into the write: each batch hashed before it is mapped.
        let batch_map = match (batch_map, leaks) {
            (Some(map), Some(counter)) => {
                let counter = counter.clone();
                Some(Arc::new(move |b: &RecordBatch| {
                    counter.observe(i, b)?;
                    map(b)
                }) as BatchMap)
            }
            (map, _) => map,
        };
        let mut sink = format
            .open_split(dir, &split.name, &schema, class_label, e.shards)?
            .with_format_options(e.format_options.clone())
            .with_fsync(e.fsync)
            .with_checksums(checksums)
            .with_decoders(decoders.clone())
            .with_batch_map(batch_map);
        let bar = ui.rows_bar(total_rows, format!("writing {}", split.name));
        let table = &split.table.name;
        let mut partitions = session::streams(df).await.map_err(|e| scan_error(e, table))?;
        if let Some(d) = drops {
            partitions = d.filter(i, partitions);
        }
        if sft.is_some() && partitions.len() > 1 {
            // SFT: one stream in row order, so rows are numbered by their position in the split.
            let stream_schema = partitions[0].schema();
            let merged = futures::stream::iter(partitions).flatten();
            partitions = vec![Box::pin(RecordBatchStreamAdapter::new(stream_schema, merged))];
        }
        if let Some(x) = sft.as_ref().filter(|x| x.packing().is_some())
            && let Some(input) = partitions.pop()
        {
            // --packing: prepared and packed in the stream (the packer holds one window).
            let input = match leaks {
                Some(counter) => {
                    let counter = counter.clone();
                    let schema = input.schema();
                    let hashed = input.map(move |b| {
                        let b = b?;
                        counter.observe(i, &b).map_err(|e| {
                            deltalake::datafusion::error::DataFusionError::External(Box::new(e))
                        })?;
                        Ok(b)
                    });
                    Box::pin(RecordBatchStreamAdapter::new(schema, hashed))
                        as deltalake::datafusion::execution::SendableRecordBatchStream
                }
                None => input,
            };
            let (packed, packed_schema) = x.packed_stream(input, &split.name)?;
            partitions = vec![packed];
            sink = format
                .open_split(dir, &split.name, &packed_schema, class_label, e.shards)?
                .with_format_options(e.format_options.clone())
                .with_fsync(e.fsync)
                .with_checksums(checksums)
                .with_decoders(decoders.clone());
        }
        let failed_sft = sft.clone();
        writes.push(async move {
            let written = sink.write(partitions, total_rows, bar.clone()).await.map_err(|e| {
                if let Some(f) = failed_sft.as_ref().and_then(|x| x.take_failure()) {
                    return f;
                }
                match e {
                    Error::DataFusion(e) => scan_error(e, table),
                    e => e,
                }
            });
            bar.finish_and_clear();
            let (mut out, features) = written?;
            out.stats = Some(std::mem::take(&mut *stats.lock().unwrap_or_else(|p| p.into_inner())));
            Ok::<_, Error>((out, features))
        });
    }
    futures::future::try_join_all(writes).await
}

/// What the report observes on each split's batches (issue 23): the kind's label column, the
/// text's characters, the tokens.
fn observer(s: &PrepareSettings, labelled: Option<&Labelled>, tokens: bool) -> Observer {
    let text = if s.with_labels() { TEXT } else { s.spec.columns.text.as_str() };
    Observer {
        label: labelled.map(|l| l.kind.label_stat(s.spec.multi_hot)).unwrap_or(LabelStat::None),
        num_labels: labelled.map(|l| l.map.names.len()).unwrap_or(0),
        text: Some(text.to_string()),
        tokens,
    }
}

/// The writer's batch map: each batch observed into `stats` (its own part first, merged under
/// the lock once), then tokenized when asked.
fn observe(
    observer: Observer,
    tokenize: Option<Arc<Tokenize>>,
    stats: Arc<std::sync::Mutex<SplitStats>>,
) -> BatchMap {
    Arc::new(move |b: &RecordBatch| {
        let mut part = observer.empty();
        observer.observe_input(b, &mut part)?;
        let out = match &tokenize {
            Some(t) => {
                let (out, truncated) = t.apply_counting(b)?;
                observer.observe_tokens(&out, truncated, &mut part)?;
                out
            }
            None => b.clone(),
        };
        stats.lock().unwrap_or_else(|p| p.into_inner()).merge(&part);
        Ok(out)
    })
}

/// SFT exports (issue 21): the writer's batch map — each batch observed, prepared by `sft` (one
/// split's mapper), and its tokens observed.
fn observe_sft(
    observer: Observer,
    sft: impl Fn(&RecordBatch) -> Result<RecordBatch> + Send + Sync + 'static,
    stats: Arc<std::sync::Mutex<SplitStats>>,
) -> BatchMap {
    Arc::new(move |b: &RecordBatch| {
        let mut part = observer.empty();
        observer.observe_input(b, &mut part)?;
        let out = sft(b)?;
        observer.observe_tokens(&out, 0, &mut part)?;
        stats.lock().unwrap_or_else(|p| p.into_inner()).merge(&part);
        Ok(out)
    })
}

/// The format's metadata (per split and top-level), then `label_map.json` (with the weights
/// computed on `train`, when there is one: issue 23).
pub(super) fn write_metadata(
    dir: &std::path::Path,
    format: Format,
    description: &str,
    dataset_name: &str,
    outputs: &[(SplitOutput, serde_json::Value)],
    labelled: Option<&Labelled>,
    multi_hot: bool,
) -> Result<()> {
    format.layout().write_metadata(dir, outputs, description, dataset_name)?;
    if let Some(l) = labelled {
        let mut doc = l.kind.label_map_document(&l.map.names);
        let stat = l.kind.label_stat(multi_hot);
        let train =
            outputs.iter().find(|(o, _)| o.name == report::WEIGHTS_SPLIT).and_then(|(o, _)| o.stats.as_ref());
        if let (Some(key), Some(weights), Some(obj)) =
            (stat.weights_key(), train.and_then(|t| t.weights(stat)), doc.as_object_mut())
        {
            obj.insert(key.to_string(), json!(weights));
        }
        hf_dataset::write_json(&dir.join("label_map.json"), &doc)?;
    }
    Ok(())
}

/// Commit the label map; a concurrent run's clashing ids fail the run here. `base_version` is
/// the label table's version the map was computed from.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    s: &PrepareSettings,
    cx: &Connector,
    sources: &[Source],
    shown: &str,
    tokenizer: Option<serde_json::Value>,
    base_version: Option<u64>,
    l: &Labelled,
    run_id: &str,
) -> Result<LabelTableSummary> {
    let table = s.label_table.as_ref().ok_or_else(|| Error::Internal("no label table".into()))?;
    let sources: Vec<_> =
        sources.iter().map(|x| json!({"split": x.split, "table": x.table, "version": x.version})).collect();
    let mut metadata = json!({
        "run_id": run_id,
        "sources": sources,
        "output": shown,
        "label_map_mode": s.spec.label_map_mode,
        "label_kind": l.kind,
        "tool": format!("delta-hf {}", env!("CARGO_PKG_VERSION")),
    });
    if let Some(t) = tokenizer {
        metadata["tokenizer"] = t;
    }
    let target = label_table::Target { table, cx, new_location: s.label_table_location.as_deref() };
    let check_races = s.spec.label_map_mode != LabelMapMode::Rebuild;
    let version = label_table::write(&target, &l.map, &l.counts, metadata, base_version, check_races).await?;
    Ok(LabelTableSummary { table: table.name.clone(), version })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn summary(
    s: &PrepareSettings,
    sources: &[Source],
    outputs: &[(SplitOutput, serde_json::Value)],
    labelled: Option<&Labelled>,
    label_table: Option<LabelTableSummary>,
    run_id: String,
    shown: &str,
    ui: &Ui,
    started: Instant,
    timings: Timings,
) -> Summary {
    let splits = s
        .splits
        .iter()
        .zip(sources)
        .zip(outputs)
        .enumerate()
        .map(|(i, ((sp, t), (out, _)))| SplitSummary {
            name: sp.name.clone(),
            table: t.table.clone(),
            version: t.version,
            num_rows: out.num_rows,
            num_bytes: out.num_bytes,
            num_shards: out.shards.len(),
            dropped_rows: labelled.map(|l| l.dropped[i]).unwrap_or(0),
            dropped: Default::default(),
            rows_per_label: labelled
                .map(|l| {
                    let count = |n: &String| l.counts.by_label.get(n).map(|v| v[i]).unwrap_or(0);
                    l.map.names.iter().map(|n| (n.clone(), count(n))).collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let map = labelled.map(|l| &l.map);
    Summary {
        run_id,
        output: shown.to_string(),
        splits,
        labels: map.map(|m| m.names.clone()).unwrap_or_default(),
        num_labels: map.map(|m| m.names.len()).unwrap_or(0),
        new_labels: map.map(|m| m.new_labels.clone()).unwrap_or_default(),
        label_map_origin: map.map(|m| {
            serde_json::to_value(m.origin).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        }),
        label_map_json: map.map(|_| format!("{}/label_map.json", shown.trim_end_matches('/'))),
        label_table,
        tokenizer: None,
        label_kind: labelled.map(|l| l.kind),
        label_counts: labelled.filter(|l| l.kind.has_label_map()).map(|l| l.kind.counts_what().to_string()),
        warnings: ui.warnings(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        timings,
        report: None,
        report_table: None,
        hygiene: None,
        sft: None,
    }
}

/// SFT exports (issue 21): the summary's `sft` section (per-split statistics), each split's
/// `dropped` extended with the rows the pass dropped by reason, and its warnings.
pub(super) fn sft_section(done: &mut Summary, sft: SftSummary, ui: &Ui) {
    for sp in done.splits.iter_mut() {
        if let Some(x) = sft.splits.iter().find(|x| x.name == sp.name) {
            sp.dropped.extend(x.dropped());
        }
    }
    for w in sft.warnings() {
        ui.warn(w);
    }
    done.sft = Some(sft);
}

/// Issue 23: the run's report from its summary and the statistics observed on each split
/// (`outputs`), written into the staged output `dir` (published with it) and appended to
/// `--report-table` (before publishing, taken back if the run fails); both recorded in `done`.
pub(super) async fn report(
    s: &PrepareSettings,
    cx: &Connector,
    done: &mut Summary,
    outputs: &[(SplitOutput, serde_json::Value)],
    labelled: Option<&Labelled>,
    max_length: Option<u64>,
    dir: &std::path::Path,
) -> Result<()> {
    let stat = labelled.map(|l| l.kind.label_stat(s.spec.multi_hot)).unwrap_or(LabelStat::None);
    let stats: Vec<Option<&SplitStats>> = outputs.iter().map(|(o, _)| o.stats.as_ref()).collect();
    let hygiene = done.hygiene.as_ref().map(hygiene_report);
    let r = report::Report::build(done, &stats, stat, max_length, hygiene);
    r.write(dir)?;
    if let Some(t) = &s.report_table {
        let version = report::table::append(t, cx, &r).await?;
        done.report_table = Some(LabelTableSummary { table: t.name.clone(), version });
    }
    done.report = Some(r);
    Ok(())
}

/// The hygiene stage's findings as the report shows them: counts per split, and the dropped
/// rows (with the row each matches) as examples.
fn hygiene_report(h: &HygieneSummary) -> report::HygieneReport {
    let as_text = |v: serde_json::Value| v.as_str().map(String::from).unwrap_or_default();
    report::HygieneReport {
        dedup: h.dedup.map(|d| as_text(serde_json::to_value(d).unwrap_or_default())),
        leaks: as_text(serde_json::to_value(h.leaks).unwrap_or_default()),
        splits: h
            .splits
            .iter()
            .map(|sp| report::HygieneSplit {
                split: sp.name.clone(),
                duplicates: sp.exact_duplicates + sp.near_duplicates,
                leaks: sp.leaks,
            })
            .collect(),
        examples: h
            .dropped_rows
            .iter()
            .map(|d| report::HygieneExample {
                kind: if d.reason == "leaks" { "leak" } else { "duplicate" }.to_string(),
                row: report::HygieneRow {
                    split: d.split.clone(),
                    position: d.position,
                    key: d.key.clone(),
                    text: None,
                },
                matches: report::HygieneRow {
                    split: d.matched_split.clone(),
                    position: d.matched_position,
                    ..Default::default()
                },
                jaccard: None,
                dropped: true,
            })
            .collect(),
    }
}

/// The output must not be, contain or sit inside an input or label table: `--overwrite` would
/// otherwise replace the data it reads.
pub(super) fn check_output_apart(
    output: &std::path::Path,
    s: &PrepareSettings,
    tables: &[OpenedTable],
) -> Result<()> {
    let out = std::path::absolute(output).map_err(|e| Error::io("cannot resolve", output, e))?;
    let mut others: Vec<(&str, &std::path::Path)> =
        tables.iter().filter_map(|t| t.table_ref.local_path().map(|p| (t.name(), p))).collect();
    if let Some(lt) = &s.label_table
        && let Some(p) = lt.local_path()
    {
        others.push((lt.name.as_str(), p));
    }
    for (name, path) in others {
        if out.starts_with(path) || path.starts_with(&out) {
            return Err(Error::Usage(format!(
                "--output `{}` overlaps table `{name}`; write the dataset somewhere else",
                output.display()
            )));
        }
    }
    Ok(())
}

/// The datasets' description: the sources and versions, and the tokenization if any.
pub(super) fn describe(sources: &[Source], tokenized: Option<String>) -> String {
    let parts: Vec<String> = sources
        .iter()
        .map(|x| format!("{} = Delta table `{}` at version {}", x.split, x.table, x.version))
        .collect();
    let d = format!("Exported by delta-hf {} from {}.", env!("CARGO_PKG_VERSION"), parts.join("; "));
    match tokenized {
        Some(t) => format!("{d} {t}"),
        None => d,
    }
}

/// Read and parse a fan-out plan (`run-task`, `commit`).
pub(super) async fn read_plan(spec: &OutputSpec, cx: &Connector) -> Result<Plan> {
    let (dir, name) = fanout::split_file(spec)?;
    let area = Area::resolve(&dir, cx).await?;
    match area.get(&name).await? {
        Some(bytes) => Plan::parse(&bytes, &spec.shown()),
        None => Err(Error::Usage(format!(
            "--plan `{}` does not exist; write it with `delta-hf plan ... --tasks N --plan {}`",
            spec.shown(),
            spec.shown()
        ))),
    }
}

// Issue 23 (hygiene): the stratified cuts before the selection, the duplicate and leak pass
// after the analysis.

/// With `--split-from --stratify`: the settings with the cuts computed by one pass over the
/// table's key and label columns (a plan records them, so its tasks cut the same).
pub(super) async fn with_strata<'a>(
    s: &'a PrepareSettings,
    inputs: &Inputs,
    ui: &Ui,
) -> Result<std::borrow::Cow<'a, PrepareSettings>> {
    let Some(sf) = s.spec.split_from.as_ref().filter(|sf| sf.stratify.is_some() && sf.strata.is_none())
    else {
        return Ok(std::borrow::Cow::Borrowed(s));
    };
    let t = &inputs.tables[0];
    let ctx = session::session(session::SessionOptions::export(s.spec.memory_limit))?;
    let provider = t.provider(&ctx, None).await?;
    sf.check_columns(&provider.schema(), t.name())?;
    ui.step(format!("stratifying {} by `{}`", t.name(), sf.stratify.as_deref().unwrap_or_default()));
    let strata = hygiene_split::strata(&ctx, ctx.read_table(provider)?, sf).await?;
    let mut out = s.clone();
    if let Some(o) = out.spec.split_from.as_mut() {
        o.strata = Some(strata);
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// `--stratify` needs one class per row: checked once the label kind is known (before any
/// row is written).
pub(super) fn check_stratify(s: &PrepareSettings, labelled: Option<&Labelled>) -> Result<()> {
    let stratified = s.spec.split_from.as_ref().is_some_and(|sf| sf.stratify.is_some());
    match labelled.map(|l| l.kind) {
        Some(k) if stratified && k != LabelKind::Single => Err(Error::Usage(format!(
            "--stratify needs one class per row, and the label column `{}` is --label-kind {}; drop --stratify",
            s.spec.columns.label,
            k.as_str()
        ))),
        _ => Ok(()),
    }
}

/// The columns the duplicate and leak check compares (the text, or the SFT input columns) and
/// those recorded for a dropped row; `None` when there is nothing to compare: one split and no
/// `--dedup`, or no text column.
fn hygiene_columns(s: &PrepareSettings, frames: &[DataFrame]) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let d = &s.spec.dedup;
    if s.splits.len() < 2 && d.dedup.is_none() {
        return Ok(None);
    }
    let schema = frames[0].schema().as_arrow().clone();
    let has = |c: &str| schema.field_with_name(c).is_ok();
    // SFT inputs: the conversation, the prompt and completion, or the text (issue 23).
    let sft_columns = s.spec.sft.as_ref().map(|o| o.input.columns());
    let text = match &sft_columns {
        Some(c) => c.first().map(String::as_str),
        None => [TEXT, crate::transform::columns::TOKENS, s.spec.columns.text.as_str()]
            .into_iter()
            .find(|c| has(c) && (s.with_labels() || *c == s.spec.columns.text)),
    };
    let Some(text) = text else {
        return match d.dedup {
            Some(_) => Err(Error::Usage(format!(
                "--dedup compares the text column `{}`, which the export does not have; name it with --text-col",
                s.spec.columns.text
            ))),
            None => Ok(None),
        };
    };
    let label = [
        crate::transform::columns::LABEL,
        crate::transform::columns::MULTI_LABELS,
        crate::transform::columns::TOKEN_TAGS,
    ]
    .into_iter()
    .find(|c| s.with_labels() && has(c));
    let text_columns = sft_columns.clone().unwrap_or_else(|| vec![text.to_string()]);
    let record_columns = match &sft_columns {
        Some(c) => c.clone(),
        None => std::iter::once(text.to_string()).chain(label.map(String::from)).collect(),
    };
    Ok(Some((text_columns, record_columns)))
}

/// The hygiene pass's input over these columns.
fn pass_input<'a>(
    s: &'a PrepareSettings,
    names: &'a [String],
    (text_columns, record_columns): (Vec<String>, Vec<String>),
) -> hygiene_dedup::PassInput<'a> {
    hygiene_dedup::PassInput {
        spec: &s.spec.dedup,
        names,
        text_columns,
        record_columns,
        spill_dir: s.working_dir.clone().unwrap_or_else(std::env::temp_dir),
        budget: s.spec.memory_limit.map(|m| m / 4).unwrap_or(256 << 20),
        rows: None,
    }
}

/// The duplicate and leak pass over every split (`None` when there is nothing to compare: one
/// split and no `--dedup`, or no text column).
pub(super) async fn hygiene(
    s: &PrepareSettings,
    frames: &[DataFrame],
    rows: Option<u64>,
    ui: &Ui,
) -> Result<Option<(HygieneSummary, Arc<Drops>)>> {
    let Some(columns) = hygiene_columns(s, frames)? else { return Ok(None) };
    ui.step(match s.spec.dedup.dedup {
        Some(DedupMode::Near) => "finding near duplicates and leaks".to_string(),
        Some(DedupMode::Exact) => "finding duplicates and leaks".to_string(),
        None => "counting leaks".to_string(),
    });
    let names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
    let input = hygiene_dedup::PassInput { rows, ..pass_input(s, &names, columns) };
    Ok(Some(hygiene_dedup::pass(input, frames).await?))
}

/// `prepare`'s leak check when nothing is to be dropped (`--leaks report`, no `--dedup`): fused
/// into the write (each batch hashed on its way to the writer) instead of a pass of its own
/// over every split's text -- the check every multi-split export runs.
pub(super) fn fused_leak_check(s: &PrepareSettings, frames: &[DataFrame]) -> Result<Option<FusedLeakCheck>> {
    let d = &s.spec.dedup;
    if d.dedup.is_some() || d.leaks != LeaksMode::Report {
        return Ok(None);
    }
    Ok(hygiene_columns(s, frames)?.map(|columns| FusedLeakCheck {
        counter: Arc::new(LeakCounter::new(d.normalize, columns.0.clone(), s.splits.len())),
        columns,
    }))
}

/// The leak check fused into `prepare`'s write.
pub(super) struct FusedLeakCheck {
    pub counter: Arc<LeakCounter>,
    columns: (Vec<String>, Vec<String>),
}

impl FusedLeakCheck {
    /// The counts, once every split is written.
    pub fn counts(self, s: &PrepareSettings) -> Result<(HygieneSummary, Arc<Drops>)> {
        let names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
        self.counter.finish(pass_input(s, &names, self.columns))
    }
}

/// How the splits were cut, for the summary.
fn split_from_summary(s: &PrepareSettings, sources: &[Source]) -> Option<SplitFromSummary> {
    s.spec.split_from.as_ref().map(|sf| SplitFromSummary {
        table: sources[0].table.clone(),
        version: sources[0].version,
        ratios: sf.ratios.clone(),
        keys: sf.keys.clone(),
        group_col: sf.group_col.clone(),
        stratify: sf.stratify.clone(),
    })
}

/// What a plan records of the hygiene pass for its commit: the counts (a plan drops nothing:
/// `--dedup` and `--leaks drop` are refused with the fan-out).
pub(super) fn planned_hygiene(
    s: &PrepareSettings,
    sources: &[Source],
    found: Option<(HygieneSummary, Arc<Drops>)>,
) -> Option<HygieneSummary> {
    let mut h = found?.0;
    h.split_from = split_from_summary(s, sources);
    Some(h)
}

/// The hygiene part of the summary: each split's drops by reason, the records, `--split-from`.
pub(super) fn hygiene_summary(
    s: &PrepareSettings,
    sources: &[Source],
    done: &mut Summary,
    found: Option<(HygieneSummary, Arc<Drops>)>,
) {
    let split_from = split_from_summary(s, sources);
    let Some((mut h, drops)) = found else {
        if let Some(sf) = split_from {
            done.hygiene = Some(HygieneSummary {
                dedup: None,
                normalize: s.spec.dedup.normalize,
                near_dup_threshold: None,
                lsh_bands: None,
                lsh_rows: None,
                leaks: s.spec.dedup.leaks,
                training_split: done.splits.first().map(|x| x.name.clone()).unwrap_or_default(),
                splits: Vec::new(),
                dropped_rows: Vec::new(),
                split_from: Some(sf),
            });
        }
        return;
    };
    for (i, sp) in done.splits.iter_mut().enumerate() {
        sp.dropped.extend(drops.dropped(i));
    }
    h.dropped_rows = drops.records();
    h.split_from = split_from;
    done.hygiene = Some(h);
}
