//! `delta-hf commit --plan PLAN`: every task's result, checked, published as one dataset — the
//! dataset one-process `prepare` writes over the same versions (same rows in the same order,
//! features and label ids; only the shard boundaries differ).
//!
//! 1. **check** — every task's manifest is there and every shard it lists is complete; a
//!    missing or incomplete task is exit 4 naming it, before anything is published or recorded;
//! 2. **assemble** — each split's shards in task order (row order): a local output gets them
//!    linked in under the format's shard names (a cheap link or rename); on an object store or
//!    volume they stay where the tasks wrote them (nothing is copied) and the format's metadata
//!    names them there; then the format's metadata and `label_map.json`;
//! 3. **record** — the label table, as `prepare` records it (before publishing);
//! 4. **publish** — as `prepare`: an atomic swap (local) or old output removed and the metadata
//!    uploaded in the format's order, the file that makes the dataset loadable last (remote);
//!    then the staging area is removed (the manifests, attempts that lost or were killed, empty
//!    shards).

use std::collections::HashSet;
use std::time::Instant;

use super::export::{self, Clock, Source, read_plan};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::settings::{CommitSettings, PrepareSettings, Report};
use crate::sink::fanout::{self, Area, Manifest, ManifestShard};
use crate::sink::format::{Format, FormatOptions};
use crate::sink::hf_dataset::{ShardInfo, SplitOutput};
use crate::sink::publish::Staging;
use crate::sink::remote::Dest;
use crate::storage::location::OutputSpec;
use crate::summary::Summary;
use crate::transform::sft::{self, SftSummary};
use crate::transform::stats::SplitStats;
use crate::ui::Ui;

/// Run `commit`.
pub async fn run(cs: &CommitSettings, ui: &Ui) -> Result<Summary> {
    let started = Instant::now();
    let mut clock = Clock::default();
    let cx = cs.storage.connector()?;

    // 1. check: the plan, and every task's manifest complete.
    let plan = read_plan(&cs.plan, &cx).await?;
    let s = PrepareSettings::from_plan(&plan, cs.storage.clone(), None, Report::default())?;
    let area = Area::resolve(&OutputSpec::parse(&plan.staging.root)?, &cx).await?;
    let manifests = check_tasks(&area, &plan, &cs.plan.shown()).await?;
    let format = s.spec.format;
    clock.lap(|t| &mut t.resolve);

    // 2. assemble: each split's shards in task order; the metadata.
    let output = OutputSpec::parse(&plan.output.location)?;
    let sources: Vec<Source> = plan
        .splits
        .iter()
        .map(|sp| Source { split: sp.name.clone(), table: sp.table.clone(), version: sp.version })
        .collect();
    let labelled = plan.labelled();
    let parts = gather(&plan, &manifests)?;
    let (staging, remote) = match (&output, &area) {
        (OutputSpec::Local(dir), Area::Local(_)) => {
            (Staging::create(dir, None, plan.output.overwrite, format)?, None)
        }
        (_, Area::Remote(_)) => {
            let dest = Dest::resolve(&output, &cx)
                .await?
                .ok_or_else(|| Error::Internal("a remote output resolved to nothing".into()))?;
            (Staging::scratch(&output.dir_name(), None)?, Some(dest))
        }
        _ => return Err(Error::Internal("the staging area does not match the output".into())),
    };
    let outputs = match &area {
        Area::Local(root) => link_shards(root, staging.dir(), &parts, format, &s.spec.format_options)?,
        Area::Remote(_) => in_place(staging.dir(), &parts)?,
    };
    let description = export::describe(&sources, plan.tokenizer.as_ref().map(|t| t.description.clone()));
    export::write_metadata(
        staging.dir(),
        format,
        &description,
        &output.dir_name(),
        &outputs,
        labelled.as_ref(),
        s.spec.multi_hot,
    )?;
    clock.lap(|t| &mut t.write);

    // 3. record: the label table, before anything is published.
    let recorded = match (&plan.label_table, &labelled) {
        (Some(t), Some(l)) => {
            let tokenizer = plan.tokenizer.as_ref().map(|t| t.summary.clone());
            Some(
                export::record(
                    &s,
                    &cx,
                    &sources,
                    &plan.output.shown,
                    tokenizer,
                    t.base_version,
                    l,
                    &plan.plan_id,
                )
                .await?,
            )
        }
        _ => None,
    };
    // The summary, and the report made from it (into the staged output, and --report-table).
    let mut done = export::summary(
        &s,
        &sources,
        &outputs,
        labelled.as_ref(),
        recorded,
        plan.plan_id.clone(),
        &plan.output.shown,
        ui,
        started,
        clock.timings.clone(),
    );
    // Issue 23: the leak counts the plan found.
    done.hygiene = plan.hygiene.clone();
    if let Some(x) = sft_summary(&plan, &parts) {
        export::sft_section(&mut done, x, ui);
    }
    let max_length = plan.tokenizer.as_ref().and_then(|t| t.summary["max_length"].as_u64());
    export::report(&s, &cx, &mut done, &outputs, labelled.as_ref(), max_length, staging.dir()).await?;
    clock.lap(|t| &mut t.label_table);

    // 4. publish, then remove the staging area.
    match &remote {
        None => staging.publish()?,
        Some(dest) => {
            let id = plan.plan_id.clone();
            dest.publish_keeping(staging.dir(), plan.output.overwrite, format, ui, &move |p| {
                fanout::is_staging(p, &id)
            })
            .await?
        }
    }
    crate::sink::undo::clear();
    remove_staging(&area, &plan, &parts).await;
    clock.lap(|t| &mut t.publish);

    ui.step(format!("plan {}: {} tasks published to {}", plan.plan_id, plan.tasks, plan.output.shown));
    done.timings = clock.timings;
    done.warnings = ui.warnings();
    done.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(done)
}

/// Every task's manifest, each complete; the first missing or incomplete task is exit 4.
async fn check_tasks(area: &Area, plan: &Plan, shown: &str) -> Result<Vec<Manifest>> {
    let mut out = Vec::with_capacity(plan.tasks);
    for task in 0..plan.tasks {
        let rel = fanout::manifest_path(&plan.plan_id, task);
        let retry = format!(
            "run `delta-hf run-task --plan {shown} --task {task}` and commit again; nothing was published"
        );
        let m = match area.get(&rel).await? {
            None => {
                return Err(Error::output(format!(
                    "task {task} of plan {} has not finished (no manifest at {}/{rel}): {retry}",
                    plan.plan_id,
                    area.shown().trim_end_matches('/')
                )));
            }
            Some(bytes) => Manifest::parse(&bytes).ok_or_else(|| {
                Error::output(format!(
                    "task {task} of plan {}: its manifest cannot be read; {retry}",
                    plan.plan_id
                ))
            })?,
        };
        if let Some(problem) = m.problem(area, &plan.plan_id, task).await? {
            return Err(Error::output(format!(
                "task {task} of plan {} is incomplete: {problem}; {retry}",
                plan.plan_id
            )));
        }
        if m.splits.len() != plan.splits.len()
            || m.splits.iter().zip(&plan.splits).any(|(a, b)| a.name != b.name)
        {
            return Err(Error::output(format!(
                "task {task} of plan {}: its manifest lists other splits than the plan; {retry}",
                plan.plan_id
            )));
        }
        out.push(m);
    }
    Ok(out)
}

/// One split's shards in row order, and its features.
struct Part {
    name: String,
    features: serde_json::Value,
    shards: Vec<ManifestShard>,
    /// The tasks' statistics merged (issue 23's report); `None` when a task recorded none.
    stats: Option<SplitStats>,
    /// SFT exports: the tasks' SFT statistics merged; `None` when a task recorded none.
    sft: Option<sft::SplitStats>,
}

/// Each split's shards in task order. Tasks with no rows for a split wrote an empty shard: it
/// is left out unless the whole split is empty (then one stays, as `prepare` writes one).
fn gather(plan: &Plan, manifests: &[Manifest]) -> Result<Vec<Part>> {
    let mut parts = Vec::with_capacity(plan.splits.len());
    for (i, sp) in plan.splits.iter().enumerate() {
        let all: Vec<&ManifestShard> = manifests.iter().flat_map(|m| &m.splits[i].shards).collect();
        let mut shards: Vec<ManifestShard> =
            all.iter().filter(|s| s.rows > 0).map(|s| (*s).clone()).collect();
        if shards.is_empty() {
            let first =
                all.first().ok_or_else(|| Error::Internal(format!("split `{}` has no shard", sp.name)))?;
            shards.push((*first).clone());
        }
        let features = manifests[0].splits[i].features.clone();
        if let Some(m) = manifests.iter().find(|m| m.splits[i].features != features) {
            return Err(Error::Internal(format!(
                "split `{}`: task {} wrote other features than task 0",
                sp.name, m.task
            )));
        }
        let mut stats = Some(SplitStats::default());
        for m in manifests {
            match (&mut stats, &m.splits[i].stats) {
                (Some(acc), Some(part)) => acc.merge(part),
                _ => stats = None,
            }
        }
        let mut sft = Some(sft::SplitStats::default());
        for m in manifests {
            match (&mut sft, &m.splits[i].sft) {
                (Some(acc), Some(part)) => acc.merge(part),
                _ => sft = None,
            }
        }
        parts.push(Part { name: sp.name.clone(), features, shards, stats, sft });
    }
    Ok(parts)
}

/// SFT exports: the summary's `sft` section as `prepare` prints it — the settings the plan
/// recorded, each split's statistics merged from its tasks'; `None` when a task recorded none
/// (a manifest from before they were recorded).
fn sft_summary(plan: &Plan, parts: &[Part]) -> Option<SftSummary> {
    let recorded = plan.tokenizer.as_ref().filter(|_| plan.export.sft.is_some())?;
    let mut x: SftSummary = serde_json::from_value(recorded.summary.clone()).ok()?;
    x.splits = parts.iter().map(|p| p.sft.as_ref().map(|st| st.summary(&p.name))).collect::<Option<_>>()?;
    Some(x)
}

/// Local: the shards linked into the staged dataset under the format's global names (a hard
/// link, or a rename where links are not possible; the task results stay until the dataset is
/// published, so a failed commit can be run again).
fn link_shards(
    root: &std::path::Path,
    dataset: &std::path::Path,
    parts: &[Part],
    format: Format,
    options: &FormatOptions,
) -> Result<Vec<(SplitOutput, serde_json::Value)>> {
    let mut outputs = Vec::with_capacity(parts.len());
    for p in parts {
        let dir = dataset.join(&p.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let n = p.shards.len();
        let mut shards = Vec::with_capacity(n);
        for (k, sh) in p.shards.iter().enumerate() {
            let filename = format.layout().shard_name(k, n, options);
            let (from, to) = (root.join(&sh.path), dir.join(&filename));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::rename(&from, &to).map_err(|e| Error::io("cannot move shard", &from, e))?;
            }
            shards.push(ShardInfo {
                filename,
                num_rows: sh.rows,
                num_bytes: sh.bytes,
                crc32: None,
                index_entry: sh.index_entry.clone(),
            });
        }
        outputs.push((split_output(&p.name, shards, p.stats.clone()), p.features.clone()));
    }
    Ok(outputs)
}

/// Object store or volume: the shards stay where the tasks wrote them; the metadata names them
/// relative to the split's folder.
fn in_place(dataset: &std::path::Path, parts: &[Part]) -> Result<Vec<(SplitOutput, serde_json::Value)>> {
    for p in parts {
        let dir = dataset.join(&p.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    }
    Ok(parts
        .iter()
        .map(|p| {
            let prefix = format!("{}/", p.name);
            let shards = p
                .shards
                .iter()
                .map(|sh| ShardInfo {
                    filename: sh.path.strip_prefix(&prefix).unwrap_or(&sh.path).to_string(),
                    num_rows: sh.rows,
                    num_bytes: sh.bytes,
                    crc32: None,
                    index_entry: sh.index_entry.clone(),
                })
                .collect();
            (split_output(&p.name, shards, p.stats.clone()), p.features.clone())
        })
        .collect())
}

fn split_output(name: &str, shards: Vec<ShardInfo>, stats: Option<SplitStats>) -> SplitOutput {
    SplitOutput {
        name: name.to_string(),
        num_rows: shards.iter().map(|s| s.num_rows).sum(),
        num_bytes: shards.iter().map(|s| s.num_bytes).sum(),
        shards,
        stats,
    }
}

/// After publishing: the staging area goes (a local one whole; on a store everything of this
/// plan but the published shards). Best effort: what cannot be removed is logged.
async fn remove_staging(area: &Area, plan: &Plan, parts: &[Part]) {
    match area {
        Area::Local(root) => {
            if let Err(e) = std::fs::remove_dir_all(root) {
                tracing::warn!("could not remove the staging area {}: {e}", root.display());
            }
        }
        Area::Remote(_) => {
            let used: HashSet<&str> =
                parts.iter().flat_map(|p| p.shards.iter().map(|s| s.path.as_str())).collect();
            let all = match area.list().await {
                Ok(a) => a,
                Err(e) => return tracing::warn!("could not list the staging area to clean it: {e}"),
            };
            for f in all.iter().filter(|f| fanout::is_staging(f, &plan.plan_id) && !used.contains(f.as_str()))
            {
                if let Err(e) = area.delete(f).await {
                    tracing::warn!("could not remove staging file {f}: {e}");
                }
            }
        }
    }
}
