//! Per-split statistics of what is written, observed on the batches as they stream to the
//! shard writers (no pass of its own): rows, label counts, text lengths in characters and in
//! tokens, rows truncated by the tokenizer. The report ([`crate::sink::report`]) and the
//! weights of `label_map.json` are computed from them.
//!
//! Guarantees:
//! - lengths are kept exactly, as a count per length value ([`Lengths`]): memory is bounded by
//!   the number of distinct lengths (at most the longest text), never by the rows, and the
//!   percentiles equal NumPy's default (`np.percentile(x, q)`, method `linear`) on the same
//!   values, to the last bit;
//! - [`SplitStats`] of disjoint parts merge into the statistics of their union (a fan-out task
//!   records its part in its manifest, `commit` merges them), whatever the order;
//! - what is observed is the written rows: a row dropped before the writer is not counted.

use std::collections::BTreeMap;

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the label column of a kind is counted (each kind says which: [`crate::transform::kind::Kind::label_stat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelStat {
    /// Nothing to count (regression, `--no-labels`).
    None,
    /// Class ids: an id per row (int64), or a list of ids per row (token tags); each id counted
    /// once per occurrence. Weighted as scikit-learn's `balanced`.
    Classes(&'static str),
    /// Multi-label ids: a list of ids per row; each label counted once per row that has it
    /// (positives). Weighted as `pos_weight`.
    Positives(&'static str),
    /// Multi-label multi-hot vectors: position `i` > 0 is a positive of label `i`.
    MultiHot(&'static str),
}

impl LabelStat {
    /// Whether the weights are per-class (`class_weights`) or per-label (`pos_weight`).
    pub fn weights_key(self) -> Option<&'static str> {
        match self {
            LabelStat::None => None,
            LabelStat::Classes(_) => Some("class_weights"),
            LabelStat::Positives(_) | LabelStat::MultiHot(_) => Some("pos_weight"),
        }
    }
}

/// Exact counts per length value. Serialised as `{"length": count}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lengths(pub BTreeMap<u64, u64>);

impl Lengths {
    pub fn add(&mut self, length: u64) {
        *self.0.entry(length).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Lengths) {
        for (l, n) in &other.0 {
            *self.0.entry(*l).or_default() += n;
        }
    }

    /// How many values.
    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn max(&self) -> Option<u64> {
        self.0.keys().next_back().copied()
    }

    /// How many values are greater than `limit`.
    pub fn above(&self, limit: u64) -> u64 {
        self.0.range(limit + 1..).map(|(_, n)| n).sum()
    }

    /// The `k`-th smallest value (0-based); `k` < [`Lengths::count`].
    fn nth(&self, k: u64) -> u64 {
        let mut seen = 0;
        for (l, n) in &self.0 {
            seen += n;
            if k < seen {
                return *l;
            }
        }
        self.max().unwrap_or(0)
    }

    /// The nearest-rank percentile `p` (0–1): the smallest value with at least `p` of the values
    /// at or below it (the SFT summary's lengths). `None` without values.
    pub fn nearest_rank(&self, p: f64) -> Option<u64> {
        let n = self.count();
        (n > 0).then(|| self.nth(((p * n as f64).ceil() as u64).clamp(1, n) - 1))
    }

    /// Percentile `q` (0–100) as `numpy.percentile(values, q)` computes it (method `linear`):
    /// the virtual index `(n - 1) * (q / 100)`, its neighbours, and NumPy's `_lerp`, in the same
    /// floating-point operations. `None` without values.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let virtual_index = (n - 1) as f64 * (q / 100.0);
        let previous = virtual_index.floor();
        let (lo, hi) = if virtual_index >= (n - 1) as f64 {
            (n - 1, n - 1)
        } else if virtual_index < 0.0 {
            (0, 0)
        } else {
            (previous as u64, previous as u64 + 1)
        };
        // With both neighbours the same value the weight does not matter (their difference is 0).
        let gamma = virtual_index - previous;
        let (a, b) = (self.nth(lo) as f64, self.nth(hi) as f64);
        let diff = b - a;
        Some(if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma })
    }

    /// `bins` equal-width bins over `0..=max` (the last bin closed): `(start, end, count)`.
    pub fn histogram(&self, bins: usize) -> Vec<(u64, u64, u64)> {
        let Some(max) = self.max() else { return Vec::new() };
        let width = (max + 1).div_ceil(bins.max(1) as u64).max(1);
        let n = (max / width + 1) as usize;
        let mut out: Vec<(u64, u64, u64)> =
            (0..n as u64).map(|i| (i * width, (i + 1) * width - 1, 0)).collect();
        for (l, c) in &self.0 {
            out[(l / width) as usize].2 += c;
        }
        out
    }
}

/// What one split's written rows hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Rows written.
    pub rows: u64,
    /// Per label id: occurrences ([`LabelStat::Classes`]) or rows having it (positives).
    #[serde(default)]
    pub labels: Vec<u64>,
    /// Rows (or tags) with a null label.
    #[serde(default)]
    pub null_labels: u64,
    /// Length of the text in characters (Unicode code points, as Python's `len`), non-null
    /// texts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chars: Option<Lengths>,
    /// Tokens per row (the attention mask's ones: padding not counted), with a tokenizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Lengths>,
    /// Rows the tokenizer truncated.
    #[serde(default)]
    pub truncated: u64,
}

impl SplitStats {
    /// Add the statistics of another part of the same split.
    pub fn merge(&mut self, other: &SplitStats) {
        self.rows += other.rows;
        if self.labels.len() < other.labels.len() {
            self.labels.resize(other.labels.len(), 0);
        }
        for (a, b) in self.labels.iter_mut().zip(&other.labels) {
            *a += b;
        }
        self.null_labels += other.null_labels;
        merge_lengths(&mut self.chars, &other.chars);
        merge_lengths(&mut self.tokens, &other.tokens);
        self.truncated += other.truncated;
    }

    /// Class weights as scikit-learn's `compute_class_weight("balanced", classes=present,
    /// y=labels)`: `n_samples / (n_classes * count)`, `n_classes` the classes that occur; a class
    /// that does not occur gets 0 (it is never a target, so its weight has no effect).
    pub fn class_weights(&self) -> Vec<f64> {
        let n: u64 = self.labels.iter().sum();
        let present = self.labels.iter().filter(|c| **c > 0).count() as f64;
        self.labels
            .iter()
            .map(|c| match c {
                0 => 0.0,
                c => n as f64 / (present * *c as f64),
            })
            .collect()
    }

    /// `pos_weight` per label, what `BCEWithLogitsLoss` takes: negatives / positives; a label with
    /// no positive gets 0 (no positive term to weigh).
    pub fn pos_weight(&self) -> Vec<f64> {
        self.labels
            .iter()
            .map(|p| match p {
                0 => 0.0,
                p => (self.rows - p) as f64 / *p as f64,
            })
            .collect()
    }

    /// The weights `stat` calls for (see [`LabelStat::weights_key`]).
    pub fn weights(&self, stat: LabelStat) -> Option<Vec<f64>> {
        match stat {
            LabelStat::None => None,
            LabelStat::Classes(_) => Some(self.class_weights()),
            LabelStat::Positives(_) | LabelStat::MultiHot(_) => Some(self.pos_weight()),
        }
    }
}

fn merge_lengths(a: &mut Option<Lengths>, b: &Option<Lengths>) {
    if let Some(b) = b {
        a.get_or_insert_with(Lengths::default).merge(b);
    }
}

/// What to observe on a split's batches.
#[derive(Debug, Clone)]
pub struct Observer {
    pub label: LabelStat,
    /// The number of labels (ids `0..n`).
    pub num_labels: usize,
    /// The text column whose characters are counted (when it is a string column).
    pub text: Option<String>,
    /// Count tokens (the tokenizer's `attention_mask`) in the written batches.
    pub tokens: bool,
}

/// The tokenizer's mask column, whose ones are the tokens of a row.
const MASK: &str = crate::transform::tokenize::ATTENTION_MASK;

impl Observer {
    /// Fresh statistics for a part of a split.
    pub fn empty(&self) -> SplitStats {
        SplitStats {
            labels: vec![0; self.num_labels],
            chars: self.text.as_ref().map(|_| Lengths::default()),
            tokens: self.tokens.then(Lengths::default),
            ..Default::default()
        }
    }

    /// Observe a batch as the writer receives it, before a tokenizer maps it (the text is still
    /// there with `--drop-text`).
    pub fn observe_input(&self, batch: &RecordBatch, stats: &mut SplitStats) -> Result<()> {
        stats.rows += batch.num_rows() as u64;
        if let (Some(name), Some(chars)) = (&self.text, stats.chars.as_mut())
            && let Some(col) = batch.column_by_name(name)
        {
            count_chars(col, chars);
        }
        match self.label {
            LabelStat::None => {}
            LabelStat::Classes(c) => self.count_ids(batch, c, false, stats)?,
            LabelStat::Positives(c) => self.count_ids(batch, c, true, stats)?,
            LabelStat::MultiHot(c) => self.count_multi_hot(batch, c, stats)?,
        }
        Ok(())
    }

    /// Observe a batch after the tokenizer mapped it; `truncated` rows of it were truncated.
    pub fn observe_tokens(&self, batch: &RecordBatch, truncated: u64, stats: &mut SplitStats) -> Result<()> {
        stats.truncated += truncated;
        let (Some(tokens), Some(col)) = (stats.tokens.as_mut(), batch.column_by_name(MASK)) else {
            return Ok(());
        };
        let list = col
            .as_list_opt::<i32>()
            .ok_or_else(|| Error::Internal(format!("`{MASK}` is {}, not a list", col.data_type())))?;
        let values = cast(list.values(), &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        for w in list.value_offsets().windows(2) {
            let ones: i64 = (w[0] as usize..w[1] as usize).map(|i| values.value(i)).sum();
            tokens.add(ones as u64);
        }
        Ok(())
    }

    fn column<'a>(&self, batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
        batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("the label column `{name}` is not in the written batch")))
    }

    /// Ids (int64 per row or a list of them per row); `per_row`: a label counts once per row.
    fn count_ids(
        &self,
        batch: &RecordBatch,
        name: &str,
        per_row: bool,
        stats: &mut SplitStats,
    ) -> Result<()> {
        let col = self.column(batch, name)?;
        let add = |id: Option<i64>, stats: &mut SplitStats| match id {
            Some(i) if i >= 0 && (i as usize) < stats.labels.len() => stats.labels[i as usize] += 1,
            Some(_) => {} // not a class (e.g. -100)
            None => stats.null_labels += 1,
        };
        match col.data_type() {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
                let lists = cast(
                    col,
                    &DataType::List(std::sync::Arc::new(Field::new("item", DataType::Int64, true))),
                )?;
                let list = lists.as_list::<i32>();
                let values = list.values().as_primitive::<Int64Type>();
                let mut seen: Vec<i64> = Vec::new();
                for r in 0..list.len() {
                    if list.is_null(r) {
                        stats.null_labels += 1;
                        continue;
                    }
                    let (a, b) = (list.value_offsets()[r] as usize, list.value_offsets()[r + 1] as usize);
                    seen.clear();
                    for i in a..b {
                        let id = (!values.is_null(i)).then(|| values.value(i));
                        if per_row {
                            match id {
                                Some(v) if seen.contains(&v) => continue,
                                Some(v) => seen.push(v),
                                None => continue,
                            }
                        }
                        add(id, stats);
                    }
                }
            }
            _ => {
                let ids = cast(col, &DataType::Int64)?;
                for id in ids.as_primitive::<Int64Type>().iter() {
                    add(id, stats);
                }
            }
        }
        Ok(())
    }

    /// Multi-hot vectors: position `i` above 0 is a positive of label `i`.
    fn count_multi_hot(&self, batch: &RecordBatch, name: &str, stats: &mut SplitStats) -> Result<()> {
        let col = self.column(batch, name)?;
        let lists =
            cast(col, &DataType::List(std::sync::Arc::new(Field::new("item", DataType::Float64, true))))?;
        let list = lists.as_list::<i32>();
        let values = list.values().as_primitive::<Float64Type>();
        for r in 0..list.len() {
            if list.is_null(r) {
                stats.null_labels += 1;
                continue;
            }
            let a = list.value_offsets()[r] as usize;
            let b = list.value_offsets()[r + 1] as usize;
            for (pos, i) in (a..b).enumerate() {
                if !values.is_null(i) && values.value(i) > 0.0 && pos < stats.labels.len() {
                    stats.labels[pos] += 1;
                }
            }
        }
        Ok(())
    }
}

/// Characters of every non-null string of `col` (any string type; other types are not text).
fn count_chars(col: &ArrayRef, into: &mut Lengths) {
    let mut add = |s: Option<&str>| {
        if let Some(s) = s {
            into.add(s.chars().count() as u64);
        }
    };
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().for_each(&mut add),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().for_each(&mut add),
        DataType::Utf8View => col.as_string_view().iter().for_each(&mut add),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(v: &[u64]) -> Lengths {
        let mut l = Lengths::default();
        v.iter().for_each(|x| l.add(*x));
        l
    }

    #[test]
    fn percentiles_are_numpys() {
        // np.percentile([1, 2, 3, 4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        let l = lengths(&[4, 1, 3, 2]);
        assert_eq!(l.percentile(50.0), Some(2.5));
        assert_eq!(l.percentile(90.0), Some(3.7));
        assert_eq!(l.percentile(99.0), Some(3.9699999999999998));
        assert_eq!(l.percentile(100.0), Some(4.0));
        assert_eq!(l.percentile(0.0), Some(1.0));
        assert_eq!(lengths(&[7]).percentile(99.0), Some(7.0));
        assert_eq!(Lengths::default().percentile(50.0), None);
        // np.percentile([5] * 10 + [100], [90, 99]) == [5.0, 90.50000000000003]: the same
        // rounding as NumPy's, not the exact 90.5.
        let l = lengths(&[5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 100]);
        assert_eq!(l.percentile(90.0), Some(5.0));
        assert_eq!(l.percentile(99.0), Some(90.50000000000003));
    }

    #[test]
    fn weights_are_balanced_and_pos_weight() {
        let s = SplitStats { rows: 10, labels: vec![6, 3, 0, 1], ..Default::default() };
        // sklearn: 10 / (3 * [6, 3, 1])
        assert_eq!(s.class_weights(), vec![10.0 / 18.0, 10.0 / 9.0, 0.0, 10.0 / 3.0]);
        assert_eq!(s.pos_weight(), vec![4.0 / 6.0, 7.0 / 3.0, 0.0, 9.0]);
    }

    #[test]
    fn parts_merge_and_histograms_cover_everything() {
        let mut a =
            SplitStats { rows: 2, labels: vec![1, 1], chars: Some(lengths(&[3, 9])), ..Default::default() };
        let b = SplitStats {
            rows: 1,
            labels: vec![0, 1],
            chars: Some(lengths(&[3])),
            truncated: 1,
            ..Default::default()
        };
        a.merge(&b);
        assert_eq!((a.rows, a.labels.clone(), a.truncated), (3, vec![1, 2], 1));
        let h = a.chars.as_ref().unwrap().histogram(4);
        assert_eq!(h.iter().map(|x| x.2).sum::<u64>(), 3);
        assert!(h.last().unwrap().1 >= 9);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<SplitStats>(&json).unwrap(), a);
    }
}
