//! Resolving and opening Delta tables.
//!
//! Every table the tool touches (split inputs, the label-map table) goes through [`TableRef`]:
//! one place that turns what the user typed into a location, so cloud URIs and Unity Catalog
//! names can be added here without touching the pipeline.
//!
//! Guarantees:
//! - a missing location is [`Error::TableNotFound`]; a location without `_delta_log/` or with a
//!   broken log is [`Error::TableUnreadable`] naming why;
//! - the protocol is checked *before* scanning: reader features outside [`READABLE_FEATURES`]
//!   refuse the table and name the feature;
//! - the snapshot version actually read is recorded in [`OpenedTable::version`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::error::{Error, Result};

/// Reader features whose semantics this tool (through delta-rs' DataFusion scan) honours, so
/// that the rows it returns are the rows the table holds.
pub const READABLE_FEATURES: &[&str] = &["columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint"];

/// Why a reader feature outside [`READABLE_FEATURES`] is refused, where we know more than its name.
fn feature_note(feature: &str) -> Option<&'static str> {
    match feature {
        "vacuumProtocolCheck" => Some(
            "`vacuumProtocolCheck` only constrains VACUUM and changes nothing about the rows, but the \
             Delta reader in this build (delta-rs 1.1) refuses every table that declares it",
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
}

impl TableRef {
    /// Parse `LOCATION[@PIN]`. A trailing `@v3`, `@3` or `@<RFC 3339>` pins the snapshot; an `@`
    /// that is not followed by a valid pin stays part of the location.
    pub fn parse(spec: &str) -> Result<Self> {
        if spec.trim().is_empty() {
            return Err(Error::Usage("empty table reference".into()));
        }
        if let Some((loc, pin)) = spec.rsplit_once('@') {
            if let Ok(pin) = pin.parse::<Pin>() {
                let mut t = Self::parse_location(loc)?;
                t.pin = Some(pin);
                return Ok(t);
            }
        }
        Self::parse_location(spec)
    }

    /// Parse a location with no pin.
    pub fn parse_location(loc: &str) -> Result<Self> {
        let location = if let Some((scheme, _)) = loc.split_once("://") {
            match scheme {
                "file" => {
                    let url = Url::parse(loc)
                        .map_err(|e| Error::Usage(format!("invalid table URI `{loc}`: {e}")))?;
                    let path = url.to_file_path().map_err(|_| {
                        Error::Usage(format!("invalid file URI `{loc}`: not an absolute local path"))
                    })?;
                    Location::Local(path)
                }
                other => {
                    return Err(Error::Usage(format!(
                        "table `{loc}`: the `{other}://` scheme is not supported by this build; \
                         use a local path or a file:// URI"
                    )));
                }
            }
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

    /// The table's URL (`file:///abs/path`).
    pub fn url(&self) -> Result<Url> {
        match &self.location {
            Location::Local(p) => Url::from_directory_path(p)
                .map_err(|_| Error::Usage(format!("table path `{}` is not absolute", p.display()))),
        }
    }

    /// Local directory, for the local-only checks.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(p) => Some(p),
        }
    }

    /// Open the pinned snapshot, check that it can be read correctly, and return it.
    pub async fn open(&self) -> Result<OpenedTable> {
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
        let mut builder = DeltaTableBuilder::from_url(self.url()?).map_err(|e| self.unreadable(e))?;
        match &self.pin {
            Some(Pin::Version(v)) => builder = builder.with_version(*v as _),
            Some(Pin::Timestamp(t)) => builder = builder.with_timestamp(*t),
            None => {}
        }
        let table = builder.load().await.map_err(|e| self.load_error(e))?;
        let opened = OpenedTable::new(self.clone(), table)?;
        opened.check_protocol()?;
        Ok(opened)
    }

    /// Whether a Delta table exists at this location (for tables we may create).
    pub async fn exists(&self) -> Result<bool> {
        match &self.location {
            Location::Local(p) => Ok(p.join("_delta_log").is_dir()),
        }
    }

    fn unreadable(&self, e: impl fmt::Display) -> Error {
        Error::TableUnreadable { table: self.name.clone(), reason: e.to_string() }
    }

    fn load_error(&self, e: DeltaTableError) -> Error {
        let reason = match &e {
            DeltaTableError::NotATable(_) => {
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
        Ok(OpenedTable { table_ref, version: version as u64, table })
    }

    /// The name the user gave.
    pub fn name(&self) -> &str {
        &self.table_ref.name
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
        let unsupported: Vec<String> = protocol
            .reader_features()
            .unwrap_or_default()
            .iter()
            .map(|f| f.to_string())
            .filter(|f| !READABLE_FEATURES.contains(&f.as_str()))
            .collect();
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
