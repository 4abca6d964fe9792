//! The HTTP client of every object store delta-hf builds: object_store's own (reqwest, with the
//! store's client options), except that an answer asking the client to come back later
//! (`Retry-After` on a 429, 503 or other transient status, in seconds or as an HTTP date) is
//! handed to object_store only once that time has passed. object_store then retries it with
//! its own backoff on top, so a retry never comes before the server asked; object_store itself
//! does not read the header.
//!
//! The wait is capped by the operation budget (`--retry-timeout`) and by the policy's longest
//! wait, so a server asking for an hour fails the operation within its budget instead.

use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

use crate::storage::retry::{self, Verdict};

/// Builds [`PoliteClient`]s; give it to an object_store builder's `with_http_connector`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetryAfterConnector;

impl HttpConnector for RetryAfterConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(PoliteClient { inner }))
    }
}

/// An object store's HTTP client that waits out `Retry-After` before reporting the answer.
#[derive(Debug)]
pub struct PoliteClient {
    inner: HttpClient,
}

#[async_trait::async_trait]
impl HttpService for PoliteClient {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        // The path only: an Azure SAS token travels in the query.
        let what = format!("{} {}{}", req.method(), req.uri().host().unwrap_or_default(), req.uri().path());
        let resp = self.inner.execute(req).await?;
        if let Some(wait) = wait_for(resp.status(), resp.headers(), retry::budget()) {
            tracing::info!("{what}: {} with Retry-After; waiting {:.1}s", resp.status(), wait.as_secs_f32());
            tokio::time::sleep(wait).await;
        }
        Ok(resp)
    }
}

/// How long to wait before handing over an answer: its `Retry-After`, when the status is
/// transient and the wait fits in `budget`.
fn wait_for(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    budget: Duration,
) -> Option<Duration> {
    match retry::status_verdict(status, headers) {
        Verdict::Retry(Some(after)) if !after.is_zero() => Some(after.min(budget)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_asked_and_within_the_budget() {
        let budget = Duration::from_secs(30);
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(wait_for(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h, budget), None);
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(
            wait_for(reqwest::StatusCode::TOO_MANY_REQUESTS, &h, budget),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            wait_for(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h, budget),
            Some(Duration::from_secs(3))
        );
        // Not an answer to come back to.
        assert_eq!(wait_for(reqwest::StatusCode::NOT_FOUND, &h, budget), None);
        assert_eq!(wait_for(reqwest::StatusCode::OK, &h, budget), None);
        // Never past the operation's budget.
        assert_eq!(
            wait_for(reqwest::StatusCode::TOO_MANY_REQUESTS, &h, Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
    }
}
