//! S3 credentials the way delta-rs resolves them, for the S3 stores [`super::connector`] builds
//! itself (it builds them so that its HTTP client, which waits out `Retry-After`, carries every
//! request).
//!
//! Keys given in the options or the environment are used as they are (object_store signs with
//! them). Otherwise, against AWS (no custom endpoint, or `AWS_FORCE_CREDENTIAL_LOAD`), the AWS
//! SDK's chain: `AWS_PROFILE` and the shared files, SSO, web identity, ECS, instance roles; with
//! `AWS_IAM_ROLE_ARN` that role is assumed first. Against an S3-compatible endpoint without
//! keys, object_store's own chain (web identity, ECS, instance metadata) — as delta-rs does.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AmazonS3ConfigKey, AwsCredential};
use tokio::sync::{Mutex, OnceCell};

use crate::error::{BoxError, Cloud, MissingCredentials};
use crate::storage::options::layered;

/// Credentials are renewed this long before they expire.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

/// The S3 configuration of a location: the user's options over the `AWS_*` environment, keyed
/// by object_store's names, plus the delta-rs keys object_store does not know
/// (`AWS_FORCE_CREDENTIAL_LOAD`, `AWS_S3_LOCKING_PROVIDER`, `AWS_IAM_ROLE_ARN`, ...).
pub struct S3Options {
    /// Keys object_store understands.
    pub config: HashMap<AmazonS3ConfigKey, String>,
    /// delta-rs's own keys, upper case (locking provider, unsafe rename, roles).
    pub flags: HashMap<String, String>,
}

impl S3Options {
    /// The user's `options` (which win) over the process environment.
    pub fn resolve(options: &HashMap<String, String>) -> Self {
        Self::from_parts(options, std::env::vars().collect())
    }

    fn from_parts(options: &HashMap<String, String>, env: Vec<(String, String)>) -> Self {
        let known = |k: &str| AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase()).is_ok();
        // Environment first, then the options over it.
        let flags = env
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k, v))
            .chain(options)
            .filter(|(k, _)| !known(k))
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect();
        let mut config: HashMap<_, _> = layered("AWS_", options, env, &[]).into_iter().collect();
        // As delta-rs: a copy that must not overwrite is a multipart copy unless the user chose
        // another way.
        config.entry(AmazonS3ConfigKey::CopyIfNotExists).or_insert_with(|| "multipart".to_string());
        S3Options { config, flags }
    }

    fn get(&self, key: AmazonS3ConfigKey) -> Option<&str> {
        self.config.get(&key).map(String::as_str)
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    /// The role to assume (`AWS_IAM_ROLE_ARN`, or the older `AWS_S3_ASSUME_ROLE_ARN`).
    fn role_arn(&self) -> Option<&str> {
        self.flag("AWS_IAM_ROLE_ARN").or_else(|| self.flag("AWS_S3_ASSUME_ROLE_ARN"))
    }

    /// The AWS SDK's chain signs, unless keys are given: against AWS itself, or when forced (or a
    /// DynamoDB locking provider needs it), or when a role is to be assumed.
    pub fn sdk_chain(&self) -> bool {
        if self.role_arn().is_some() {
            return true;
        }
        if self.get(AmazonS3ConfigKey::AccessKeyId).is_some()
            && self.get(AmazonS3ConfigKey::SecretAccessKey).is_some()
        {
            return false;
        }
        self.flag("AWS_FORCE_CREDENTIAL_LOAD").is_some()
            || self.flag("AWS_S3_LOCKING_PROVIDER").is_some()
            || self.get(AmazonS3ConfigKey::Endpoint).is_none()
    }
}

/// object_store credentials from the AWS SDK's chain, resolved on first use and renewed before
/// they expire.
#[derive(Debug)]
pub struct SdkCredentials {
    role_arn: Option<String>,
    session_name: String,
    /// Keys given for the assumed role's own sign-in.
    keys: Option<Credentials>,
    chain: OnceCell<SharedCredentialsProvider>,
    cache: Mutex<Option<Credentials>>,
}

impl SdkCredentials {
    pub fn new(o: &S3Options) -> Self {
        let keys = match (o.get(AmazonS3ConfigKey::AccessKeyId), o.get(AmazonS3ConfigKey::SecretAccessKey)) {
            (Some(id), Some(secret)) => Some(Credentials::new(
                id,
                secret,
                o.get(AmazonS3ConfigKey::Token).map(String::from),
                None,
                "delta-hf storage options",
            )),
            _ => None,
        };
        SdkCredentials {
            role_arn: o.role_arn().map(String::from),
            session_name: o
                .flag("AWS_IAM_ROLE_SESSION_NAME")
                .or_else(|| o.flag("AWS_S3_ROLE_SESSION_NAME"))
                .map(String::from)
                .unwrap_or_else(|| format!("delta-hf_{}", chrono::Utc::now().timestamp_millis())),
            keys,
            chain: OnceCell::new(),
            cache: Mutex::new(None),
        }
    }

    async fn chain(&self) -> &SharedCredentialsProvider {
        self.chain
            .get_or_init(|| async {
                let default = DefaultCredentialsChain::builder().build().await;
                let base = match &self.keys {
                    Some(k) => CredentialsProviderChain::first_try("StorageOptions", k.clone())
                        .or_else("DefaultChain", default),
                    None => CredentialsProviderChain::first_try("DefaultChain", default),
                };
                match &self.role_arn {
                    Some(arn) => SharedCredentialsProvider::new(
                        AssumeRoleProvider::builder(arn.clone())
                            .session_name(self.session_name.clone())
                            .build_from_provider(base)
                            .await,
                    ),
                    None => SharedCredentialsProvider::new(base),
                }
            })
            .await
    }
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cache = self.cache.lock().await;
        let fresh = |c: &Credentials| c.expiry().is_none_or(|e| e > SystemTime::now() + RENEW_MARGIN);
        if cache.as_ref().is_none_or(|c| !fresh(c)) {
            let c = self
                .chain()
                .await
                .provide_credentials()
                .await
                // As delta-rs reports it: not retried by the store (the SDK retried its own calls).
                // A chain that found nothing says so by its error type: typed here, where it is
                // caught, for `classify` to find.
                .map_err(|e| {
                    let source: BoxError = match e {
                        CredentialsError::CredentialsNotLoaded(_) => {
                            Box::new(MissingCredentials { cloud: Cloud::Aws, source: Box::new(e) })
                        }
                        e => Box::new(e),
                    };
                    object_store::Error::NotSupported { source }
                })?;
            *cache = Some(c);
        }
        let c = cache.as_ref().expect("credentials just resolved");
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(String::from),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(options: &[(&str, &str)], env: &[(&str, &str)]) -> S3Options {
        let options = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        S3Options::from_parts(&options, env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn options_win_over_the_environment() {
        let o = opts(&[("aws_region", "eu-west-1")], &[("AWS_REGION", "us-east-1"), ("HOME", "/h")]);
        assert_eq!(o.get(AmazonS3ConfigKey::Region), Some("eu-west-1"));
        assert_eq!(o.get(AmazonS3ConfigKey::CopyIfNotExists), Some("multipart"));
    }

    #[test]
    fn which_credentials_sign() {
        // AWS itself, no keys: the SDK's chain (profiles, SSO, instance roles).
        assert!(opts(&[], &[]).sdk_chain());
        // Keys: as given.
        assert!(!opts(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")], &[]).sdk_chain());
        // An S3-compatible endpoint: object_store's chain, unless forced.
        assert!(!opts(&[], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")]).sdk_chain());
        assert!(
            opts(&[("AWS_FORCE_CREDENTIAL_LOAD", "true")], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")])
                .sdk_chain()
        );
        // A role to assume, even with keys (they sign the AssumeRole call).
        assert!(
            opts(
                &[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")],
                &[("AWS_IAM_ROLE_ARN", "arn:x")]
            )
            .sdk_chain()
        );
    }
}
