//! Unity Catalog: table and volume names → storage locations, and credentials vended for them.
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

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::error::{Error, Result};
use crate::source::retry;

/// Vended credentials are renewed this long before they expire (like object_store's token cache).
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// An HTTP request to the workspace gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for request headers and object-store credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

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

/// A table as Unity Catalog describes it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct TableInfo {
    pub table_id: String,
    #[serde(default)]
    pub table_type: Option<String>,
    #[serde(default)]
    pub data_source_format: Option<String>,
    #[serde(default)]
    pub storage_location: Option<String>,
}

/// A volume as Unity Catalog describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct VolumeInfo {
    pub volume_id: String,
    pub storage_location: String,
    #[serde(default)]
    pub volume_type: Option<String>,
}

#[derive(Deserialize)]
struct SchemaInfo {
    #[serde(default)]
    storage_root: Option<String>,
    #[serde(default)]
    storage_location: Option<String>,
}

/// Temporary credentials vended for a table, volume or path.
#[derive(Clone)]
pub struct Vended {
    pub aws: Option<AwsKeys>,
    pub azure_sas: Option<Secret>,
    pub gcp_token: Option<Secret>,
    pub expires: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl fmt::Debug for Vended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vended {{ expires: {:?}, .. }}", self.expires)
    }
}

#[derive(Deserialize)]
struct VendedReply {
    #[serde(default)]
    aws_temp_credentials: Option<AwsReply>,
    #[serde(default)]
    r2_temp_credentials: Option<AwsReply>,
    #[serde(default)]
    azure_user_delegation_sas: Option<SasReply>,
    #[serde(default)]
    gcp_oauth_token: Option<GcpReply>,
    #[serde(default)]
    expiration_time: Option<i64>,
}

#[derive(Deserialize)]
struct AwsReply {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

#[derive(Deserialize)]
struct SasReply {
    sas_token: String,
}

#[derive(Deserialize)]
struct GcpReply {
    oauth_token: String,
}

/// What a failed request means for the user.
#[derive(Debug)]
pub enum UcError {
    /// 404 / `*_DOES_NOT_EXIST`.
    NotFound(String),
    /// Anything else, already phrased for the user.
    Other(Error),
}

impl From<UcError> for Error {
    fn from(e: UcError) -> Error {
        match e {
            UcError::NotFound(m) => Error::Access(m),
            UcError::Other(e) => e,
        }
    }
}

/// A signed-in client for one workspace's Unity Catalog API.
pub struct UnityClient {
    config: UnityConfig,
    http: reqwest::Client,
    /// OAuth access token and when it stops being usable.
    oauth: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

impl fmt::Debug for UnityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnityClient({})", self.config.host)
    }
}

impl UnityClient {
    pub fn new(config: UnityConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("delta-hf/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(UnityClient { config, http, oauth: tokio::sync::Mutex::new(None) })
    }

    pub fn host(&self) -> &Url {
        &self.config.host
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/2.1/unity-catalog/{path}", self.config.host.as_str().trim_end_matches('/'))
    }

    async fn bearer(&self) -> Result<String> {
        match &self.config.auth {
            Auth::Token(t) => Ok(format!("Bearer {}", t.expose())),
            Auth::OAuthM2M { client_id, client_secret } => {
                let mut cached = self.oauth.lock().await;
                if let Some((token, until)) = cached.as_ref()
                    && Instant::now() < *until
                {
                    return Ok(format!("Bearer {}", token.expose()));
                }
                let url = format!("{}/oidc/v1/token", self.config.host.as_str().trim_end_matches('/'));
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("scope", "all-apis")
                    .finish();
                let (status, _, text) =
                    retry::send(&format!("OAuth sign-in to {}", self.config.host), || {
                        self.http
                            .post(&url)
                            .basic_auth(client_id, Some(client_secret.expose()))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await
                    .map_err(|o| self.gave_up(o, "OAuth sign-in", &format!("POST {url}")))?;
                let text = String::from_utf8_lossy(&text).into_owned();
                if !status.is_success() {
                    return Err(Error::Access(format!(
                        "OAuth sign-in to {} with client id `{client_id}` ({}) was refused ({status}): {}; check \
                         the service principal's client id and secret",
                        self.config.host,
                        self.config.origin,
                        error_text(&text)
                    )));
                }
                #[derive(Deserialize)]
                struct TokenReply {
                    access_token: String,
                    #[serde(default)]
                    expires_in: Option<u64>,
                }
                let t: TokenReply = serde_json::from_str(&text).map_err(|_| {
                    Error::Access(format!(
                        "OAuth sign-in to {}: the token endpoint sent no access_token",
                        self.config.host
                    ))
                })?;
                let life = Duration::from_secs(t.expires_in.unwrap_or(3600));
                let until = Instant::now() + life.saturating_sub(Duration::from_secs(60).min(life / 2));
                let header = format!("Bearer {}", t.access_token);
                *cached = Some((Secret::new(t.access_token), until));
                Ok(header)
            }
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        let why = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            // reqwest's message names the URL (never a header), so it holds no secret.
            e.without_url().to_string()
        };
        Error::Access(format!(
            "cannot reach the Databricks workspace {} ({why}); check DATABRICKS_HOST / the profile's host \
             ({}) and the network",
            self.config.host, self.config.origin
        ))
    }

    /// The error of a call that failed for good: unreachable, or transient past the budget.
    fn gave_up(&self, o: retry::Outcome<retry::HttpFailure>, operation: &str, object: &str) -> Error {
        match o {
            retry::Outcome::Failed(retry::HttpFailure::Transport(e)) => self.unreachable(e),
            retry::Outcome::Failed(f) => Error::Access(format!("{operation} `{object}` failed: {f}")),
            retry::Outcome::Exhausted { last, elapsed, .. } => {
                Error::Access(retry::exhausted(operation, object, &last.to_string(), elapsed))
            }
        }
    }

    /// Send a request and decode a successful JSON reply; map failures to errors naming `what`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> std::result::Result<T, UcError> {
        let auth = self.bearer().await.map_err(UcError::Other)?;
        let url = self.api(path);
        tracing::debug!(target: "delta_hf::unity", "UC request {path}");
        let (status, _, text) = retry::send(&format!("Unity Catalog {what}"), || {
            let req = self.http.request(method.clone(), &url).header("authorization", &auth);
            match &body {
                Some(b) => req.json(b),
                None => req,
            }
        })
        .await
        .map_err(|o| {
            UcError::Other(self.gave_up(
                o,
                &format!("Unity Catalog call for {what}:"),
                &format!("{method} {url}"),
            ))
        })?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                UcError::Other(Error::Access(format!(
                    "Unity Catalog at {} sent an unexpected reply for {what}: {e}",
                    self.config.host
                )))
            });
        }
        let (code, message) = error_parts(&text);
        let detail = match (&code, &message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (None, Some(m)) => m.clone(),
            (Some(c), None) => c.clone(),
            (None, None) => status.to_string(),
        };
        let code = code.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND || code.ends_with("DOES_NOT_EXIST") || code == "NOT_FOUND"
        {
            return Err(UcError::NotFound(format!("{what}: {detail}")));
        }
        let hint = match status.as_u16() {
            401 => {
                "the token or OAuth credentials were not accepted; sign in again or check DATABRICKS_TOKEN / the profile"
            }
            403 => {
                "ask for the needed privileges (e.g. SELECT and EXTERNAL USE SCHEMA on the schema, external data access enabled on the metastore)"
            }
            429 | 503 => "the workspace is busy; retry later",
            _ => "check the name and your privileges",
        };
        Err(UcError::Other(Error::Access(format!(
            "Unity Catalog at {} refused {what} ({status}): {detail}; {hint}",
            self.config.host
        ))))
    }

    pub async fn get_table(&self, name: &UcName) -> std::result::Result<TableInfo, UcError> {
        self.call(
            reqwest::Method::GET,
            &format!("tables/{}", enc(&name.to_string())),
            None,
            &format!("table `{name}`"),
        )
        .await
    }

    pub async fn get_volume(&self, name: &UcName) -> std::result::Result<VolumeInfo, UcError> {
        self.call(
            reqwest::Method::GET,
            &format!("volumes/{}", enc(&name.to_string())),
            None,
            &format!("volume `{name}`"),
        )
        .await
    }

    /// Where new tables of `catalog.schema` may go when the user names no location.
    pub async fn schema_storage_root(&self, name: &UcName) -> Result<Option<String>> {
        let full = format!("{}.{}", name.catalog, name.schema);
        let s: SchemaInfo = self
            .call(reqwest::Method::GET, &format!("schemas/{}", enc(&full)), None, &format!("schema `{full}`"))
            .await?;
        Ok(s.storage_root.or(s.storage_location))
    }

    /// Register an EXTERNAL Delta table at `location` with `columns` (name, UC type name).
    pub async fn create_external_table(
        &self,
        name: &UcName,
        location: &str,
        columns: &[(String, &str, bool)],
    ) -> std::result::Result<TableInfo, UcError> {
        let columns: Vec<Value> = columns
            .iter()
            .enumerate()
            .map(|(i, (n, ty, nullable))| {
                let lower = ty.to_lowercase();
                json!({
                    "name": n, "position": i, "nullable": nullable,
                    "type_name": ty, "type_text": lower,
                    "type_json": json!({"name": n, "type": lower, "nullable": nullable, "metadata": {}}).to_string(),
                })
            })
            .collect();
        let body = json!({
            "name": name.name, "catalog_name": name.catalog, "schema_name": name.schema,
            "table_type": "EXTERNAL", "data_source_format": "DELTA",
            "storage_location": location, "columns": columns,
        });
        self.call(reqwest::Method::POST, "tables", Some(body), &format!("creating table `{name}`")).await
    }

    /// Vend credentials; `request` is the JSON body for `endpoint`.
    pub async fn vend(&self, endpoint: &str, request: Value, what: &str) -> Result<Vended> {
        let r: VendedReply = self.call(reqwest::Method::POST, endpoint, Some(request), what).await?;
        let aws = r.aws_temp_credentials.or(r.r2_temp_credentials).map(|a| AwsKeys {
            access_key_id: a.access_key_id,
            secret_access_key: Secret::new(a.secret_access_key),
            session_token: a.session_token.map(Secret::new),
        });
        let v = Vended {
            aws,
            azure_sas: r.azure_user_delegation_sas.map(|s| Secret::new(s.sas_token)),
            gcp_token: r.gcp_oauth_token.map(|g| Secret::new(g.oauth_token)),
            expires: r.expiration_time.and_then(DateTime::from_timestamp_millis),
        };
        if v.aws.is_none() && v.azure_sas.is_none() && v.gcp_token.is_none() {
            return Err(Error::Access(format!(
                "Unity Catalog at {} vended no usable credentials for {what}",
                self.config.host
            )));
        }
        Ok(v)
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn error_parts(text: &str) -> (Option<String>, Option<String>) {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => (
            v.get("error_code").and_then(Value::as_str).map(String::from),
            v.get("message").or(v.get("error_description")).and_then(Value::as_str).map(String::from),
        ),
        Err(_) => (None, Some(text.chars().take(200).collect()).filter(|s: &String| !s.trim().is_empty())),
    }
}

fn error_text(text: &str) -> String {
    let (c, m) = error_parts(text);
    match (c, m) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (c, m) => c.or(m).unwrap_or_else(|| "no details".into()),
    }
}

/// What credentials are vended for.
#[derive(Debug, Clone)]
pub enum VendFor {
    /// `temporary-table-credentials` with `READ` or `READ_WRITE`.
    Table { table_id: String, operation: &'static str },
    /// `temporary-volume-credentials` with `READ_VOLUME` or `WRITE_VOLUME`.
    Volume { volume_id: String, operation: &'static str },
    /// `temporary-path-credentials` with `PATH_READ`, `PATH_READ_WRITE` or `PATH_CREATE_TABLE`.
    Path { url: String, operation: &'static str },
}

/// Vended credentials for one table/volume/path, renewed [`RENEW_BEFORE`] they expire. Object
/// stores ask for credentials before each request, so a run of any length keeps working.
pub struct VendedCredentials {
    client: Arc<UnityClient>,
    what: String,
    target: VendFor,
    current: tokio::sync::Mutex<Option<Vended>>,
}

impl fmt::Debug for VendedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VendedCredentials({})", self.what)
    }
}

impl VendedCredentials {
    /// Vend once now (so permission errors surface before any work) and keep them fresh.
    pub async fn new(client: Arc<UnityClient>, what: String, target: VendFor) -> Result<Arc<Self>> {
        let me = Arc::new(VendedCredentials { client, what, target, current: tokio::sync::Mutex::new(None) });
        me.get().await?;
        Ok(me)
    }

    pub async fn get(&self) -> Result<Vended> {
        let mut current = self.current.lock().await;
        if let Some(v) = current.as_ref() {
            let fresh = match v.expires {
                None => true,
                Some(t) => (t - Utc::now()).to_std().is_ok_and(|left| left > RENEW_BEFORE),
            };
            if fresh {
                return Ok(v.clone());
            }
        }
        let (endpoint, body) = match &self.target {
            VendFor::Table { table_id, operation } => {
                ("temporary-table-credentials", json!({"table_id": table_id, "operation": operation}))
            }
            VendFor::Volume { volume_id, operation } => {
                ("temporary-volume-credentials", json!({"volume_id": volume_id, "operation": operation}))
            }
            VendFor::Path { url, operation } => {
                ("temporary-path-credentials", json!({"url": url, "operation": operation}))
            }
        };
        let v = self.client.vend(endpoint, body, &format!("credentials for {}", self.what)).await?;
        if let Some(t) = v.expires
            && t <= Utc::now()
        {
            return Err(Error::Access(format!(
                "Unity Catalog at {} vended credentials for {} that had already expired (at {}); check the \
                 clock of this machine, then retry",
                self.client.host(),
                self.what,
                t.to_rfc3339()
            )));
        }
        tracing::debug!(target: "delta_hf::unity", "vended credentials for {} until {:?}", self.what, v.expires);
        *current = Some(v.clone());
        Ok(v)
    }

    pub fn operation(&self) -> &'static str {
        match &self.target {
            VendFor::Table { operation, .. }
            | VendFor::Volume { operation, .. }
            | VendFor::Path { operation, .. } => operation,
        }
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
