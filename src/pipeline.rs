//! `delta-hf prepare`, stage by stage:
//!
//! 1. **resolve** — open every split's snapshot (checking its protocol) and the label table,
//!    and check the output can be written, before any data is read;
//! 2. **select** — one DataFrame per split with the export columns (`--text-col`,
//!    `--label-col`, `--keep-col`, or a `--select-sql` query);
//! 3. **label map** — null checks and a label-only pass (`sql/null_texts.sql`,
//!    `sql/label_counts.sql`) over every split, then one map for all of them;
//! 4. **encode + write** — every split streams through the `label_id` projection
//!    (`sql/encode_labels.sql`) into the shard writers, all splits and partitions at once (one
//!    decoding partition per core), in a staging directory;
//! 5. **record** — the label table is committed once every shard is staged (a concurrent run
//!    that assigned other ids to new labels makes this run fail here, before publishing);
//! 6. **publish** — `dataset_dict.json` and `label_map.json`, then an atomic move into place
//!    (local) or an ordered upload with `dataset_dict.json` last (object store, volume).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::common::Column;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast, lit};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::cli::LabelMapMode;
use crate::error::{Error, Result};
use crate::settings::{LABEL, PrepareSettings, ShardPolicy, SplitInput, TEXT};
use crate::sink::hf_dataset::{self, BatchMap, SplitSink};
use crate::sink::label_table;
use crate::sink::publish::Staging;
use crate::sink::remote::{Dest, OutputSpec};
use crate::source::storage::Connector;
use crate::source::table::{Location, OpenedTable};
use crate::summary::{LabelTableSummary, SplitSummary, Summary, Timings};
use crate::transform::encode::LabelId;
use crate::transform::label_map::{self, LabelCounts, LabelMap, ListedLabels, quote_list};
use crate::source::tokenizer::TokenizerSpec;
use crate::transform::sql;
use crate::transform::tokenize::{TokenizeOptions, Tokenize};
use crate::ui::Ui;

/// Run `prepare`.
pub async fn prepare(s: &PrepareSettings, ui: &Ui) -> Result<Summary> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut timings = Timings::default();
    let mut lap = Instant::now();
    let mut stage = |slot: &mut f64| {
        *slot = lap.elapsed().as_secs_f64();
        lap = Instant::now();
    };

    // 1. resolve
    let cx = Connector::new(&s.storage)?;
    let tokenize = match &s.tokenizer {
        Some((spec, opts)) => Some(Arc::new(load_tokenizer(s, spec, opts, &cx, ui).await?)),
        None => None,
    };
    let mut tables = Vec::with_capacity(s.splits.len());
    for split in &s.splits {
        let t = split.table.open(&cx).await?;
        ui.step(format!("split {}: {} at version {}", split.name, t.name(), t.version));
        tables.push(t);
    }
    let listed = match (&s.labels_file, &s.labels_from, s.with_labels) {
        (Some((_, labels)), _, true) => Some(ListedLabels::from_file(labels.clone())),
        (None, Some(from), true) => {
            let l = from.resolve(&s.columns.label, &cx).await?;
            ui.step(format!("label order from {}: {} labels", from.spec(), l.labels.len()));
            Some(l)
        }
        _ => None,
    };
    let existing_map = match (&s.label_table, s.with_labels) {
        (Some(t), true) => label_table::read(t, &cx).await?,
        _ => None,
    };
    let output = match &s.output {
        Some(o) => o.clone(),
        None => OutputSpec::Local(default_output(s, &tables)?),
    };
    let remote = Dest::resolve(&output, &cx).await?;
    let staging = match (&output, &remote) {
        (OutputSpec::Local(dir), _) => {
            check_output_apart(dir, s, &tables)?;
            Staging::create(dir, s.working_dir.as_deref(), s.overwrite)?
        }
        (_, Some(dest)) => {
            dest.check(s.overwrite).await?;
            Staging::scratch(&output.dir_name(), s.working_dir.as_deref())?
        }
        (_, None) => return Err(Error::Internal("a remote output resolved to nothing".into())),
    };
    let final_output = match &output {
        OutputSpec::Local(_) => staging.output().display().to_string(),
        remote => remote.shown(),
    };

    stage(&mut timings.resolve);

    // 2. select
    let ctx = sql::session(s.memory_limit)?;
    for (split, t) in s.splits.iter().zip(&tables) {
        t.table.update_datafusion_session(&ctx.state())?;
        // With the session, so the scan follows its settings (Utf8 strings, pushdown).
        let provider = t.table.table_provider().with_session(Arc::new(ctx.state())).await?;
        ctx.register_table(TableReference::bare(split.name.clone()), provider)?;
    }
    let mut inputs = Vec::with_capacity(s.splits.len());
    for (split, t) in s.splits.iter().zip(&tables) {
        inputs.push(select_split(&ctx, s, split, t).await?);
    }

    // 3. label map
    let mut dropped = vec![0u64; s.splits.len()];
    let labelled = if s.with_labels {
        let (counts, map) =
            label_pass(&ctx, s, &mut inputs, &mut dropped, existing_map.as_ref(), listed.as_ref(), ui)
                .await?;
        Some((counts, map))
    } else {
        None
    };

    stage(&mut timings.label_map);

    // 4. encode + write
    let class_names: Option<&[String]> = labelled.as_ref().map(|(_, m)| m.names.as_slice());
    if let Some((_, map)) = &labelled {
        ctx.register_udf(LabelId::udf(&map.names));
    }
    // Every split's partitions are planned first, then all are written at once: each partition
    // decodes on its own task and writes on its own thread, so the cores stay busy to the end.
    // At most one partition per core decodes at a time (more would only hold more row groups).
    let decoders = Arc::new(Semaphore::new(ctx.state().config().target_partitions()));
    let mut writes = Vec::with_capacity(s.splits.len());
    for (i, split) in s.splits.iter().enumerate() {
        let df = match labelled {
            Some(_) => encode(&ctx, inputs[i].clone()).await?,
            None => inputs[i].clone(),
        };
        let known_rows = labelled.as_ref().map(|(c, _)| c.labelled_rows(i));
        let total_rows = match (s.shards, known_rows) {
            (ShardPolicy::Count(_), None) => Some(count_rows(&ctx, df.clone()).await?),
            (_, known) => known,
        };
        let mut schema: Schema = df.schema().as_arrow().clone();
        let mut batch_map: Option<BatchMap> = None;
        if let Some(t) = &tokenize {
            schema = t.output_schema(&schema).as_ref().clone();
            let t = t.clone();
            batch_map = Some(Arc::new(move |b: &RecordBatch| t.apply(b)));
        }
        let sink =
            SplitSink::new(staging.dir(), &split.name, &schema, class_names.map(|n| (LABEL, n)), s.shards)?
                .with_fsync(s.fsync)
                .with_decoders(decoders.clone())
                .with_batch_map(batch_map);
        let bar = ui.rows_bar(total_rows, format!("writing {}", split.name));
        let partitions =
            df.execute_stream_partitioned().await.map_err(|e| scan_error(e, &split.table.name))?;
        writes.push(async move {
            let written = sink.write(partitions, total_rows, bar.clone()).await.map_err(|e| match e {
                Error::DataFusion(e) => scan_error(e, &split.table.name),
                e => e,
            });
            bar.finish_and_clear();
            written
        });
    }
    let outputs = futures::future::try_join_all(writes).await?;

    stage(&mut timings.write);

    // 5. metadata, then record the label map (before publishing: see the module docs)
    let mut description = describe(s, &tables);
    if let Some(t) = &tokenize {
        description.push(' ');
        description.push_str(&t.summary().describe());
    }
    let dataset_name = output.dir_name();
    let all: Vec<_> = outputs.iter().map(|(o, _)| o.clone()).collect();
    for (out, features) in &outputs {
        hf_dataset::write_split_metadata(staging.dir(), out, &all, features, &description, &dataset_name)?;
    }
    let split_names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
    hf_dataset::write_dataset_dict(staging.dir(), &split_names)?;
    let label_map_json = match &labelled {
        Some((_, map)) => {
            hf_dataset::write_json(&staging.dir().join("label_map.json"), &label_map_document(map))?;
            Some(format!("{}/label_map.json", final_output.trim_end_matches('/')))
        }
        None => None,
    };

    let mut label_table_summary = None;
    if let (Some(table), Some((counts, map))) = (&s.label_table, &labelled) {
        let sources: Vec<_> = s
            .splits
            .iter()
            .zip(&tables)
            .map(|(sp, t)| json!({"split": sp.name, "table": t.name(), "version": t.version}))
            .collect();
        let metadata = json!({
            "run_id": run_id,
            "sources": sources,
            "output": final_output,
            "label_map_mode": s.label_map_mode,
            "tool": format!("delta-hf {}", env!("CARGO_PKG_VERSION")),
        });
        let mut metadata = metadata;
        if let Some(t) = &tokenize {
            metadata["tokenizer"] = serde_json::to_value(t.summary()).expect("summary serialises");
        }
        let base_version = existing_map.as_ref().map(|(_, v)| *v);
        let target = label_table::Target { table, cx: &cx, new_location: s.label_table_location.as_deref() };
        let check_races = s.label_map_mode != LabelMapMode::Rebuild;
        let version = label_table::write(&target, map, counts, metadata, base_version, check_races).await?;
        label_table_summary = Some(LabelTableSummary { table: table.name.clone(), version });
    }

    stage(&mut timings.label_table);

    // 6. publish
    match &remote {
        None => staging.publish()?,
        Some(dest) => {
            dest.publish(staging.dir(), s.overwrite, ui).await?;
            drop(staging);
        }
    }

    stage(&mut timings.publish);

    let splits = s
        .splits
        .iter()
        .zip(&tables)
        .zip(&outputs)
        .enumerate()
        .map(|(i, ((sp, t), (out, _)))| SplitSummary {
            name: sp.name.clone(),
            table: t.name().to_string(),
            version: t.version,
            num_rows: out.num_rows,
            num_bytes: out.num_bytes,
            num_shards: out.shards.len(),
            dropped_rows: dropped[i],
            rows_per_label: labelled
                .as_ref()
                .map(|(c, m)| {
                    m.names
                        .iter()
                        .map(|l| (l.clone(), c.by_label.get(l).map(|v| v[i]).unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok(Summary {
        run_id,
        output: final_output,
        splits,
        labels: labelled.as_ref().map(|(_, m)| m.names.clone()).unwrap_or_default(),
        num_labels: labelled.as_ref().map(|(_, m)| m.names.len()).unwrap_or(0),
        new_labels: labelled.as_ref().map(|(_, m)| m.new_labels.clone()).unwrap_or_default(),
        label_map_origin: labelled.as_ref().map(|(_, m)| {
            serde_json::to_value(m.origin).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        }),
        label_map_json,
        label_table: label_table_summary,
        tokenizer: tokenize.as_ref().map(|t| t.summary().clone()),
        warnings: ui.warnings(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        timings,
    })
}

/// Read `--tokenizer` and configure it for the text column (before any data is read).
async fn load_tokenizer(
    s: &PrepareSettings,
    spec: &TokenizerSpec,
    opts: &TokenizeOptions,
    cx: &Connector,
    ui: &Ui,
) -> Result<Tokenize> {
    let loaded = crate::source::tokenizer::load(spec, cx).await?;
    let text = if s.with_labels { TEXT } else { s.columns.text.as_str() };
    let (t, warnings) = Tokenize::new(loaded, opts, text)?;
    for w in warnings {
        ui.warn(w);
    }
    let p = &t.summary().provenance;
    ui.step(format!("tokenizer {} (tokenizer.json sha256 {})", p.source, &p.sha256[..12]));
    Ok(t)
}

/// The output must not be, contain or sit inside an input or label table: `--overwrite` would
/// otherwise replace the data it reads.
fn check_output_apart(output: &std::path::Path, s: &PrepareSettings, tables: &[OpenedTable]) -> Result<()> {
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

/// A column by its exact name (no parsing of dots or case).
fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The DataFrame of one split with the export columns.
async fn select_split(
    ctx: &SessionContext,
    s: &PrepareSettings,
    split: &SplitInput,
    table: &OpenedTable,
) -> Result<DataFrame> {
    let (base, what, source_name) = match &s.select_sql {
        Some((path, query)) => {
            let provider = ctx.table_provider(TableReference::bare(split.name.clone())).await?;
            ctx.deregister_table("source")?;
            ctx.register_table("source", provider)?;
            // Queries only: no DDL, DML or SET statements from the file.
            let options =
                SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
            let df = ctx.sql_with_options(query, options).await.map_err(|e| {
                Error::Data(format!(
                    "--select-sql `{}` failed for split `{}` (table `{}`): {e}",
                    path.display(),
                    split.name,
                    table.name()
                ))
            })?;
            (df, "the --select-sql result for split", split.name.clone())
        }
        None => {
            (ctx.table(TableReference::bare(split.name.clone())).await?, "table", table.name().to_string())
        }
    };
    let available: Vec<String> = base.schema().fields().iter().map(|f| f.name().clone()).collect();
    let need = |c: &str, flag: &'static str| -> Result<()> {
        if available.iter().any(|a| a == c) {
            Ok(())
        } else {
            Err(Error::MissingColumn {
                column: c.to_string(),
                what,
                table: source_name.clone(),
                available: available.join(", "),
                flag,
            })
        }
    };
    for k in &s.columns.keep {
        need(k, "--keep-col")?;
    }
    // The pair column rides along as a kept column (unless it is one already).
    let pair = s.tokenizer.as_ref().and_then(|(_, o)| o.pair_col.clone());
    let mut keep = s.columns.keep.clone();
    if let Some(p) = &pair {
        need(p, "--text-pair-col")?;
        if !keep.contains(p) {
            keep.push(p.clone());
        }
    }
    if s.tokenizer.is_some() && !s.with_labels {
        need(&s.columns.text, "--text-col")?;
    }
    if s.with_labels {
        need(&s.columns.text, "--text-col")?;
        need(&s.columns.label, "--label-col")?;
        let mut exprs = vec![
            column(&s.columns.text).alias(TEXT),
            cast(column(&s.columns.label), DataType::Utf8).alias(LABEL),
        ];
        exprs.extend(keep.iter().map(|k| column(k).alias(k)));
        Ok(base.select(exprs)?)
    } else if !s.columns.keep.is_empty() {
        if s.tokenizer.is_some() && !keep.contains(&s.columns.text) {
            keep.insert(0, s.columns.text.clone());
        }
        Ok(base.select(keep.iter().map(|k| column(k).alias(k)).collect::<Vec<_>>())?)
    } else {
        Ok(base)
    }
}

/// Null checks, label counts and the map.
async fn label_pass(
    ctx: &SessionContext,
    s: &PrepareSettings,
    inputs: &mut [DataFrame],
    dropped: &mut [u64],
    existing: Option<&(Vec<String>, u64)>,
    listed: Option<&ListedLabels>,
    ui: &Ui,
) -> Result<(LabelCounts, LabelMap)> {
    let names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();

    // Null texts: cheap when file statistics show there are none.
    let text_input = union(inputs, &names, TEXT)?;
    ctx.deregister_table("text_input")?;
    ctx.register_table("text_input", text_input.into_view())?;
    let mut null_texts = vec![0u64; names.len()];
    for b in ctx.sql(sql::NULL_TEXTS).await?.collect().await? {
        for (split, n) in split_counts(&b)? {
            if let Some(i) = names.iter().position(|x| *x == split) {
                null_texts[i] = n;
            }
        }
    }
    if null_texts.iter().any(|n| *n > 0) {
        if !s.drop_nulls {
            return Err(Error::Data(format!(
                "null values in text column `{}`: {}; pass --drop-nulls to drop those rows, or \
                 fill them in --select-sql",
                s.columns.text,
                per_split(&names, &null_texts)
            )));
        }
        for (i, n) in null_texts.iter().enumerate() {
            if *n > 0 {
                inputs[i] = inputs[i].clone().filter(column(TEXT).is_not_null())?;
                dropped[i] += n;
            }
        }
    }

    // Label counts: a label-only pass over every split.
    ui.step("counting labels");
    let label_input = union(inputs, &names, LABEL)?;
    ctx.deregister_table("label_input")?;
    ctx.register_table("label_input", label_input.into_view())?;
    let mut counts = LabelCounts::new(names.clone());
    for b in ctx.sql(sql::LABEL_COUNTS).await?.collect().await? {
        let split = as_strings(b.column(0))?;
        let label = as_strings(b.column(1))?;
        let n = as_i64(b.column(2))?;
        for r in 0..b.num_rows() {
            let l = (!label.is_null(r)).then(|| label.value(r));
            counts.add(split.value(r), l, n.value(r) as u64)?;
        }
    }
    if counts.nulls.iter().any(|n| *n > 0) {
        if !s.drop_nulls {
            return Err(Error::Data(format!(
                "null values in label column `{}`: {}; pass --drop-nulls to drop those rows",
                s.columns.label,
                per_split(&names, &counts.nulls)
            )));
        }
        for (i, n) in counts.nulls.iter().enumerate() {
            if *n > 0 {
                inputs[i] = inputs[i].clone().filter(column(LABEL).is_not_null())?;
                dropped[i] += n;
            }
        }
    }

    // Labels outside train.
    if let Some(train) = names.iter().position(|n| n == "train") {
        for (i, name) in names.iter().enumerate() {
            if i == train {
                continue;
            }
            let absent = label_map::absent_from(&counts, i, train);
            if absent.is_empty() {
                continue;
            }
            let msg = format!(
                "split `{name}` has {} label{} that `train` never shows: {}",
                absent.len(),
                if absent.len() == 1 { "" } else { "s" },
                quote_list(&absent)
            );
            if s.require_train_labels {
                return Err(Error::Data(format!(
                    "{msg}; the model cannot learn them (drop --require-train-labels to allow it)"
                )));
            }
            ui.warn(msg);
        }
    }

    let table_name = s.label_table.as_ref().map(|t| t.name.as_str()).unwrap_or("");
    let map = label_map::build(
        &counts,
        existing.map(|(names, _)| names.as_slice()),
        listed,
        s.label_order,
        s.label_map_mode,
        table_name,
    )?;
    if map.names.is_empty() {
        ui.warn("no labelled row in any split: the ClassLabel has no names".into());
    }
    Ok((counts, map))
}

/// `SELECT '<split>' AS split, <column> FROM <each split>` unioned.
fn union(inputs: &[DataFrame], names: &[String], col: &str) -> Result<DataFrame> {
    let mut out: Option<DataFrame> = None;
    for (df, name) in inputs.iter().zip(names) {
        let part = df.clone().select(vec![lit(name.as_str()).alias("split"), column(col).alias(col)])?;
        out = Some(match out {
            None => part,
            Some(acc) => acc.union(part)?,
        });
    }
    out.ok_or_else(|| Error::Internal("no split".into()))
}

fn split_counts(b: &RecordBatch) -> Result<Vec<(String, u64)>> {
    let split = as_strings(b.column(0))?;
    let n = as_i64(b.column(1))?;
    Ok((0..b.num_rows()).map(|r| (split.value(r).to_string(), n.value(r) as u64)).collect())
}

fn as_strings(a: &Arc<dyn Array>) -> Result<StringArray> {
    let c = deltalake::arrow::compute::cast(a, &DataType::Utf8)?;
    Ok(c.as_any().downcast_ref::<StringArray>().expect("utf8").clone())
}

fn as_i64(a: &Arc<dyn Array>) -> Result<Int64Array> {
    let c = deltalake::arrow::compute::cast(a, &DataType::Int64)?;
    Ok(c.as_any().downcast_ref::<Int64Array>().expect("int64").clone())
}

fn per_split(names: &[String], counts: &[u64]) -> String {
    names
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{n} row{} in `{s}`", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The split with its labels replaced by ids: `text, label, <kept columns>`.
async fn encode(ctx: &SessionContext, input: DataFrame) -> Result<DataFrame> {
    let keep: Vec<String> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != TEXT && n != LABEL)
        .collect();
    ctx.deregister_table("input")?;
    ctx.register_table("input", input.into_view())?;
    let encoded = ctx.sql(sql::ENCODE_LABELS).await?;
    let mut exprs = vec![column(TEXT), column(sql::LABEL_ID_COLUMN).alias(LABEL)];
    exprs.extend(keep.iter().map(|k| column(k)));
    Ok(encoded.select(exprs)?)
}

async fn count_rows(ctx: &SessionContext, df: DataFrame) -> Result<u64> {
    ctx.deregister_table("input")?;
    ctx.register_table("input", df.into_view())?;
    let batches = ctx.sql(sql::COUNT_ROWS).await?.collect().await?;
    Ok(batches.first().map(|b| as_i64(b.column(0)).map(|a| a.value(0) as u64)).transpose()?.unwrap_or(0))
}

/// A DataFusion failure while scanning: mostly a table that cannot be read.
fn scan_error(e: deltalake::datafusion::error::DataFusionError, table: &str) -> Error {
    if let Some(m) = crate::source::table::access_error(&e) {
        return Error::Access(format!("table `{table}`: {m}"));
    }
    let text = e.to_string();
    if text.contains("Unsupported table features")
        || text.contains("Object at location")
        || text.contains("Parquet")
    {
        Error::TableUnreadable { table: table.to_string(), reason: text }
    } else {
        Error::DataFusion(e)
    }
}

/// `label_map.json`: what a transformers config takes.
fn label_map_document(map: &LabelMap) -> serde_json::Value {
    let id2label: serde_json::Map<String, serde_json::Value> =
        map.names.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
    let label2id: serde_json::Map<String, serde_json::Value> =
        map.names.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
    json!({"id2label": id2label, "label2id": label2id, "num_labels": map.names.len()})
}

fn describe(s: &PrepareSettings, tables: &[OpenedTable]) -> String {
    let parts: Vec<String> = s
        .splits
        .iter()
        .zip(tables)
        .map(|(sp, t)| format!("{} = Delta table `{}` at version {}", sp.name, t.name(), t.version))
        .collect();
    format!("Exported by delta-hf {} from {}.", env!("CARGO_PKG_VERSION"), parts.join("; "))
}

/// `$HF_DATASETS_CACHE/delta-hf/<first table name>-<hash of sources, versions and options>`.
fn default_output(s: &PrepareSettings, tables: &[OpenedTable]) -> Result<PathBuf> {
    let base = match (
        std::env::var_os("HF_DATASETS_CACHE"),
        std::env::var_os("HF_HOME"),
        std::env::var_os("HOME"),
    ) {
        (Some(c), _, _) => PathBuf::from(c),
        (None, Some(h), _) => PathBuf::from(h).join("datasets"),
        (None, None, Some(home)) => PathBuf::from(home).join(".cache/huggingface/datasets"),
        _ => {
            return Err(Error::Usage(
                "no --output given and neither HF_DATASETS_CACHE, HF_HOME nor HOME is set".into(),
            ));
        }
    };
    let mut key = String::new();
    for (sp, t) in s.splits.iter().zip(tables) {
        key.push_str(&format!("{}={}@{};", sp.name, t.table_ref.url()?, t.version));
    }
    key.push_str(&format!(
        "{:?}|{:?}|{:?}|{}|{:?}|{:?}",
        s.columns.text,
        s.columns.label,
        s.columns.keep,
        s.with_labels,
        s.select_sql.as_ref().map(|x| &x.1),
        s.label_order
    ));
    let last = match &tables[0].table_ref.location {
        Location::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
        Location::Uri(u) => u.path().trim_end_matches('/').rsplit('/').next().map(String::from),
        Location::Unity(n) => Some(n.name.clone()),
    };
    let stem: String = last
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
        })
        .unwrap_or_else(|| "dataset".into());
    Ok(base.join("delta-hf").join(format!("{stem}-{:016x}", fnv1a(key.as_bytes()))))
}

/// FNV-1a: a hash that is the same on every build and platform.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}
