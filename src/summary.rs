//! The run summary: a plain serialisable struct, printed as a table or as JSON (`--json`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::transform::kind::LabelKind;

/// What one run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub output: String,
    pub splits: Vec<SplitSummary>,
    /// ClassLabel names in id order (empty with `--no-labels`).
    pub labels: Vec<String>,
    pub num_labels: usize,
    /// Labels that got new ids in this run.
    pub new_labels: Vec<String>,
    /// Where the ids came from: computed, labels-file or label-table.
    pub label_map_origin: Option<String>,
    pub label_map_json: Option<String>,
    pub label_table: Option<LabelTableSummary>,
    /// `--tokenizer`: its source, revision sha, sha256 of `tokenizer.json`, max length, padding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<crate::transform::tokenize::TokenizeSummary>,
    /// The label kind: single, multi, token or regression (none with `--no-labels`).
    pub label_kind: Option<LabelKind>,
    /// What `rows_per_label` counts: rows, rows containing the label (multi), tags (token).
    pub label_counts: Option<String>,
    pub warnings: Vec<String>,
    pub elapsed_seconds: f64,
    /// Seconds spent in each stage.
    pub timings: Timings,
    /// Issue 23: the report (also `report.json` in the output), and where it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::sink::report::Report>,
    /// `--report-table`: the table and the version appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_table: Option<LabelTableSummary>,

    // Issue 23 (hygiene).
    /// Duplicates, leaks and dropped rows per split, and how the splits were cut from one table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hygiene: Option<crate::transform::hygiene::HygieneSummary>,

    /// SFT exports (issue 21): template, mask rule, max length and per-split statistics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sft: Option<crate::transform::sft::SftSummary>,
}

/// Seconds per stage of `prepare`, in the order they run (see `commands/prepare.rs`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// 1–2: opening the tables, the label sources and the output; selecting the columns.
    pub resolve: f64,
    /// 3: null checks, the label-count pass and building the map.
    pub label_map: f64,
    /// 4: encoding and writing every split's shards, then the metadata files.
    pub write: f64,
    /// 5: the label-table commit (and the report: its files and `--report-table`, issue 23).
    pub label_table: f64,
    /// 6: the move into place (local) or the ordered upload.
    pub publish: f64,
}

/// One split of the output.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSummary {
    pub name: String,
    pub table: String,
    pub version: u64,
    pub num_rows: u64,
    pub num_bytes: u64,
    pub num_shards: usize,
    /// Rows dropped by `--drop-nulls`.
    pub dropped_rows: u64,
    /// Rows dropped by the other stages, by reason (`duplicates`, `leaks`, `fully_masked`,
    /// `invalid`, ...); absent from the JSON when nothing was dropped.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dropped: std::collections::BTreeMap<String, u64>,
    /// Rows per label, in id order (empty with `--no-labels`).
    pub rows_per_label: Vec<(String, u64)>,
}

/// The label table written.
#[derive(Debug, Clone, Serialize)]
pub struct LabelTableSummary {
    pub table: String,
    pub version: u64,
}

impl Summary {
    /// The human-readable form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "delta-hf prepare: done in {:.1}s (run {})", self.elapsed_seconds, self.run_id);
        let _ = writeln!(s, "dataset: {}", self.output);
        for sp in &self.splits {
            let _ = writeln!(
                s,
                "  {:<12} {:>10} rows  {:>6} shard{}  {:>10}  from {} (version {}){}",
                sp.name,
                sp.num_rows,
                sp.num_shards,
                if sp.num_shards == 1 { " " } else { "s" },
                human_bytes(sp.num_bytes),
                sp.table,
                sp.version,
                if sp.dropped_rows > 0 {
                    format!(", {} null rows dropped", sp.dropped_rows)
                } else {
                    String::new()
                } + &sp
                    .dropped
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(why, n)| format!(", {n} rows dropped ({})", why.replace('_', " ")))
                    .collect::<String>(),
            );
        }
        if !self.labels.is_empty() {
            let _ = writeln!(
                s,
                "labels: {} classes ({}), --label-kind {}; counts are {}",
                self.num_labels,
                self.label_map_origin.as_deref().unwrap_or("computed"),
                self.label_kind.unwrap_or_default().as_str(),
                self.label_counts.as_deref().unwrap_or("rows")
            );
            let width = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(5).clamp(5, 30);
            let _ = write!(s, "  {:>4}  {:<width$}", "id", "label");
            for sp in &self.splits {
                let _ = write!(s, "  {:>10}", sp.name);
            }
            let _ = writeln!(s);
            for (id, label) in self.labels.iter().enumerate() {
                let _ = write!(s, "  {id:>4}  {label:<width$}");
                for sp in &self.splits {
                    let _ = write!(s, "  {:>10}", sp.rows_per_label.get(id).map(|x| x.1).unwrap_or(0));
                }
                let _ = writeln!(
                    s,
                    "{}",
                    if self.new_labels.contains(label)
                        && self.label_map_origin.as_deref() == Some("label-table")
                    {
                        "  (new)"
                    } else {
                        ""
                    }
                );
            }
        }
        if let Some(line) = self.label_kind.and_then(|k| k.behaviour().summary_line()) {
            let _ = writeln!(s, "{line}");
        }
        if let Some(p) = &self.label_map_json {
            let _ = writeln!(s, "label map: {p}");
        }
        if let Some(t) = &self.label_table {
            let _ = writeln!(s, "label table: {} (version {})", t.table, t.version);
        }
        if let Some(t) = &self.tokenizer {
            let _ = writeln!(s, "tokens: {} ({})", t.columns.join(", "), t.describe());
        }
        if let Some(x) = &self.sft {
            s.push_str(&x.render());
        }
        if let Some(r) = &self.report {
            render_report(&mut s, r, &self.output);
        }
        if let Some(t) = &self.report_table {
            let _ = writeln!(s, "report table: {} (version {})", t.table, t.version);
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

/// The report's numbers as a compact table (issue 23): rows in, dropped, rows out, lengths,
/// truncation; then the weights of `train`.
fn render_report(s: &mut String, r: &crate::sink::report::Report, output: &str) {
    use crate::sink::report::LengthSummary;
    let _ = writeln!(s, "report: {}/{}", output.trim_end_matches('/'), crate::sink::report::HTML);
    let lengths = |l: Option<&LengthSummary>| match l {
        Some(l) if l.count > 0 => {
            format!("{}/{}/{}/{}", short(l.p50), short(l.p90), short(l.p99), l.max.unwrap_or(0))
        }
        _ => "-".into(),
    };
    let _ = writeln!(
        s,
        "  {:<12} {:>10} {:>10} {:>10}  {:<24} {:<24} {:>9}",
        "split",
        "rows in",
        "dropped",
        "rows out",
        "chars p50/p90/p99/max",
        "tokens p50/p90/p99/max",
        "truncated"
    );
    for sp in &r.splits {
        let _ = writeln!(
            s,
            "  {:<12} {:>10} {:>10} {:>10}  {:<24} {:<24} {:>9}",
            sp.name,
            sp.rows_in,
            sp.dropped.values().sum::<u64>(),
            sp.rows_out,
            lengths(sp.chars.as_ref()),
            lengths(sp.tokens.as_ref().map(|t| &t.lengths)),
            sp.tokens
                .as_ref()
                .map(|t| format!("{:.1}%", t.truncated_share * 100.0))
                .unwrap_or_else(|| "-".into())
        );
        if !sp.dropped.is_empty() {
            let why: Vec<String> =
                sp.dropped.iter().map(|(k, n)| format!("{n} {}", k.replace('_', " "))).collect();
            let _ = writeln!(s, "  {:<12} dropped: {}", "", why.join(", "));
        }
    }
    let train = r.splits.iter().find(|sp| sp.name == crate::sink::report::WEIGHTS_SPLIT);
    let weights: Option<Vec<String>> = train.and_then(|t| match (&t.classes, &t.positives) {
        (Some(c), _) => Some(c.iter().map(|c| format!("{} {:.4}", c.label, c.weight)).collect()),
        (_, Some(p)) => Some(p.iter().map(|p| format!("{} {:.4}", p.label, p.pos_weight)).collect()),
        _ => None,
    });
    if let (Some(w), Some(key)) = (weights, &r.weights) {
        let _ = writeln!(s, "{key} (train): {}", w.join(", "));
    }
    if let Some(h) = &r.hygiene {
        for sp in &h.splits {
            let _ = writeln!(s, "  {:<12} duplicates {}, leaks {}", sp.split, sp.duplicates, sp.leaks);
        }
    }
}

/// A percentile, without trailing zeros.
fn short(x: Option<f64>) -> String {
    match x {
        // One decimal, and none when it rounds to a whole number (`183.96` is `184`).
        Some(v) => {
            let t = format!("{v:.1}");
            t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
        }
        None => "-".into(),
    }
}

/// Bytes in binary units with two decimals, as `datasets` prints them ("79.58 MiB").
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.2} {}", UNITS[u]) }
}
