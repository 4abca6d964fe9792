//! Writing Delta tables: `pull`'s per-split tables and the label table.
//!
//! Every table delta-hf creates or replaces is opened here ([`open_for_write`]): a local path,
//! a URI, or a Unity Catalog name — an existing one is written with `READ_WRITE` credentials,
//! a new one is created as EXTERNAL at a given location (or under its schema's storage root)
//! with `PATH_CREATE_TABLE` credentials and registered after its first commit
//! ([`Created::register`]).
//!
//! [`write`] semantics (`pull`):
//! - the plan's record batches stream into Parquet files as they are produced (DataFusion's
//!   scan → delta-rs' writer); nothing holds the whole input in memory;
//! - one commit per table: `WRITE` in mode `ErrorIfExists` for a new table, `Overwrite` (schema
//!   replaced too) with `--overwrite`; a failed write commits nothing, so the table shows either
//!   its previous version or the complete new one;
//! - the commit metadata carries `delta_hf` (what was written from where), readable with
//!   `DESCRIBE HISTORY` or `deltalake.DeltaTable(..).history()`.

use std::sync::Arc;

use deltalake::arrow::datatypes::Schema;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::storage::connector::Connector;
use crate::storage::location::{Location, TableRef, redact};
use crate::storage::tables::Access;
use crate::storage::unity::{UcError, UcName, VendFor, VendedCredentials};

/// A Unity Catalog table created by this run, to register once its first commit exists.
#[derive(Debug, Clone)]
pub struct Created {
    pub name: UcName,
    pub location: String,
}

impl Created {
    /// Register the table as EXTERNAL at its location with the columns of `schema`.
    ///
    /// A create whose answer was lost is retried and then refused (`TABLE_ALREADY_EXISTS`):
    /// when the table is then there at our location, it is ours (or an identical
    /// registration), not a conflict.
    pub async fn register(&self, cx: &Connector, schema: &Schema) -> Result<()> {
        let uc = cx.unity().await?;
        let Err(e) = uc.create_external_table(&self.name, &self.location, schema).await else {
            return Ok(());
        };
        if let Ok(t) = uc.get_table(&self.name).await
            && t.storage_location.as_deref().is_some_and(|l| same_location(l, &self.location))
        {
            tracing::debug!(target: "delta_hf::unity", "table `{}` is registered at our location", self.name);
            return Ok(());
        }
        Err(match e {
            UcError::NotFound(m) => Error::output(format!("cannot register table `{}`: {m}", self.name)),
            UcError::Other(e) => e,
        })
    }
}

/// Two storage locations are the same table (a trailing `/` aside).
fn same_location(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Where a table that does not exist yet is created, and what to say when there is nowhere.
#[derive(Debug, Clone, Copy)]
pub struct NewTable<'a> {
    /// The location the user named (`--label-table-location`), if any.
    pub location: Option<&'a str>,
    /// The flag that names one, for messages.
    pub flag: &'a str,
}

/// The table for writing: its latest version if it exists, else an empty table handle at its
/// location (created by the first write). For a Unity Catalog name that does not exist yet, the
/// table is created at `new.location` (or the schema's storage root) and must be registered
/// after the first commit with [`Created::register`].
pub async fn open_for_write(
    table: &TableRef,
    cx: &Connector,
    new: NewTable<'_>,
) -> Result<(DeltaTable, Option<Created>)> {
    if let Location::Local(dir) = &table.location {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create table directory", dir, e))?;
    }
    let (builder, created) = match table.builder(cx, Access::ReadWrite, None).await? {
        Some(b) => (b, None),
        None => {
            let Location::Unity(name) = &table.location else {
                return Err(Error::Internal(format!("table `{}` resolved to nothing", table.name)));
            };
            let (b, location) = new_uc_table(table, name, cx, new).await?;
            (b, Some(Created { name: name.clone(), location }))
        }
    };
    let mut delta = builder.build().map_err(|e| table.unreadable(e))?;
    match delta.load().await {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => {}
        Err(e) => return Err(table.load_error(e)),
    }
    Ok((delta, created))
}

/// A builder at the location of a new Unity Catalog table, with credentials to create it.
async fn new_uc_table(
    table: &TableRef,
    name: &UcName,
    cx: &Connector,
    new: NewTable<'_>,
) -> Result<(DeltaTableBuilder, String)> {
    let uc = cx.unity().await?;
    let location = match new.location {
        Some(l) => l.trim_end_matches('/').to_string(),
        None => match uc.schema_storage_root(name).await? {
            Some(root) => format!("{}/{}", root.trim_end_matches('/'), name.name),
            None => {
                return Err(Error::Usage(format!(
                    "table `{name}` does not exist and schema `{}.{}` has no storage root; name a \
                     storage location for it{}",
                    name.catalog,
                    name.schema,
                    if new.flag.is_empty() { String::new() } else { format!(" with {}", new.flag) }
                )));
            }
        },
    };
    let url = Url::parse(&location)
        .map_err(|e| Error::Usage(format!("table location `{location}` is not a storage URI: {e}")))?;
    let mut b = DeltaTableBuilder::from_url(url.clone()).map_err(|e| table.unreadable(e))?;
    if url.scheme() != "file" {
        let vended = VendedCredentials::new(
            uc,
            format!("new table location `{}`", redact(&url)),
            VendFor::Path { url: location.clone(), operation: "PATH_CREATE_TABLE" },
        )
        .await?;
        b = b
            .with_storage_backend(cx.vended_store(&url, vended)?, url)
            .with_storage_options(cx.options().clone());
    }
    Ok((b, location))
}

/// Refuse an existing table unless `overwrite` (before any download or write).
pub async fn check_target(table: &TableRef, overwrite: bool, cx: &Connector) -> Result<()> {
    let exists = table.exists(cx).await?;
    if exists && !overwrite {
        return Err(Error::output(format!(
            "table `{}` already exists; pass --overwrite to replace it (a new table version), or \
             pick another target",
            table.name
        )));
    }
    // A new Unity Catalog table goes under its schema's storage root: the schema must exist.
    if let (false, Location::Unity(name)) = (exists, &table.location) {
        cx.unity().await?.schema_storage_root(name).await?;
    }
    if let Location::Local(dir) = &table.location
        && dir.exists()
        && !dir.join("_delta_log").is_dir()
        && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(Error::output(format!(
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
    let (delta, created) = open_for_write(table, cx, NewTable { location: None, flag: "" }).await?;
    let schema = df.schema().as_arrow().clone();
    // The run id makes a commit recognisable as ours when the store applied it but its answer was
    // lost (a retried conditional create then finds the version taken).
    let mut metadata = metadata;
    let fresh = uuid::Uuid::new_v4().to_string();
    if let Value::Object(m) = &mut metadata {
        m.entry("run_id").or_insert(Value::String(fresh.clone()));
    }
    let run_id = metadata["run_id"].as_str().unwrap_or(&fresh).to_string();
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
    let subject = format!("table `{}`", table.name);
    let version = match builder.await {
        Ok(written) => written.version().unwrap_or_default(),
        Err(e) => match committed_by(table, cx, &run_id).await {
            Some(v) => {
                tracing::info!("{subject}: the commit's answer was lost, but version {v} is ours");
                v
            }
            None => {
                return Err(Error::upstream(e, &subject, |m| {
                    Error::output(format!("cannot write {subject}: {m}"))
                }));
            }
        },
    };
    if let Some(c) = created {
        c.register(cx, &schema).await?;
    }
    Ok(version)
}

/// The version, among the table's last few, whose commit carries `run_id` in its `delta_hf`
/// metadata: a commit of this run that the store applied though its answer was lost (the
/// retried conditional create then found the version taken — by us).
pub async fn committed_by(table: &TableRef, cx: &Connector, run_id: &str) -> Option<u64> {
    use futures::StreamExt;
    let builder = table.builder(cx, Access::Read, None).await.ok()??;
    let delta = builder.load().await.ok()?;
    let latest = delta.version()?;
    let history: Vec<_> = delta.history(Some(5)).collect().await;
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
