//! Dataset hygiene (issue 23): splits cut from one table, duplicates and leaks.
//!
//! - [`canonical`]: the canonical string form of a value (what is hashed);
//! - [`split`]: `--split-from` / `--split-ratios` / `--split-key` / `--group-col` /
//!   `--stratify`: a split is the table filtered by a hash of the row's key;
//! - [`routed`]: in `prepare`, the table read once and each split's rows written to local
//!   files, which every stage then reads as the split (instead of a filter per split and stage);
//! - [`minhash`]: MinHash signatures over word 5-grams and datasketch's LSH banding;
//! - [`dedup`]: the pass over every split's text that finds exact and near duplicates and the
//!   evaluation rows that leak from training, and the drops applied while writing.
//!
//! What they found is [`HygieneSummary`], part of the run summary (`hygiene`).

pub mod canonical;
pub mod dedup;
pub mod minhash;
pub mod routed;
pub mod split;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use dedup::{DedupMode, LeaksMode, Normalize};

/// Dropped rows recorded per split, at most (the counts are always complete).
pub const MAX_RECORDS: usize = 1000;

/// What the hygiene stages did (the summary's `hygiene`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HygieneSummary {
    /// `--dedup`: exact, near, or none.
    pub dedup: Option<DedupMode>,
    /// `--dedup-normalize`.
    pub normalize: Normalize,
    /// `--near-dup-threshold` and the LSH bands × rows chosen for it (`--dedup near`).
    pub near_dup_threshold: Option<f64>,
    pub lsh_bands: Option<usize>,
    pub lsh_rows: Option<usize>,
    /// `--leaks`.
    pub leaks: LeaksMode,
    /// The split leaks are measured against: `train`, else the first split.
    pub training_split: String,
    /// Per split, in order.
    pub splits: Vec<HygieneSplit>,
    /// The dropped rows, per split in position order, at most [`MAX_RECORDS`] per split.
    pub dropped_rows: Vec<DroppedRow>,
    /// `--split-from`, when the splits were cut from one table.
    pub split_from: Option<SplitFromSummary>,
}

/// One split's duplicates and leaks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HygieneSplit {
    pub name: String,
    /// Rows before the hygiene drops.
    pub rows_in: u64,
    /// Rows whose normalised text equals an earlier row's (this or an earlier split).
    pub exact_duplicates: u64,
    /// Rows in a near-duplicate cluster that holds an earlier row, not exact duplicates.
    pub near_duplicates: u64,
    /// Rows duplicating a training row (0 for the training split), dropped or not.
    pub leaks: u64,
    pub dropped_duplicates: u64,
    pub dropped_leaks: u64,
}

/// One dropped row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DroppedRow {
    pub split: String,
    /// Its position (0-based) among the split's rows before the hygiene drops.
    pub position: u64,
    /// `duplicates` or `leaks`.
    pub reason: String,
    /// The output's text and label columns in canonical form (cut at 200 characters).
    pub key: BTreeMap<String, String>,
    /// The row it duplicates: the training row it leaks from, or its cluster's kept row.
    pub matched_split: String,
    pub matched_position: u64,
}

/// How the splits were cut from one table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFromSummary {
    pub table: String,
    pub version: u64,
    pub ratios: Vec<(String, f64)>,
    pub keys: Vec<String>,
    pub group_col: Option<String>,
    pub stratify: Option<String>,
}
