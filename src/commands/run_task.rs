//! `delta-hf run-task --plan PLAN --task I`: one task of a plan — its share of every split's
//! files, written as shards with a manifest into the plan's staging area.
//!
//! 1. **read the plan** — and stop early when the task's manifest is already there and
//!    complete (a retry of a task that finished: nothing to do);
//! 2. **resolve** — every split's snapshot at the pinned version; each of this task's files
//!    must still exist (a file vacuumed since the plan is exit 3, named); the tokenizer the
//!    plan pinned, checked against its sha256;
//! 3. **select** — this task's files only, as `prepare` selects them, with the plan's label
//!    kind and `--drop-nulls`;
//! 4. **write** — encoded with the plan's label map (and tokenized) into a fresh attempt
//!    folder, exactly as `prepare` writes (a local output's staging area directly; elsewhere a
//!    local scratch directory, then uploaded);
//! 5. **manifest** — created only if absent: the first attempt to finish wins; a later one
//!    checks the winner's files and removes its own. So a re-run after a kill, an engine's retry
//!    or two attempts at once leave exactly one complete result, identical in content.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::export::{self, read_plan};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::settings::{PrepareSettings, Report, RunTaskSettings};
use crate::sink::fanout::{self, Area, Manifest, ManifestShard, ManifestSplit};
use crate::sink::format::{Format, FormatOptions};
use crate::sink::hf_dataset::SplitOutput;
use crate::sink::publish::Staging;
use crate::source::table::{self, OpenedTable};
use crate::storage::connector::Connector;
use crate::storage::location::OutputSpec;
use crate::storage::session::{self, SessionOptions};
use crate::transform::tokenize::Tokenize;
use crate::ui::Ui;

/// What `run-task` reports.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    pub plan_id: String,
    pub task: usize,
    /// The attempt whose files the manifest lists.
    pub attempt: String,
    /// `true` when another attempt's complete result was found and kept.
    pub reused: bool,
    pub manifest: String,
    pub splits: Vec<ManifestSplit>,
    pub warnings: Vec<String>,
    pub elapsed_seconds: f64,
}

impl TaskSummary {
    pub fn render(&self) -> String {
        let mut s = format!("task {} of plan {}", self.task, self.plan_id);
        if self.reused {
            s.push_str(&format!(": already complete (attempt {}), kept", self.attempt));
        }
        s.push('\n');
        for sp in &self.splits {
            s.push_str(&format!(
                "  {}: {} rows, {} bytes, {} shards from {} files\n",
                sp.name,
                sp.rows,
                sp.bytes,
                sp.shards.len(),
                sp.files
            ));
        }
        s.push_str(&format!("manifest {}\n", self.manifest));
        s
    }
}

/// Run one task.
pub async fn run(rs: &RunTaskSettings, ui: &Ui) -> Result<TaskSummary> {
    let started = Instant::now();
    let cx = rs.storage.connector()?;

    // 1. read the plan; a task already complete is not run again.
    let plan = read_plan(&rs.plan, &cx).await?;
    plan.check_task(rs.task, &rs.plan.shown())?;
    let s = PrepareSettings::from_plan(&plan, rs.storage.clone(), rs.working_dir.clone(), Report::default())?;
    let area = Area::resolve(&OutputSpec::parse(&plan.staging.root)?, &cx).await?;
    let manifest_rel = fanout::manifest_path(&plan.plan_id, rs.task);
    let shown_manifest = format!("{}/{manifest_rel}", area.shown().trim_end_matches('/'));
    if let Some(m) = complete_manifest(&area, &plan, rs.task).await? {
        ui.step(format!("task {} is already complete (attempt {}): nothing to do", rs.task, m.attempt));
        return Ok(summary(&plan, rs.task, m, true, shown_manifest, ui, started));
    }

    // 2. resolve: the pinned snapshots, this task's files, the pinned tokenizer.
    let tables = open_pinned(&s, &plan, &cx, ui).await?;
    let files: Vec<Vec<String>> =
        plan.splits.iter().map(|sp| sp.tasks[rs.task].iter().map(|f| f.path.clone()).collect()).collect();
    check_files(&tables, &files).await?;
    let sft = load_pinned_sft(&s, &plan, &cx, ui).await?;
    let mut tokenize = match sft {
        Some(_) => None,
        None => load_pinned_tokenizer(&s, &plan, &cx, ui).await?,
    };

    // 3. select: this task's files, the plan's label kind, --drop-nulls.
    let ctx = session::session(SessionOptions::export(s.spec.memory_limit))?;
    let mut frames = export::select(&s, &ctx, &tables, Some(&files)).await?;
    if let Some(x) = &sft {
        // SFT exports (issue 21): the columns the pass reads; with --packing, this task's rows.
        for (((split, t), df), sp) in s.splits.iter().zip(&tables).zip(frames.iter_mut()).zip(&plan.splits) {
            *df = x.project(df.clone(), &split.name, t.name())?;
            match &sp.row_ranges {
                Some(ranges) => x.set_task_rows(&split.name, ranges[rs.task].clone()),
                None => x.set_task(&split.name, rs.task, sp.tasks[rs.task].first().map(|f| f.path.as_str())),
            }
        }
    }
    let labelled = plan.labelled();
    if labelled.is_some() {
        let kind = export::label_kind(&s, &mut frames, &Ui::new(true))?.behaviour();
        tokenize = tokenize.map(|t| kind.tokenizer(t, s.spec.label_all_tokens)).transpose()?;
        if s.spec.drop_nulls {
            frames = frames.into_iter().map(|f| kind.keep_non_null(f)).collect::<Result<_>>()?;
        }
    }

    // 4. write: into a fresh attempt folder, as prepare writes.
    let attempt = format!("{:08x}", rand::random::<u32>());
    let scratch = Scratch::new(&area, &plan, rs.task, &attempt, rs.working_dir.as_deref())?;
    let unknown = vec![None; s.splits.len()];
    let format = s.spec.format;
    let outputs = export::write(
        &s,
        &ctx,
        frames,
        labelled.as_ref(),
        &unknown,
        scratch.dir(),
        format,
        tokenize,
        sft.clone(),
        true,
        ui,
        None,
        None,
    )
    .await?;

    // 5. the manifest, once every shard is in place; the first complete attempt wins.
    let mut splits = Vec::with_capacity(outputs.len());
    for ((out, features), f) in outputs.iter().zip(&files) {
        splits.push(
            place(
                &area,
                &plan,
                rs.task,
                &attempt,
                &scratch,
                (format, &s.spec.format_options),
                out,
                features.clone(),
                f.len(),
            )
            .await?,
        );
    }
    if let Some(x) = &sft {
        // SFT exports: the task's part of each split's statistics, for the commit's summary.
        for sp in splits.iter_mut() {
            sp.sft = x.split_stats(&sp.name);
        }
    }
    let manifest = Manifest {
        plan_id: plan.plan_id.clone(),
        task: rs.task,
        attempt: attempt.clone(),
        finished: chrono::Utc::now().to_rfc3339(),
        splits,
    };
    let kept = publish_manifest(&area, &plan, rs.task, &manifest_rel, manifest).await?;
    // The uploads are part of the staging area now (commit removes what it does not use).
    crate::sink::undo::clear();
    let reused = kept.attempt != attempt;
    if reused {
        remove_attempt(&area, &plan, rs.task, &attempt).await;
        ui.step(format!("task {}: attempt {} finished first; its result is kept", rs.task, kept.attempt));
    }
    scratch.finish();
    Ok(summary(&plan, rs.task, kept, reused, shown_manifest, ui, started))
}

/// The task's manifest if it is there and every file it lists is complete.
async fn complete_manifest(area: &Area, plan: &Plan, task: usize) -> Result<Option<Manifest>> {
    let rel = fanout::manifest_path(&plan.plan_id, task);
    let Some(bytes) = area.get(&rel).await? else { return Ok(None) };
    let Some(m) = Manifest::parse(&bytes) else { return Ok(None) };
    Ok(match m.problem(area, &plan.plan_id, task).await? {
        None => Some(m),
        Some(_) => None,
    })
}

/// Every split's table at the version the plan pinned.
async fn open_pinned(s: &PrepareSettings, plan: &Plan, cx: &Connector, ui: &Ui) -> Result<Vec<OpenedTable>> {
    let mut tables = Vec::with_capacity(s.splits.len());
    for (split, p) in s.splits.iter().zip(&plan.splits) {
        let t = table::open(&split.table, cx).await?;
        if t.version != p.version {
            return Err(Error::Internal(format!(
                "table `{}`: opened version {}, planned {}",
                t.name(),
                t.version,
                p.version
            )));
        }
        ui.step(format!("split {}: {} at version {}", split.name, t.name(), t.version));
        tables.push(t);
    }
    Ok(tables)
}

/// Each file of the task must still be there: a file vacuumed since the plan is exit 3.
async fn check_files(tables: &[OpenedTable], files: &[Vec<String>]) -> Result<()> {
    for (t, files) in tables.iter().zip(files) {
        let store = t.table.object_store();
        for f in files {
            let at = object_store::path::Path::parse(f)
                .map_err(|e| Error::Internal(format!("data file path `{f}`: {e}")))?;
            match object_store::ObjectStoreExt::head(store.as_ref(), &at).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Error::unreadable(
                        t.name(),
                        format!(
                            "data file `{f}` of version {} is gone (vacuumed since the plan was made?); the \
                             plan cannot be completed: run `delta-hf plan` again, and keep VACUUM's retention \
                             longer than an export takes",
                            t.version
                        ),
                    ));
                }
                Err(e) => {
                    return Err(Error::upstream(e, &format!("table `{}`", t.name()), |m| {
                        Error::unreadable(t.name(), format!("cannot check data file `{f}`: {m}"))
                    }));
                }
            }
        }
    }
    Ok(())
}

/// The tokenizer the plan pinned; its `tokenizer.json` must be the one planned.
async fn load_pinned_tokenizer(
    s: &PrepareSettings,
    plan: &Plan,
    cx: &Connector,
    ui: &Ui,
) -> Result<Option<std::sync::Arc<Tokenize>>> {
    let (Some(spec), Some(pinned)) = (&s.tokenizer, &plan.tokenizer) else { return Ok(None) };
    let t = export::load_tokenizer(s, spec, cx, &Ui::new(true)).await?;
    let got = &t.summary().provenance.sha256;
    check_pinned(pinned, got, ui)?;
    Ok(Some(std::sync::Arc::new(t)))
}

/// SFT exports (issue 21): the pass configured with the tokenizer the plan pinned (its
/// `tokenizer.json` must be the one planned).
async fn load_pinned_sft(
    s: &PrepareSettings,
    plan: &Plan,
    cx: &Connector,
    ui: &Ui,
) -> Result<Option<std::sync::Arc<crate::transform::sft::Sft>>> {
    let (Some(spec), Some(pinned), Some(o)) = (&s.tokenizer, &plan.tokenizer, &s.spec.sft) else {
        return Ok(None);
    };
    let x = export::load_sft(s, spec, o, cx, &Ui::new(true)).await?;
    let got = x.summary(&[]).tokenizer.sha256;
    check_pinned(pinned, &got, ui)?;
    Ok(Some(std::sync::Arc::new(x)))
}

/// The tokenizer loaded must be the one the plan pinned (its `tokenizer.json`'s sha256 `got`).
fn check_pinned(pinned: &crate::plan::PlanTokenizer, got: &str, ui: &Ui) -> Result<()> {
    if got != pinned.sha256 {
        return Err(Error::Tokenizer {
            spec: pinned.pinned.clone(),
            reason: format!(
                "its tokenizer.json has sha256 {got}, but the plan pinned {}: it changed since the plan was \
                 made; run `delta-hf plan` again",
                pinned.sha256
            ),
        });
    }
    ui.step(format!("tokenizer {} (sha256 {} as planned)", pinned.source, &got[..12]));
    Ok(())
}

/// Where an attempt's shards are written first: the staging area itself for a local output,
/// else a local scratch directory (removed when done).
struct Scratch {
    dir: PathBuf,
    /// The local scratch staging, for a remote staging area.
    local: Option<Staging>,
    /// The attempt folder in a local staging area, removed if the task fails.
    attempt_root: Option<PathBuf>,
}

impl Scratch {
    fn new(
        area: &Area,
        plan: &Plan,
        task: usize,
        attempt: &str,
        working_dir: Option<&std::path::Path>,
    ) -> Result<Self> {
        match area.local(&format!("task-{task:05}-{attempt}")) {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
                Ok(Scratch { dir: dir.clone(), local: None, attempt_root: Some(dir) })
            }
            None => {
                let st = Staging::scratch(&format!("{}-task-{task}", plan.plan_id), working_dir)?;
                Ok(Scratch { dir: st.dir().to_path_buf(), local: Some(st), attempt_root: None })
            }
        }
    }

    fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Done: the attempt folder stays (its manifest names it).
    fn finish(mut self) {
        self.attempt_root = None;
        drop(self.local.take());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(d) = &self.attempt_root {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// One split's shards in the staging area (uploaded from the scratch directory when remote),
/// with their checksums.
#[allow(clippy::too_many_arguments)]
async fn place(
    area: &Area,
    plan: &Plan,
    task: usize,
    attempt: &str,
    scratch: &Scratch,
    (format, options): (Format, &FormatOptions),
    out: &SplitOutput,
    features: serde_json::Value,
    files: usize,
) -> Result<ManifestSplit> {
    let folder = fanout::attempt_dir(&plan.plan_id, task, attempt, &out.name, plan.staging.in_output);
    let mut shards = Vec::with_capacity(out.shards.len());
    for (k, sh) in out.shards.iter().enumerate() {
        let local = scratch.dir().join(&out.name).join(&sh.filename);
        let crc32 = sh.crc32.map(|c| format!("{c:08x}")).ok_or_else(|| {
            Error::Internal(format!("shard {} was written without its checksum", sh.filename))
        })?;
        let path = match area {
            Area::Local(_) => format!("{folder}/{}", sh.filename),
            Area::Remote(dest) => {
                // Remote shards stay where they are uploaded: the format names them.
                let rel = format!("{folder}/{}", format.layout().staged_shard_name(k, options));
                dest.put(&local, &rel).await?;
                rel
            }
        };
        shards.push(ManifestShard {
            path,
            rows: sh.num_rows,
            bytes: sh.num_bytes,
            crc32,
            index_entry: sh.index_entry.clone(),
        });
    }
    Ok(ManifestSplit {
        name: out.name.clone(),
        rows: out.num_rows,
        bytes: out.num_bytes,
        files,
        features,
        shards,
        stats: out.stats.clone(),
        sft: None,
    })
}

/// Create the manifest unless one exists; an existing complete one is kept (and returned),
/// an incomplete one (its files gone) is replaced by this attempt's.
async fn publish_manifest(area: &Area, plan: &Plan, task: usize, rel: &str, m: Manifest) -> Result<Manifest> {
    if area.put_new(rel, m.to_bytes()).await? {
        return Ok(m);
    }
    if let Some(existing) = complete_manifest(area, plan, task).await? {
        return Ok(existing);
    }
    area.put_bytes(rel, m.to_bytes()).await?;
    Ok(m)
}

/// Remove an attempt's files (it lost to another attempt). Best effort.
async fn remove_attempt(area: &Area, plan: &Plan, task: usize, attempt: &str) {
    match area {
        Area::Local(root) => {
            let _ = std::fs::remove_dir_all(root.join(format!("task-{task:05}-{attempt}")));
        }
        Area::Remote(_) => {
            let Ok(all) = area.list().await else { return };
            for sp in &plan.splits {
                let folder = fanout::attempt_dir(&plan.plan_id, task, attempt, &sp.name, true);
                for f in all.iter().filter(|f| f.starts_with(&format!("{folder}/"))) {
                    let _ = area.delete(f).await;
                }
            }
        }
    }
}

fn summary(
    plan: &Plan,
    task: usize,
    m: Manifest,
    reused: bool,
    manifest: String,
    ui: &Ui,
    started: Instant,
) -> TaskSummary {
    TaskSummary {
        plan_id: plan.plan_id.clone(),
        task,
        attempt: m.attempt,
        reused,
        manifest,
        splits: m.splits,
        warnings: ui.warnings(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    }
}
