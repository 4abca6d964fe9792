//! Stage 3 for `pull`: a Delta table written from a DataFusion plan, streamed.
//!
//! Every table `pull` creates or replaces goes through [`write`] (and is checked first by
//! [`check_target`]), so the table plumbing — local paths now, cloud URIs and Unity Catalog
//! names through [`TableRef`] — lives in one place.
//!
//! Semantics:
//! - the plan's record batches stream into Parquet files as they are produced (DataFusion's
//!   scan → delta-rs' writer); nothing holds the whole input in memory;
//! - one commit per table: `WRITE` in mode `ErrorIfExists` for a new table, `Overwrite` (schema
//!   replaced too) with `--overwrite`; a failed write commits nothing, so the table shows either
//!   its previous version or the complete new one;
//! - the commit metadata carries `delta_hf` (what was written from where), readable with
//!   `DESCRIBE HISTORY` or `deltalake.DeltaTable(..).history()`.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::table::{Location, TableRef};

/// Refuse an existing table unless `overwrite` (before any download or write).
// `Location` gains cloud and Unity Catalog variants; only local directories need these checks.
#[allow(irrefutable_let_patterns)]
pub async fn check_target(table: &TableRef, overwrite: bool) -> Result<()> {
    if table.exists().await? && !overwrite {
        return Err(Error::Output(format!(
            "table `{}` already exists; pass --overwrite to replace it (a new table version), or \
             pick another target",
            table.name
        )));
    }
    if let Location::Local(dir) = &table.location {
        if dir.exists()
            && !dir.join("_delta_log").is_dir()
            && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(Error::Output(format!(
                "`{}` exists and is not a Delta table; pick an empty or new location",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Write `df` as the content of `table` in one commit carrying `metadata` as `delta_hf`;
/// returns the version committed.
#[allow(irrefutable_let_patterns)]
pub async fn write(
    table: &TableRef,
    ctx: &SessionContext,
    df: DataFrame,
    overwrite: bool,
    metadata: Value,
) -> Result<u64> {
    if let Location::Local(dir) = &table.location {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create table directory", dir, e))?;
    }
    let delta = DeltaTable::try_from_url(table.url()?)
        .await
        .map_err(|e| Error::TableUnreadable { table: table.name.clone(), reason: e.to_string() })?;
    let props = CommitProperties::default().with_metadata([("delta_hf".to_string(), metadata)]);
    let mode = if overwrite { SaveMode::Overwrite } else { SaveMode::ErrorIfExists };
    let mut builder = delta
        .write(Vec::new())
        .with_input_plan(df.logical_plan().clone())
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(mode)
        .with_commit_properties(props);
    if overwrite {
        builder = builder.with_schema_mode(SchemaMode::Overwrite);
    }
    let written =
        builder.await.map_err(|e| Error::Output(format!("cannot write table `{}`: {e}", table.name)))?;
    Ok(written.version().unwrap_or_default() as u64)
}

/// The `delta_hf` commit metadata of the table's latest commit, if any.
pub async fn latest_metadata(table: &TableRef) -> Result<Option<Value>> {
    let opened = table.open().await?;
    let mut history = opened.table.history(Some(1));
    while let Some(c) = history.next().await {
        let c = c.map_err(|e| Error::TableUnreadable { table: table.name.clone(), reason: e.to_string() })?;
        if let Some(v) = c.info.get("delta_hf") {
            return Ok(Some(v.clone()));
        }
        return Ok(None);
    }
    Ok(None)
}
