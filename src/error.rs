//! The one error type of delta-hf, its exit codes, and the one place that says what an upstream
//! failure (delta-rs, object_store, DataFusion, reqwest) means for the user ([`classify`]).
//!
//! Exit codes are part of the interface (documented in README.md). The mapping from error to
//! code is the table in [`Error::exit_code`]:
//!
//! | code | [`ExitCode`] | errors |
//! |------|--------------|--------|
//! | 0    | `Success`    | — |
//! | 1    | `Data`       | [`Error::Data`], [`Error::MissingColumn`]: null labels/texts, labels outside `--labels`, new labels in `--label-map-mode strict`, missing columns, bad `--select-sql` |
//! | 2    | `Usage`      | [`Error::Usage`]: unknown flag, bad value (clap's own usage errors also exit 2) |
//! | 3    | `Input`      | [`Error::TableNotFound`], [`Error::TableUnreadable`], [`Error::Hub`], [`Error::Tokenizer`]: a table, Hub dataset or `--tokenizer` cannot be read |
//! | 4    | `Output`     | [`Error::Output`], [`Error::Io`]: the output, a label table or a pulled table cannot be written |
//! | 5    | `Internal`   | [`Error::Internal`] and upstream errors we could not attribute (a bug: please report it) |
//! | 6    | `Access`     | [`Error::Access`]: a service or store refused us or could not be reached |
//! | 130  | `Interrupted`| [`Error::Interrupted`]: Ctrl-C; staging is removed and nothing is published |
//! | 143  | `Terminated` | [`Error::Interrupted`] by SIGTERM (a cancelled Databricks run); as 130 |
//!
//! Upstream failures are decided where they are caught, by type: a remote operation whose retry
//! budget ran out raises [`Exhausted`], an S3 credential chain that found nothing
//! [`MissingCredentials`], a catalog or credential provider that refused us [`Error::Access`];
//! stores carry these as the source of their errors, and [`classify`] finds them again by
//! downcasting the source chain (with object_store's and reqwest's own error kinds). Where a
//! library flattened the chain into text, or keeps its error types private, the text is read in
//! [`boundary`] only. This module imports nothing else of the crate: every layer may use it.

pub mod boundary;

use std::path::PathBuf;
use std::time::Duration;

pub use boundary::Cloud;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An upstream error kept as the cause of one of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Exit statuses of the `delta-hf` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    Success = 0,
    Data = 1,
    Usage = 2,
    Input = 3,
    Output = 4,
    Internal = 5,
    Access = 6,
    Interrupted = 130,
    /// SIGTERM (what a cancelled Databricks run sends): as Ctrl-C, 128 + 15.
    Terminated = 143,
}

/// Every failure delta-hf reports. Messages are sentences a user can act on: what was
/// expected, what was found, what to do. Where an upstream error caused ours, it is kept as
/// the `source` (shown with `DELTA_HF_LOG=debug`), never matched on again.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or flag value is wrong.
    #[error("{0}")]
    Usage(String),

    /// The table does not exist at the given location.
    #[error("table `{table}` not found: {detail}")]
    TableNotFound { table: String, detail: String },

    /// The table exists but cannot be read correctly.
    #[error("table `{table}` cannot be read: {reason}")]
    TableUnreadable {
        table: String,
        reason: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A column named on the command line does not exist.
    #[error(
        "column `{column}` not found in {what} `{table}`; available columns: {available}. \
         Pick one with {flag}"
    )]
    MissingColumn { column: String, what: &'static str, table: String, available: String, flag: &'static str },

    /// The data cannot be turned into a dataset as asked.
    #[error("{0}")]
    Data(String),

    /// A Hugging Face Hub dataset cannot be read: not found, gated, missing revision, Hub
    /// unreachable with nothing cached, a download failing its checksum.
    #[error("{0}")]
    Hub(String),

    /// `--tokenizer` cannot be read: missing, not a tokenizer, written by a newer `tokenizers`,
    /// a Hub model not found, gated or unreachable with nothing cached.
    #[error("tokenizer `{spec}`: {reason}")]
    Tokenizer { spec: String, reason: String },

    /// The output (dataset, label table, pulled table) cannot be written or published.
    #[error("{message}")]
    Output {
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// An I/O error with the path it concerns.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A service or object store refused us or could not be reached (auth, permission, network).
    #[error("{message}")]
    Access {
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// The run was interrupted by a signal.
    #[error("interrupted; nothing was published")]
    Interrupted,

    /// Errors from DataFusion that we could not attribute to user input.
    #[error("query failed: {0}")]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),

    /// Errors from Arrow.
    #[error("arrow error: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),

    /// Errors from delta-rs that we could not attribute to a table.
    #[error("delta error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    /// Something that should not happen.
    #[error("internal error: {0} (this is a bug in delta-hf; please report it)")]
    Internal(String),
}

impl Error {
    /// The exit code this error maps to: the table of the module docs.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::MissingColumn { .. } | Error::Data(_) => ExitCode::Data,
            Error::TableNotFound { .. }
            | Error::TableUnreadable { .. }
            | Error::Hub(_)
            | Error::Tokenizer { .. } => ExitCode::Input,
            Error::Output { .. } | Error::Io { .. } => ExitCode::Output,
            Error::Access { .. } => ExitCode::Access,
            Error::Interrupted => ExitCode::Interrupted,
            Error::DataFusion(_) | Error::Arrow(_) | Error::Delta(_) | Error::Internal(_) => {
                ExitCode::Internal
            }
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// An access failure we phrase ourselves (no upstream cause).
    pub fn access(message: impl Into<String>) -> Self {
        Error::Access { message: message.into(), source: None }
    }

    /// An output failure we phrase ourselves (no upstream cause).
    pub fn output(message: impl Into<String>) -> Self {
        Error::Output { message: message.into(), source: None }
    }

    /// A table that cannot be read, for a reason we phrase ourselves.
    pub fn unreadable(table: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::TableUnreadable { table: table.into(), reason: reason.into(), source: None }
    }

    /// An upstream failure while working on `subject` (e.g. "table `t`", "label table `t`"):
    /// an access problem ([`classify`]) is [`Error::Access`] naming the subject; anything else
    /// is what `otherwise` makes of the upstream message. The upstream error is kept as source.
    pub fn upstream<E>(e: E, subject: &str, otherwise: impl FnOnce(String) -> Error) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match classify(&e) {
            Cause::Access(m) => {
                Error::Access { message: format!("{subject}: {m}"), source: Some(Box::new(e)) }
            }
            Cause::Other => match otherwise(e.to_string()) {
                Error::Output { message, source: None } => {
                    Error::Output { message, source: Some(Box::new(e)) }
                }
                Error::TableUnreadable { table, reason, source: None } => {
                    Error::TableUnreadable { table, reason, source: Some(Box::new(e)) }
                }
                Error::Access { message, source: None } => {
                    Error::Access { message, source: Some(Box::new(e)) }
                }
                other => other,
            },
        }
    }
}

/// A remote operation that kept failing until its retry budget (`--retry-timeout`) ran out,
/// raised by [`crate::storage::retry`]: exit 6, naming the operation, the object, the last
/// failure and the budget. Object stores carry it as the source of their error; [`classify`]
/// finds it by type, or, where delta-rs flattened it, its whole message in the text
/// ([`boundary::exhausted`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Exhausted(String);

impl Exhausted {
    /// `operation` on `object` kept failing for `elapsed`; `last` is the last failure, already
    /// cut to what a user can read.
    pub fn new(operation: &str, object: &str, last: &str, elapsed: Duration, budget: Duration) -> Self {
        Exhausted(format!(
            "{operation} `{object}` {} {:.1}s ({last}); gave up after --retry-timeout {}s. The service \
             may be overloaded or down: run again later, or {}",
            boundary::EXHAUSTED,
            elapsed.as_secs_f32(),
            budget.as_secs_f32(),
            boundary::EXHAUSTED_END,
        ))
    }
}

impl From<Exhausted> for Error {
    fn from(e: Exhausted) -> Self {
        Error::Access { message: e.to_string(), source: Some(Box::new(e)) }
    }
}

/// A credential chain that tried every way it knows and found no credentials for a `cloud`'s
/// store (raised where the chain's own error type says so: the AWS SDK's `CredentialsNotLoaded`).
/// Its text is the chain's, so it reads the same when a library flattens it.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct MissingCredentials {
    pub cloud: Cloud,
    #[source]
    pub source: BoxError,
}

/// What an upstream failure means for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Credentials, permissions or the network: exit 6, with this advice.
    Access(String),
    /// Anything else: the caller decides (unreadable input, unwritable output, a bug).
    Other,
}

/// Classify an upstream error by walking its source chain for typed errors: a spent retry
/// budget ([`Exhausted`]), a credential chain that found nothing ([`MissingCredentials`]), our own
/// [`Error::Access`] (raised inside a credential provider), object_store's
/// `PermissionDenied`/`Unauthenticated`, reqwest's connect/timeout errors.
///
/// delta-rs' kernel flattens the object_store errors it meets into text, so where no typed
/// cause survives, the same causes are read from the text by [`boundary`], in the same order.
pub fn classify(e: &(dyn std::error::Error + 'static)) -> Cause {
    let text = chain_text(e);
    // A remote operation whose retry budget ran out, whole even when a library flattened it
    // into a longer text.
    if let Some(x) = find::<Exhausted>(e) {
        return Cause::Access(x.to_string());
    }
    if let Some(m) = boundary::exhausted(&text) {
        return Cause::Access(m);
    }
    if let Some(cloud) =
        find::<MissingCredentials>(e).map(|m| m.cloud).or_else(|| boundary::missing_credentials(&text))
    {
        return Cause::Access(no_credentials(cloud));
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(Error::Access { message, .. }) = err.downcast_ref::<Error>() {
            return Cause::Access(message.clone());
        }
        if let Some(os) = err.downcast_ref::<object_store::Error>() {
            match os {
                object_store::Error::PermissionDenied { path, .. } => {
                    return Cause::Access(format!(
                        "the object store denied access to `{path}`; check the credentials (AWS_*, AZURE_*, \
                         GOOGLE_* or --storage-option) and their permissions"
                    ));
                }
                object_store::Error::Unauthenticated { path, .. } => {
                    return Cause::Access(format!(
                        "the object store did not accept the credentials for `{path}` (missing, wrong or \
                         expired); check AWS_*/AZURE_*/GOOGLE_* or --storage-option"
                    ));
                }
                _ => {}
            }
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && (r.is_connect() || r.is_timeout())
        {
            return Cause::Access(
                "cannot reach the object store (connection failed or timed out); check the endpoint and network"
                    .into(),
            );
        }
        cur = err.source();
    }
    match boundary::flattened(&text) {
        Some(f) => Cause::Access(flattened_advice(f).into()),
        None => Cause::Other,
    }
}

/// The first error of type `T` in `e`'s source chain.
pub fn find<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// When a store found no credentials: what was tried and what to set, per cloud.
fn no_credentials(cloud: Cloud) -> String {
    match cloud {
        Cloud::Aws => {
            "no AWS credentials (tried the environment, the AWS profile files and instance metadata); set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary keys) or \
             AWS_PROFILE, or pass them with --storage-option (with AWS_ENDPOINT_URL, the profile chain is \
             only read with AWS_FORCE_CREDENTIAL_LOAD=true)"
                .into()
        }
        Cloud::Azure => {
            "no Azure credentials (tried the environment: an account key, a SAS token, a service \
             principal, a federated token; then the machine's managed identity); set \
             AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, or \
             AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID, or pass them with --storage-option"
                .into()
        }
        Cloud::Gcs => {
            "no Google Cloud credentials (tried GOOGLE_SERVICE_ACCOUNT / GOOGLE_APPLICATION_CREDENTIALS, the \
             application default credentials of gcloud, then the metadata server); set \
             GOOGLE_SERVICE_ACCOUNT to a service account key file, or pass it with --storage-option"
                .into()
        }
    }
}

/// The advice for a cause that only survived as text.
fn flattened_advice(f: boundary::Flattened) -> &'static str {
    use boundary::Flattened;
    match f {
        Flattened::Unreachable => {
            "cannot reach the object store (connection failed); check the endpoint and network"
        }
        Flattened::Refused => {
            "the object store refused the request (wrong, expired or insufficient credentials); check \
             AWS_*/AZURE_*/GOOGLE_* or --storage-option and their permissions"
        }
        Flattened::NoProvider => {
            "found no credentials for the object store (no key in the environment, no usable \
             AWS_PROFILE, instance role or --storage-option); set them and retry"
        }
        Flattened::Rejected => {
            "the object store rejected the credentials (expired or invalid); renew them and retry"
        }
    }
}

/// A DataFusion failure while scanning `table`: an access problem, a file or feature that
/// cannot be read (the table is unreadable), or else a bug.
pub fn scan_error(e: deltalake::datafusion::error::DataFusionError, table: &str) -> Error {
    if let Cause::Access(m) = classify(&e) {
        return Error::Access { message: format!("table `{table}`: {m}"), source: Some(Box::new(e)) };
    }
    if reads_as_unreadable(&e) {
        return Error::TableUnreadable {
            table: table.to_string(),
            reason: e.to_string(),
            source: Some(Box::new(e)),
        };
    }
    Error::DataFusion(e)
}

/// Whether a scan failed on the table's files or protocol (rather than on our plan).
fn reads_as_unreadable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<deltalake::parquet::errors::ParquetError>().is_some()
            || err.downcast_ref::<object_store::Error>().is_some()
            || err.downcast_ref::<deltalake::DeltaTableError>().is_some()
        {
            return true;
        }
        if let Some(deltalake::datafusion::error::DataFusionError::ParquetError(_)) =
            err.downcast_ref::<deltalake::datafusion::error::DataFusionError>()
        {
            return true;
        }
        cur = err.source();
    }
    // Kernel errors reach DataFusion as text.
    boundary::unreadable(&e.to_string())
}

/// Every message of an error and its sources, joined with `: `.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_causes_are_found_through_the_chain() {
        let denied = object_store::Error::PermissionDenied { path: "b/t".into(), source: "403".into() };
        let wrapped = deltalake::datafusion::error::DataFusionError::ObjectStore(Box::new(denied));
        assert!(matches!(classify(&wrapped), Cause::Access(m) if m.contains("b/t")));
        let e = Error::upstream(wrapped, "table `t`", Error::output);
        assert_eq!(e.exit_code(), ExitCode::Access);
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }

    #[test]
    fn other_causes_go_to_the_caller() {
        let io = std::io::Error::other("disk full");
        let e = Error::upstream(io, "label table `t`", |m| Error::output(format!("cannot commit: {m}")));
        assert_eq!(e.exit_code(), ExitCode::Output);
        assert!(e.to_string().contains("disk full"));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn flattened_kernel_text_is_a_last_resort() {
        let e = std::io::Error::other("... SignatureDoesNotMatch ...");
        assert!(matches!(classify(&e), Cause::Access(m) if m.contains("rejected the credentials")));
        assert_eq!(classify(&std::io::Error::other("some other failure")), Cause::Other);
    }

    #[test]
    fn a_spent_budget_is_found_by_type_and_in_flattened_text() {
        let x = Exhausted::new(
            "read",
            "s3://b/t/_delta_log/",
            "503",
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        let message = x.to_string();
        assert!(message.contains("kept failing for") && message.ends_with("--retry-timeout"), "{message}");
        // Typed: as an object store's error reaches DataFusion.
        let store = object_store::Error::Generic { store: "delta-hf", source: Box::new(x.clone()) };
        let scan = deltalake::datafusion::error::DataFusionError::ObjectStore(Box::new(store));
        assert_eq!(classify(&scan), Cause::Access(message.clone()));
        // Flattened: as the Delta kernel passes it on.
        let flat = std::io::Error::other(format!("Kernel error: Generic delta-hf error: {message}"));
        assert_eq!(classify(&flat), Cause::Access(message.clone()));
        let e: Error = x.into();
        assert_eq!((e.exit_code(), e.to_string()), (ExitCode::Access, message));
    }

    #[test]
    fn missing_credentials_by_type() {
        let chain = std::io::Error::other("the credential provider was not loaded");
        let m = MissingCredentials { cloud: Cloud::Gcs, source: Box::new(chain) };
        let store = object_store::Error::NotSupported { source: Box::new(m) };
        assert!(matches!(classify(&store), Cause::Access(m) if m.starts_with("no Google Cloud credentials")));
    }
}
