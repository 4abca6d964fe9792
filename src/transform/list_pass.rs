//! The label-pass checks of list labels (multi-label, token classification) and of regression
//! targets, which their kinds' passes are made of: checks over every split before any row is
//! written, then, for lists, counts over every element of every split (`sql/list_label_checks.sql`, `sql/token_checks.sql`,
//! `sql/multi_label_counts.sql`, `sql/token_label_counts.sql`, `sql/null_labels.sql`).
//!
//! - a NULL list (or NULL words) follows the null policy: refused with counts, or dropped with
//!   `--drop-nulls`; so does a NULL (or NaN) regression target;
//! - a NULL element of a list (a NULL label, word or tag) is always refused, with counts;
//! - words and tags of different lengths are refused with the count and the first rows'
//!   positions per split.

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::transform::columns::{LABEL, TOKENS, column};
use crate::transform::label_map::LabelCounts;
use crate::transform::label_pass::{LabelPass, as_i64, as_strings, per_split, register, union_columns};
use crate::transform::sql;

/// Positions shown per split for words and tags of different lengths.
const SHOWN_POSITIONS: usize = 5;

impl LabelPass<'_> {
    /// Counts over every element of every split's list labels (`query`: multi-label or token
    /// tags). The list checks ran first, with the `null_elements` function registered.
    pub async fn count_list_labels(
        &self,
        ctx: &SessionContext,
        inputs: &[DataFrame],
        query: &str,
    ) -> Result<LabelCounts> {
        register(ctx, sql::LABEL_INPUT_VIEW, union_columns(inputs, self.splits, &[LABEL])?)?;
        let mut counts = LabelCounts::new(self.splits.to_vec());
        for b in ctx.sql(query).await?.collect().await? {
            let split = as_strings(b.column(0))?;
            let label = as_strings(b.column(1))?;
            let n = as_i64(b.column(2))?;
            for r in 0..b.num_rows() {
                counts.add(split.value(r), (!label.is_null(r)).then(|| label.value(r)), n.value(r) as u64)?;
            }
        }
        Ok(counts)
    }

    /// Multi-label: NULL lists (null policy) and NULL elements (refused). Rows per split.
    pub async fn list_checks(
        &self,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
    ) -> Result<Vec<u64>> {
        register(ctx, sql::LABEL_INPUT_VIEW, union_columns(inputs, self.splits, &[LABEL])?)?;
        let c = self.per_split_sums(ctx, sql::LIST_LABEL_CHECKS, 4).await?;
        let (rows, null_lists, rows_with_null) = (&c[0], &c[1], &c[2]);
        if rows_with_null.iter().any(|n| *n > 0) {
            return Err(Error::Data(format!(
                "null elements in label column `{}`: {}; a list of labels cannot hold a null (remove them \
                 in --select-sql, e.g. array_remove_all)",
                self.columns.label,
                per_split(self.splits, rows_with_null)
            )));
        }
        let message = || {
            format!(
                "null values in label column `{}`: {}; pass --drop-nulls to drop those rows (an empty \
                 list is a row with no label)",
                self.columns.label,
                per_split(self.splits, null_lists)
            )
        };
        self.drop_nulls_or_fail(inputs, dropped, null_lists, LABEL, message)?;
        Ok(rows.iter().zip(null_lists).map(|(r, n)| r - if self.drop_nulls { *n } else { 0 }).collect())
    }

    /// Token classification: NULL word or tag lists (null policy), NULL words or tags
    /// (refused), rows whose words and tags differ in length (refused, with positions).
    pub async fn token_checks(
        &self,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
    ) -> Result<Vec<u64>> {
        let tokens_col = self.columns.tokens.as_deref().unwrap_or(TOKENS);
        register(ctx, sql::TOKEN_INPUT_VIEW, union_columns(inputs, self.splits, &[TOKENS, LABEL])?)?;
        let c = self.per_split_sums(ctx, sql::TOKEN_CHECKS, 5).await?;
        let (rows, null_rows, null_tokens, null_tags, mismatched) = (&c[0], &c[1], &c[2], &c[3], &c[4]);
        for (what, col, counts) in
            [("words", tokens_col, null_tokens), ("tags", self.columns.label.as_str(), null_tags)]
        {
            if counts.iter().any(|n| *n > 0) {
                return Err(Error::Data(format!(
                    "null {what} in column `{col}`: {}; every word and tag must be a value (fix them in \
                     --select-sql)",
                    per_split_elements(self.splits, counts)
                )));
            }
        }
        if mismatched.iter().any(|n| *n > 0) {
            let mut parts = Vec::new();
            for (i, n) in mismatched.iter().enumerate().filter(|(_, n)| **n > 0) {
                let at = self.mismatch_positions(ctx, &inputs[i]).await?;
                let shown: Vec<String> = at.iter().map(u64::to_string).collect();
                let more = if *n as usize > at.len() { ", ..." } else { "" };
                let rows = if shown.len() == 1 { "row" } else { "rows" };
                parts.push(format!("{n} in `{}` ({rows} {}{more})", self.splits[i], shown.join(", ")));
            }
            let total: u64 = mismatched.iter().sum();
            return Err(Error::Data(format!(
                "the words of `{tokens_col}` and the tags of `{}` differ in length in {total} row{}: {}; every \
                 word needs exactly one tag (rows are counted from 0 in each split's order)",
                self.columns.label,
                if total == 1 { "" } else { "s" },
                parts.join(", ")
            )));
        }
        let message = || {
            format!(
                "null values in column `{tokens_col}` or `{}`: {}; pass --drop-nulls to drop those rows",
                self.columns.label,
                per_split(self.splits, null_rows)
            )
        };
        if null_rows.iter().any(|n| *n > 0) {
            if !self.drop_nulls {
                return Err(Error::Data(message()));
            }
            for (i, n) in null_rows.iter().enumerate().filter(|(_, n)| **n > 0) {
                let keep = column(TOKENS).is_not_null().and(column(LABEL).is_not_null());
                inputs[i] = inputs[i].clone().filter(keep)?;
                dropped[i] += n;
            }
        }
        Ok(rows.iter().zip(null_rows).map(|(r, n)| r - if self.drop_nulls { *n } else { 0 }).collect())
    }

    /// The first positions (row numbers in the split's order, from 0) of rows whose words and
    /// tags differ in length: the split's partitions read in order, as they are written.
    async fn mismatch_positions(&self, ctx: &SessionContext, input: &DataFrame) -> Result<Vec<u64>> {
        register(ctx, sql::TOKEN_SPLIT_VIEW, input.clone())?;
        let df = ctx.sql(sql::TOKEN_MISMATCHES).await?;
        let mut at = Vec::new();
        let mut offset = 0u64;
        for mut stream in crate::storage::session::streams(df).await? {
            while let Some(batch) = stream.next().await {
                let batch: RecordBatch = batch?;
                let flags = batch.column(0).as_boolean();
                for r in (0..batch.num_rows()).filter(|r| flags.value(*r)) {
                    if at.len() < SHOWN_POSITIONS {
                        at.push(offset + r as u64);
                    }
                }
                offset += batch.num_rows() as u64;
            }
        }
        Ok(at)
    }

    /// Regression: null (or NaN) targets follow the null policy (the texts were checked
    /// first). Rows per split.
    pub async fn regression_checks(
        &self,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        dropped: &mut [u64],
    ) -> Result<Vec<u64>> {
        register(ctx, sql::LABEL_INPUT_VIEW, union_columns(inputs, self.splits, &[LABEL])?)?;
        let c = self.per_split_sums(ctx, sql::NULL_LABELS, 2).await?;
        let nulls: Vec<u64> = c[0].iter().zip(&c[1]).map(|(rows, labelled)| rows - labelled).collect();
        let message = || {
            format!(
                "null values in label column `{}` (NaN counts as null): {}; pass --drop-nulls to drop those rows",
                self.columns.label,
                per_split(self.splits, &nulls)
            )
        };
        self.drop_nulls_or_fail(inputs, dropped, &nulls, LABEL, message)?;
        Ok(c[0].iter().zip(&nulls).map(|(r, n)| r - if self.drop_nulls { *n } else { 0 }).collect())
    }

    /// Run a `SELECT split, <n sums> ... GROUP BY split` statement: the sums per split, in split
    /// order (0 for a split with no rows).
    async fn per_split_sums(&self, ctx: &SessionContext, query: &str, n: usize) -> Result<Vec<Vec<u64>>> {
        let mut out = vec![vec![0u64; self.splits.len()]; n];
        for b in ctx.sql(query).await?.collect().await? {
            let split = as_strings(b.column(0))?;
            for (k, sums) in out.iter_mut().enumerate() {
                let v = as_i64(b.column(k + 1))?;
                for r in 0..b.num_rows() {
                    if let Some(i) = self.splits.iter().position(|x| x == split.value(r)) {
                        sums[i] = if v.is_null(r) { 0 } else { v.value(r) as u64 };
                    }
                }
            }
        }
        Ok(out)
    }
}

/// `3 in `train`, 1 in `test``: element counts per split.
fn per_split_elements(names: &[String], counts: &[u64]) -> String {
    names
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{n} in `{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
