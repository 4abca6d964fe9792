//! One label → id map for every split.
//!
//! Inputs: the per-split label counts from `sql/label_counts.sql`, the map already recorded in
//! the label table (if any), and an explicit `--labels` list (if any). Rules:
//! - ids are `0..n`, ClassLabel names are the labels ordered by id;
//! - a label table's ids are never renumbered in `extend` (default) and `strict` modes: new
//!   labels get ids after the highest one (`extend`) or are refused (`strict`); `rebuild`
//!   ignores the table;
//! - new ids are given in `--labels` order, else in the chosen [`LabelOrder`]: code point
//!   (what `datasets` does), natural (numeric-aware) or frequency (most rows first, ties by
//!   code point). Every order is total, so the map is the same on every run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::error::{Error, Result};

/// Order of label ids when they are computed (not read from an existing label table).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LabelOrder {
    /// By label string, Unicode code point order ("10" < "2"): what `datasets` does.
    #[default]
    #[value(alias = "lexicographic", alias = "alphabetical")]
    CodePoint,
    /// Numeric-aware ("2" < "10", "item2" < "item10").
    Natural,
    /// Most frequent first (over all splits); ties by code point.
    Frequency,
}

/// What to do when the label table already holds a map.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LabelMapMode {
    /// Keep every existing id; append new labels after the highest id.
    #[default]
    Extend,
    /// Keep every existing id; refuse labels the table does not hold.
    Strict,
    /// Recompute the map from the data, ignoring the table's ids.
    Rebuild,
}

/// Row counts per label and split, and null-label counts per split.
#[derive(Debug, Clone, Default)]
pub struct LabelCounts {
    /// Split names in command-line order.
    pub splits: Vec<String>,
    /// label → rows per split (indexed like `splits`).
    pub by_label: BTreeMap<String, Vec<u64>>,
    /// Rows with a NULL label, per split.
    pub nulls: Vec<u64>,
}

impl LabelCounts {
    /// Empty counts for these splits.
    pub fn new(splits: Vec<String>) -> Self {
        let n = splits.len();
        LabelCounts { splits, by_label: BTreeMap::new(), nulls: vec![0; n] }
    }

    /// Record `rows` rows of `label` (None = NULL) in `split`.
    pub fn add(&mut self, split: &str, label: Option<&str>, rows: u64) -> Result<()> {
        let i = self
            .splits
            .iter()
            .position(|s| s == split)
            .ok_or_else(|| Error::Internal(format!("count for unknown split {split}")))?;
        match label {
            None => self.nulls[i] += rows,
            Some(l) => {
                let n = self.splits.len();
                self.by_label.entry(l.to_string()).or_insert_with(|| vec![0; n])[i] += rows;
            }
        }
        Ok(())
    }

    /// Rows with a label in split `i`.
    pub fn labelled_rows(&self, i: usize) -> u64 {
        self.by_label.values().map(|c| c[i]).sum()
    }

    fn total(&self, label: &str) -> u64 {
        self.by_label.get(label).map(|c| c.iter().sum()).unwrap_or(0)
    }
}

/// Where the ids came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapOrigin {
    /// Computed from the data.
    Computed,
    /// The `--labels` file.
    LabelsFile,
    /// The label table (possibly extended).
    LabelTable,
}

/// The map: `names[id]` is the label of `id`.
#[derive(Debug, Clone)]
pub struct LabelMap {
    pub names: Vec<String>,
    /// Labels that were not in the label table before this run.
    pub new_labels: Vec<String>,
    pub origin: MapOrigin,
}

/// A fixed label list in id order: where rows' labels may come from, so it is the source's
/// type ([`crate::source::labels_from`]); named here too for the passes that check against it.
pub use crate::source::labels_from::ListedLabels;

/// Build the map.
pub fn build(
    counts: &LabelCounts,
    existing: Option<&[String]>,
    listed: Option<&ListedLabels>,
    order: LabelOrder,
    mode: LabelMapMode,
    label_table_name: &str,
) -> Result<LabelMap> {
    let data_labels: Vec<&String> = counts.by_label.keys().collect();
    if let Some(listed) = listed {
        let listed_set: HashSet<&String> = listed.labels.iter().collect();
        let outside: Vec<&String> = data_labels.iter().copied().filter(|l| !listed_set.contains(l)).collect();
        if !outside.is_empty() {
            let hint =
                if outside.len() == 1 { listed.hint.clone() } else { listed.hint.replace(" it ", " them ") };
            return Err(Error::Data(format!(
                "{} label{} in the data {} not in {}: {}; {hint}",
                outside.len(),
                plural(outside.len()),
                if outside.len() == 1 { "is" } else { "are" },
                listed.source,
                quote_list(&outside),
            )));
        }
    }
    let labels_file = listed.map(|l| l.labels.as_slice());
    let existing = match mode {
        LabelMapMode::Rebuild => None,
        _ => existing,
    };
    match existing {
        Some(existing) => {
            let known: HashSet<&String> = existing.iter().collect();
            let candidates: Vec<String> = match labels_file {
                Some(listed) => listed.to_vec(),
                None => sorted(data_labels.iter().map(|s| s.to_string()).collect(), order, counts),
            };
            let new: Vec<String> = candidates.into_iter().filter(|l| !known.contains(l)).collect();
            if mode == LabelMapMode::Strict && !new.is_empty() {
                return Err(Error::Data(format!(
                    "--label-map-mode strict: label table `{label_table_name}` has no id for \
                     {} label{}: {}; rerun with --label-map-mode extend to append {} after id {}",
                    new.len(),
                    plural(new.len()),
                    quote_list(&new.iter().collect::<Vec<_>>()),
                    if new.len() == 1 { "it" } else { "them" },
                    existing.len().saturating_sub(1),
                )));
            }
            let mut names = existing.to_vec();
            names.extend(new.iter().cloned());
            Ok(LabelMap { names, new_labels: new, origin: MapOrigin::LabelTable })
        }
        None => match labels_file {
            Some(listed) => Ok(LabelMap {
                names: listed.to_vec(),
                new_labels: listed.to_vec(),
                origin: MapOrigin::LabelsFile,
            }),
            None => {
                let names = sorted(data_labels.iter().map(|s| s.to_string()).collect(), order, counts);
                Ok(LabelMap { new_labels: names.clone(), names, origin: MapOrigin::Computed })
            }
        },
    }
}

/// Labels present in split `i` (with rows) but in no row of `reference`.
pub fn absent_from(counts: &LabelCounts, i: usize, reference: usize) -> Vec<String> {
    counts
        .by_label
        .iter()
        .filter(|(_, c)| c[i] > 0 && c[reference] == 0)
        .map(|(l, _)| l.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn sorted(mut labels: Vec<String>, order: LabelOrder, counts: &LabelCounts) -> Vec<String> {
    match order {
        LabelOrder::CodePoint => labels.sort(),
        LabelOrder::Natural => labels.sort_by(|a, b| natural_cmp(a, b).then_with(|| a.cmp(b))),
        LabelOrder::Frequency => {
            labels.sort_by(|a, b| counts.total(b).cmp(&counts.total(a)).then_with(|| a.cmp(b)))
        }
    }
    labels
}

/// Numeric-aware comparison: runs of ASCII digits compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let xd = x.starts_with(|c: char| c.is_ascii_digit());
        let yd = y.starts_with(|c: char| c.is_ascii_digit());
        let (xa, xr) = split_run(x, xd);
        let (ya, yr) = split_run(y, yd);
        let ord = if xd && yd {
            let (xn, yn) = (xa.trim_start_matches('0'), ya.trim_start_matches('0'));
            xn.len().cmp(&yn.len()).then_with(|| xn.cmp(yn))
        } else {
            xa.cmp(ya)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        x = xr;
        y = yr;
    }
}

fn split_run(s: &str, digits: bool) -> (&str, &str) {
    let end = s.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(s.len());
    s.split_at(end)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `a`, `b`, `c` (at most 20, then "and N more").
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut parts: Vec<String> = items.iter().take(20).map(|s| format!("`{}`", s.as_ref())).collect();
    if items.len() > 20 {
        parts.push(format!("and {} more", items.len() - 20));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: &[(&str, &str, u64)]) -> LabelCounts {
        let mut c = LabelCounts::new(vec!["train".into(), "test".into()]);
        for (s, l, n) in rows {
            c.add(s, Some(l), *n).unwrap();
        }
        c
    }

    #[test]
    fn orders() {
        let c = counts(&[("train", "10", 1), ("train", "2", 5), ("test", "1", 3)]);
        let b = |o| build(&c, None, None, o, LabelMapMode::Extend, "t").unwrap().names;
        assert_eq!(b(LabelOrder::CodePoint), vec!["1", "10", "2"]);
        assert_eq!(b(LabelOrder::Natural), vec!["1", "2", "10"]);
        assert_eq!(b(LabelOrder::Frequency), vec!["2", "1", "10"]);
    }

    #[test]
    fn extend_keeps_ids_and_strict_refuses() {
        let c = counts(&[("train", "a", 1), ("train", "z", 1), ("train", "b", 1)]);
        let existing = vec!["z".to_string(), "a".to_string()];
        let m = build(&c, Some(&existing), None, LabelOrder::CodePoint, LabelMapMode::Extend, "t").unwrap();
        assert_eq!(m.names, vec!["z", "a", "b"]);
        assert_eq!(m.new_labels, vec!["b"]);
        let e = build(&c, Some(&existing), None, LabelOrder::CodePoint, LabelMapMode::Strict, "t");
        assert!(e.unwrap_err().to_string().contains("`b`"));
        let r = build(&c, Some(&existing), None, LabelOrder::CodePoint, LabelMapMode::Rebuild, "t").unwrap();
        assert_eq!(r.names, vec!["a", "b", "z"]);
    }

    #[test]
    fn labels_file_must_cover_data() {
        let c = counts(&[("train", "a", 1), ("train", "q", 1)]);
        let listed = vec!["b".to_string(), "a".to_string()];
        let listed = ListedLabels::from_file(listed);
        let e = build(&c, None, Some(&listed), LabelOrder::CodePoint, LabelMapMode::Extend, "t");
        assert!(e.unwrap_err().to_string().contains("`q`"));
    }
}
