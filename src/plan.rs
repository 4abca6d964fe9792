//! The fan-out plan: what `delta-hf plan` decided, written as one JSON document that every
//! `run-task` and the `commit` read (format `delta-hf-plan`, version [`FORMAT_VERSION`]).
//!
//! Guarantees:
//! - everything a task needs to write rows identical to one-process `prepare` is in it: each
//!   split's table and pinned version, its data files per task (in scan order, so task order is
//!   row order), the export spec as `prepare` resolved it ([`ExportSpec`], embedded as it is:
//!   a new export setting needs no change here), the resolved label kind and the whole label
//!   map, the tokenizer pinned by source, revision sha and sha256 of `tokenizer.json`;
//! - no secret: no storage option, token, key or vended credential is written (tasks and the
//!   commit take `--storage-option` and the environment as `prepare` does); table URIs lose
//!   their query strings and passwords;
//! - a reader refuses a document of another format or version, naming both (version 1, before
//!   the export spec was embedded whole, is refused: make the plan again).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::settings::ExportSpec;
use crate::transform::kind::{LabelKind, Labelled};
use crate::transform::label_map::{LabelCounts, LabelMap, MapOrigin};
use crate::transform::sft::pack::{self, TaskRange};

/// The `format` field of every plan.
pub const FORMAT: &str = "delta-hf-plan";
/// The version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

/// The plan document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub format_version: u32,
    /// A fresh id: names the staging area, the manifests and the label-table run id.
    pub plan_id: String,
    /// When the plan was made (RFC 3339) and by which build.
    pub created: String,
    pub tool: String,
    /// The number of tasks, `0..tasks`.
    pub tasks: usize,
    /// The splits in command-line order.
    pub splits: Vec<PlanSplit>,
    /// What the export is, as `prepare` resolved it from the flags.
    pub export: ExportSpec,
    /// The label map (absent with `--no-labels`).
    pub labels: Option<PlanLabels>,
    pub tokenizer: Option<PlanTokenizer>,
    pub output: PlanOutput,
    pub label_table: Option<PlanLabelTable>,
    /// The staging area: its root (a local directory beside a local output, else the output
    /// itself) and the layout of shards and manifests under it.
    pub staging: Staging,
    /// issue 23: `--report-table`, which `commit` appends the report to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_table: Option<PlanReportTable>,
}

/// `--report-table`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanReportTable {
    /// As the user named it.
    pub table: String,
    /// Where it lives: an absolute `file://` URL, a URI (no query) or `uc://catalog.schema.table`.
    pub url: String,
}

/// One split: its table at the pinned version and its data files per task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanSplit {
    pub name: String,
    /// The table as the user named it (for messages and the outputs' provenance).
    pub table: String,
    /// Where it lives: an absolute path, a URI (no query) or `uc://catalog.schema.table`.
    pub location: String,
    pub version: u64,
    /// Rows exported (after `--drop-nulls`), when the label pass counted them.
    pub rows: Option<u64>,
    pub dropped_rows: u64,
    /// `tasks[i]`: the data files task `i` reads, in row order (relative to the table root).
    pub tasks: Vec<Vec<PlanFile>>,
    /// `--packing` (issue 21): `row_ranges[i]` = the rows task `i` packs, beginning on a
    /// packing-window boundary ([`balance_rows`]); a file may then be read by two tasks, each
    /// taking its own rows of it. Absent without packing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_ranges: Option<Vec<TaskRange>>,
}

/// One data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    pub path: String,
    pub size: u64,
}

/// The label map the label-only pass computed, with its counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanLabels {
    /// The label kind, resolved from the column type (never `auto`).
    pub kind: LabelKind,
    /// Names in id order.
    pub names: Vec<String>,
    pub new_labels: Vec<String>,
    pub origin: MapOrigin,
    /// label → rows (or elements) per split, split order as `splits`.
    pub counts: BTreeMap<String, Vec<u64>>,
    pub nulls: Vec<u64>,
}

/// `--tokenizer`, pinned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanTokenizer {
    /// `--tokenizer` as given.
    pub source: String,
    /// What tasks load: the source with a Hub revision replaced by its commit sha.
    pub pinned: String,
    /// sha256 of `tokenizer.json`: a task whose copy differs stops (exit 3).
    pub sha256: String,
    /// The summary `prepare` records (dataset description, label table, `--json`).
    pub summary: serde_json::Value,
    pub description: String,
}

/// Where the dataset goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanOutput {
    /// `--output` (absolute for a local path).
    pub location: String,
    /// As shown to the user.
    pub shown: String,
    pub overwrite: bool,
}

/// `--label-table`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanLabelTable {
    /// As the user named it.
    pub table: String,
    /// Where it lives: an absolute `file://` URL, a URI (no query) or `uc://catalog.schema.table`.
    pub url: String,
    pub location: Option<String>,
    /// The version the map was computed from (a commit on top of it since is checked).
    pub base_version: Option<u64>,
}

/// The staging area of a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staging {
    /// Its root: a local directory, an object-store URI or a `/Volumes/...` path.
    pub root: String,
    /// Whether the root is the output itself (object stores, volumes): shards stay where they
    /// are written and `state.json` names them; otherwise (a local output) they are renamed
    /// into the published dataset.
    pub in_output: bool,
}

impl Plan {
    /// Parse a plan, refusing another format or a newer version.
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Plan> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::Usage(format!("--plan `{shown}` is not JSON ({e}); give the file `delta-hf plan` wrote"))
        })?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
        if format != FORMAT {
            return Err(Error::Usage(format!(
                "--plan `{shown}` is not a delta-hf plan (format `{format}`, expected `{FORMAT}`)"
            )));
        }
        if version != u64::from(FORMAT_VERSION) {
            let made = if version < u64::from(FORMAT_VERSION) { "an older" } else { "a newer" };
            return Err(Error::Usage(format!(
                "--plan `{shown}` has format version {version}, written by {made} delta-hf; this delta-hf ({}) \
                 reads version {FORMAT_VERSION}: make the plan again with `delta-hf plan`, and run plan, \
                 run-task and commit with the same delta-hf release",
                env!("CARGO_PKG_VERSION")
            )));
        }
        serde_json::from_value(value)
            .map_err(|e| Error::Usage(format!("--plan `{shown}` is not a valid plan: {e}")))
    }

    /// The document's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("plans serialise");
        b.push(b'\n');
        b
    }

    /// The label pass's result, as the plan recorded it.
    pub fn labelled(&self) -> Option<Labelled> {
        let l = self.labels.as_ref()?;
        let names: Vec<String> = self.splits.iter().map(|s| s.name.clone()).collect();
        Some(Labelled {
            counts: LabelCounts { splits: names, by_label: l.counts.clone(), nulls: l.nulls.clone() },
            map: LabelMap { names: l.names.clone(), new_labels: l.new_labels.clone(), origin: l.origin },
            dropped: self.splits.iter().map(|s| s.dropped_rows).collect(),
            rows: self.splits.iter().map(|s| s.rows.unwrap_or(0)).collect(),
            kind: l.kind,
        })
    }

    /// Refuse a task number outside the plan.
    pub fn check_task(&self, task: usize, shown: &str) -> Result<()> {
        if task >= self.tasks {
            return Err(Error::Usage(format!(
                "--task {task} is not in plan `{shown}`, which has {} tasks (0 to {})",
                self.tasks,
                self.tasks - 1
            )));
        }
        Ok(())
    }
}

/// Split `files` (in row order, with sizes) into `n` contiguous runs balanced by bytes: a file
/// goes to the task whose share of the total its middle byte falls in.
pub fn balance(files: &[(String, u64)], n: usize) -> Vec<Vec<PlanFile>> {
    let mut tasks: Vec<Vec<PlanFile>> = vec![Vec::new(); n];
    let total: u128 = files.iter().map(|(_, s)| u128::from(*s)).sum();
    let mut before: u128 = 0;
    for (i, (path, size)) in files.iter().enumerate() {
        let task = if total == 0 {
            i * n / files.len().max(1)
        } else {
            let middle = before * 2 + u128::from(*size);
            ((middle * n as u128) / (total * 2)) as usize
        };
        tasks[task.min(n - 1)].push(PlanFile { path: path.clone(), size: *size });
        before += u128::from(*size);
    }
    tasks
}

/// `--packing` (issue 21): split `files` (in row order, with sizes) into `n` tasks by rows,
/// each beginning on a multiple of `window` rows of the split ([`pack::task_ranges`]), with each
/// file's row count (`rows`, by path: [`crate::source::table::OpenedTable::file_rows`]).
pub fn balance_rows(
    files: &[(String, u64)],
    rows: &std::collections::HashMap<String, u64>,
    n: usize,
    window: u64,
    table: &str,
) -> Result<(Vec<Vec<PlanFile>>, Vec<TaskRange>)> {
    let mut counts = Vec::with_capacity(files.len());
    for (path, _) in files {
        let r = rows.get(path).ok_or_else(|| {
            Error::Internal(format!(
                "table `{table}`: the scan reads `{path}`, which the Delta log does not list"
            ))
        })?;
        counts.push(*r);
    }
    let ranges = pack::task_ranges(&counts, n, window);
    let tasks = ranges
        .iter()
        .map(|r| {
            files[r.files.clone()]
                .iter()
                .map(|(path, size)| PlanFile { path: path.clone(), size: *size })
                .collect()
        })
        .collect();
    Ok((tasks, ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(sizes: &[u64]) -> Vec<(String, u64)> {
        sizes.iter().enumerate().map(|(i, s)| (format!("f{i}"), *s)).collect()
    }

    #[test]
    fn balance_keeps_order_and_evens_bytes() {
        let t = balance(&files(&[10, 10, 10, 10, 10, 10]), 3);
        let names: Vec<Vec<&str>> = t.iter().map(|f| f.iter().map(|x| x.path.as_str()).collect()).collect();
        assert_eq!(names, vec![vec!["f0", "f1"], vec!["f2", "f3"], vec!["f4", "f5"]]);
        // Contiguous and complete whatever the sizes.
        let t = balance(&files(&[100, 1, 1, 1, 50, 50, 3]), 4);
        let flat: Vec<&str> = t.iter().flatten().map(|x| x.path.as_str()).collect();
        assert_eq!(flat, vec!["f0", "f1", "f2", "f3", "f4", "f5", "f6"]);
        // More tasks than files: some tasks are empty.
        let t = balance(&files(&[5]), 3);
        assert_eq!(t.iter().map(Vec::len).sum::<usize>(), 1);
        let t = balance(&[], 2);
        assert!(t.iter().all(Vec::is_empty));
    }

    #[test]
    fn packed_tasks_take_their_rows_of_shared_files() {
        let f = files(&[10, 10, 10]);
        let rows = f.iter().zip([1500u64, 1000, 700]).map(|((p, _), r)| (p.clone(), r)).collect();
        let (tasks, ranges) = balance_rows(&f, &rows, 2, 1000, "t").unwrap();
        // 3,200 rows = 4 windows: rows 0..2000 (files 0-1), rows 2000..3200 (files 1-2).
        let names: Vec<Vec<&str>> =
            tasks.iter().map(|t| t.iter().map(|x| x.path.as_str()).collect()).collect();
        assert_eq!(names, vec![vec!["f0", "f1"], vec!["f1", "f2"]]);
        assert_eq!((ranges[1].first_row, ranges[1].skip, ranges[1].file_rows), (2000, 500, 1700));
        let mut missing = rows.clone();
        missing.remove("f1");
        assert!(balance_rows(&f, &missing, 2, 1000, "t").unwrap_err().to_string().contains("`f1`"));
    }

    #[test]
    fn other_formats_and_versions_are_refused() {
        assert!(Plan::parse(b"{\"format\": \"x\"}", "p").is_err());
        let e = Plan::parse(b"{\"format\": \"delta-hf-plan\", \"format_version\": 99}", "p").unwrap_err();
        assert!(e.to_string().contains("99"), "{e}");
        let e = Plan::parse(b"{\"format\": \"delta-hf-plan\", \"format_version\": 1}", "p").unwrap_err();
        assert!(e.to_string().contains("older") && e.to_string().contains("make the plan again"), "{e}");
    }
}
