//! Unity Catalog: table and volume names → storage locations, and credentials vended for them.
//!
//! - [`config`]: which workspace and how to sign in (like the Databricks CLI);
//! - [`client`]: the REST calls (tables, volumes, schemas, table registration) and their errors;
//! - [`vending`]: temporary credentials for a table, volume or path, renewed before they expire.
//!
//! deltalake's own Unity Catalog support (`deltalake::unity_catalog`, the `uc://` scheme) resolves
//! a table and vends credentials once. We talk to the REST API ourselves, with the same endpoints
//! and JSON shapes, because this tool needs what that client does not do:
//! - authenticate like the Databricks CLI: `DATABRICKS_HOST` + `DATABRICKS_TOKEN`, OAuth M2M
//!   (`DATABRICKS_CLIENT_ID` + `DATABRICKS_CLIENT_SECRET`), or a profile of `~/.databrickscfg`
//!   (`--profile`, `DATABRICKS_CONFIG_PROFILE`);
//! - check HTTP statuses and turn `{"error_code", "message"}` bodies into errors that say what to
//!   do (the crate decodes any body as a reply, so a 403 becomes a confusing parse error);
//! - re-vend credentials before they expire (they last about an hour; the crate never refreshes,
//!   so a long export fails halfway) — see [`VendedCredentials`];
//! - volumes, path credentials and external-table creation, which the crate does not cover.
//!
//! Secrets (tokens, client secrets, vended keys) are held in [`Secret`], whose `Debug`/`Display`
//! print `***`; no error message is built from a request header or a credential.

pub mod client;
pub mod config;
pub mod vending;

use std::fmt;

pub use client::{UcError, UnityClient};
pub use config::UnityConfig;
pub use vending::{VendFor, VendedCredentials};

/// A three-part Unity Catalog name `catalog.schema.name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UcName {
    pub catalog: String,
    pub schema: String,
    pub name: String,
}

impl UcName {
    /// Parse `catalog.schema.name` (also with a `uc://` prefix). Parts may be quoted with
    /// backticks; unquoted parts are word characters and `-`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix("uc://").unwrap_or(s);
        let mut parts = Vec::with_capacity(3);
        let mut rest = s;
        while !rest.is_empty() {
            let (part, tail) = if let Some(q) = rest.strip_prefix('`') {
                let end = q.find('`')?;
                (&q[..end], &q[end + 1..])
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                let part = &rest[..end];
                if part.is_empty() || !part.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
                    return None;
                }
                (part, &rest[end..])
            };
            parts.push(part.to_string());
            rest = match tail.strip_prefix('.') {
                Some(t) if !t.is_empty() => t,
                Some(_) => return None,
                None if tail.is_empty() => "",
                None => return None,
            };
        }
        match <[String; 3]>::try_from(parts) {
            Ok([catalog, schema, name]) => Some(UcName { catalog, schema, name }),
            Err(_) => None,
        }
    }
}

impl fmt::Display for UcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = UcName::parse("main.ml.reviews").unwrap();
        assert_eq!((n.catalog.as_str(), n.schema.as_str(), n.name.as_str()), ("main", "ml", "reviews"));
        assert_eq!(UcName::parse("uc://a.b.c").unwrap().to_string(), "a.b.c");
        assert_eq!(UcName::parse("`my cat`.b.c").unwrap().catalog, "my cat");
        for bad in ["a.b", "a.b.c.d", "a..c", "a.b.", "./a.b", "a/b.c.d", ""] {
            assert!(UcName::parse(bad).is_none(), "{bad}");
        }
    }
}
