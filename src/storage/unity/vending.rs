//! Temporary credentials that Unity Catalog vends for a table, volume or path, renewed before
//! they expire. Object stores ask for credentials before each request (see
//! [`crate::storage::connector`]), so a run of any length keeps working.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::UnityClient;
use crate::error::{Error, Result};
use crate::storage::secret::Secret;

/// Vended credentials are renewed this long before they expire (like object_store's token cache).
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

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

impl UnityClient {
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
            return Err(Error::access(format!(
                "Unity Catalog at {} vended no usable credentials for {what}",
                self.host()
            )));
        }
        Ok(v)
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
            return Err(Error::access(format!(
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
}
