//! `delta-hf prepare`: Delta tables → a `load_from_disk`-ready DatasetDict with one label map.
//!
//! 1. **resolve** — open every split's snapshot (checking its protocol), the label table and
//!    any fixed label list, and check the output can be written, before any data is read;
//! 2. **select** — one DataFrame per split with the export columns, and the label kind;
//! 3. **label map** — null checks and a label-only pass over every split, then one map (2 and 3
//!    are the analysis `plan` runs too: [`super::export::analyse`]);
//! 4. **write** — every split streams through the label-id projection into the shard writers,
//!    all splits and partitions at once, in a staging directory; then the metadata files;
//! 5. **record** — the label table is committed once every shard is staged (a concurrent run
//!    that assigned other ids to new labels makes this run fail here, before publishing);
//! 6. **publish** — an atomic move into place (local) or an upload in the format's order, the
//!    file that makes the dataset loadable last (object store, volume), or one Hub commit
//!    (`hf://datasets/...`, [`crate::storage::hub::commit`]).
//!
//! The summary's `timings` has one entry per stage (select is part of resolve).

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::settings::PrepareSettings;
use crate::sink::format::Format;
use crate::sink::publish::Staging;
use crate::sink::remote::Dest;
use crate::source::table::OpenedTable;
use crate::storage::hub::client::{Hub, HubEnv};
use crate::storage::hub::commit::{self, HubTarget};
use crate::storage::location::{Location, OutputSpec};
use crate::summary::Summary;
use crate::ui::Ui;

use super::export::{
    Analysis, Clock, Inputs, analyse, check_output_apart, check_stratify, describe, fused_leak_check,
    hygiene, hygiene_summary, record, report, resolve_inputs, sft_section, sources, summary, with_strata,
    write, write_metadata,
};
use crate::storage::session::{self, SessionOptions};

/// Where the output goes, as the resolve stage found it (the inputs are [`Inputs`]).
struct Resolved {
    output: OutputSpec,
    remote: Option<Dest>,
    /// `--output hf://...`: published as one Hub commit (then `output` only names the dataset).
    hub: Option<(Hub, HubTarget)>,
    staging: Staging,
    /// Where the dataset will be, as shown to the user.
    shown: String,
}

/// Run `prepare`.
pub async fn run(s: &PrepareSettings, ui: &Ui) -> Result<Summary> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut clock = Clock::default();
    let format = s.spec.format;

    // 1. resolve: tables, label sources and the output, before reading any row.
    let (mut inputs, r) = resolve(s, format, ui).await?;
    let sources = sources(s, &inputs.tables);
    // --split-from --stratify: the cuts, from one pass over the table's keys and labels.
    let stratified = with_strata(s, &inputs, ui).await?;
    let s: &PrepareSettings = &stratified;
    // 2-3. select, the label kind, and the label map: one pass over every split's labels.
    let ctx = session::session(SessionOptions::export(s.spec.memory_limit))?;
    let Analysis { frames, labelled, tokenize, sft, routed } =
        analyse(s, &ctx, &mut inputs, false, &mut clock, ui).await?;
    check_stratify(s, labelled.as_ref())?;
    // Duplicates and leaks: one pass over every split's text, the drops applied when writing.
    // (When nothing is to be dropped, the leak check is fused into the write instead.)
    let leak_check = fused_leak_check(s, &frames)?;
    let found = match leak_check {
        Some(_) => None,
        None => {
            // The rows, when the label pass or the routing counted them: the pass's tables sized once.
            let rows = match (&labelled, &routed) {
                (Some(l), _) => Some(l.rows.iter().sum()),
                (None, Some(r)) => Some(r.rows.iter().sum()),
                _ => None,
            };
            hygiene(s, &frames, rows, ui).await?
        }
    };
    let drops = found.as_ref().map(|(_, d)| d.clone());

    // 4. write: every split's shards, then the format's metadata and `label_map.json`.
    let rows: Vec<Option<u64>> = (0..s.splits.len())
        .map(|i| labelled.as_ref().map(|l| l.rows[i] - drops.as_ref().map(|d| d.count(i)).unwrap_or(0)))
        .collect();
    let outputs = write(
        s,
        &ctx,
        frames,
        labelled.as_ref(),
        &rows,
        r.staging.dir(),
        format,
        tokenize.clone(),
        sft.clone(),
        false,
        ui,
        drops.as_ref(),
        leak_check.as_ref().map(|l| &l.counter),
    )
    .await?;
    // Every split written: its routed files go.
    drop(routed);
    let found = match leak_check {
        Some(l) => Some(l.counts(s)?),
        None => found,
    };
    let split_names: Vec<String> = s.splits.iter().map(|x| x.name.clone()).collect();
    let sft_summary = sft.as_ref().map(|x| x.summary(&split_names));
    let described = match &sft_summary {
        Some(x) => Some(x.describe()),
        None => tokenize.as_ref().map(|t| t.summary().describe()),
    };
    let description = describe(&sources, described);
    write_metadata(
        r.staging.dir(),
        format,
        &description,
        &r.output.dir_name(),
        &outputs,
        labelled.as_ref(),
        s.spec.multi_hot,
    )?;
    clock.lap(|t| &mut t.write);

    // 5. record: the label table, before anything is published.
    let recorded = match (&s.label_table, &labelled) {
        (Some(_), Some(l)) => {
            let tokenizer = tokenize.as_ref().map(|t| serde_json::to_value(t.summary()).expect("serialises"));
            let base = inputs.existing.as_ref().map(|(_, v)| *v);
            Some(record(s, &inputs.cx, &sources, &r.shown, tokenizer, base, l, &run_id).await?)
        }
        _ => None,
    };
    // The summary, and the report made from it (into the staged output, and --report-table).
    let mut done = summary(
        s,
        &sources,
        &outputs,
        labelled.as_ref(),
        recorded,
        run_id,
        &r.shown,
        ui,
        started,
        clock.timings.clone(),
    );
    done.tokenizer = tokenize.as_ref().map(|t| t.summary().clone());
    hygiene_summary(s, &sources, &mut done, found);
    if let Some(x) = sft_summary {
        sft_section(&mut done, x, ui);
    }
    let max_length = tokenize.as_ref().and_then(|t| t.summary().max_length).map(|m| m as u64);
    report(s, &inputs.cx, &mut done, &outputs, labelled.as_ref(), max_length, r.staging.dir()).await?;
    clock.lap(|t| &mut t.label_table);

    // 6. publish.
    match (&r.hub, &r.remote) {
        (Some((hub, target)), _) => {
            let message = commit_message(&sources);
            let pushed = commit::push(hub, target, r.staging.dir(), &message, s.private, &replaced).await?;
            ui.step(format!(
                "{}: commit {} ({} files uploaded, {} unchanged, {} deleted)",
                target.shown(),
                pushed.commit,
                pushed.uploaded,
                pushed.unchanged,
                pushed.deleted
            ));
        }
        (None, None) => r.staging.publish()?,
        (None, Some(dest)) => dest.publish(r.staging.dir(), s.overwrite, format, ui).await?,
    }
    // Published: the uploads and the label-table commit stay (see sink::undo).
    crate::sink::undo::clear();
    clock.lap(|t| &mut t.publish);

    done.timings = clock.timings;
    done.warnings = ui.warnings();
    done.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(done)
}

async fn resolve(s: &PrepareSettings, format: Format, ui: &Ui) -> Result<(Inputs, Resolved)> {
    let inputs = resolve_inputs(s, ui).await?;
    if let Some(target) = &s.hub_output {
        // Refused now (401/403, a missing branch), before any row is read; the repo itself is
        // created only when there is something to commit.
        let hub = Hub::new(HubEnv::from_env())?;
        commit::check(&hub, target).await?;
        let name = target.repo.rsplit('/').next().unwrap_or("dataset").to_string();
        let staging = Staging::scratch(&name, s.working_dir.as_deref())?;
        let r = Resolved {
            output: OutputSpec::Local(PathBuf::from(&name)),
            remote: None,
            shown: target.shown(),
            hub: Some((hub, target.clone())),
            staging,
        };
        return Ok((inputs, r));
    }
    let output = match &s.output {
        Some(o) => o.clone(),
        None => OutputSpec::Local(default_output(s, &inputs.tables, inputs.existing.as_ref().map(|e| e.1))?),
    };
    let remote = Dest::resolve(&output, &inputs.cx).await?;
    let staging = match (&output, &remote) {
        (OutputSpec::Local(dir), _) => {
            check_output_apart(dir, s, &inputs.tables)?;
            Staging::create(dir, s.working_dir.as_deref(), s.overwrite, format)?
        }
        (_, Some(dest)) => {
            dest.check(s.overwrite, format).await?;
            Staging::scratch(&output.dir_name(), s.working_dir.as_deref())?
        }
        (_, None) => return Err(Error::Internal("a remote output resolved to nothing".into())),
    };
    let shown = match &output {
        OutputSpec::Local(_) => staging.output().display().to_string(),
        remote => remote.shown(),
    };
    Ok((inputs, Resolved { output, remote, hub: None, staging, shown }))
}

/// The Hub commit's message: the source tables and versions.
fn commit_message(sources: &[super::export::Source]) -> String {
    let parts: Vec<String> =
        sources.iter().map(|x| format!("{} = `{}` at version {}", x.split, x.table, x.version)).collect();
    format!("delta-hf {}: {}", env!("CARGO_PKG_VERSION"), parts.join("; "))
}

/// The files of a previous export that a new one replaces (deleted in the same commit when
/// the new export does not have them): its data files and label map.
fn replaced(path: &str) -> bool {
    path.starts_with("data/") || path == "label_map.json"
}

/// `$HF_DATASETS_CACHE/delta-hf/<first table name>-<hash>`: the hash covers every source and
/// version, the label table's version, and every setting that changes rows, columns or ids
/// ([`PrepareSettings::output_key`]), so two different exports never share a directory.
fn default_output(
    s: &PrepareSettings,
    tables: &[OpenedTable],
    label_table_version: Option<u64>,
) -> Result<PathBuf> {
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
    key.push_str(&s.output_key());
    key.push_str(&format!("|label_table_version={label_table_version:?}"));
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
