//! Resolving and opening Delta tables.
//!
//! Every table the tool touches (split inputs, the label-map table) goes through [`TableRef`]:
//! one place that turns what the user typed — a local path, an object-store URI or a Unity
//! Catalog name — into a location, and opens it with the right storage and credentials.
//!
//! Guarantees:
//! - a missing location is [`Error::TableNotFound`]; a location without `_delta_log/` or with a
//!   broken log is [`Error::TableUnreadable`] naming why;
//! - the protocol is checked *before* scanning: reader features outside [`READABLE_FEATURES`]
//!   refuse the table and name the feature (features that change nothing for a reader are read
//!   through [`ProtocolView`]);
//! - failures to reach or authenticate to a store or the catalog are [`Error::Access`];
//! - the snapshot version actually read is recorded in [`OpenedTable::version`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};
use crate::source::protocol_view::{HIDDEN_FEATURES, ProtocolView};
use crate::source::storage::{Connector, redact};
use crate::source::unity::{UcError, UcName, VendFor, VendedCredentials};

/// Reader features whose semantics this tool (through delta-rs' DataFusion scan) honours, so
/// that the rows it returns are the rows the table holds.
pub const READABLE_FEATURES: &[&str] = &["columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint"];

/// Why a reader feature outside [`READABLE_FEATURES`] is refused, where we know more than its name.
fn feature_note(feature: &str) -> Option<&'static str> {
    match feature {
        "vacuumProtocolCheck" => Some(
            "`vacuumProtocolCheck` only constrains VACUUM and is hidden from the reader when it is \
             declared in a JSON commit, but here the protocol comes from a checkpoint",
        ),
        "typeWidening" | "typeWidening-preview" => Some(
            "`typeWidening` tables may hold files written with narrower types that must be widened on read",
        ),
        "catalogManaged" | "catalogOwned-preview" => {
            Some("`catalogManaged` tables must be read through their catalog's commit coordinator")
        }
        "variantType" | "variantType-preview" | "variantShredding" | "variantShredding-preview" => {
            Some("variant columns have no `datasets` feature")
        }
        _ => None,
    }
}

/// Highest reader protocol version we understand.
const MAX_READER_VERSION: i32 = 3;

/// Which snapshot of a table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A commit version.
    Version(u64),
    /// The latest version committed at or before this instant.
    Timestamp(DateTime<Utc>),
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Version(v) => write!(f, "v{v}"),
            Pin::Timestamp(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

impl FromStr for Pin {
    type Err = Error;
    /// `v3`, `3` or an RFC 3339 timestamp.
    fn from_str(s: &str) -> Result<Self> {
        let digits = s.strip_prefix('v').unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return digits
                .parse()
                .map(Pin::Version)
                .map_err(|_| Error::Usage(format!("version `{s}` is out of range")));
        }
        parse_timestamp(s).map(Pin::Timestamp)
    }
}

/// Parse an RFC 3339 timestamp (also accepting a date alone, meaning midnight UTC).
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Error::Usage(format!(
        "`{s}` is neither a table version (e.g. `v3`) nor an RFC 3339 timestamp \
         (e.g. `2024-05-01T12:00:00Z`)"
    )))
}

/// A table as the user named it, optionally pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// What the user typed, without the pin; used in messages.
    pub name: String,
    /// Where the table lives.
    pub location: Location,
    /// The snapshot to read; `None` means the latest.
    pub pin: Option<Pin>,
}

/// A resolved table location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on the local filesystem (absolute).
    Local(PathBuf),
    /// An object-store URI: `s3://`, `s3a://`, `abfss://`, `abfs://`, `az://`, `gs://`.
    Uri(Url),
    /// A Unity Catalog table `catalog.schema.table`, resolved through its REST API.
    Unity(UcName),
}

/// Object-store schemes a table or output may use.
pub const CLOUD_SCHEMES: &[&str] = &["s3", "s3a", "abfss", "abfs", "az", "azure", "adl", "gs"];

/// What a run will do with a table, which decides the credentials Unity Catalog is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

impl TableRef {
    /// Parse `LOCATION[@PIN]`. A trailing `@v3`, `@3` or `@<RFC 3339>` pins the snapshot; an `@`
    /// that is not followed by a valid pin stays part of the location.
    pub fn parse(spec: &str) -> Result<Self> {
        if spec.trim().is_empty() {
            return Err(Error::Usage("empty table reference".into()));
        }
        if let Some((loc, pin)) = spec.rsplit_once('@')
            && let Ok(pin) = pin.parse::<Pin>()
        {
            let mut t = Self::parse_location(loc)?;
            t.pin = Some(pin);
            return Ok(t);
        }
        Self::parse_location(spec)
    }

    /// Parse a location with no pin: a local path, a `file://` or object-store URI, or a Unity
    /// Catalog name (`catalog.schema.table` or `uc://catalog.schema.table`). A bare three-part
    /// name is taken as a Unity Catalog name unless a local directory of that name exists
    /// (write `./a.b.c` to mean the directory).
    pub fn parse_location(loc: &str) -> Result<Self> {
        let location = if let Some((scheme, _)) = loc.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "file" => {
                    let url = Url::parse(loc)
                        .map_err(|e| Error::Usage(format!("invalid table URI `{loc}`: {e}")))?;
                    let path = url.to_file_path().map_err(|_| {
                        Error::Usage(format!("invalid file URI `{loc}`: not an absolute local path"))
                    })?;
                    Location::Local(path)
                }
                "uc" => Location::Unity(UcName::parse(loc).ok_or_else(|| {
                    Error::Usage(format!(
                        "`{loc}` is not a Unity Catalog name: use uc://catalog.schema.table"
                    ))
                })?),
                s if CLOUD_SCHEMES.contains(&s) => {
                    let url = Url::parse(loc)
                        .map_err(|e| Error::Usage(format!("invalid table URI `{loc}`: {e}")))?;
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(Error::Usage(format!("table URI `{loc}` names no bucket or container")));
                    }
                    Location::Uri(url)
                }
                other => {
                    return Err(Error::Usage(format!(
                        "table `{loc}`: the `{other}://` scheme is not supported; use a local path, \
                         file://, s3://, abfss://, az://, gs:// or a Unity Catalog name catalog.schema.table"
                    )));
                }
            }
        } else if let Some(name) = UcName::parse(loc).filter(|_| !Path::new(loc).exists()) {
            Location::Unity(name)
        } else {
            let path = expand_tilde(loc);
            let abs =
                std::path::absolute(&path).map_err(|e| Error::io("cannot resolve table path", &path, e))?;
            Location::Local(abs)
        };
        Ok(TableRef { name: loc.to_string(), location, pin: None })
    }

    /// This reference with `pin` unless it already has one.
    pub fn with_default_pin(mut self, pin: Option<&Pin>) -> Self {
        if self.pin.is_none() {
            self.pin = pin.cloned();
        }
        self
    }

    /// A stable identifier of the location (`file:///abs/path/`, the URI, `uc://c.s.t`).
    pub fn url(&self) -> Result<Url> {
        match &self.location {
            Location::Local(p) => Url::from_directory_path(p)
                .map_err(|_| Error::Usage(format!("table path `{}` is not absolute", p.display()))),
            Location::Uri(u) => Ok(u.clone()),
            Location::Unity(n) => Url::parse(&format!("uc://{n}"))
                .map_err(|e| Error::Usage(format!("`{n}` is not a valid Unity Catalog name: {e}"))),
        }
    }

    /// Local directory, for the local-only checks.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(p) => Some(p),
            _ => None,
        }
    }

    /// A builder for the table's storage: local, by URI with the storage options, or through
    /// Unity Catalog with vended credentials. `None` when a Unity Catalog table does not exist.
    async fn builder(&self, cx: &Connector, access: Access, view: bool) -> Result<Option<DeltaTableBuilder>> {
        // `view`: read through a [`ProtocolView`] (see its docs), which needs our own store.
        let wrap = |store: Arc<dyn ObjectStore>| -> Arc<dyn ObjectStore> {
            if view { Arc::new(ProtocolView::new(store)) } else { store }
        };
        let local_store = || wrap(Arc::new(object_store::local::LocalFileSystem::new()));
        match &self.location {
            Location::Local(_) => {
                let url = self.url()?;
                let b = DeltaTableBuilder::from_url(url.clone()).map_err(|e| self.unreadable(e))?;
                Ok(Some(if view { b.with_storage_backend(local_store(), url) } else { b }))
            }
            Location::Uri(url) => {
                // Through the connector's store (deltalake's factory for the scheme, see
                // `Connector::store`), for reads and writes alike, so a table, the label table
                // and the output are all reached the same way. The options also go to
                // deltalake's log-store factories (S3 locking and the like).
                let b = DeltaTableBuilder::from_url(url.clone())
                    .map_err(|e| self.unreadable(e))?
                    .with_storage_options(cx.options().clone())
                    .with_storage_backend(wrap(cx.store(url)?), url.clone());
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
                let operation = match access {
                    Access::Read => "READ",
                    Access::ReadWrite => "READ_WRITE",
                };
                let vended = VendedCredentials::new(
                    uc,
                    format!("table `{name}`"),
                    VendFor::Table { table_id: info.table_id.clone(), operation },
                )
                .await?;
                let builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| self.unreadable(e))?;
                if url.scheme() == "file" {
                    return Ok(Some(if view {
                        builder.with_storage_backend(local_store(), url)
                    } else {
                        builder
                    }));
                }
                let store = wrap(cx.vended_store(&url, vended)?);
                Ok(Some(builder.with_storage_backend(store, url).with_storage_options(cx.options().clone())))
            }
        }
    }

    /// Open the pinned snapshot, check that it can be read correctly, and return it.
    pub async fn open(&self, cx: &Connector) -> Result<OpenedTable> {
        self.open_with(cx, Access::Read).await
    }

    async fn open_with(&self, cx: &Connector, access: Access) -> Result<OpenedTable> {
        if let Some(dir) = self.local_path() {
            if !dir.exists() {
                return Err(Error::TableNotFound {
                    table: self.name.clone(),
                    detail: format!("no such directory `{}`", dir.display()),
                });
            }
            if !dir.join("_delta_log").is_dir() {
                return Err(Error::TableUnreadable {
                    table: self.name.clone(),
                    reason: format!(
                        "not a Delta table: `{}` has no `_delta_log/` folder \
                         (a folder of Parquet files must be converted to Delta first)",
                        dir.display()
                    ),
                });
            }
        }
        let mut view = false;
        loop {
            let Some(mut builder) = self.builder(cx, access, view).await? else {
                return Err(self.not_in_catalog(cx).await);
            };
            match &self.pin {
                Some(Pin::Version(v)) => builder = builder.with_version(*v as _),
                Some(Pin::Timestamp(t)) => builder = builder.with_timestamp(*t),
                None => {}
            }
            let table = builder.load().await.map_err(|e| self.load_error(e))?;
            let opened = OpenedTable::new(self.clone(), table)?;
            let unsupported = opened.unsupported_features()?;
            // Only features that change nothing for a reader: load again through the view.
            if !view
                && !unsupported.is_empty()
                && unsupported.iter().all(|f| HIDDEN_FEATURES.contains(&f.as_str()))
            {
                tracing::debug!("{}: reading through a protocol view hiding {unsupported:?}", self.name);
                view = true;
                continue;
            }
            opened.check_protocol()?;
            return Ok(opened);
        }
    }

    async fn not_in_catalog(&self, cx: &Connector) -> Error {
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

    /// The table for writing: its latest version if it exists, else an empty table handle at
    /// its location (created by the first write). For a Unity Catalog name that does not exist
    /// yet, the table is created at `new_location` (or the schema's storage root) and must be
    /// registered after the first commit with [`Created::register`].
    pub async fn open_for_write(
        &self,
        cx: &Connector,
        new_location: Option<&str>,
    ) -> Result<(DeltaTable, Option<Created>)> {
        if let Location::Local(dir) = &self.location {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create table directory", dir, e))?;
        }
        let (builder, created) = match self.builder(cx, Access::ReadWrite, false).await? {
            Some(b) => (b, None),
            None => {
                let Location::Unity(name) = &self.location else {
                    unreachable!("only UC tables can be absent here")
                };
                let uc = cx.unity().await?;
                let location = match new_location {
                    Some(l) => l.trim_end_matches('/').to_string(),
                    None => match uc.schema_storage_root(name).await? {
                        Some(root) => format!("{}/{}", root.trim_end_matches('/'), name.name),
                        None => {
                            return Err(Error::Usage(format!(
                                "label table `{name}` does not exist and schema `{}.{}` has no storage \
                                 root; name a storage location for it with --label-table-location",
                                name.catalog, name.schema
                            )));
                        }
                    },
                };
                let url = Url::parse(&location).map_err(|e| {
                    Error::Usage(format!("--label-table-location `{location}` is not a storage URI: {e}"))
                })?;
                let mut b = DeltaTableBuilder::from_url(url.clone()).map_err(|e| self.unreadable(e))?;
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
                (b, Some(Created { name: name.clone(), location }))
            }
        };
        let mut table = builder.build().map_err(|e| self.unreadable(e))?;
        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => {}
            Err(e) => return Err(self.load_error(e)),
        }
        Ok((table, created))
    }

    /// Whether a Delta table exists at this location (for tables we may create).
    pub async fn exists(&self, cx: &Connector) -> Result<bool> {
        match &self.location {
            Location::Local(p) => Ok(p.join("_delta_log").is_dir()),
            Location::Uri(_) => match self.builder(cx, Access::Read, false).await?.expect("URI").load().await
            {
                Ok(_) => Ok(true),
                Err(DeltaTableError::NotATable(_)) => Ok(false),
                Err(e) => Err(self.load_error(e)),
            },
            Location::Unity(name) => match cx.unity().await?.get_table(name).await {
                Ok(_) => Ok(true),
                Err(UcError::NotFound(_)) => Ok(false),
                Err(UcError::Other(e)) => Err(e),
            },
        }
    }

    fn unreadable(&self, e: impl fmt::Display) -> Error {
        Error::TableUnreadable { table: self.name.clone(), reason: e.to_string() }
    }

    fn load_error(&self, e: DeltaTableError) -> Error {
        if let Some(access) = access_error(&e) {
            return Error::Access(format!("table `{}`: {access}", self.name));
        }
        let reason = match &e {
            DeltaTableError::NotATable(_) => {
                if !matches!(self.location, Location::Local(_)) {
                    return Error::TableNotFound {
                        table: self.name.clone(),
                        detail: "no Delta table there: its location has no `_delta_log/` commits".into(),
                    };
                }
                "not a Delta table: its `_delta_log/` holds no commit".to_string()
            }
            DeltaTableError::InvalidVersion(v) => {
                format!("version {v} does not exist; run without a pin to read the latest version")
            }
            _ => {
                let text = tidy_kernel_message(&e.to_string());
                match &self.pin {
                    Some(pin) if text.contains("version") || text.contains("timestamp") => {
                        format!("cannot load snapshot {pin}: {text}")
                    }
                    _ => format!("the transaction log cannot be replayed: {text}"),
                }
            }
        };
        Error::TableUnreadable { table: self.name.clone(), reason }
    }
}

/// A Unity Catalog table created by this run, to register once its first commit exists.
#[derive(Debug, Clone)]
pub struct Created {
    pub name: UcName,
    pub location: String,
}

impl Created {
    /// Register the table as EXTERNAL at its location with `columns` (name, UC type, nullable).
    pub async fn register(&self, cx: &Connector, columns: &[(String, &str, bool)]) -> Result<()> {
        cx.unity().await?.create_external_table(&self.name, &self.location, columns).await.map_err(|e| {
            match e {
                UcError::NotFound(m) => Error::Output(format!("cannot register table `{}`: {m}", self.name)),
                UcError::Other(e) => e,
            }
        })?;
        Ok(())
    }
}

/// When a storage or catalog failure is about access (credentials, permissions, network), the
/// message for it; walks the error's sources.
pub fn access_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if crate::error::chain_text(e).contains(crate::source::retry::EXHAUSTED_MARKER)
        && let Some(m) = crate::source::retry::last_exhausted()
    {
        return Some(m);
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(Error::Access(m)) = err.downcast_ref::<Error>() {
            return Some(m.clone());
        }
        if let Some(os) = err.downcast_ref::<object_store::Error>() {
            match os {
                object_store::Error::PermissionDenied { path, .. } => {
                    return Some(format!(
                        "the object store denied access to `{path}`; check the credentials (AWS_*, AZURE_*, \
                         GOOGLE_* or --storage-option) and their permissions"
                    ));
                }
                object_store::Error::Unauthenticated { path, .. } => {
                    return Some(format!(
                        "the object store did not accept the credentials for `{path}` (missing, wrong or \
                         expired); check AWS_*/AZURE_*/GOOGLE_* or --storage-option"
                    ));
                }
                _ => {}
            }
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && (r.is_connect() || r.is_timeout())
        {
            return Some("cannot reach the object store (connection failed or timed out); check the endpoint and network".into());
        }
        cur = err.source();
    }
    let text = crate::error::chain_text(e);
    if let Some(m) = missing_credentials(&text) {
        return Some(m);
    }
    if text.contains("Connection refused")
        || text.contains("dns error")
        || text.contains("error sending request")
    {
        return Some(
            "cannot reach the object store (connection failed); check the endpoint and network".into(),
        );
    }
    // The kernel flattens object_store errors into text: recognise object_store's own wording
    // for PermissionDenied / Unauthenticated, and the services' error codes (S3, Azure, GCS).
    if text.contains("lacked the necessary privileges")
        || text.contains("lacked valid authentication")
        || text.contains("Error performing token request")
    {
        return Some(
            "the object store refused the request (wrong, expired or insufficient credentials); check \
             AWS_*/AZURE_*/GOOGLE_* or --storage-option and their permissions"
                .into(),
        );
    }
    if text.contains("credential provider was not enabled")
        || text.contains("no providers in chain provided credentials")
    {
        return Some(
            "found no credentials for the object store (no key in the environment, no usable \
             AWS_PROFILE, instance role or --storage-option); set them and retry"
                .into(),
        );
    }
    if text.contains("ExpiredToken")
        || text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("AuthenticationFailed")
        || text.contains("AuthorizationFailure")
    {
        return Some(
            "the object store rejected the credentials (expired or invalid); renew them and retry".into(),
        );
    }
    None
}

/// When a store found no credentials of its own and fell back to the machine's identity
/// (instance metadata, managed identity, the GCE metadata server) without success: what was
/// tried and what to set, per cloud. The fallback's own error (an address, a status) tells a
/// user nothing and is left out.
fn missing_credentials(text: &str) -> Option<String> {
    let aws = text.contains("/latest/api/token")
        || text.contains("/latest/meta-data")
        || text.contains("no providers in chain provided credentials")
        || text.contains("credential provider was not enabled");
    // A token request with no client secret, federated token or key configured is the machine's
    // identity (managed identity, the GCE metadata server): its URL is often redacted.
    let unset = |vars: &[&str]| vars.iter().all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()));
    let token = text.contains("token request") || text.contains("token response");
    let azure = text.contains("/metadata/identity/")
        || (token
            && text.contains("MicrosoftAzure")
            && unset(&[
                "AZURE_CLIENT_SECRET",
                "AZURE_FEDERATED_TOKEN_FILE",
                "AZURE_CLIENT_CERTIFICATE_PATH",
            ]));
    let adc = std::env::var_os("HOME")
        .map(|h| {
            std::path::Path::new(&h).join(".config/gcloud/application_default_credentials.json").exists()
        })
        .unwrap_or(false);
    let gcs = text.contains("computeMetadata")
        || text.contains("metadata.google.internal")
        || (token
            && text.contains("GCS")
            && !adc
            && unset(&[
                "GOOGLE_SERVICE_ACCOUNT",
                "GOOGLE_SERVICE_ACCOUNT_PATH",
                "GOOGLE_SERVICE_ACCOUNT_KEY",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "SERVICE_ACCOUNT",
            ]));
    if aws {
        Some(
            "no AWS credentials (tried the environment, the AWS profile files and instance metadata); set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary keys) or \
             AWS_PROFILE, or pass them with --storage-option (with AWS_ENDPOINT_URL, the profile chain is \
             only read with AWS_FORCE_CREDENTIAL_LOAD=true)"
                .into(),
        )
    } else if azure {
        Some(
            "no Azure credentials (tried the environment: an account key, a SAS token, a service \
             principal, a federated token; then the machine's managed identity); set \
             AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, or \
             AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID, or pass them with --storage-option"
                .into(),
        )
    } else if gcs {
        Some(
            "no Google Cloud credentials (tried GOOGLE_SERVICE_ACCOUNT / GOOGLE_APPLICATION_CREDENTIALS, the \
             application default credentials of gcloud, then the metadata server); set \
             GOOGLE_SERVICE_ACCOUNT to a service account key file, or pass it with --storage-option"
                .into(),
        )
    } else {
        None
    }
}

/// Kernel errors carry `Debug` dumps and prefixes; keep what a user can act on.
fn tidy_kernel_message(text: &str) -> String {
    if text.contains("Expected contiguous commit files") {
        let versions: Vec<&str> = text
            .split("version: ")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .collect();
        if let [a, b, ..] = versions.as_slice() {
            return format!(
                "the log is incomplete: commit {a} is followed by commit {b}, the commits in \
                 between are missing from `_delta_log/` (restore them, or ask the table's owner)"
            );
        }
        return "the log is incomplete: some commit files are missing from `_delta_log/`".into();
    }
    text.replace("Kernel error: ", "").replace("Generic delta kernel error: ", "")
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// An opened, checked snapshot of a table.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    /// How the user named it.
    pub table_ref: TableRef,
    /// The loaded snapshot.
    pub table: DeltaTable,
    /// The version read.
    pub version: u64,
}

impl OpenedTable {
    fn new(table_ref: TableRef, table: DeltaTable) -> Result<Self> {
        let version = table.version().ok_or_else(|| Error::TableUnreadable {
            table: table_ref.name.clone(),
            reason: "no version could be loaded".into(),
        })?;
        Ok(OpenedTable { table_ref, version, table })
    }

    /// The name the user gave.
    pub fn name(&self) -> &str {
        &self.table_ref.name
    }

    /// Reader features of the protocol outside [`READABLE_FEATURES`].
    pub fn unsupported_features(&self) -> Result<Vec<String>> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        Ok(snapshot
            .protocol()
            .reader_features()
            .unwrap_or_default()
            .iter()
            .map(|f| f.to_string())
            .filter(|f| !READABLE_FEATURES.contains(&f.as_str()))
            .collect())
    }

    /// Refuse tables whose protocol asks for reader features we cannot honour.
    pub fn check_protocol(&self) -> Result<()> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        let protocol = snapshot.protocol();
        let reader_version = protocol.min_reader_version();
        if reader_version > MAX_READER_VERSION {
            return Err(Error::TableUnreadable {
                table: self.name().to_string(),
                reason: format!(
                    "its protocol needs reader version {reader_version}; delta-hf reads up to \
                     {MAX_READER_VERSION}"
                ),
            });
        }
        let unsupported = self.unsupported_features()?;
        if !unsupported.is_empty() {
            let notes: Vec<&str> = unsupported.iter().filter_map(|f| feature_note(f)).collect();
            return Err(Error::TableUnreadable {
                table: self.name().to_string(),
                reason: format!(
                    "its protocol requires the reader table feature{} {}, which delta-hf cannot \
                     read correctly{}. Workaround: drop the feature in Databricks \
                     (`ALTER TABLE ... DROP FEATURE <name>`), or export a copy without it \
                     (`CREATE TABLE ... AS SELECT ...`) and point delta-hf at the copy",
                    if unsupported.len() > 1 { "s" } else { "" },
                    unsupported.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) },
                ),
            });
        }
        Ok(())
    }

    /// Column names of the table, in schema order.
    pub fn column_names(&self) -> Vec<String> {
        match self.table.snapshot() {
            Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pins() {
        let t = TableRef::parse("/data/t@v3").unwrap();
        assert_eq!(t.pin, Some(Pin::Version(3)));
        assert_eq!(t.name, "/data/t");
        let t = TableRef::parse("/data/t@2024-05-01T00:00:00Z").unwrap();
        assert!(matches!(t.pin, Some(Pin::Timestamp(_))));
        let t = TableRef::parse("/data/user@host").unwrap();
        assert_eq!(t.pin, None);
        assert_eq!(t.name, "/data/user@host");
        assert!(TableRef::parse("s3x://bucket/t").is_err());
    }
}
