//! Splits from one table (`--split-from`): a row's split is a function of its key alone, so
//! every cluster size, task count and partitioning gives the same splits, and rows already in
//! the table never move when rows are added (except with `--stratify`, whose cuts depend on the
//! class sizes).
//!
//! The rule: `u = xxh64(key, seed 0) / 2^64`, where `key` is the UTF-8 of the key columns'
//! canonical forms ([`super::canonical`]) joined by U+001F; the row goes to the first split
//! (in the order given) whose cumulative ratio exceeds `u`, the last one if rounding leaves
//! none. Stratified, per class: the class's rows ordered by that hash, split `k` takes the
//! ranks from `floor(C[k-1]·n + 0.5)` to `floor(C[k]·n + 0.5)` (C: cumulative ratios, n: the
//! class's rows) — kept as one hash threshold per class and split ([`Strata`]), so the rule
//! stays a function of the row once the global pass has run (and a fan-out plan carries it).
//!
//! Each split is the table filtered by [`SplitOf`] (a DataFusion function of the key columns),
//! registered under the split's name before the selection, so `--select-sql`, the label kinds,
//! the tokenizer, every format and the fan-out see a split as they see a table.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, UInt32Array};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{Column, DataFusionError};
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use twox_hash::XxHash64;

use super::canonical::{self, KEY_SEPARATOR};
use crate::error::{Error, Result};

/// `--split-from` as the export spec records it (a fan-out plan embeds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFrom {
    /// `--split-ratios`: split names and ratios, in order.
    pub ratios: Vec<(String, f64)>,
    /// The columns hashed: `--split-key`, `--group-col`, or the text (words) and label columns.
    pub keys: Vec<String>,
    /// `--group-col`, when the key is a group's value.
    pub group_col: Option<String>,
    /// `--stratify`: the label column whose classes are cut separately.
    pub stratify: Option<String>,
    /// The stratified cuts, once the global pass has computed them.
    #[serde(default)]
    pub strata: Option<Strata>,
}

// Ratios are finite (checked when parsed): equality is total in practice.
impl Eq for SplitFrom {}

/// Per class (canonical form of the label), one hash threshold per split but the last: a row
/// of the class goes to the first split `k` whose threshold is above its hash (`None`: no row
/// is above it), else to the last split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strata {
    pub thresholds: BTreeMap<String, Vec<Option<u64>>>,
}

impl SplitFrom {
    /// Cumulative ratios, summed left to right in f64 (the README's recomputation does the same).
    pub fn cumulative(&self) -> Vec<f64> {
        let mut acc = 0.0;
        self.ratios
            .iter()
            .map(|(_, r)| {
                acc += r;
                acc
            })
            .collect()
    }

    /// The columns the split function reads, in order: the keys, then the label when stratified.
    pub fn columns(&self) -> Vec<String> {
        let mut c = self.keys.clone();
        c.extend(self.stratify.iter().cloned());
        c
    }

    /// Every key column (and the stratifying label) must be in the table, with a type that has
    /// a canonical form: exit 2 naming it otherwise.
    pub fn check_columns(&self, schema: &deltalake::arrow::datatypes::Schema, table: &str) -> Result<()> {
        let available: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for c in self.columns() {
            let flag = if self.group_col.as_deref() == Some(c.as_str()) {
                "--group-col"
            } else if self.stratify.as_deref() == Some(c.as_str()) && !self.keys.contains(&c) {
                "--stratify (the label column)"
            } else {
                "--split-key"
            };
            let Ok(f) = schema.field_with_name(&c) else {
                return Err(Error::Usage(format!(
                    "{flag} `{c}` is not a column of table `{table}` (available: {}); name one of them \
                     with --split-key / --group-col",
                    available.join(", ")
                )));
            };
            if !canonical::supported(f.data_type()) {
                return Err(Error::Usage(format!(
                    "{flag} `{c}` of table `{table}` has type {}, which has no canonical form to hash; \
                     split on other columns (--split-key)",
                    f.data_type()
                )));
            }
        }
        Ok(())
    }

    /// The filter keeping split `index`'s rows.
    pub fn filter(&self, index: usize) -> Expr {
        self.split_of().eq(lit(index as u32))
    }

    /// A row's split (its index in the ratios), as an expression over the key columns.
    pub fn split_of(&self) -> Expr {
        let udf = ScalarUDF::new_from_impl(SplitOf::new(self));
        udf.call(self.columns().iter().map(|c| column(c)).collect())
    }
}

/// A column by its exact name (no identifier parsing: dots and case are kept).
pub fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Parse `--split-ratios NAME=RATIO,...`: names unique, ratios positive and summing to 1
/// within 1e-9.
pub fn parse_ratios(s: &str) -> Result<Vec<(String, f64)>> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = part
            .split_once('=')
            .and_then(|(n, r)| r.trim().parse::<f64>().ok().map(|r| (n.trim().to_string(), r)));
        let Some((name, ratio)) = parsed.filter(|(n, r)| !n.is_empty() && r.is_finite()) else {
            return Err(Error::Usage(format!(
                "--split-ratios: `{part}` is not NAME=RATIO; write e.g. --split-ratios train=0.8,validation=0.1,test=0.1"
            )));
        };
        if ratio <= 0.0 {
            return Err(Error::Usage(format!(
                "--split-ratios: split `{name}` has ratio {ratio}; each must be above 0"
            )));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Error::Usage(format!("--split-ratios: split `{name}` is named more than once")));
        }
        out.push((name, ratio));
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "--split-from needs --split-ratios NAME=RATIO,..., e.g. train=0.8,validation=0.1,test=0.1".into(),
        ));
    }
    let sum: f64 = out.iter().map(|(_, r)| r).sum();
    if (sum - 1.0).abs() > 1e-9 {
        return Err(Error::Usage(format!(
            "--split-ratios `{s}` sums to {sum}, not 1; make the ratios add up to 1"
        )));
    }
    Ok(out)
}

/// xxh64 (seed 0) of the key of row `i`; `buf` is reused.
fn key_hash(keys: &[ArrayRef], i: usize, buf: &mut String) -> u64 {
    buf.clear();
    for (n, k) in keys.iter().enumerate() {
        if n > 0 {
            buf.push(KEY_SEPARATOR);
        }
        canonical::write(k.as_ref(), i, buf);
    }
    XxHash64::oneshot(0, buf.as_bytes())
}

/// The split of a hash under cumulative ratios `cum`.
pub fn bucket(hash: u64, cum: &[f64]) -> usize {
    // `as f64` rounds to nearest; dividing by 2^64 is exact: Python's `h / 2**64` is the same.
    let u = hash as f64 / 18_446_744_073_709_551_616.0;
    cum.iter().position(|c| *c > u).unwrap_or(cum.len() - 1)
}

/// The split function: key columns (and the label when stratified) → split index (UInt32).
#[derive(Debug)]
pub struct SplitOf {
    cum: Vec<f64>,
    n_keys: usize,
    strata: Option<Arc<Strata>>,
    signature: Signature,
}

impl SplitOf {
    fn new(s: &SplitFrom) -> Self {
        SplitOf {
            cum: s.cumulative(),
            n_keys: s.keys.len(),
            strata: s.strata.clone().map(Arc::new),
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    fn split_of(&self, hash: u64, class: Option<&str>) -> usize {
        match (&self.strata, class) {
            (Some(st), Some(c)) => match st.thresholds.get(c) {
                Some(t) => t.iter().position(|t| t.is_some_and(|t| hash < t)).unwrap_or(t.len()),
                None => bucket(hash, &self.cum),
            },
            _ => bucket(hash, &self.cum),
        }
    }
}

impl PartialEq for SplitOf {
    fn eq(&self, o: &Self) -> bool {
        self.cum == o.cum && self.n_keys == o.n_keys && self.strata == o.strata
    }
}
impl Eq for SplitOf {}
impl Hash for SplitOf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.n_keys.hash(state);
        for c in &self.cum {
            c.to_bits().hash(state);
        }
    }
}

impl ScalarUDFImpl for SplitOf {
    fn name(&self) -> &str {
        "delta_hf_split_of"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::UInt32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(n)).collect::<DfResult<_>>()?;
        if arrays.len() != self.n_keys + usize::from(self.strata.is_some()) {
            return Err(DataFusionError::Internal("delta_hf_split_of: wrong number of arguments".into()));
        }
        let (keys, label) = arrays.split_at(self.n_keys);
        let mut buf = String::new();
        let mut class = String::new();
        let out: UInt32Array = (0..n)
            .map(|i| {
                let h = key_hash(keys, i, &mut buf);
                let c = label.first().map(|l| {
                    class.clear();
                    canonical::write(l.as_ref(), i, &mut class);
                    class.as_str()
                });
                Some(self.split_of(h, c) as u32)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The stratified cuts: one pass over the key and label columns of `table` (each class's key
/// hashes are held: 8 bytes a row), then per class the thresholds at the rounded cumulative
/// counts.
pub async fn strata(ctx: &SessionContext, table: DataFrame, s: &SplitFrom) -> Result<Strata> {
    let mut cols: Vec<Expr> = s.keys.iter().map(|c| column(c)).collect();
    // The label may be a key too: a projection needs unique names.
    cols.extend(s.stratify.iter().map(|c| column(c).alias("__delta_hf_stratum")));
    let df = table.select(cols)?;
    let mut by_class: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut stream = df.execute_stream().await?;
    let (mut buf, mut class) = (String::new(), String::new());
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let keys = &batch.columns()[..s.keys.len()];
        let label = batch.column(s.keys.len());
        for i in 0..batch.num_rows() {
            let h = key_hash(keys, i, &mut buf);
            class.clear();
            canonical::write(label.as_ref(), i, &mut class);
            match by_class.get_mut(&class) {
                Some(v) => v.push(h),
                None => {
                    by_class.insert(class.clone(), vec![h]);
                }
            }
        }
    }
    let _ = ctx;
    let cum = s.cumulative();
    let thresholds = by_class
        .into_iter()
        .map(|(c, mut hashes)| {
            hashes.sort_unstable();
            (c, cuts(&hashes, &cum))
        })
        .collect();
    Ok(Strata { thresholds })
}

/// Thresholds of one class: for every split but the last, the hash at its end rank.
fn cuts(sorted: &[u64], cum: &[f64]) -> Vec<Option<u64>> {
    let n = sorted.len();
    cum[..cum.len() - 1]
        .iter()
        .map(|c| {
            let end = ((c * n as f64) + 0.5).floor() as usize;
            sorted.get(end.min(n)).copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_parse_and_refuse() {
        let r = parse_ratios("train=0.8,validation=0.1,test=0.1").unwrap();
        assert_eq!(r.len(), 3);
        for bad in ["train=0.8,test=0.1", "train=0.5,train=0.5", "train", "train=x", "a=1.5,b=-0.5", ""] {
            assert!(matches!(parse_ratios(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn bucket_follows_cumulative_ratios() {
        let cum = [0.8, 0.9, 1.0];
        assert_eq!(bucket(0, &cum), 0);
        assert_eq!(bucket(u64::MAX / 10 * 8 + 1000, &cum), 1);
        assert_eq!(bucket(u64::MAX, &cum), 2);
        // Rounding that leaves the sum just under 1 puts the top hashes in the last split.
        assert_eq!(bucket(u64::MAX, &[0.5, 0.9999999999]), 1);
    }

    #[test]
    fn stratified_cuts_hold_each_class_within_one() {
        let hashes: Vec<u64> = (0..101u64).map(|i| i * 1_000_003).collect();
        let cum = [0.8, 0.9, 1.0];
        let t = cuts(&hashes, &cum);
        let st = Strata { thresholds: [("a".to_string(), t)].into() };
        let f = SplitOf {
            cum: cum.to_vec(),
            n_keys: 1,
            strata: Some(Arc::new(st)),
            signature: Signature::variadic_any(Volatility::Immutable),
        };
        let mut counts = [0usize; 3];
        for h in &hashes {
            counts[f.split_of(*h, Some("a"))] += 1;
        }
        assert_eq!(counts, [81, 10, 10]);
    }
}
