//! The report of an export (issue 23): what each split holds, written beside the data as
//! `report.json` and `report.html` (so it is published with it: staged, then moved or uploaded
//! before the file that makes the output loadable), and with `--report-table` appended to a
//! Delta table, a row per split and run ([`table`]).
//!
//! Per split: rows in, dropped by reason (`nulls` from `--drop-nulls`, and every reason the
//! other stages record in [`SplitSummary::dropped`]), rows out; per class its count and its
//! scikit-learn `balanced` weight, or per label (multi-label) its positives and `pos_weight`;
//! the text's length in characters and, with a tokenizer, in tokens (padding not counted):
//! p50/p90/p99 (NumPy's default percentile, exactly) and max, and the share of rows the
//! tokenizer truncated. The numbers are those of the rows written ([`crate::transform::stats`]),
//! computed as they stream to the shard writers.
//!
//! An optional hygiene section ([`HygieneReport`]: duplicates and leaks with examples) is shown
//! when the export's hygiene stage filled it.
//!
//! `report.html` is one self-contained file: inline SVG, no script, nothing fetched; every
//! user-supplied string is escaped ([`html`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::summary::{SplitSummary, Summary};
use crate::transform::stats::{LabelStat, Lengths, SplitStats};

pub mod html;
pub mod table;

/// The report files, at the top of the output.
pub const JSON: &str = "report.json";
pub const HTML: &str = "report.html";
/// The split whose weights `label_map.json` carries.
pub const WEIGHTS_SPLIT: &str = "train";
/// The `format` field of `report.json`, and its version.
pub const FORMAT: &str = "delta-hf-report";
pub const FORMAT_VERSION: u32 = 1;

/// Bins of the length histograms.
const BINS: usize = 40;

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub format_version: u32,
    pub run_id: String,
    /// RFC 3339.
    pub created: String,
    pub tool: String,
    /// Where the dataset is, as shown to the user.
    pub output: String,
    /// single, multi, token or regression (absent with `--no-labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_kind: Option<String>,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// `class_weights` or `pos_weight`: the weights the label counts give (and the key
    /// `label_map.json` carries them under, computed on `train`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// The tokenizer's max length (the cut drawn on the token histograms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    pub splits: Vec<SplitReport>,
    /// Duplicates and leaks, when the hygiene stage ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hygiene: Option<HygieneReport>,
}

/// One split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitReport {
    pub name: String,
    pub table: String,
    pub version: u64,
    /// Rows read: rows out plus every row dropped.
    pub rows_in: u64,
    /// Rows dropped, by reason (`nulls`, `duplicates`, `leaks`, ...; only reasons that dropped rows).
    pub dropped: BTreeMap<String, u64>,
    pub rows_out: u64,
    /// Single-label and token kinds: per class (tag), its count and balanced weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassCount>>,
    /// Multi-label: per label, the rows having it and `pos_weight`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positives: Option<Vec<LabelPositives>>,
    /// Rows (tags) with a null label.
    #[serde(skip_serializing_if = "is_zero")]
    pub null_labels: u64,
    /// Text length in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chars: Option<LengthSummary>,
    /// Length in tokens, with a tokenizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSummary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One class of a split: `weight` = `n_samples / (n_classes * count)` over the classes present
/// (scikit-learn's `balanced`), 0 for a class absent from the split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassCount {
    pub id: usize,
    pub label: String,
    pub count: u64,
    pub weight: f64,
}

/// One label of a multi-label split: `pos_weight` = negatives / positives (0 without positives).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelPositives {
    pub id: usize,
    pub label: String,
    pub positives: u64,
    pub pos_weight: f64,
}

/// Lengths: how many, NumPy's percentiles, the max and a histogram (`[start, end, count]`,
/// both ends included, equal widths from 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LengthSummary {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<u64>,
    pub histogram: Vec<[u64; 3]>,
}

impl LengthSummary {
    fn of(l: &Lengths) -> Self {
        LengthSummary {
            count: l.count(),
            p50: l.percentile(50.0),
            p90: l.percentile(90.0),
            p99: l.percentile(99.0),
            max: l.max(),
            histogram: l.histogram(BINS).into_iter().map(|(a, b, c)| [a, b, c]).collect(),
        }
    }
}

/// Token lengths, and how many rows the tokenizer truncated to `max_length`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSummary {
    #[serde(flatten)]
    pub lengths: LengthSummary,
    pub max_length: Option<u64>,
    pub truncated: u64,
    /// truncated / rows (0 for an empty split).
    pub truncated_share: f64,
}

/// The hygiene stage's findings (`--dedup`, `--leaks`), in the shape the report shows them.
/// That stage fills it (mapping its own records into it); absent, the section is not shown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HygieneReport {
    /// `--dedup`: `exact`, `near`, or absent when off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup: Option<String>,
    /// `--leaks`: `report` or `drop`.
    pub leaks: String,
    /// Per split, in the export's order.
    pub splits: Vec<HygieneSplit>,
    /// Some of the rows found (the stage chooses how many), each with the row it duplicates.
    pub examples: Vec<HygieneExample>,
}

/// Counts for one split.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HygieneSplit {
    pub split: String,
    /// Rows that duplicate an earlier row of the export (exact or near).
    pub duplicates: u64,
    /// Rows of a non-training split that duplicate a training row.
    pub leaks: u64,
}

/// One duplicate or leak, and the row it matches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HygieneExample {
    /// `duplicate` or `leak`.
    pub kind: String,
    pub row: HygieneRow,
    /// The row kept (for a leak, the training row).
    pub matches: HygieneRow,
    /// Estimated Jaccard similarity (near duplicates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jaccard: Option<f64>,
    /// Whether the row was dropped from the output.
    pub dropped: bool,
}

/// A row named by its split and position (0-based, in the split's row order), its key columns
/// and (a prefix of) its text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HygieneRow {
    pub split: String,
    pub position: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Report {
    /// The report of a run: its splits as summarised (`stats[i]` observed on split `i`'s written
    /// rows), `stat` how the label column was counted, `max_length` the tokenizer's.
    pub fn build(
        summary: &Summary,
        stats: &[Option<&SplitStats>],
        stat: LabelStat,
        max_length: Option<u64>,
        hygiene: Option<HygieneReport>,
    ) -> Report {
        let labels = &summary.labels;
        let splits = summary
            .splits
            .iter()
            .zip(stats)
            .map(|(sp, st)| split(sp, *st, stat, labels, max_length))
            .collect();
        Report {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            run_id: summary.run_id.clone(),
            created: chrono::Utc::now().to_rfc3339(),
            tool: format!("delta-hf {}", env!("CARGO_PKG_VERSION")),
            output: summary.output.clone(),
            label_kind: summary.label_kind.map(|k| k.as_str().to_string()),
            labels: labels.clone(),
            weights: stat.weights_key().map(String::from),
            max_length,
            splits,
            hygiene,
        }
    }

    /// Write `report.json` and `report.html` into `dir` (the staged output).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let value = serde_json::to_value(self).map_err(|e| Error::Internal(format!("report: {e}")))?;
        crate::sink::hf_dataset::write_json(&dir.join(JSON), &value)?;
        let path = dir.join(HTML);
        std::fs::write(&path, html::render(self)).map_err(|e| Error::io("cannot write", &path, e))
    }
}

fn split(
    sp: &SplitSummary,
    st: Option<&SplitStats>,
    stat: LabelStat,
    labels: &[String],
    max_length: Option<u64>,
) -> SplitReport {
    let mut dropped: BTreeMap<String, u64> =
        sp.dropped.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (k.clone(), *n)).collect();
    if sp.dropped_rows > 0 {
        *dropped.entry("nulls".into()).or_default() += sp.dropped_rows;
    }
    let rows_out = sp.num_rows;
    let rows_in = rows_out + dropped.values().sum::<u64>();
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let (mut classes, mut positives) = (None, None);
    if let Some(st) = st {
        match stat {
            LabelStat::None => {}
            LabelStat::Classes(_) => {
                let w = st.class_weights();
                classes = Some(
                    st.labels
                        .iter()
                        .zip(w)
                        .enumerate()
                        .map(|(id, (c, weight))| ClassCount { id, label: name(id), count: *c, weight })
                        .collect(),
                );
            }
            LabelStat::Positives(_) | LabelStat::MultiHot(_) => {
                let w = st.pos_weight();
                positives = Some(
                    st.labels
                        .iter()
                        .zip(w)
                        .enumerate()
                        .map(|(id, (p, pos_weight))| LabelPositives {
                            id,
                            label: name(id),
                            positives: *p,
                            pos_weight,
                        })
                        .collect(),
                );
            }
        }
    }
    let tokens = st.and_then(|s| s.tokens.as_ref()).map(|l| TokenSummary {
        lengths: LengthSummary::of(l),
        max_length,
        truncated: st.map(|s| s.truncated).unwrap_or(0),
        truncated_share: match l.count() {
            0 => 0.0,
            n => st.map(|s| s.truncated).unwrap_or(0) as f64 / n as f64,
        },
    });
    SplitReport {
        name: sp.name.clone(),
        table: sp.table.clone(),
        version: sp.version,
        rows_in,
        dropped,
        rows_out,
        classes,
        positives,
        null_labels: st.map(|s| s.null_labels).unwrap_or(0),
        chars: st
            .and_then(|s| s.chars.as_ref())
            .filter(|l| l.count() > 0 || rows_out == 0)
            .map(LengthSummary::of),
        tokens,
    }
}
