//! How a [`TableRef`] is reached as Delta storage: a `DeltaTableBuilder` for a local path, a
//! URI (through the connector's store) or a Unity Catalog name (resolved through the catalog,
//! with credentials vended for the access asked), and what a failed load means.
//!
//! Reading a table (protocol checks, snapshots) is [`crate::source::table`]'s; creating one is
//! [`crate::sink::delta`]'s. Both reach storage only through here.
//!
//! A failed load is decided by delta-rs' error variants (`NotATable`: no table there;
//! `InvalidVersion`: no such version) and [`crate::error::classify`] (access); only the kernel's
//! wording of the rest is read as text, in [`crate::error::boundary`].

use std::sync::Arc;

use deltalake::{DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result, boundary};
use crate::storage::connector::Connector;
use crate::storage::location::{Location, TableRef};
use crate::storage::unity::{UcError, VendFor, VendedCredentials};

/// What a run will do with a table, which decides the credentials Unity Catalog is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

impl Access {
    fn operation(self) -> &'static str {
        match self {
            Access::Read => "READ",
            Access::ReadWrite => "READ_WRITE",
        }
    }
}

/// A wrapper put around the table's object store (e.g. a read-only protocol view).
pub type StoreWrap = fn(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>;

impl TableRef {
    /// A builder for the table's storage: local, by URI with the storage options, or through
    /// Unity Catalog with vended credentials. `None` when a Unity Catalog table does not exist.
    /// With `wrap`, the table is read through that store wrapper (which needs our own store).
    pub async fn builder(
        &self,
        cx: &Connector,
        access: Access,
        wrap: Option<StoreWrap>,
    ) -> Result<Option<DeltaTableBuilder>> {
        let wrapped = |store: Arc<dyn ObjectStore>| match wrap {
            Some(w) => w(store),
            None => store,
        };
        let local = |b: DeltaTableBuilder, url: Url| match wrap {
            Some(w) => b.with_storage_backend(w(Arc::new(object_store::local::LocalFileSystem::new())), url),
            None => b,
        };
        match &self.location {
            Location::Local(_) => {
                let url = self.url()?;
                let b = DeltaTableBuilder::from_url(url.clone()).map_err(|e| self.unreadable(e))?;
                Ok(Some(local(b, url)))
            }
            Location::Uri(url) => {
                // Through the connector's store (configured as deltalake's factory for the
                // scheme would, see `Connector::store`), for reads and writes alike, so a table, the label table
                // and the output are all reached the same way. The options also go to
                // deltalake's log-store factories (S3 locking and the like).
                let b = DeltaTableBuilder::from_url(url.clone())
                    .map_err(|e| self.unreadable(e))?
                    .with_storage_options(cx.options().clone())
                    .with_storage_backend(wrapped(cx.store(url)?), url.clone());
                Ok(Some(b))
            }
            Location::Unity(name) => {
                let uc = cx.unity().await?;
                let info = match uc.get_table(name).await {
                    Ok(info) => info,
                    Err(UcError::NotFound(_)) => return Ok(None),
                    Err(UcError::Other(e)) => return Err(e),
                };
                let ty = info.table_type.as_deref().unwrap_or("").to_ascii_uppercase();
                if matches!(ty.as_str(), "VIEW" | "MATERIALIZED_VIEW" | "STREAMING_TABLE" | "METRIC_VIEW") {
                    return Err(self.unreadable(format!(
                        "it is a {ty} in Unity Catalog, whose rows are computed by Databricks and not \
                         stored as a Delta table; materialise it (`CREATE TABLE ... AS SELECT * FROM {name}`) \
                         and read the copy"
                    )));
                }
                if let Some(f) =
                    info.data_source_format.as_deref().filter(|f| !f.eq_ignore_ascii_case("DELTA"))
                {
                    return Err(self.unreadable(format!(
                        "its data source format is {f}; only DELTA tables can be read"
                    )));
                }
                let location = info
                    .storage_location
                    .as_deref()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| self.unreadable("Unity Catalog gives no storage location for it"))?;
                let url = Url::parse(location).map_err(|e| {
                    self.unreadable(format!("its storage location `{location}` is not a URL: {e}"))
                })?;
                let vended = VendedCredentials::new(
                    uc,
                    format!("table `{name}`"),
                    VendFor::Table { table_id: info.table_id.clone(), operation: access.operation() },
                )
                .await?;
                let builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| self.unreadable(e))?;
                if url.scheme() == "file" {
                    return Ok(Some(local(builder, url)));
                }
                let store = wrapped(cx.vended_store(&url, vended)?);
                Ok(Some(builder.with_storage_backend(store, url).with_storage_options(cx.options().clone())))
            }
        }
    }

    /// Whether a Delta table exists at this location (for tables we may create).
    pub async fn exists(&self, cx: &Connector) -> Result<bool> {
        match &self.location {
            Location::Local(p) => Ok(p.join("_delta_log").is_dir()),
            Location::Uri(_) => {
                let Some(builder) = self.builder(cx, Access::Read, None).await? else { return Ok(false) };
                match builder.load().await {
                    Ok(_) => Ok(true),
                    Err(DeltaTableError::NotATable(_)) => Ok(false),
                    Err(e) => Err(self.load_error(e)),
                }
            }
            Location::Unity(name) => match cx.unity().await?.get_table(name).await {
                Ok(_) => Ok(true),
                Err(UcError::NotFound(_)) => Ok(false),
                Err(UcError::Other(e)) => Err(e),
            },
        }
    }

    /// The error for a Unity Catalog name the catalog does not know.
    pub async fn not_in_catalog(&self, cx: &Connector) -> Error {
        let host = match cx.unity().await {
            Ok(uc) => uc.host().to_string(),
            Err(e) => return e,
        };
        Error::TableNotFound {
            table: self.name.clone(),
            detail: format!(
                "Unity Catalog at {host} has no such table (or you may not see it); check the \
                 catalog.schema.table spelling and your USE CATALOG / USE SCHEMA privileges"
            ),
        }
    }

    /// This table cannot be read, for `e`.
    pub fn unreadable(&self, e: impl std::fmt::Display) -> Error {
        Error::unreadable(self.name.clone(), e.to_string())
    }

    /// What a failed load of this table means: access (exit 6), not found, or unreadable.
    pub fn load_error(&self, e: DeltaTableError) -> Error {
        let not_found =
            matches!(e, DeltaTableError::NotATable(_)) && !matches!(self.location, Location::Local(_));
        let reason = match &e {
            DeltaTableError::NotATable(_) => {
                "not a Delta table: its `_delta_log/` holds no commit".to_string()
            }
            DeltaTableError::InvalidVersion(v) => {
                format!("version {v} does not exist; run without a pin to read the latest version")
            }
            _ => {
                let text = boundary::kernel_message(&e.to_string());
                match &self.pin {
                    Some(pin) if boundary::about_snapshot(&text) => {
                        format!("cannot load snapshot {pin}: {text}")
                    }
                    _ => format!("the transaction log cannot be replayed: {text}"),
                }
            }
        };
        Error::upstream(e, &format!("table `{}`", self.name), |_| {
            if not_found {
                Error::TableNotFound {
                    table: self.name.clone(),
                    detail: "no Delta table there: its location has no `_delta_log/` commits".into(),
                }
            } else {
                self.unreadable(reason)
            }
        })
    }
}
