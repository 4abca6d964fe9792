//! Locations: what the user typed for a table or an output, parsed without I/O.
//!
//! - [`TableRef`]: a table as a local path, a `file://` or object-store URI, or a Unity
//!   Catalog name, optionally pinned to a version or an instant ([`Pin`]);
//! - [`OutputSpec`]: where a dataset goes — a local directory, an object-store URI, or a
//!   Unity Catalog volume path;
//! - [`redact`]: how a URL is shown (no query string, no password).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use url::Url;

use crate::error::{Error, Result};
use crate::storage::unity::UcName;

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
}

/// Where a dataset goes, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// A local directory.
    Local(PathBuf),
    /// An object-store URI.
    Uri(Url),
    /// `/Volumes/<catalog>/<schema>/<volume>/<path>`.
    Volume { volume: UcName, path: String, shown: String },
}

impl OutputSpec {
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("/Volumes/") {
            let mut parts = rest.splitn(4, '/');
            let (c, sc, v) = (parts.next(), parts.next(), parts.next());
            let path = parts.next().unwrap_or("").trim_matches('/').to_string();
            return match (c, sc, v) {
                (Some(c), Some(sc), Some(v))
                    if !c.is_empty() && !sc.is_empty() && !v.is_empty() && !path.is_empty() =>
                {
                    Ok(OutputSpec::Volume {
                        volume: UcName { catalog: c.into(), schema: sc.into(), name: v.into() },
                        path,
                        shown: s.trim_end_matches('/').to_string(),
                    })
                }
                _ => Err(Error::Usage(format!(
                    "--output `{s}`: a volume output is /Volumes/<catalog>/<schema>/<volume>/<directory>"
                ))),
            };
        }
        if let Some((scheme, _)) = s.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme == "file" {
                let url = Url::parse(s).map_err(|e| Error::Usage(format!("--output `{s}`: {e}")))?;
                let p = url
                    .to_file_path()
                    .map_err(|_| Error::Usage(format!("--output `{s}` is not a local path")))?;
                return Ok(OutputSpec::Local(p));
            }
            if CLOUD_SCHEMES.contains(&scheme.as_str()) {
                let url = Url::parse(s.trim_end_matches('/'))
                    .map_err(|e| Error::Usage(format!("--output `{s}`: {e}")))?;
                if url.path().trim_matches('/').is_empty() {
                    return Err(Error::Usage(format!(
                        "--output `{s}`: name a directory inside the bucket, not the bucket itself"
                    )));
                }
                return Ok(OutputSpec::Uri(url));
            }
            return Err(Error::Usage(format!(
                "--output `{s}`: the `{scheme}://` scheme is not supported; use a local path, /Volumes/..., \
                 s3://, abfss://, az:// or gs://"
            )));
        }
        Ok(OutputSpec::Local(PathBuf::from(s)))
    }

    /// How it is shown in messages and the summary.
    pub fn shown(&self) -> String {
        match self {
            OutputSpec::Local(p) => p.display().to_string(),
            OutputSpec::Uri(u) => redact(u),
            OutputSpec::Volume { shown, .. } => shown.clone(),
        }
    }

    /// The last path component (the dataset's directory name).
    pub fn dir_name(&self) -> String {
        let s = match self {
            OutputSpec::Local(p) => {
                return p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            }
            OutputSpec::Uri(u) => u.path().to_string(),
            OutputSpec::Volume { path, .. } => path.clone(),
        };
        s.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string()
    }
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// A URL fit to show: no query string (Azure SAS tokens travel in queries) and no password.
/// The user name stays: in `abfss://container@account.dfs.core.windows.net/...` it is the
/// container, part of where the data is.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    let _ = u.set_password(None);
    u.to_string()
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

    #[test]
    fn parses_outputs() {
        assert!(matches!(OutputSpec::parse("out/ds").unwrap(), OutputSpec::Local(_)));
        match OutputSpec::parse("/Volumes/main/ml/vol/datasets/reviews/").unwrap() {
            OutputSpec::Volume { volume, path, .. } => {
                assert_eq!(volume.to_string(), "main.ml.vol");
                assert_eq!(path, "datasets/reviews");
            }
            o => panic!("{o:?}"),
        }
        assert!(OutputSpec::parse("/Volumes/main/ml/vol").is_err());
        assert!(OutputSpec::parse("s3://bucket").is_err());
        assert_eq!(OutputSpec::parse("s3://b/x/ds").unwrap().dir_name(), "ds");
        assert!(OutputSpec::parse("ftp://b/x").is_err());
    }

    #[test]
    fn redact_keeps_the_container_and_drops_secrets() {
        let u = Url::parse("abfss://lake@acct.dfs.core.windows.net/t/x?sv=2024&sig=SECRET").unwrap();
        assert_eq!(redact(&u), "abfss://lake@acct.dfs.core.windows.net/t/x");
        let u = Url::parse("s3://key:SECRET@bucket/p").unwrap();
        assert_eq!(redact(&u), "s3://key@bucket/p");
    }
}
