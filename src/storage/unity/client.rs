//! The Unity Catalog REST API of one workspace: tables, volumes, schemas, table registration.
//!
//! Every HTTP status is checked and `{"error_code", "message"}` bodies become errors that say
//! what to do; no message is built from a request header or a credential.

use std::fmt;
use std::time::{Duration, Instant};

use deltalake::arrow::datatypes::{DataType, Schema};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::UcName;
use super::config::{Auth, UnityConfig};
use crate::error::{Error, Result};
use crate::storage::retry;
use crate::storage::secret::Secret;

/// An HTTP request to the workspace gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
}

#[derive(Deserialize)]
struct SchemaInfo {
    #[serde(default)]
    storage_root: Option<String>,
    #[serde(default)]
    storage_location: Option<String>,
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
            UcError::NotFound(m) => Error::access(m),
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
                    return Err(Error::access(format!(
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
                    Error::access(format!(
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
        Error::access(format!(
            "cannot reach the Databricks workspace {} ({why}); check DATABRICKS_HOST / the profile's host \
             ({}) and the network",
            self.config.host, self.config.origin
        ))
    }

    /// The error of a call that failed for good: unreachable, or transient past the budget.
    fn gave_up(&self, o: retry::Outcome<retry::HttpFailure>, operation: &str, object: &str) -> Error {
        match o {
            retry::Outcome::Failed(retry::HttpFailure::Transport(e)) => self.unreachable(e),
            retry::Outcome::Failed(f) => Error::access(format!("{operation} `{object}` failed: {f}")),
            retry::Outcome::Exhausted { last, elapsed, .. } => {
                retry::exhausted(operation, object, &last.to_string(), elapsed).into()
            }
        }
    }

    /// Send a request and decode a successful JSON reply; map failures to errors naming `what`.
    pub(super) async fn call<T: serde::de::DeserializeOwned>(
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
                UcError::Other(Error::access(format!(
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
        Err(UcError::Other(Error::access(format!(
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

    /// Where new tables of `catalog.schema` may go when the user names no location. A schema
    /// that does not exist is an output error (exit 4): the table cannot be written there.
    pub async fn schema_storage_root(&self, name: &UcName) -> Result<Option<String>> {
        let full = format!("{}.{}", name.catalog, name.schema);
        let s: SchemaInfo = self
            .call(reqwest::Method::GET, &format!("schemas/{}", enc(&full)), None, &format!("schema `{full}`"))
            .await
            .map_err(|e| match e {
                UcError::NotFound(m) => Error::output(format!(
                    "cannot create table `{name}`: {m}; create the schema first, or name an existing one"
                )),
                UcError::Other(e) => e,
            })?;
        Ok(s.storage_root.or(s.storage_location))
    }

    /// Register an EXTERNAL Delta table at `location` with the columns of `schema`.
    pub async fn create_external_table(
        &self,
        name: &UcName,
        location: &str,
        schema: &Schema,
    ) -> std::result::Result<TableInfo, UcError> {
        let columns: Vec<Value> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (n, ty, nullable) = (f.name(), uc_type(f.data_type()), f.is_nullable());
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
}

/// The Unity Catalog type name of an Arrow type (the one place that knows them).
pub fn uc_type(t: &DataType) -> &'static str {
    use DataType as D;
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
