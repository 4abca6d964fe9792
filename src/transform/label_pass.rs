//! The label pass's machinery, which every kind's pass ([`crate::transform::kind::Kind::label_pass`])
//! is made of: before any row is written, null checks and label counts over every split
//! (`sql/null_texts.sql`, `sql/label_counts.sql` — a label-only scan), then one map for all of
//! them ([`label_map::build`]); the checks of list labels and regression targets are in
//! [`super::list_pass`].
//!
//! Rows with a null text or label are refused, naming the column and the counts per split, or
//! with `--drop-nulls` filtered out of the split (and counted as dropped).

use std::sync::Arc;

use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::{DataFrame, SessionContext, lit};

use crate::error::{Error, Result};
use crate::transform::columns::{Columns, LABEL, TEXT, column};
use crate::transform::label_map::{
    self, LabelCounts, LabelMap, LabelMapMode, LabelOrder, ListedLabels, quote_list,
};
use crate::transform::sql;

/// What the label pass is asked to do.
#[derive(Debug, Clone)]
pub struct LabelPass<'a> {
    /// Split names, in command-line order (indexes of `inputs`).
    pub splits: &'a [String],
    /// The user's column names, for messages.
    pub columns: &'a Columns,
    pub drop_nulls: bool,
    pub require_train_labels: bool,
    pub order: LabelOrder,
    pub mode: LabelMapMode,
    /// The label table's name (for messages) and the map it holds.
    pub table: Option<(&'a str, Option<&'a [String]>)>,
    /// A fixed list (`--labels`, `--labels-from`).
    pub listed: Option<&'a ListedLabels>,
}

impl LabelPass<'_> {
    /// One map for every split from the counts (and the label table's map or a fixed list);
    /// `empty` is the warning when no split has a label.
    pub fn build_map(&self, counts: &LabelCounts, empty: &str, warn: &dyn Fn(String)) -> Result<LabelMap> {
        let (table_name, existing) = self.table.unwrap_or(("", None));
        let map = label_map::build(counts, existing, self.listed, self.order, self.mode, table_name)?;
        if map.names.is_empty() {
            warn(empty.into());
        }
        Ok(map)
    }

    /// Null texts: cheap when file statistics show there are none.
    pub async fn null_texts(
        &self,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
    ) -> Result<()> {
        register(ctx, sql::TEXT_INPUT_VIEW, union(inputs, self.splits, TEXT)?)?;
        let mut nulls = vec![0u64; self.splits.len()];
        for b in ctx.sql(sql::NULL_TEXTS).await?.collect().await? {
            for (split, n) in split_counts(&b)? {
                if let Some(i) = self.splits.iter().position(|x| *x == split) {
                    nulls[i] = n;
                }
            }
        }
        let message = || {
            format!(
                "null values in text column `{}`: {}; pass --drop-nulls to drop those rows, or fill them in \
                 --select-sql",
                self.columns.text,
                per_split(self.splits, &nulls)
            )
        };
        self.drop_nulls_or_fail(inputs, dropped, &nulls, TEXT, message)
    }

    /// Label counts: a label-only pass over every split.
    pub async fn count_labels(
        &self,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
    ) -> Result<LabelCounts> {
        register(ctx, sql::LABEL_INPUT_VIEW, union(inputs, self.splits, LABEL)?)?;
        let mut counts = LabelCounts::new(self.splits.to_vec());
        for b in ctx.sql(sql::LABEL_COUNTS).await?.collect().await? {
            let split = as_strings(b.column(0))?;
            let label = as_strings(b.column(1))?;
            let n = as_i64(b.column(2))?;
            for r in 0..b.num_rows() {
                let l = (!label.is_null(r)).then(|| label.value(r));
                counts.add(split.value(r), l, n.value(r) as u64)?;
            }
        }
        let message = || {
            format!(
                "null values in label column `{}`: {}; pass --drop-nulls to drop those rows",
                self.columns.label,
                per_split(self.splits, &counts.nulls)
            )
        };
        self.drop_nulls_or_fail(inputs, dropped, &counts.nulls, LABEL, message)?;
        Ok(counts)
    }

    pub(super) fn drop_nulls_or_fail(
        &self,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
        nulls: &[u64],
        col: &str,
        message: impl Fn() -> String,
    ) -> Result<()> {
        if nulls.iter().all(|n| *n == 0) {
            return Ok(());
        }
        if !self.drop_nulls {
            return Err(Error::Data(message()));
        }
        for (i, n) in nulls.iter().enumerate() {
            if *n > 0 {
                inputs[i] = inputs[i].clone().filter(column(col).is_not_null())?;
                dropped[i] += n;
            }
        }
        Ok(())
    }

    /// Labels a split has that `train` never shows: a warning, or an error with
    /// `--require-train-labels`.
    pub fn labels_outside_train(&self, counts: &LabelCounts, warn: &dyn Fn(String)) -> Result<()> {
        let Some(train) = self.splits.iter().position(|n| n == "train") else { return Ok(()) };
        for (i, name) in self.splits.iter().enumerate() {
            let absent = if i == train { Vec::new() } else { label_map::absent_from(counts, i, train) };
            if absent.is_empty() {
                continue;
            }
            let msg = format!(
                "split `{name}` has {} label{} that `train` never shows: {}",
                absent.len(),
                if absent.len() == 1 { "" } else { "s" },
                quote_list(&absent)
            );
            if self.require_train_labels {
                return Err(Error::Data(format!(
                    "{msg}; the model cannot learn them (drop --require-train-labels to allow it)"
                )));
            }
            warn(msg);
        }
        Ok(())
    }
}

pub(super) fn register(ctx: &SessionContext, view: &str, df: DataFrame) -> Result<()> {
    ctx.deregister_table(view)?;
    ctx.register_table(view, df.into_view())?;
    Ok(())
}

/// `SELECT '<split>' AS split, <column> FROM <each split>` unioned.
fn union(inputs: &[DataFrame], names: &[String], col: &str) -> Result<DataFrame> {
    union_columns(inputs, names, &[col])
}

/// `SELECT '<split>' AS split, <columns> FROM <each split>` unioned.
pub(super) fn union_columns(inputs: &[DataFrame], names: &[String], cols: &[&str]) -> Result<DataFrame> {
    let mut out: Option<DataFrame> = None;
    for (df, name) in inputs.iter().zip(names) {
        let mut exprs = vec![lit(name.as_str()).alias("split")];
        exprs.extend(cols.iter().map(|c| column(c).alias(*c)));
        let part = df.clone().select(exprs)?;
        out = Some(match out {
            None => part,
            Some(acc) => acc.union(part)?,
        });
    }
    out.ok_or_else(|| Error::Internal("no split".into()))
}

fn split_counts(b: &RecordBatch) -> Result<Vec<(String, u64)>> {
    let split = as_strings(b.column(0))?;
    let n = as_i64(b.column(1))?;
    Ok((0..b.num_rows()).map(|r| (split.value(r).to_string(), n.value(r) as u64)).collect())
}

pub(crate) fn as_strings(a: &Arc<dyn Array>) -> Result<StringArray> {
    let c = deltalake::arrow::compute::cast(a, &DataType::Utf8)?;
    Ok(c.as_any().downcast_ref::<StringArray>().expect("utf8").clone())
}

pub(crate) fn as_i64(a: &Arc<dyn Array>) -> Result<Int64Array> {
    let c = deltalake::arrow::compute::cast(a, &DataType::Int64)?;
    Ok(c.as_any().downcast_ref::<Int64Array>().expect("int64").clone())
}

pub(super) fn per_split(names: &[String], counts: &[u64]) -> String {
    names
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{n} row{} in `{s}`", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}
