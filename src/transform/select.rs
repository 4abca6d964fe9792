//! Select: one DataFrame per split with the export columns — the user's text, label and kept
//! columns bound by exact name (no SQL parsing of user input), or the result of a
//! `--select-sql` query run in a locked-down session (queries only).

use std::path::PathBuf;

use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};

use crate::error::{Error, Result};
use crate::transform::columns::{Columns, LABEL, TEXT, TOKENS, column};
use crate::transform::sql;

/// How every split is selected.
#[derive(Debug, Clone)]
pub struct Selection {
    pub columns: Columns,
    /// The `--select-sql` file and its text.
    pub select_sql: Option<(PathBuf, String)>,
    /// `false` with `--no-labels`: the selected columns go out as they are.
    pub with_labels: bool,
    /// With `--tokenizer`: the text column is needed (also with `--no-labels`), and the
    /// `--text-pair-col` column, if any, rides along as a kept column.
    pub tokenize: Option<Option<String>>,
}

impl Selection {
    /// The DataFrame of split `split` (registered in `ctx` under its name) with the export
    /// columns; `table` names its table in messages.
    pub async fn split(&self, ctx: &SessionContext, split: &str, table: &str) -> Result<DataFrame> {
        let (base, what, source_name) = match &self.select_sql {
            Some((path, query)) => {
                let provider = ctx.table_provider(TableReference::bare(split.to_string())).await?;
                ctx.deregister_table(sql::SOURCE_VIEW)?;
                ctx.register_table(sql::SOURCE_VIEW, provider)?;
                // Queries only: no DDL, DML or SET statements from the file.
                let options = SQLOptions::new()
                    .with_allow_ddl(false)
                    .with_allow_dml(false)
                    .with_allow_statements(false);
                let df = ctx.sql_with_options(query, options).await.map_err(|e| {
                    Error::Data(format!(
                        "--select-sql `{}` failed for split `{split}` (table `{table}`): {e}",
                        path.display(),
                    ))
                })?;
                (df, "the --select-sql result for split", split.to_string())
            }
            None => (ctx.table(TableReference::bare(split.to_string())).await?, "table", table.to_string()),
        };
        let available: Vec<String> = base.schema().fields().iter().map(|f| f.name().clone()).collect();
        let need = |c: &str, flag: &'static str| -> Result<()> {
            if available.iter().any(|a| a == c) {
                return Ok(());
            }
            Err(Error::MissingColumn {
                column: c.to_string(),
                what,
                table: source_name.clone(),
                available: available.join(", "),
                flag,
            })
        };
        let c = &self.columns;
        for k in &c.keep {
            need(k, "--keep-col")?;
        }
        let mut keep = c.keep.clone();
        if let Some(pair) = &self.tokenize {
            // Token classification tokenizes the words (checked below), not a text column.
            if c.tokens.is_none() || !self.with_labels {
                need(&c.text, "--text-col")?;
            }
            if let Some(p) = pair {
                need(p, "--text-pair-col")?;
                if !keep.contains(p) {
                    keep.push(p.clone());
                }
            }
            if !self.with_labels && !c.keep.is_empty() && !keep.contains(&c.text) {
                keep.insert(0, c.text.clone());
            }
        }
        if self.with_labels {
            need(&c.label, "--label-col")?;
            // The label as it is: its type decides the label kind, which casts it
            // ([`crate::transform::kind::shape`]).
            let mut exprs = match &c.tokens {
                Some(tokens) => {
                    need(tokens, "--tokens-col")?;
                    vec![column(tokens).alias(TOKENS)]
                }
                None => {
                    need(&c.text, "--text-col")?;
                    vec![column(&c.text).alias(TEXT)]
                }
            };
            exprs.push(column(&c.label).alias(LABEL));
            exprs.extend(keep.iter().map(|k| column(k).alias(k)));
            Ok(base.select(exprs)?)
        } else if !c.keep.is_empty() {
            Ok(base.select(keep.iter().map(|k| column(k).alias(k)).collect::<Vec<_>>())?)
        } else {
            Ok(base)
        }
    }
}

/// For a fan-out (`plan`): a `--select-sql` result must be computed row by row from the split
/// alone (projections and filters over `source` or the split's own table), because each task
/// runs the query over its own files only. Sorts, aggregates, joins, limits, windows, unions
/// and subqueries would give a task's rows a meaning that depends on the other tasks' files.
pub fn check_row_local(df: &DataFrame, split: &str, path: &std::path::Path) -> Result<()> {
    use deltalake::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use deltalake::datafusion::logical_expr::LogicalPlan;
    let plan = df.clone().into_optimized_plan()?;
    let mut bad: Option<String> = None;
    plan.apply(|node| {
        let ok = match node {
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => true,
            LogicalPlan::TableScan(t) => {
                let name = t.table_name.table();
                name == sql::SOURCE_VIEW || name == split
            }
            _ => false,
        };
        if !ok {
            bad = Some(node.display().to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match bad {
        None => Ok(()),
        Some(node) => Err(Error::Usage(format!(
            "--select-sql `{}` for split `{split}` does more than select and filter rows of `source` (it has \
             `{node}`), so it cannot be split into tasks that each read some of the files: plan takes \
             queries that work row by row (SELECT ... FROM source WHERE ...); run prepare for this query, or \
             materialise its result as a table first",
            path.display()
        ))),
    }
}
