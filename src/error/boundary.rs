//! The one place where an upstream error is read by its text.
//!
//! Everything else decides by type: our own errors ([`super::Exhausted`],
//! [`super::MissingCredentials`], [`super::Error::Access`]), object_store's error variants and
//! HTTP error kinds, reqwest's and std's error kinds, delta-rs' `DeltaTableError` variants,
//! HTTP statuses. Text is read only where a crate gives nothing better:
//! - delta-rs' kernel keeps the object_store errors it meets without their source chain and
//!   delta-rs turns some of them into strings, so what our stores raised (a spent retry budget,
//!   a credential failure) may only survive as words in a longer message;
//! - object_store's own credential providers (instance metadata, managed identity, the GCE
//!   metadata server, token requests) have private error types;
//! - object_store's reqwest (0.12) is not ours (0.13): its transport errors cannot be downcast;
//! - the Delta kernel's messages (a gap in the log, a missing version) carry `Debug` dumps.
//!
//! Every function here takes text and returns what it means; the caller has already tried the
//! types. Every needle has a unit test: a realistic message containing it is read as expected.
//! To recognise a new upstream wording, add the needle here, with its test.

/// The words of every [`super::Exhausted`] message, by which it is found in a flattened text.
pub const EXHAUSTED: &str = "kept failing for";
/// How every [`super::Exhausted`] message ends.
pub const EXHAUSTED_END: &str = "give it longer with --retry-timeout";

/// The cloud whose credentials are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Gcs,
}

/// What a flattened upstream failure was, as far as its text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flattened {
    /// The connection failed (refused, unknown host, request not sent).
    Unreachable,
    /// The store refused the request (privileges, authentication, a failed token request).
    Refused,
    /// No credential provider gave any credentials.
    NoProvider,
    /// The service rejected the credentials (expired or invalid).
    Rejected,
}

/// The whole message of a spent retry budget ([`super::Exhausted`]) inside a longer text, such
/// as `Kernel error: Error interacting with object store: Generic delta-hf error: <message>`.
/// The message starts after the last `: ` before its [`EXHAUSTED`] words (an operation and an
/// object in backticks hold none) and ends with [`EXHAUSTED_END`].
pub fn exhausted(text: &str) -> Option<String> {
    let at = text.find(EXHAUSTED)?;
    let start = text[..at].rfind(": ").map_or(0, |i| i + 2);
    let end = at + text[at..].find(EXHAUSTED_END)? + EXHAUSTED_END.len();
    Some(text[start..end].to_string())
}

/// When a store found no credentials of its own and fell back to the machine's identity
/// (instance metadata, managed identity, the GCE metadata server) without success, or the AWS
/// SDK's chain found none: which cloud. The fallback's own error (an address, a status) tells a
/// user nothing; the caller says what was tried and what to set instead.
pub fn missing_credentials(text: &str) -> Option<Cloud> {
    let aws = text.contains("/latest/api/token")
        || text.contains("/latest/meta-data")
        || text.contains("no providers in chain provided credentials")
        || text.contains("credential provider was not enabled");
    // A token request with no client secret, federated token or key configured is the machine's
    // identity (managed identity, the GCE metadata server): its URL is often redacted.
    let unset = |vars: &[&str]| vars.iter().all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()));
    let token = text.contains("token request") || text.contains("token response");
    let azure = text.contains("/metadata/identity/")
        || (token
            && text.contains("MicrosoftAzure")
            && unset(&[
                "AZURE_CLIENT_SECRET",
                "AZURE_FEDERATED_TOKEN_FILE",
                "AZURE_CLIENT_CERTIFICATE_PATH",
            ]));
    let adc = std::env::var_os("HOME")
        .map(|h| {
            std::path::Path::new(&h).join(".config/gcloud/application_default_credentials.json").exists()
        })
        .unwrap_or(false);
    let gcs = text.contains("computeMetadata")
        || text.contains("metadata.google.internal")
        || (token
            && text.contains("GCS")
            && !adc
            && unset(&[
                "GOOGLE_SERVICE_ACCOUNT",
                "GOOGLE_SERVICE_ACCOUNT_PATH",
                "GOOGLE_SERVICE_ACCOUNT_KEY",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "SERVICE_ACCOUNT",
            ]));
    if aws {
        Some(Cloud::Aws)
    } else if azure {
        Some(Cloud::Azure)
    } else if gcs {
        Some(Cloud::Gcs)
    } else {
        None
    }
}

/// The last resort of [`super::classify`]: causes that only survive as text (object_store's
/// wording, and the services' error codes of S3, Azure and GCS).
pub fn flattened(text: &str) -> Option<Flattened> {
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&["Connection refused", "dns error", "error sending request"]) {
        Some(Flattened::Unreachable)
    } else if any(&[
        "lacked the necessary privileges",
        "lacked valid authentication",
        "Error performing token request",
    ]) {
        Some(Flattened::Refused)
    } else if any(&["credential provider was not enabled", "no providers in chain provided credentials"]) {
        Some(Flattened::NoProvider)
    } else if any(&[
        "ExpiredToken",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthenticationFailed",
        "AuthorizationFailure",
    ]) {
        Some(Flattened::Rejected)
    } else {
        None
    }
}

/// Whether a failed scan's text says the table's files or protocol are at fault: the kernel's
/// errors reach DataFusion as text.
pub fn unreadable(text: &str) -> bool {
    text.contains("Unsupported table features") || text.contains("Object at location")
}

/// Whether a failure's text says it is transient: object_store's reqwest (0.12) is not ours
/// (0.13), so its transport errors, and the statuses it reports, are recognised by their words.
pub fn transient(text: &str) -> bool {
    const NEEDLES: [&str; 15] = [
        "request or response body error",
        "error reading a body from connection",
        "error sending request",
        "status code: 5",
        "status code: 429",
        "status code: 408",
        "SlowDown",
        "ServerBusy",
        "Error getting list response body",
        "error decoding response body",
        "connection closed before message completed",
        "IncompleteMessage",
        "connection reset",
        "unexpected end of file",
        "operation timed out",
    ];
    NEEDLES.iter().any(|n| text.contains(n))
}

/// Whether a store's failure is its credential provider's (a token or instance-metadata
/// request, an S3 Express session): object_store retried that request already, and it is
/// reported as what it is rather than retried as the store's.
pub fn credential_request(text: &str) -> bool {
    text.contains("token request")
        || text.contains("token response")
        || text.contains("/latest/api/token")
        || text.contains("/latest/meta-data")
        || text.contains("CreateSession")
}

/// Whether object_store already spent its own retries on a request (its `retry_timeout`
/// wording): the budget is used up, no other round.
pub fn store_gave_up(text: &str) -> bool {
    text.contains("retry_timeout:")
}

/// Whether a connection failure is a refused connection or an unknown host (a wrong endpoint, a
/// service that is not there) rather than a transient fault: hyper's DNS error has no public type.
pub fn refused_or_unknown_host(text: &str) -> bool {
    text.contains("refused") || text.contains("dns error")
}

/// A kernel message as a user can act on it: `Debug` dumps and prefixes dropped, a gap in the
/// log said in words.
pub fn kernel_message(text: &str) -> String {
    if text.contains("Expected contiguous commit files") {
        let versions: Vec<&str> = text
            .split("version: ")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .collect();
        if let [a, b, ..] = versions.as_slice() {
            return format!(
                "the log is incomplete: commit {a} is followed by commit {b}, the commits in \
                 between are missing from `_delta_log/` (restore them, or ask the table's owner)"
            );
        }
        return "the log is incomplete: some commit files are missing from `_delta_log/`".into();
    }
    text.replace("Kernel error: ", "").replace("Generic delta kernel error: ", "")
}

/// Whether a failed load's message is about the snapshot asked for (a version or timestamp).
pub fn about_snapshot(text: &str) -> bool {
    text.contains("version") || text.contains("timestamp")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as [`super::super::Exhausted`] writes it.
    const SPENT: &str = "read `s3://down/tables/train/_delta_log/_last_checkpoint` kept failing for 2.1s \
        (Server returned non-2xx status code: 503 Service Unavailable: slow down); gave up after \
        --retry-timeout 2s. The service may be overloaded or down: run again later, or give it longer \
        with --retry-timeout";

    #[test]
    fn a_spent_budget_is_found_whole_in_a_flattened_text() {
        let flat =
            format!("Kernel error: Error interacting with object store: Generic delta-hf error: {SPENT}");
        assert_eq!(exhausted(&flat).as_deref(), Some(SPENT));
        assert_eq!(exhausted(SPENT).as_deref(), Some(SPENT));
        assert_eq!(exhausted(&format!("Generic error: {SPENT}\nstack backtrace")).as_deref(), Some(SPENT));
        assert_eq!(exhausted("read `x` failed: 503"), None);
    }

    #[test]
    fn missing_credentials_by_cloud() {
        let aws = [
            "Generic S3 error: Error fetching token from http://169.254.169.254/latest/api/token: timed out",
            "Generic S3 error: request to http://169.254.169.254/latest/meta-data/iam/security-credentials failed",
            "Operation not supported: the credential provider was not loaded: no providers in chain provided credentials",
            "Operation not supported: the credential provider was not enabled",
        ];
        for t in aws {
            assert_eq!(missing_credentials(t), Some(Cloud::Aws), "{t}");
        }
        let azure = "Generic MicrosoftAzure error: Error performing token request: \
            http://127.0.0.1:1/metadata/identity/oauth2/token: connection refused";
        assert_eq!(missing_credentials(azure), Some(Cloud::Azure));
        for t in [
            "Generic GCS error: Error performing token request: http://metadata.google.internal/computeMetadata/v1/...",
            "Generic GCS error: error sending request for url (http://169.254.169.254/computeMetadata/v1/instance)",
        ] {
            assert_eq!(missing_credentials(t), Some(Cloud::Gcs), "{t}");
        }
        assert_eq!(missing_credentials("Generic S3 error: 403 Forbidden"), None);
    }

    #[test]
    fn flattened_causes() {
        for (text, cause) in [
            (
                "error trying to connect: tcp connect error: Connection refused (os error 111)",
                Flattened::Unreachable,
            ),
            (
                "client error (Connect): dns error: failed to lookup address information",
                Flattened::Unreachable,
            ),
            (
                "Generic S3 error: error sending request for url (http://127.0.0.1:9/b)",
                Flattened::Unreachable,
            ),
            (
                "The operation lacked the necessary privileges to complete for path b/t: 403",
                Flattened::Refused,
            ),
            ("The operation lacked valid authentication credentials for path b/t: 401", Flattened::Refused),
            (
                "Generic MicrosoftAzure error: Error performing token request: 400 Bad Request",
                Flattened::Refused,
            ),
            ("Operation not supported: the credential provider was not enabled", Flattened::NoProvider),
            (
                "Operation not supported: the credential provider was not loaded: no providers in chain provided credentials",
                Flattened::NoProvider,
            ),
            (
                "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message>",
                Flattened::Rejected,
            ),
            ("<Code>InvalidAccessKeyId</Code>", Flattened::Rejected),
            ("<Code>SignatureDoesNotMatch</Code>", Flattened::Rejected),
            ("<Code>AuthenticationFailed</Code><Message>Server failed to authenticate", Flattened::Rejected),
            ("<Code>AuthorizationFailure</Code><Message>This request is not authorized", Flattened::Rejected),
        ] {
            assert_eq!(flattened(text), Some(cause), "{text}");
        }
        assert_eq!(flattened("some other failure"), None);
    }

    #[test]
    fn unreadable_scans() {
        assert!(unreadable("Kernel error: Unsupported table features: deletionVectors"));
        assert!(unreadable("Object at location t/part-0.parquet not found: No such file or directory"));
        assert!(!unreadable("Schema error: No field named labl"));
    }

    #[test]
    fn transient_words() {
        for t in [
            "Generic S3 error: request or response body error: error reading a body from connection",
            "error reading a body from connection: unexpected EOF",
            "Generic S3 error: error sending request for url (http://127.0.0.1:9000/b/k)",
            "Server returned non-2xx status code: 503 Service Unavailable",
            "Client error with status code: 429 Too Many Requests",
            "Client error with status code: 408 Request Timeout",
            "<Code>SlowDown</Code><Message>Please reduce your request rate.</Message>",
            "<Code>ServerBusy</Code><Message>The server is busy.</Message>",
            "Generic S3 error: Error getting list response body: error decoding response body",
            "error decoding response body: expected value at line 1",
            "connection closed before message completed",
            "hyper::Error(IncompleteMessage)",
            "Connection reset by peer: connection reset",
            "unexpected end of file",
            "read: operation timed out",
        ] {
            assert!(transient(t), "{t}");
        }
        assert!(!transient("Client error with status code: 404 Not Found"));
    }

    #[test]
    fn credential_requests() {
        for t in [
            "Generic MicrosoftAzure error: Error performing token request: 500",
            "Generic GCS error: Error reading token response body",
            "Error fetching token from http://169.254.169.254/latest/api/token",
            "request to http://169.254.169.254/latest/meta-data/iam/security-credentials/ failed",
            "Generic S3 error: CreateSession failed: 503",
        ] {
            assert!(credential_request(t), "{t}");
        }
        assert!(!credential_request("Generic S3 error: 503 Service Unavailable"));
    }

    #[test]
    fn a_store_that_gave_up() {
        assert!(store_gave_up(
            "Error after 10 retries in 2.0s, max_retries: 1000, retry_timeout: 2s, source: 503"
        ));
        assert!(!store_gave_up("Server returned non-2xx status code: 503"));
    }

    #[test]
    fn refused_or_unknown_hosts() {
        assert!(refused_or_unknown_host("client error (Connect): tcp connect error: Connection refused"));
        assert!(refused_or_unknown_host("client error (Connect): dns error: no record found"));
        assert!(!refused_or_unknown_host("client error (Connect): operation timed out"));
    }

    #[test]
    fn kernel_messages() {
        let gap = "Kernel error: Generic delta kernel error: Expected contiguous commit files, but found \
            ParsedLogPath { version: 3, .. } after ParsedLogPath { version: 7, .. }";
        assert_eq!(
            kernel_message(gap),
            "the log is incomplete: commit 3 is followed by commit 7, the commits in between are missing \
             from `_delta_log/` (restore them, or ask the table's owner)"
        );
        assert_eq!(
            kernel_message("Expected contiguous commit files"),
            "the log is incomplete: some commit files are missing from `_delta_log/`"
        );
        assert_eq!(kernel_message("Kernel error: Generic delta kernel error: boom"), "boom");
    }

    #[test]
    fn snapshot_messages() {
        assert!(about_snapshot("Invalid table version: 9"));
        assert!(about_snapshot("No commit at or before timestamp 2020-01-01"));
        assert!(!about_snapshot("Invalid JSON in log record"));
    }
}
