//! How to reach storage: the user's object-store options, the Unity Catalog client, and object
//! stores built from them (for every table, label-table and output location that is not local).
//!
//! Options come from `--storage-option KEY=VALUE` (repeatable) and win over the usual
//! environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`). Stores are built here with
//! object_store's builders, configured as delta-rs configures the stores of its tables (the same
//! keys, the same credential chains), for two reasons of our own: their HTTP client waits out
//! `Retry-After` ([`RetryAfterConnector`]), and locations that Unity Catalog gives sign with the
//! vended credentials, plugged in as providers that renew them before they expire
//! ([`VendedCredentials`]).

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::azure::{AzureConfigKey, AzureCredential, MicrosoftAzureBuilder};
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use url::Url;

use deltalake::aws::storage::{S3StorageBackend, S3StorageOptions};

use crate::error::{Error, Result};
use crate::storage::aws::{S3Options, SdkCredentials};
use crate::storage::http::RetryAfterConnector;
use crate::storage::location::redact;
use crate::storage::options::layered;
use crate::storage::retry::{self, RetryStore};
use crate::storage::unity::{UnityClient, UnityConfig, VendedCredentials};

/// Storage options and the (lazily signed-in) Unity Catalog client, shared by a run.
#[derive(Default)]
pub struct Connector {
    options: HashMap<String, String>,
    profile: Option<String>,
    unity: tokio::sync::OnceCell<Arc<UnityClient>>,
}

/// Option values may be secrets (`AWS_SECRET_ACCESS_KEY=...`): only their keys are shown.
impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.options.keys().collect();
        keys.sort();
        f.debug_struct("Connector")
            .field("option_keys", &keys)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// From `--storage-option KEY=VALUE` pairs and a Databricks profile name.
    pub fn new(storage_options: &[String], profile: Option<&str>) -> Result<Self> {
        let mut options = HashMap::new();
        for kv in storage_options {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(Error::Usage(format!(
                    "--storage-option expects KEY=VALUE, got `{}`",
                    kv.split(['=', ' ']).next().unwrap_or_default()
                )));
            };
            let k = k.trim();
            if k.is_empty() {
                return Err(Error::Usage("--storage-option has an empty KEY".into()));
            }
            options.insert(k.to_string(), v.to_string());
        }
        Ok(Connector { options, profile: profile.map(String::from), unity: Default::default() })
    }

    /// The user's storage options, as given.
    pub fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The Unity Catalog client, signed in on first use.
    pub async fn unity(&self) -> Result<Arc<UnityClient>> {
        self.unity
            .get_or_try_init(|| async {
                let config = UnityConfig::resolve(self.profile.as_deref())?;
                Ok(Arc::new(UnityClient::new(config)?))
            })
            .await
            .cloned()
    }

    /// An object store whose root is the bucket / container of `url` (a table or output location
    /// given by URI), configured from the options and the environment as delta-rs configures the
    /// stores that open its tables. Every URI location (tables, label table, outputs) is reached
    /// this way, so one credential resolution serves them all: for S3 the AWS SDK chain
    /// (AWS_PROFILE, SSO, web identity, instance roles; see [`super::aws`]).
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "s3" | "s3a" | "abfss" | "abfs" | "az" | "adl" | "azure" | "gs" => self.build(url, None),
            "file" => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
            other => Err(unsupported(url, other)),
        }
    }

    /// An object store whose root is the bucket / container of a location Unity Catalog gave,
    /// signing with its renewable `vended` credentials; the environment and the options
    /// configure the rest (endpoints, HTTP client).
    pub fn vended_store(&self, url: &Url, vended: Arc<VendedCredentials>) -> Result<Arc<dyn ObjectStore>> {
        self.build(url, Some(vended))
    }

    /// The store of `url`'s bucket / container: the options over the environment, signed with
    /// `vended` credentials or the configured ones, its HTTP client waiting out `Retry-After`
    /// ([`RetryAfterConnector`]), its requests retried by object_store within the budget and its
    /// operations by [`RetryStore`].
    fn build(&self, url: &Url, vended: Option<Arc<VendedCredentials>>) -> Result<Arc<dyn ObjectStore>> {
        let bad = |e: object_store::Error| self.unusable(url, e);
        let retry = retry::retry_config(&self.options);
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => {
                let o = S3Options::resolve(&self.options);
                let mut b = AmazonS3Builder::new().with_url(format!("s3://{}", url.authority()));
                for (k, v) in &o.config {
                    b = b.with_config(*k, v);
                }
                b = b.with_retry(retry).with_http_connector(RetryAfterConnector);
                match vended {
                    Some(v) => Arc::new(b.with_credentials(Arc::new(AwsVended(v))).build().map_err(bad)?),
                    None => {
                        if o.sdk_chain() {
                            b = b.with_credentials(Arc::new(SdkCredentials::new(&o)));
                        }
                        // delta-rs's DynamoDB locking or unsafe renames, when asked for.
                        let s3 = S3StorageOptions::from_map(&o.flags).map_err(|e| self.unusable(url, e))?;
                        let store = Arc::new(b.build().map_err(bad)?);
                        if s3.locking_provider.as_deref() == Some("dynamodb") || s3.allow_unsafe_rename {
                            Arc::new(S3StorageBackend::try_new(store, true).map_err(bad)?)
                        } else {
                            store
                        }
                    }
                }
            }
            "abfss" | "abfs" | "az" | "adl" | "azure" => {
                let mut b = MicrosoftAzureBuilder::new().with_url(url.as_str());
                for (k, v) in layered("AZURE_", &self.options, std::env::vars().collect(), AZURE_CREDENTIALS)
                {
                    b = b.with_config(k, v);
                }
                b = b.with_retry(retry).with_http_connector(RetryAfterConnector);
                if let Some(v) = vended {
                    b = b.with_credentials(Arc::new(AzureVended(v)));
                }
                Arc::new(b.build().map_err(bad)?)
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::new().with_url(format!("gs://{}", url.authority()));
                for (k, v) in layered("GOOGLE_", &self.options, std::env::vars().collect(), GCS_CREDENTIALS) {
                    b = b.with_config(k, v);
                }
                b = b.with_retry(retry).with_http_connector(RetryAfterConnector);
                match vended {
                    Some(v) => b = b.with_credentials(Arc::new(GcpVended(v))),
                    None => {
                        // object_store's older name for a key file.
                        if let Ok(path) = std::env::var("SERVICE_ACCOUNT")
                            && !GCS_CREDENTIALS
                                .iter()
                                .flat_map(|c| c.iter())
                                .any(|k| b.get_config_value(k).is_some())
                        {
                            b = b.with_service_account_path(path);
                        }
                    }
                }
                Arc::new(b.build().map_err(bad)?)
            }
            other => return Err(unsupported(url, other)),
        };
        Ok(self.retrying(url, store))
    }

    /// `store` wrapped in the retry policy, named by the bucket / container of `url`.
    fn retrying(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        let mut root = url.clone();
        root.set_path("");
        RetryStore::wrap(store, redact(&root).trim_end_matches('/').to_string())
    }

    fn unusable(&self, url: &Url, e: impl std::fmt::Display) -> Error {
        Error::Usage(format!("cannot use storage location `{}`: {e}", redact(url)))
    }
}

/// Azure's ways to sign in, each by the keys it needs (as delta-rs groups them).
const AZURE_CREDENTIALS: &[&[AzureConfigKey]] = &[
    &[AzureConfigKey::AccessKey],
    &[AzureConfigKey::Token],
    &[AzureConfigKey::ClientId, AzureConfigKey::ClientSecret, AzureConfigKey::AuthorityId],
    &[AzureConfigKey::AuthorityId, AzureConfigKey::ClientId, AzureConfigKey::FederatedTokenFile],
    &[AzureConfigKey::SasKey],
];

/// Google Cloud's ways to sign in (a key file, a key, application default credentials).
const GCS_CREDENTIALS: &[&[GoogleConfigKey]] = &[
    &[GoogleConfigKey::ServiceAccount],
    &[GoogleConfigKey::ServiceAccountKey],
    &[GoogleConfigKey::ApplicationCredentials],
];

fn unsupported(url: &Url, scheme: &str) -> Error {
    Error::Usage(format!(
        "storage location `{}`: the `{scheme}://` scheme is not supported; use s3://, abfss://, gs:// or a local path",
        redact(url)
    ))
}

fn store_error(e: Error) -> object_store::Error {
    object_store::Error::Generic { store: "Unity Catalog", source: Box::new(e) }
}

#[derive(Debug)]
struct AwsVended(Arc<VendedCredentials>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for AwsVended {
    type Credential = AwsCredential;
    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let v = self.0.get().await.map_err(store_error)?;
        let k = v.aws.ok_or_else(|| {
            store_error(Error::access("Unity Catalog vended no AWS credentials for an s3:// location"))
        })?;
        Ok(Arc::new(AwsCredential {
            key_id: k.access_key_id,
            secret_key: k.secret_access_key.expose().to_string(),
            token: k.session_token.map(|t| t.expose().to_string()),
        }))
    }
}

#[derive(Debug)]
struct AzureVended(Arc<VendedCredentials>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for AzureVended {
    type Credential = AzureCredential;
    async fn get_credential(&self) -> object_store::Result<Arc<AzureCredential>> {
        let v = self.0.get().await.map_err(store_error)?;
        let sas = v.azure_sas.ok_or_else(|| {
            store_error(Error::access("Unity Catalog vended no SAS token for an Azure location"))
        })?;
        let pairs = url::form_urlencoded::parse(sas.expose().trim_start_matches('?').as_bytes())
            .into_owned()
            .collect();
        Ok(Arc::new(AzureCredential::SASToken(pairs)))
    }
}

#[derive(Debug)]
struct GcpVended(Arc<VendedCredentials>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for GcpVended {
    type Credential = GcpCredential;
    async fn get_credential(&self) -> object_store::Result<Arc<GcpCredential>> {
        let v = self.0.get().await.map_err(store_error)?;
        let t = v.gcp_token.ok_or_else(|| {
            store_error(Error::access("Unity Catalog vended no OAuth token for a gs:// location"))
        })?;
        Ok(Arc::new(GcpCredential { bearer: t.expose().to_string() }))
    }
}
