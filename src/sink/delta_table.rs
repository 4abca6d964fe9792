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

use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::storage::Connector;
use crate::source::table::{Location, TableRef};

/// Refuse an existing table unless `overwrite` (before any download or write).
pub async fn check_target(table: &TableRef, overwrite: bool, cx: &Connector) -> Result<()> {
    if table.exists(cx).await? && !overwrite {
        return Err(Error::Output(format!(
            "table `{}` already exists; pass --overwrite to replace it (a new table version), or \
             pick another target",
            table.name
        )));
    }
    if let Location::Local(dir) = &table.location
        && dir.exists()
        && !dir.join("_delta_log").is_dir()
        && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(Error::Output(format!(
            "`{}` exists and is not a Delta table; pick an empty or new location",
            dir.display()
        )));
    }
    Ok(())
}

/// Write `df` as the content of `table` in one commit carrying `metadata` as `delta_hf`;
/// returns the version committed.
pub async fn write(
    table: &TableRef,
    cx: &Connector,
    ctx: &SessionContext,
    df: DataFrame,
    overwrite: bool,
    metadata: Value,
) -> Result<u64> {
    // A Unity Catalog name that does not exist yet is created under its schema's storage root.
    let (delta, created) = table.open_for_write(cx, None).await?;
    let columns: Vec<(String, &'static str, bool)> = df
        .schema()
        .as_arrow()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), uc_type(f.data_type()), f.is_nullable()))
        .collect();
    // The run id makes a commit recognisable as ours when the store applied it but its answer was
    // lost (a retried conditional create then finds the version taken).
    let mut metadata = metadata;
    let run_id = uuid::Uuid::new_v4().to_string();
    if let Value::Object(m) = &mut metadata {
        m.entry("run_id").or_insert(Value::String(run_id.clone()));
    }
    let run_id = metadata["run_id"].as_str().unwrap_or(&run_id).to_string();
    // No retry inside delta-rs: a taken version is checked here, never re-committed on top.
    let props =
        CommitProperties::default().with_metadata([("delta_hf".to_string(), metadata)]).with_max_retries(0);
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
    let version = match builder.await {
        Ok(written) => written.version().unwrap_or_default() as u64,
        Err(e) => match committed_by(table, cx, &run_id).await {
            Some(v) => {
                tracing::info!("table {}: the commit's answer was lost, but version {v} is ours", table.name);
                v
            }
            None => {
                return Err(match crate::source::table::access_error(&e) {
                    Some(m) => Error::Access(format!("table `{}`: {m}", table.name)),
                    None => Error::Output(format!("cannot write table `{}`: {e}", table.name)),
                });
            }
        },
    };
    if let Some(c) = created {
        c.register(cx, &columns).await?;
    }
    Ok(version)
}

/// The Unity Catalog type name of an Arrow type (for registering a new table).
fn uc_type(t: &deltalake::arrow::datatypes::DataType) -> &'static str {
    use deltalake::arrow::datatypes::DataType as D;
    match t {
        D::Boolean => "BOOLEAN",
        D::Int8 => "BYTE",
        D::Int16 => "SHORT",
        D::Int32 | D::UInt8 | D::UInt16 => "INT",
        D::Int64 | D::UInt32 | D::UInt64 => "LONG",
        D::Float16 | D::Float32 => "FLOAT",
        D::Float64 => "DOUBLE",
        D::Date32 | D::Date64 => "DATE",
        D::Timestamp(_, Some(_)) => "TIMESTAMP",
        D::Timestamp(_, None) => "TIMESTAMP_NTZ",
        D::Decimal128(..) | D::Decimal256(..) => "DECIMAL",
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "BINARY",
        D::List(_) | D::LargeList(_) | D::ListView(_) | D::FixedSizeList(..) => "ARRAY",
        D::Struct(_) => "STRUCT",
        D::Map(..) => "MAP",
        _ => "STRING",
    }
}

/// The version, among the table's last few, whose commit carries `run_id` in its `delta_hf`
/// metadata: a commit of this run that the store applied though its answer was lost.
pub async fn committed_by(table: &TableRef, cx: &Connector, run_id: &str) -> Option<u64> {
    let opened = table.open(cx).await.ok()?;
    let latest = opened.table.version()? as u64;
    let history: Vec<_> = opened.table.history(Some(5)).collect().await;
    for (i, c) in history.into_iter().enumerate() {
        let Ok(c) = c else { continue };
        let meta = match c.info.get("delta_hf") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => continue,
        };
        if meta["run_id"].as_str() == Some(run_id) {
            return latest.checked_sub(i as u64);
        }
    }
    None
}

/// The `delta_hf` commit metadata of the table's latest commit, if any.
pub async fn latest_metadata(table: &TableRef, cx: &Connector) -> Result<Option<Value>> {
    let opened = table.open(cx).await?;
    let mut history = opened.table.history(Some(1));
    let Some(c) = history.next().await else { return Ok(None) };
    let c = c.map_err(|e| Error::TableUnreadable { table: table.name.clone(), reason: e.to_string() })?;
    Ok(c.info.get("delta_hf").cloned())
}
