//! The one retry policy of every remote call (object stores, Unity Catalog, Databricks OAuth,
//! the Hub): exponential backoff with full jitter, `Retry-After` honoured, within a budget per
//! operation (`--retry-timeout`, default 3 minutes).
//!
//! Object stores: object_store retries 5xx, 429, timeouts and connection errors of each request
//! itself (its `retry_timeout` / `max_retries` / backoff are set from the same budget, see
//! [`retry_config`]) and resumes interrupted GET bodies with ranged requests. What it does not
//! retry — a listing whose body is cut, a transport error it judged ambiguous — [`RetryStore`]
//! retries around it: listings resume after the last key seen, multipart parts are retried one
//! by one and an abandoned multipart upload is aborted. When the budget is spent the operation
//! fails with an [`Exhausted`] error naming the store, the object and the operation (exit 6): the
//! store's error carries it as its source, and [`crate::error::classify`] finds it there by type
//! (or, where delta-rs flattened it into text, by its words; nothing is kept on the side).
//!
//! Whether a failure is transient is decided by type (object_store's HTTP error kinds, reqwest's
//! and std's error kinds, HTTP statuses); object_store's own transport errors (another reqwest)
//! are read by their words in [`crate::error::boundary`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use rand::Rng;

use crate::error::{Exhausted, boundary, chain_text};

/// Default budget of one operation's retries.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(180);
/// First backoff, and the largest one.
const INIT_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

static BUDGET: OnceLock<Duration> = OnceLock::new();

/// Set the per-operation budget (once, from `--retry-timeout`).
pub fn set_budget(d: Duration) {
    let _ = BUDGET.set(d);
}

/// The per-operation budget.
pub fn budget() -> Duration {
    BUDGET.get().copied().unwrap_or(DEFAULT_BUDGET)
}

/// Parse a duration: `90`, `90s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 5m, 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("`{s}`: unknown unit `{u}` (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// object_store's retry config of every store: the budget (`--retry-timeout`) ends the retries,
/// not a count; the user's own `retry_timeout`, `max_retries`, `init_backoff`, `max_backoff` and
/// `base` storage options win.
pub fn retry_config(user: &HashMap<String, String>) -> object_store::RetryConfig {
    let duration = |k: &str| user.get(k).and_then(|v| parse_duration(v).ok());
    let mut c = object_store::RetryConfig {
        retry_timeout: duration("retry_timeout").unwrap_or(budget()),
        max_retries: user.get("max_retries").and_then(|v| v.parse().ok()).unwrap_or(1000),
        ..Default::default()
    };
    if let Some(d) = duration("init_backoff") {
        c.backoff.init_backoff = d;
    }
    if let Some(d) = duration("max_backoff") {
        c.backoff.max_backoff = d;
    }
    if let Some(b) = user.get("base").and_then(|v| v.parse().ok()) {
        c.backoff.base = b;
    }
    c
}

/// What to do about a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Transient: retry, after at least this long if the server said so (`Retry-After`).
    Retry(Option<Duration>),
    /// Not transient: give up now.
    Fail,
}

/// The backoff before attempt `n` (0-based): full jitter over an exponential ceiling.
fn backoff(n: u32) -> Duration {
    let ceiling = INIT_BACKOFF.saturating_mul(2u32.saturating_pow(n.min(16))).min(MAX_BACKOFF);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// How an operation ended after its retries.
pub enum Outcome<E> {
    /// Not transient (or not retried): the error as it came.
    Failed(E),
    /// Transient until the budget ran out.
    Exhausted { last: E, elapsed: Duration },
}

/// Run `op` until it succeeds, fails for good, or keeps failing past the budget.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    classify: impl Fn(&E) -> Verdict,
    mut op: F,
) -> Result<T, Outcome<E>>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let budget = budget();
    let mut attempt = 0u32;
    loop {
        let e = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let (wait, asked) = match classify(&e) {
            Verdict::Fail => return Err(Outcome::Failed(e)),
            Verdict::Retry(after) => (after.unwrap_or_else(|| backoff(attempt)).max(backoff(attempt)), after),
        };
        attempt += 1;
        let elapsed = start.elapsed();
        if elapsed + wait > budget {
            if let Some(after) = asked.filter(|a| elapsed + *a > budget) {
                tracing::warn!(
                    "{what}: {e}; the server asks to retry in {:.0}s, past --retry-timeout {:.0}s: giving up",
                    after.as_secs_f32(),
                    budget.as_secs_f32()
                );
            }
            return Err(Outcome::Exhausted { last: e, elapsed });
        }
        tracing::info!("{what}: {e}; retry {attempt} in {:.1}s", wait.as_secs_f32());
        tokio::time::sleep(wait).await;
    }
}

/// The error of an operation whose budget ran out after `elapsed`, `last` its last failure.
pub fn exhausted(operation: &str, object: &str, last: &str, elapsed: Duration) -> Exhausted {
    Exhausted::new(operation, object, &short(last), elapsed, budget())
}

/// An error text cut to its useful tail (object_store repeats the URL and its config).
fn short(text: &str) -> String {
    let t = text.rsplit(" - ").next().unwrap_or(text).trim();
    let t: String = t.chars().take(200).collect();
    t.replace('\n', " ")
}

/// Whether an object_store error is transient (worth another attempt).
pub fn store_verdict(e: &object_store::Error) -> Verdict {
    use object_store::Error as E;
    match e {
        E::NotFound { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. } => Verdict::Fail,
        // A credential provider's failure (object_store retried its token request already) is
        // reported as what it is, not retried as the store's.
        _ if boundary::credential_request(&chain_text(e)) => Verdict::Fail,
        _ => {
            if is_transient(e) {
                Verdict::Retry(None)
            } else {
                Verdict::Fail
            }
        }
    }
}

/// Whether a failed remote call is worth another attempt: a timeout, a refused or reset
/// connection, a body cut short, or an answer of 408, 429 or 5xx (S3's `SlowDown` and
/// `InternalError` included). Permission, credential, not-found and conflict errors are not.
pub fn is_transient(e: &(dyn std::error::Error + 'static)) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>()
            && matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
                    | HttpErrorKind::Decode
            )
        {
            return true;
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && (r.is_timeout() || r.is_connect() || r.is_body() || r.is_decode() || r.is_request())
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        cur = err.source();
    }
    // object_store's reqwest (0.12) is not ours (0.13): its errors are recognised by their text.
    boundary::transient(&chain_text(e))
}

/// An object store whose operations survive transient faults within the budget.
#[derive(Debug)]
pub struct RetryStore {
    inner: Arc<dyn ObjectStore>,
    /// `s3://bucket`, shown in messages.
    root: String,
}

impl RetryStore {
    pub fn wrap(inner: Arc<dyn ObjectStore>, root: String) -> Arc<dyn ObjectStore> {
        Arc::new(RetryStore { inner, root })
    }

    fn object(&self, p: Option<&Path>) -> String {
        match p {
            Some(p) if !p.as_ref().is_empty() => format!("{}/{}", self.root, p),
            _ => self.root.clone(),
        }
    }

    async fn run<T, F, Fut>(&self, op: &str, path: Option<&Path>, f: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let what = format!("{op} {}", self.object(path));
        retry(&what, store_verdict, f).await.map_err(|o| self.give_up(op, path, o))
    }

    fn give_up(&self, op: &str, path: Option<&Path>, o: Outcome<object_store::Error>) -> object_store::Error {
        match o {
            Outcome::Failed(e) => e,
            Outcome::Exhausted { last, elapsed, .. } => object_store::Error::Generic {
                store: "delta-hf",
                source: exhausted(op, &self.object(path), &last.to_string(), elapsed).into(),
            },
        }
    }
}

impl fmt::Display for RetryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

/// Errors of object_store that already used up the budget inside object_store's own retries
/// (5xx / 429 until its `retry_timeout`) carry its "retry_timeout" wording: give them the
/// exhausted message rather than another round.
fn spent(e: &object_store::Error) -> bool {
    let t = chain_text(e);
    boundary::store_gave_up(&t) && !boundary::credential_request(&t) && is_transient(e)
}

#[async_trait::async_trait]
impl ObjectStore for RetryStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.run("write", Some(location), || self.inner.put_opts(location, payload.clone(), opts.clone()))
            .await
            .map_err(|e| self.if_spent("write", location, e))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self
            .run("start upload of", Some(location), || self.inner.put_multipart_opts(location, opts.clone()))
            .await
            .map_err(|e| self.if_spent("start upload of", location, e))?;
        Ok(Box::new(RetryUpload {
            done: false,
            inner: Arc::new(tokio::sync::Mutex::new(upload)),
            object: self.object(Some(location)),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.run("read", Some(location), || self.inner.get_opts(location, options.clone()))
            .await
            .map_err(|e| self.if_spent("read", location, e))
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.run("read", Some(location), || self.inner.get_ranges(location, ranges))
            .await
            .map_err(|e| self.if_spent("read", location, e))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.resumable_list(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.resumable_list(prefix, Some(offset.clone()))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.run("list", prefix, || self.inner.list_with_delimiter(prefix))
            .await
            .map_err(|e| self.if_spent_opt("list", prefix, e))
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.run("copy to", Some(to), || self.inner.copy_opts(from, to, options.clone()))
            .await
            .map_err(|e| self.if_spent("copy to", to, e))
    }
}

impl RetryStore {
    fn if_spent(&self, op: &str, p: &Path, e: object_store::Error) -> object_store::Error {
        self.if_spent_opt(op, Some(p), e)
    }

    fn if_spent_opt(&self, op: &str, p: Option<&Path>, e: object_store::Error) -> object_store::Error {
        if spent(&e) {
            return object_store::Error::Generic {
                store: "delta-hf",
                source: exhausted(op, &self.object(p), &e.to_string(), budget()).into(),
            };
        }
        e
    }

    /// A listing that, when its stream fails transiently, lists again after the last key it
    /// gave (listings are in key order), within the budget.
    fn resumable_list(
        &self,
        prefix: Option<&Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        struct State {
            inner: Arc<dyn ObjectStore>,
            prefix: Option<Path>,
            after: Option<Path>,
            stream: Option<BoxStream<'static, object_store::Result<ObjectMeta>>>,
            start: Instant,
            attempt: u32,
            object: String,
            done: bool,
        }
        let state = State {
            inner: self.inner.clone(),
            prefix: prefix.cloned(),
            after: offset,
            stream: None,
            start: Instant::now(),
            attempt: 0,
            object: self.object(prefix),
            done: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            if s.done {
                return None;
            }
            loop {
                if s.stream.is_none() {
                    s.stream = Some(match &s.after {
                        Some(a) => s.inner.list_with_offset(s.prefix.as_ref(), a),
                        None => s.inner.list(s.prefix.as_ref()),
                    });
                }
                match s.stream.as_mut()?.next().await {
                    None => return None,
                    Some(Ok(meta)) => {
                        s.after = Some(meta.location.clone());
                        s.start = Instant::now();
                        s.attempt = 0;
                        return Some((Ok(meta), s));
                    }
                    Some(Err(e)) => {
                        let wait = backoff(s.attempt);
                        let elapsed = s.start.elapsed();
                        if store_verdict(&e) == Verdict::Fail || spent(&e) || elapsed + wait > budget() {
                            s.done = true;
                            let e = if store_verdict(&e) == Verdict::Fail {
                                e
                            } else {
                                object_store::Error::Generic {
                                    store: "delta-hf",
                                    source: exhausted(
                                        "list",
                                        &s.object,
                                        &e.to_string(),
                                        elapsed.max(budget()),
                                    )
                                    .into(),
                                }
                            };
                            return Some((Err(e), s));
                        }
                        s.attempt += 1;
                        tracing::info!("list {}: {e}; resuming in {:.1}s", s.object, wait.as_secs_f32());
                        s.stream = None;
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        })
        .boxed()
    }
}

/// A multipart upload whose parts and completion are retried one by one; aborted when dropped
/// unfinished (an interrupted or failed run leaves no upload behind to pay for).
#[derive(Debug)]
struct RetryUpload {
    inner: Arc<tokio::sync::Mutex<Box<dyn MultipartUpload>>>,
    object: String,
    /// Completed or aborted: nothing to clean up when dropped.
    done: bool,
}

impl Drop for RetryUpload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (inner, object) = (self.inner.clone(), self.object.clone());
        rt.spawn(async move {
            if let Err(e) = inner.lock().await.abort().await {
                tracing::warn!("could not abort the unfinished upload of {object}: {e}");
            }
        });
    }
}

#[async_trait::async_trait]
impl MultipartUpload for RetryUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        // object_store's part requests retry transient failures themselves; a part that still
        // fails fails the upload, which is then aborted (see `abort`).
        // Parts are numbered in call order: start the part now, not when the future is polled.
        // `&mut self` excludes `complete` / `abort`, so the lock is free.
        let part = match self.inner.try_lock() {
            Ok(mut upload) => upload.put_part(data),
            Err(_) => {
                return Box::pin(async {
                    Err(object_store::Error::Generic {
                        store: "delta-hf",
                        source: "multipart upload busy".into(),
                    })
                });
            }
        };
        let object = self.object.clone();
        Box::pin(async move {
            part.await.map_err(|e| {
                if spent(&e) {
                    object_store::Error::Generic {
                        store: "delta-hf",
                        source: exhausted("upload a part of", &object, &e.to_string(), budget()).into(),
                    }
                } else {
                    e
                }
            })
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let what = format!("complete upload of {}", self.object);
        let inner = self.inner.clone();
        let result = retry(&what, store_verdict, || {
            let inner = inner.clone();
            async move { inner.lock().await.complete().await }
        })
        .await;
        self.done = result.is_ok();
        result.map_err(|o| match o {
            Outcome::Failed(e) => e,
            Outcome::Exhausted { last, elapsed, .. } => object_store::Error::Generic {
                store: "delta-hf",
                source: exhausted("complete the upload of", &self.object, &last.to_string(), elapsed).into(),
            },
        })
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.done = true;
        let inner = self.inner.clone();
        retry(&format!("abort upload of {}", self.object), store_verdict, || {
            let inner = inner.clone();
            async move { inner.lock().await.abort().await }
        })
        .await
        .map_err(|o| match o {
            Outcome::Failed(e) | Outcome::Exhausted { last: e, .. } => e,
        })
    }
}

/// The verdict on an HTTP answer: 408, 429 and 5xx are transient (`Retry-After` in seconds or
/// as an HTTP date honoured).
pub fn status_verdict(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> Verdict {
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        let after = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| {
            v.trim().parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
                let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
                (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
            })
        });
        // Not shortened: a wait that does not fit in the budget ends the retries at once
        // ([`retry`]) rather than asking again before the server said to.
        Verdict::Retry(after)
    } else {
        Verdict::Fail
    }
}

/// Whether a reqwest error is transient: timeouts, connection failures, resets, cut bodies.
///
/// A refused connection or an unknown host is not: that is a wrong endpoint or a service that is
/// not there, reported at once (the Hub then falls back to its cache).
pub fn reqwest_verdict(e: &reqwest::Error) -> Verdict {
    if e.is_connect() && !e.is_timeout() && boundary::refused_or_unknown_host(&chain_text(e)) {
        return Verdict::Fail;
    }
    if e.is_builder() || e.is_redirect() || e.is_status() {
        return Verdict::Fail;
    }
    // Timeouts, resets, connections closed before the answer, cut bodies.
    Verdict::Retry(None)
}

/// A failed HTTP exchange: the answer's status and body, or the transport error.
#[derive(Debug)]
pub enum HttpFailure {
    Status { status: reqwest::StatusCode, headers: reqwest::header::HeaderMap, body: String },
    Transport(reqwest::Error),
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFailure::Status { status, .. } => write!(f, "{status}"),
            HttpFailure::Transport(e) => write!(f, "{}", chain_text(e)),
        }
    }
}

/// A transport error without its URL's query, which may be a signature (the Hub's LFS upload
/// URLs are presigned): the error is logged and shown.
fn without_query(mut e: reqwest::Error) -> reqwest::Error {
    if let Some(u) = e.url_mut() {
        u.set_query(None);
    }
    e
}

/// Send a request (built afresh for each attempt) and read its whole body, retrying transient
/// failures (a cut body included) within the budget. Non-transient statuses come back as
/// `Ok((status, headers, body))` for the caller to interpret; transient ones that outlast the
/// budget as [`Outcome::Exhausted`].
pub async fn send<F>(
    what: &str,
    mut build: F,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Bytes), Outcome<HttpFailure>>
where
    F: FnMut() -> reqwest::RequestBuilder,
{
    let classify = |e: &HttpFailure| match e {
        HttpFailure::Status { status, headers, .. } => status_verdict(*status, headers),
        HttpFailure::Transport(e) => reqwest_verdict(e),
    };
    let out = retry(what, classify, || {
        let req = build();
        async move {
            let resp = req.send().await.map_err(|e| HttpFailure::Transport(without_query(e)))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(|e| HttpFailure::Transport(without_query(e)))?;
            if status_verdict(status, &headers) != Verdict::Fail {
                return Err(HttpFailure::Status {
                    status,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
            Ok((status, headers, body))
        }
    })
    .await;
    match out {
        Err(Outcome::Failed(HttpFailure::Status { status, headers, body })) => {
            Ok((status, headers, body.into()))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn statuses() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(status_verdict(reqwest::StatusCode::NOT_FOUND, &h), Verdict::Fail);
        assert_eq!(status_verdict(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h), Verdict::Retry(None));
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(
            status_verdict(reqwest::StatusCode::TOO_MANY_REQUESTS, &h),
            Verdict::Retry(Some(Duration::from_secs(2)))
        );
        // Long waits are kept as asked.
        h.insert(reqwest::header::RETRY_AFTER, "600".parse().unwrap());
        assert_eq!(
            status_verdict(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h),
            Verdict::Retry(Some(Duration::from_secs(600)))
        );
        // An HTTP date: the time until then.
        let at = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        h.insert(reqwest::header::RETRY_AFTER, at.parse().unwrap());
        match status_verdict(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h) {
            Verdict::Retry(Some(d)) => {
                assert!(d > Duration::from_secs(27) && d <= Duration::from_secs(30), "{d:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= INIT_BACKOFF);
        assert!(backoff(30) <= MAX_BACKOFF && backoff(30) >= MAX_BACKOFF / 2);
    }
}
