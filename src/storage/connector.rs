//! How to reach storage: the user's object-store options, the Unity Catalog client, and object
//! stores built from them (for every table, label-table and output location that is not local).
//!
//! Options come from `--storage-option KEY=VALUE` (repeatable) and win over the usual
//! environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`). Locations given by URI are reached
//! through deltalake's store factories (the same ones that open its tables); locations that Unity
//! Catalog gives are reached with object_store builders whose credentials are the vended ones,
//! plugged in as credential providers that renew them before they expire ([`VendedCredentials`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsCredential};
use object_store::azure::{AzureConfigKey, AzureCredential, MicrosoftAzureBuilder};
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use url::Url;

use crate::error::{Error, Result};
use crate::storage::location::redact;
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
    /// given by URI), from deltalake's store factory for the scheme — the one that opens its
    /// tables — with the options and the environment. Every URI location (tables, label table,
    /// outputs) is reached this way, so one credential resolution serves them all: for S3 the
    /// AWS SDK chain (AWS_PROFILE, SSO, web identity, instance roles).
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "s3" | "s3a" | "abfss" | "abfs" | "az" | "adl" | "azure" | "gs" => {
                let root = Url::parse(&format!("{}://{}", url.scheme(), url.authority()))
                    .map_err(|e| self.unusable(url, e))?;
                deltalake::logstore::store_for(
                    &root,
                    self.options.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .map_err(|e| self.unusable(url, e))
            }
            "file" => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
            other => Err(unsupported(url, other)),
        }
    }

    /// An object store whose root is the bucket / container of a location Unity Catalog gave,
    /// signing with its renewable `vended` credentials; the environment and the options
    /// configure the rest (endpoints, HTTP client).
    pub fn vended_store(&self, url: &Url, vended: Arc<VendedCredentials>) -> Result<Arc<dyn ObjectStore>> {
        let bad = |e: object_store::Error| self.unusable(url, e);
        match url.scheme() {
            "s3" | "s3a" => {
                let mut b = AmazonS3Builder::from_env().with_url(format!("s3://{}", url.authority()));
                for (k, v) in &self.options {
                    if let Ok(key) = AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase()) {
                        b = b.with_config(key, v);
                    }
                }
                Ok(Arc::new(b.with_credentials(Arc::new(AwsVended(vended))).build().map_err(bad)?))
            }
            "abfss" | "abfs" | "az" | "adl" | "azure" => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                for (k, v) in &self.options {
                    if let Ok(key) = AzureConfigKey::from_str(&k.to_ascii_lowercase()) {
                        b = b.with_config(key, v);
                    }
                }
                Ok(Arc::new(b.with_credentials(Arc::new(AzureVended(vended))).build().map_err(bad)?))
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(format!(
                    "{}://{}",
                    url.scheme(),
                    url.authority()
                ));
                for (k, v) in &self.options {
                    if let Ok(key) = GoogleConfigKey::from_str(&k.to_ascii_lowercase()) {
                        b = b.with_config(key, v);
                    }
                }
                Ok(Arc::new(b.with_credentials(Arc::new(GcpVended(vended))).build().map_err(bad)?))
            }
            other => Err(unsupported(url, other)),
        }
    }

    fn unusable(&self, url: &Url, e: impl std::fmt::Display) -> Error {
        Error::Usage(format!("cannot use storage location `{}`: {e}", redact(url)))
    }
}

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
