//! Which Databricks workspace Unity Catalog is reached at, and how requests are signed in.

use std::collections::HashMap;
use std::path::PathBuf;

use url::Url;

use crate::error::{Error, Result};
use crate::storage::secret::Secret;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A personal access token (or any bearer token).
    Token(Secret),
    /// OAuth machine-to-machine: a service principal's client id and secret, exchanged at
    /// `{host}/oidc/v1/token` for short-lived tokens.
    OAuthM2M { client_id: String, client_secret: Secret },
}

/// Where the workspace is and how to sign in. Resolved like the Databricks CLI:
/// 1. a profile named by `--profile` / `DATABRICKS_CONFIG_PROFILE` is read from the config file
///    (`DATABRICKS_CONFIG_FILE`, default `~/.databrickscfg`) — it must exist;
/// 2. else `DATABRICKS_HOST` with `DATABRICKS_TOKEN`, or `DATABRICKS_CLIENT_ID` +
///    `DATABRICKS_CLIENT_SECRET`;
/// 3. else the `[DEFAULT]` profile of the config file, if there is one.
#[derive(Debug, Clone)]
pub struct UnityConfig {
    pub host: Url,
    pub auth: Auth,
    /// Where the settings came from, for messages ("profile `prod` of ~/.databrickscfg").
    pub origin: String,
}

impl UnityConfig {
    pub fn resolve(profile: Option<&str>) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let file = env("DATABRICKS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".databrickscfg")));
        if let Some(profile) = profile {
            let Some(file) = file else {
                return Err(Error::Usage(format!(
                    "--profile {profile}: HOME is not set, so there is no ~/.databrickscfg"
                )));
            };
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::Usage(format!("--profile {profile}: cannot read `{}`: {e}", file.display()))
            })?;
            let sections = parse_ini(&text);
            let Some(section) = sections.get(profile) else {
                let mut names: Vec<_> = sections.keys().cloned().collect();
                names.sort();
                return Err(Error::Usage(format!(
                    "--profile {profile}: no `[{profile}]` section in `{}` (profiles there: {})",
                    file.display(),
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )));
            };
            let origin = format!("profile `{profile}` of `{}`", file.display());
            return Self::from_fields(section.get("host").cloned(), |k| section.get(k).cloned(), origin);
        }
        if let Some(host) = env("DATABRICKS_HOST") {
            return Self::from_fields(
                Some(host),
                |k| env(&format!("DATABRICKS_{}", k.to_uppercase())),
                "the DATABRICKS_* environment variables".into(),
            );
        }
        if let Some(file) = file
            && let Ok(text) = std::fs::read_to_string(&file)
            && let Some(section) = parse_ini(&text).get("DEFAULT")
        {
            let origin = format!("profile `DEFAULT` of `{}`", file.display());
            return Self::from_fields(section.get("host").cloned(), |k| section.get(k).cloned(), origin);
        }
        Err(Error::Usage(
            "a Unity Catalog name needs a workspace: set DATABRICKS_HOST with DATABRICKS_TOKEN (or \
             DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET), or name a profile of ~/.databrickscfg \
             with --profile"
                .into(),
        ))
    }

    fn from_fields(
        host: Option<String>,
        get: impl Fn(&str) -> Option<String>,
        origin: String,
    ) -> Result<Self> {
        let host = host.ok_or_else(|| Error::Usage(format!("{origin} has no `host`")))?;
        let host = parse_host(&host).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        let auth = if let Some(token) = get("token") {
            Auth::Token(Secret::new(token))
        } else if let (Some(id), Some(secret)) = (get("client_id"), get("client_secret")) {
            Auth::OAuthM2M { client_id: id, client_secret: Secret::new(secret) }
        } else {
            return Err(Error::Usage(format!(
                "{origin} names host {host} but no credentials: give a `token` (DATABRICKS_TOKEN), or \
                 `client_id` and `client_secret` (DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET)"
            )));
        };
        Ok(UnityConfig { host, auth, origin })
    }
}

/// `https://` is added when no scheme is given; `http://` is only accepted for loopback hosts
/// or with `UNITY_ALLOW_HTTP_URL=true` (deltalake's switch for the same thing).
fn parse_host(host: &str) -> std::result::Result<Url, String> {
    let with_scheme = if host.contains("://") { host.to_string() } else { format!("https://{host}") };
    let url = Url::parse(with_scheme.trim_end_matches('/'))
        .map_err(|e| format!("host `{host}` is not a URL: {e}"))?;
    if url.scheme() == "http" {
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let allowed = std::env::var("UNITY_ALLOW_HTTP_URL").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if !loopback && !allowed {
            return Err(format!(
                "host `{host}` uses http://; use https:// (or set UNITY_ALLOW_HTTP_URL=true)"
            ));
        }
    } else if url.scheme() != "https" {
        return Err(format!("host `{host}` must be an https:// URL"));
    }
    Ok(url)
}

/// A minimal reader for `~/.databrickscfg` (INI: `[section]`, `key = value`, `#`/`;` comments).
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.get_mut(section)
                .expect("section exists")
                .insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini() {
        let s = parse_ini("# c\n[DEFAULT]\nhost = https://x\n\n[prod]\ntoken=abc\n; x\nHost = h\n");
        assert_eq!(s["DEFAULT"]["host"], "https://x");
        assert_eq!(s["prod"]["token"], "abc");
        assert_eq!(s["prod"]["host"], "h");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("adb-1.azuredatabricks.net").unwrap().as_str(),
            "https://adb-1.azuredatabricks.net/"
        );
        assert!(parse_host("http://127.0.0.1:8080").is_ok());
        assert!(parse_host("http://example.com").is_err());
        assert!(format!("{:?}", Secret::new("dapi-secret")).contains("***"));
    }
}
