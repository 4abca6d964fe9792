//! `delta-hf plan`: everything `prepare` does before it writes a row, then the export split
//! into N tasks that `run-task` runs anywhere and `commit` publishes as one dataset.
//!
//! 1. **resolve** — the tokenizer (pinned: source, revision sha, sha256 of `tokenizer.json`),
//!    every split's snapshot (its version pinned, its protocol checked), the label sources;
//!    the output must be writable;
//! 2. **select** — as `prepare`; a `--select-sql` query must work row by row (a task sees only
//!    its files);
//! 3. **label map** — the null checks and the label-only pass over every split, as `prepare`
//!    (2 and 3 are `prepare`'s own analysis: [`super::export::analyse`]);
//! 4. **split** — each split's data files in the order a scan reads them (the order of the rows
//!    `prepare` writes), cut into N contiguous runs balanced by bytes: task `i` takes run `i`
//!    of every split, so task order is row order; with `--packing`, cut by rows instead, each
//!    task beginning on a packing-window boundary (the Delta log's per-file row counts), so
//!    tasks pack their rows as `prepare` does;
//! 5. **write the plan** — one JSON document (no secret in it) embedding the export spec as it
//!    is. Nothing is published and no label-table version is committed.

use std::time::Instant;

use serde::Serialize;

use super::export;
use crate::error::{Error, Result};
use crate::plan::{
    self, Plan, PlanLabelTable, PlanLabels, PlanOutput, PlanReportTable, PlanSplit, PlanTokenizer, Staging,
};
use crate::settings::{ExportSpec, PlanSettings, PrepareSettings};
use crate::sink::fanout::{self, Area};
use crate::sink::hf_dataset::ShardPolicy;
use crate::sink::remote::Dest;
use crate::source::table::OpenedTable;
use crate::source::tokenizer::TokenizerSpec;
use crate::storage::location::{Location, OutputSpec, TableRef, redact};
use crate::storage::session::{self, SessionOptions};
use crate::transform::sft::Sft;
use crate::transform::tokenize::Tokenize;
use crate::ui::Ui;

/// What `plan` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub plan: String,
    pub plan_id: String,
    pub output: String,
    pub staging: String,
    pub tasks: Vec<TaskShare>,
    pub splits: Vec<SplitShare>,
    pub labels: Vec<String>,
    pub num_labels: usize,
    pub warnings: Vec<String>,
    pub elapsed_seconds: f64,
}

/// One task's share of the work.
#[derive(Debug, Clone, Serialize)]
pub struct TaskShare {
    pub task: usize,
    pub files: usize,
    pub bytes: u64,
}

/// One split: its pinned version and files.
#[derive(Debug, Clone, Serialize)]
pub struct SplitShare {
    pub name: String,
    pub table: String,
    pub version: u64,
    pub files: usize,
    pub bytes: u64,
    pub rows: Option<u64>,
}

impl PlanSummary {
    pub fn render(&self) -> String {
        let mut s = format!("plan {} written to {}\n", self.plan_id, self.plan);
        for sp in &self.splits {
            s.push_str(&format!(
                "  split {}: {} at version {}, {} files, {} bytes\n",
                sp.name, sp.table, sp.version, sp.files, sp.bytes
            ));
        }
        for t in &self.tasks {
            s.push_str(&format!("  task {}: {} files, {} bytes\n", t.task, t.files, t.bytes));
        }
        s.push_str(&format!(
            "run `delta-hf run-task --plan {} --task I` for I in 0..{}, then `delta-hf commit --plan {}`\n",
            self.plan,
            self.tasks.len(),
            self.plan
        ));
        s
    }
}

/// Run `plan`.
pub async fn run(p: &PlanSettings, ui: &Ui) -> Result<PlanSummary> {
    let started = Instant::now();
    let s = &p.prepare;
    let plan_id = uuid::Uuid::new_v4().simple().to_string();

    // 1. resolve: tokenizer, tables, label sources; the output can be written.
    let mut inputs = export::resolve_inputs(s, ui).await?;
    // --split-from --stratify: the cuts, recorded in the plan's export spec for the tasks.
    let stratified = export::with_strata(s, &inputs, ui).await?;
    let s: &crate::settings::PrepareSettings = &stratified;
    let output = s.output.clone().ok_or_else(|| Error::Internal("plan without --output".into()))?;
    let (out, staging) = check_output(s, &output, &inputs.tables, &inputs.cx, &plan_id).await?;

    // 2-3. select, the label kind (a --select-sql query must work row by row), and the label
    // map: the null checks and one label-only pass over every split.
    let ctx = session::session(SessionOptions::export(s.spec.memory_limit))?;
    let analysis = export::analyse(s, &ctx, &mut inputs, true, &mut export::Clock::default(), ui).await?;
    let labelled = analysis.labelled;
    export::check_stratify(s, labelled.as_ref())?;
    // The leak counts over every split (the commit reports them).
    let found =
        export::hygiene(s, &analysis.frames, labelled.as_ref().map(|l| l.rows.iter().sum()), ui).await?;
    let hygiene = export::planned_hygiene(s, &export::sources(s, &inputs.tables), found);

    // 4. split: each split's files in scan order, into N runs balanced by bytes.
    let mut splits = Vec::with_capacity(s.splits.len());
    for (i, (split, t)) in s.splits.iter().zip(&inputs.tables).enumerate() {
        let files = t.files_in_scan_order(&ctx).await?;
        let (tasks, row_ranges) = match row_align(s) {
            None => (plan::balance(&files, p.tasks), None),
            Some(window) => {
                let (tasks, ranges) =
                    plan::balance_rows(&files, &t.file_rows().await?, p.tasks, window, t.name())?;
                (tasks, Some(ranges))
            }
        };
        splits.push(PlanSplit {
            name: split.name.clone(),
            table: t.name().to_string(),
            location: location_string(&t.table_ref)?,
            version: t.version,
            rows: labelled.as_ref().map(|l| l.rows[i]),
            dropped_rows: labelled.as_ref().map(|l| l.dropped[i]).unwrap_or(0),
            tasks,
            row_ranges,
        });
    }

    // 5. write the plan.
    let plan = Plan {
        format: plan::FORMAT.into(),
        format_version: plan::FORMAT_VERSION,
        plan_id: plan_id.clone(),
        created: chrono::Utc::now().to_rfc3339(),
        tool: format!("delta-hf {}", env!("CARGO_PKG_VERSION")),
        tasks: p.tasks,
        splits,
        export: export(s)?,
        labels: labelled.as_ref().map(|l| PlanLabels {
            kind: l.kind,
            names: l.map.names.clone(),
            new_labels: l.map.new_labels.clone(),
            origin: l.map.origin,
            counts: l.counts.by_label.clone(),
            nulls: l.counts.nulls.clone(),
        }),
        tokenizer: match analysis.sft.as_deref() {
            // SFT exports (issue 21): the tokenizer pinned the same way, the SFT description.
            Some(x) => sft_tokenizer(s, x)?,
            None => tokenizer(s, analysis.tokenize.as_deref())?,
        },
        output: out,
        label_table: match &s.label_table {
            Some(t) if s.with_labels() => Some(PlanLabelTable {
                table: t.name.clone(),
                url: location_string(t)?,
                location: s.label_table_location.clone(),
                base_version: inputs.existing.as_ref().map(|(_, v)| *v),
            }),
            _ => None,
        },
        staging,
        report_table: match &s.report_table {
            Some(t) => Some(PlanReportTable { table: t.name.clone(), url: location_string(t)? }),
            None => None,
        },
        hygiene,
    };
    let (dir, name) = fanout::split_file(&p.plan)?;
    let area = Area::resolve(&dir, &inputs.cx).await?;
    area.put_bytes(&name, plan.to_bytes()).await?;
    ui.step(format!("plan {plan_id}: {} tasks, written to {}", p.tasks, p.plan.shown()));

    Ok(summary(&plan, p.plan.shown(), ui, started))
}

/// The output must be writable now (as `prepare` checks it) and the staging area is named:
/// beside a local output, in the output itself elsewhere.
async fn check_output(
    s: &PrepareSettings,
    output: &OutputSpec,
    tables: &[OpenedTable],
    cx: &crate::storage::connector::Connector,
    plan_id: &str,
) -> Result<(PlanOutput, Staging)> {
    match output {
        OutputSpec::Local(dir) => {
            export::check_output_apart(dir, s, tables)?;
            // the export spec's format
            let abs = crate::sink::publish::check_output(dir, s.overwrite, s.spec.format)?;
            let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let root = abs.with_file_name(format!(".{name}.delta-hf-fanout-{plan_id}"));
            let shown = abs.display().to_string();
            Ok((
                PlanOutput { location: shown.clone(), shown, overwrite: s.overwrite },
                Staging { root: root.display().to_string(), in_output: false },
            ))
        }
        remote => {
            let dest = Dest::resolve(remote, cx)
                .await?
                .ok_or_else(|| Error::Internal("a remote output resolved to nothing".into()))?;
            dest.check(s.overwrite, s.spec.format).await?;
            let location = match remote {
                OutputSpec::Uri(u) => redact(u),
                other => other.shown(),
            };
            Ok((
                PlanOutput { location: location.clone(), shown: remote.shown(), overwrite: s.overwrite },
                Staging { root: location, in_output: true },
            ))
        }
    }
}

/// A table's location as the plan records it: an absolute path, a URI without query or
/// password, or `uc://catalog.schema.table`.
fn location_string(t: &TableRef) -> Result<String> {
    Ok(match &t.location {
        Location::Local(p) => {
            std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?.display().to_string()
        }
        Location::Uri(u) => redact(u),
        Location::Unity(n) => format!("uc://{n}"),
    })
}

/// The export spec as the plan records it: as `prepare` resolved it (`--num-shards` was
/// refused with the settings).
fn export(s: &PrepareSettings) -> Result<ExportSpec> {
    match s.spec.shards {
        ShardPolicy::MaxBytes(_) => Ok(s.spec.clone()),
        ShardPolicy::Count(_) => Err(Error::Internal("--num-shards reached plan".into())),
    }
}

/// `--packing` (issue 21): tasks begin on multiples of this many rows (the packing window), so
/// each packs its rows as `prepare` does; `None` without packing (tasks balanced by bytes).
fn row_align(s: &PrepareSettings) -> Option<u64> {
    s.spec.sft.as_ref().and_then(|o| o.packing).map(|p| p.window as u64)
}

/// SFT exports (issue 21): the tokenizer pinned as [`tokenizer`] pins it, with the SFT summary
/// and description (template, mask rule, max length, packing).
fn sft_tokenizer(s: &PrepareSettings, x: &Sft) -> Result<Option<PlanTokenizer>> {
    let Some(spec) = &s.tokenizer else { return Ok(None) };
    let summary = x.summary(&[]);
    let prov = &summary.tokenizer;
    Ok(Some(PlanTokenizer {
        source: prov.source.clone(),
        pinned: pinned(spec, prov.revision_sha.as_deref())?,
        sha256: prov.sha256.clone(),
        summary: serde_json::to_value(&summary).expect("the summary serialises"),
        description: summary.describe(),
    }))
}

/// What tasks load: a Hub revision replaced by its commit sha, a local path made absolute.
fn pinned(spec: &TokenizerSpec, revision_sha: Option<&str>) -> Result<String> {
    Ok(match spec {
        TokenizerSpec::Hub { repo, .. } => match revision_sha {
            Some(sha) => format!("hf://{repo}@{sha}"),
            None => spec.shown(),
        },
        TokenizerSpec::Local(p) => {
            std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?.display().to_string()
        }
        TokenizerSpec::Remote(r) => r.clone(),
    })
}

/// The tokenizer pinned: tasks load `pinned` (a Hub revision replaced by its commit sha, a
/// local path made absolute) and check its sha256.
fn tokenizer(s: &PrepareSettings, t: Option<&Tokenize>) -> Result<Option<PlanTokenizer>> {
    let (Some(spec), Some(t)) = (&s.tokenizer, t) else { return Ok(None) };
    let summary = t.summary();
    let prov = &summary.provenance;
    let pinned = match spec {
        TokenizerSpec::Hub { repo, .. } => match &prov.revision_sha {
            Some(sha) => format!("hf://{repo}@{sha}"),
            None => spec.shown(),
        },
        TokenizerSpec::Local(p) => {
            std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?.display().to_string()
        }
        TokenizerSpec::Remote(r) => r.clone(),
    };
    Ok(Some(PlanTokenizer {
        source: prov.source.clone(),
        pinned,
        sha256: prov.sha256.clone(),
        summary: serde_json::to_value(summary).expect("the summary serialises"),
        description: summary.describe(),
    }))
}

fn summary(plan: &Plan, shown: String, ui: &Ui, started: Instant) -> PlanSummary {
    let tasks = (0..plan.tasks)
        .map(|i| TaskShare {
            task: i,
            files: plan.splits.iter().map(|s| s.tasks[i].len()).sum(),
            bytes: plan.splits.iter().flat_map(|s| &s.tasks[i]).map(|f| f.size).sum(),
        })
        .collect();
    let splits = plan
        .splits
        .iter()
        .map(|s| SplitShare {
            name: s.name.clone(),
            table: s.table.clone(),
            version: s.version,
            files: s.tasks.iter().map(Vec::len).sum(),
            bytes: s.tasks.iter().flatten().map(|f| f.size).sum(),
            rows: s.rows,
        })
        .collect();
    let labels = plan.labels.as_ref().map(|l| l.names.clone()).unwrap_or_default();
    PlanSummary {
        plan: shown,
        plan_id: plan.plan_id.clone(),
        output: plan.output.shown.clone(),
        staging: plan.staging.root.clone(),
        tasks,
        splits,
        num_labels: labels.len(),
        labels,
        warnings: ui.warnings(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    }
}
