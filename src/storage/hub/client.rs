//! The Hub connection and the repo snapshot everything else works from.
//!
//! Environment (what `huggingface_hub` reads, same meaning):
//! - `HF_ENDPOINT` (default `https://huggingface.co`);
//! - `HF_TOKEN`, else the file at `HF_TOKEN_PATH`, else `$HF_HOME/token` — sent as a bearer
//!   token, never printed (errors and `Debug` show `***`);
//! - `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` — the cache, in
//!   Python's layout (`datasets--owner--name/{blobs,snapshots,refs}`);
//! - `HF_HUB_OFFLINE=1` — no network at all: revisions resolve through the cache's `refs/`.
//!
//! A snapshot is pinned to a commit sha. Its card and file listing are kept beside the cached
//! files (`datasets--owner--name/delta-hf/<sha>.json`) and `refs/<revision>` records the sha, so a
//! re-run with the Hub unreachable (or `HF_HUB_OFFLINE=1`) resolves the same commit from the
//! cache alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::repository::RepoTypeDataset;
use hf_hub::{HFClient, HFError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::storage::retry;
use crate::storage::secret::Secret;

/// The default Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to reach the Hub, read from the environment.
#[derive(Debug, Clone)]
pub struct HubEnv {
    pub endpoint: String,
    pub token: Option<Secret>,
    pub cache_dir: PathBuf,
    pub offline: bool,
}

impl HubEnv {
    /// Read `HF_ENDPOINT`, `HF_TOKEN` (`HF_TOKEN_PATH`, `$HF_HOME/token`), `HF_HUB_CACHE`,
    /// `HF_HOME` and `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("huggingface")
        });
        let token = var("HF_TOKEN")
            .or_else(|| {
                let path = var("HF_TOKEN_PATH").map(PathBuf::from).unwrap_or_else(|| hf_home.join("token"));
                std::fs::read_to_string(path).ok()
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        let cache_dir = var("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| hf_home.join("hub"));
        let offline = var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"))
            .unwrap_or(false);
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        HubEnv { endpoint: endpoint.trim_end_matches('/').to_string(), token, cache_dir, offline }
    }
}

/// One file of a repo snapshot, as the tree listing gives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HubFile {
    /// Repo-relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The LFS object's sha256 (hex), when the file is stored in LFS/Xet.
    pub sha256: Option<String>,
}

/// A dataset repo at one commit: its card and its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// `owner/name` (or `name`).
    pub repo: String,
    /// The revision asked for (`main`, a tag, a branch, a sha).
    pub revision: String,
    /// The commit it resolved to.
    pub sha: String,
    /// The card's YAML as JSON (`cardData`), `null` without a card.
    pub card: Value,
    /// Every file, sorted by path.
    pub files: Vec<HubFile>,
    /// Whether this came from the cache (Hub offline or unreachable).
    #[serde(skip)]
    pub from_cache: bool,
}

/// The connection: an `hf-hub` client (info, downloads) and a plain HTTP client with the same
/// timeouts for the raw tree listing (hf-hub 1.0 drops the LFS sha256) and the dataset viewer.
#[derive(Debug, Clone)]
pub struct Hub {
    pub env: HubEnv,
    pub client: HFClient,
    pub http: reqwest::Client,
}

impl Hub {
    /// Build the clients (no request is made).
    pub fn new(env: HubEnv) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("delta-hf/", env!("CARGO_PKG_VERSION"), "; hf-hub/1.0"))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        let mut builder = HFClient::builder()
            .endpoint(env.endpoint.clone())
            .cache_dir(env.cache_dir.clone())
            .client(http.clone())
            .retry_max_attempts(3)
            .retry_base_delay(Duration::from_millis(200));
        if let Some(t) = &env.token {
            builder = builder.token(t.expose().to_string());
        }
        let client =
            builder.build().map_err(|e| Error::Usage(format!("HF_ENDPOINT `{}`: {e}", env.endpoint)))?;
        Ok(Hub { env, client, http })
    }

    /// The repository handle for `repo` (`owner/name` or `name`).
    pub fn dataset(&self, repo: &str) -> hf_hub::repository::HFRepository<RepoTypeDataset> {
        let (owner, name) = hf_hub::split_id(repo);
        self.client.dataset(owner, name)
    }

    /// `datasets--owner--name` under the cache.
    pub fn repo_cache_dir(&self, repo: &str) -> PathBuf {
        let mut folder = String::from("datasets");
        for part in repo.split('/') {
            folder.push_str("--");
            folder.push_str(part);
        }
        self.env.cache_dir.join(folder)
    }

    /// The snapshot of `repo` at `revision`: from the Hub, or from the cache when offline or the
    /// Hub cannot be reached (and the revision was fetched before).
    pub async fn snapshot(&self, repo: &str, revision: &str) -> Result<RepoSnapshot> {
        validate_repo_id(repo)?;
        if self.env.offline {
            return self.cached_snapshot(repo, revision)?.ok_or_else(|| {
                Error::Hub(format!(
                    "HF_HUB_OFFLINE is set and dataset `{repo}` at revision `{revision}` is not in \
                     the cache `{}`; run once with the Hub reachable (or unset HF_HUB_OFFLINE)",
                    self.env.cache_dir.display()
                ))
            });
        }
        let (msg, exhausted) = match self.fetch_snapshot(repo, revision).await {
            Ok(s) => {
                self.save_snapshot(&s)?;
                return Ok(s);
            }
            Err(Fetch::Failed(e)) => return Err(e),
            Err(Fetch::Unreachable(msg)) => (msg, false),
            Err(Fetch::Exhausted(msg)) => (msg, true),
        };
        if let Some(s) = self.cached_snapshot(repo, revision)? {
            tracing::warn!("{msg}; using the cached commit {} of `{repo}`", s.sha);
            return Ok(s);
        }
        let missing = format!(
            "dataset `{repo}` at revision `{revision}` is not in the cache `{}`",
            self.env.cache_dir.display()
        );
        Err(if exhausted {
            // Still failing after the retry budget: exit 6, as every remote operation.
            Error::access(format!("{msg}; {missing}"))
        } else {
            Error::Hub(format!("{msg}, and {missing}"))
        })
    }

    async fn fetch_snapshot(&self, repo: &str, revision: &str) -> std::result::Result<RepoSnapshot, Fetch> {
        let what = format!("GET {}/api/datasets/{repo}/revision/{revision}", self.env.endpoint);
        let info = retry::retry(&what, hf_verdict, || async {
            self.dataset(repo).info().revision(revision.to_string()).send().await
        })
        .await
        .map_err(|o| match o {
            retry::Outcome::Failed(e) => self.classify(e, repo, revision),
            retry::Outcome::Exhausted { last, elapsed, .. } => Fetch::Exhausted(
                retry::exhausted("the Hub call", &what, &last.to_string(), elapsed).to_string(),
            ),
        })?;
        let sha = info.sha.clone().filter(|s| is_commit_hash(s)).ok_or_else(|| {
            Fetch::Failed(Error::Hub(format!(
                "the Hub at {} answered for dataset `{repo}` without a commit sha",
                self.env.endpoint
            )))
        })?;
        let files = self.list_files(repo, revision, &sha).await?;
        Ok(RepoSnapshot {
            repo: repo.to_string(),
            revision: revision.to_string(),
            sha,
            card: info.card_data.unwrap_or(Value::Null),
            files,
            from_cache: false,
        })
    }

    /// The recursive tree at `sha`, following `Link: <..>; rel="next"` pages.
    async fn list_files(
        &self,
        repo: &str,
        revision: &str,
        sha: &str,
    ) -> std::result::Result<Vec<HubFile>, Fetch> {
        let mut url = format!("{}/api/datasets/{repo}/tree/{sha}?recursive=true", self.env.endpoint);
        let mut files = Vec::new();
        for _page in 0..10_000 {
            let (status, headers, body) =
                retry::send(&format!("GET {url}"), || self.get(&url)).await.map_err(|o| match o {
                    retry::Outcome::Failed(retry::HttpFailure::Transport(e)) => self.unreachable(e),
                    retry::Outcome::Failed(f) => {
                        Fetch::Unreachable(format!("the Hub at {} answered {f}", self.env.endpoint))
                    }
                    retry::Outcome::Exhausted { last, elapsed, .. } => Fetch::Exhausted(
                        retry::exhausted("the Hub's file listing", &url, &last.to_string(), elapsed)
                            .to_string(),
                    ),
                })?;
            let next = next_link(&headers);
            if !status.is_success() {
                let code = header(&headers, "x-error-code");
                return Err(Fetch::Failed(self.status_error(
                    status.as_u16(),
                    code.as_deref(),
                    repo,
                    revision,
                )));
            }
            let entries: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
                Fetch::Failed(Error::Hub(format!(
                    "the tree listing of dataset `{repo}` is not valid JSON: {e}"
                )))
            })?;
            for e in entries {
                if e["type"] != "file" {
                    continue;
                }
                let (Some(path), Some(size)) = (e["path"].as_str(), e["size"].as_u64()) else { continue };
                let sha256 = e["lfs"]["oid"]
                    .as_str()
                    .or_else(|| e["lfs"]["sha256"].as_str())
                    .map(|s| s.trim_start_matches("sha256:").to_ascii_lowercase());
                let size = e["lfs"]["size"].as_u64().unwrap_or(size);
                files.push(HubFile { path: path.to_string(), size, sha256 });
            }
            match next {
                Some(n) => url = n,
                None => {
                    files.sort_by(|a, b| a.path.cmp(&b.path));
                    return Ok(files);
                }
            }
        }
        Err(Fetch::Failed(Error::Hub(format!("the tree listing of dataset `{repo}` never ends"))))
    }

    /// A GET with the token (if any).
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(url);
        match &self.env.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        }
    }

    fn manifest_path(&self, repo: &str, sha: &str) -> PathBuf {
        self.repo_cache_dir(repo).join("delta-hf").join(format!("{sha}.json"))
    }

    fn ref_path(&self, repo: &str, revision: &str) -> PathBuf {
        self.repo_cache_dir(repo).join("refs").join(revision)
    }

    /// Record the snapshot (card + listing) and `refs/<revision>` in the cache.
    fn save_snapshot(&self, s: &RepoSnapshot) -> Result<()> {
        let path = self.manifest_path(&s.repo, &s.sha);
        write_atomic(&path, &serde_json::to_vec_pretty(s).expect("snapshot serialises"))?;
        if !is_commit_hash(&s.revision) {
            write_atomic(&self.ref_path(&s.repo, &s.revision), s.sha.as_bytes())?;
        }
        Ok(())
    }

    /// The snapshot recorded for `revision`, if any.
    pub fn cached_snapshot(&self, repo: &str, revision: &str) -> Result<Option<RepoSnapshot>> {
        let sha = if is_commit_hash(revision) {
            revision.to_string()
        } else {
            match std::fs::read_to_string(self.ref_path(repo, revision)) {
                Ok(s) => s.trim().to_string(),
                Err(_) => return Ok(None),
            }
        };
        let path = self.manifest_path(repo, &sha);
        let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
        let mut s: RepoSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Hub(format!(
                "cached snapshot `{}` is corrupt ({e}); delete it and re-run online",
                path.display()
            ))
        })?;
        s.revision = revision.to_string();
        s.from_cache = true;
        Ok(Some(s))
    }

    fn classify(&self, e: HFError, repo: &str, revision: &str) -> Fetch {
        match e {
            HFError::Request { source, .. } => self.unreachable(source),
            HFError::Http { context } if context.status.is_server_error() => Fetch::Unreachable(format!(
                "the Hub at {} answered {} for dataset `{repo}`",
                self.env.endpoint, context.status
            )),
            HFError::AuthRequired { context } | HFError::Forbidden { context } => Fetch::Failed(
                self.status_error(context.status.as_u16(), context.error_code.as_deref(), repo, revision),
            ),
            HFError::RepoNotFound { .. } => {
                Fetch::Failed(self.status_error(404, Some("RepoNotFound"), repo, revision))
            }
            HFError::RevisionNotFound { context, .. } => {
                let code = context.as_ref().and_then(|c| c.error_code.clone());
                Fetch::Failed(self.status_error(
                    404,
                    code.as_deref().or(Some("RevisionNotFound")),
                    repo,
                    revision,
                ))
            }
            other => Fetch::Failed(Error::Hub(format!("dataset `{repo}`: {other}"))),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> Fetch {
        let mut msg = format!("cannot reach the Hub at {}", self.env.endpoint);
        if e.is_timeout() {
            msg.push_str(" (timed out)");
        } else if e.is_connect() {
            msg.push_str(" (connection failed)");
        }
        Fetch::Unreachable(msg)
    }

    /// A clear message for an HTTP error status from the Hub.
    pub fn status_error(&self, status: u16, code: Option<&str>, repo: &str, revision: &str) -> Error {
        let token_hint = if self.env.token.is_some() {
            "the token in HF_TOKEN does not give access to it"
        } else {
            "no token is set: set HF_TOKEN to a token of an account with access"
        };
        let msg = match (status, code) {
            (_, Some("GatedRepo")) => format!(
                "dataset `{repo}` is gated: accept its conditions on its Hub page ({}/datasets/{repo}) \
                 with your account, then set HF_TOKEN to a token of that account ({token_hint})",
                self.env.endpoint
            ),
            (401 | 403, _) => format!("dataset `{repo}` needs authentication: {token_hint}"),
            (404, Some("RevisionNotFound")) => format!(
                "revision `{revision}` not found in dataset `{repo}`; check the branch, tag or commit \
                 (drop --revision for `main`)"
            ),
            (404, Some("EntryNotFound")) => {
                format!("a file listed for dataset `{repo}` at `{revision}` is missing on the Hub")
            }
            (404, _) => format!(
                "dataset `{repo}` not found on {} (check the name; a private dataset needs HF_TOKEN)",
                self.env.endpoint
            ),
            (s, _) => format!("the Hub at {} answered HTTP {s} for dataset `{repo}`", self.env.endpoint),
        };
        Error::Hub(msg)
    }
}

/// Why a fetch failed: the Hub could not be reached or kept failing past the retry budget (the
/// cache may answer), or it answered no.
enum Fetch {
    Unreachable(String),
    Exhausted(String),
    Failed(Error),
}

impl From<Error> for Fetch {
    fn from(e: Error) -> Self {
        Fetch::Failed(e)
    }
}

/// Whether a failed hf-hub call is worth another attempt (5xx, 429, transport errors).
pub fn hf_verdict(e: &HFError) -> retry::Verdict {
    match e {
        HFError::Request { source, .. } => retry::reqwest_verdict(source),
        HFError::RateLimited { retry_after, .. } => retry::Verdict::Retry(*retry_after),
        HFError::Http { context } if context.status.is_server_error() || context.status.as_u16() == 408 => {
            retry::Verdict::Retry(None)
        }
        HFError::Io(io) if retry::is_transient(io) => retry::Verdict::Retry(None),
        _ => retry::Verdict::Fail,
    }
}

/// Whether `repo` is a Hub repository id: `owner/name` or `name`, no empty part, no `..`.
pub fn is_repo_id(repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
        })
}

/// A dataset id ([`is_repo_id`]), or a usage error.
pub fn validate_repo_id(repo: &str) -> Result<()> {
    if is_repo_id(repo) {
        Ok(())
    } else {
        Err(Error::Usage(format!("`{repo}` is not a dataset id; use `owner/name` (e.g. `stanfordnlp/imdb`)")))
    }
}

/// 40 hex digits.
pub fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(h: &reqwest::header::HeaderMap) -> Option<String> {
    let link = header(h, "link")?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// Write via a temp file and rename, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create cache directory", dir, e))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(validate_repo_id("stanfordnlp/imdb").is_ok());
        assert!(validate_repo_id("imdb").is_ok());
        assert!(validate_repo_id("a/b/c").is_err());
        assert!(validate_repo_id("../x").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hf_sentinel");
        assert_eq!(format!("{s:?}"), "***");
    }
}
