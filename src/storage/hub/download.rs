//! Downloads into the Hugging Face cache through `hf-hub`, several files at once, each checked
//! against the tree listing before it is used.
//!
//! Guarantees:
//! - files are fetched at the pinned commit sha, so a file already in the cache is used without
//!   any request (a re-run works with the Hub unreachable);
//! - every file's size, and its sha256 when the listing gives one (LFS/Xet files), are checked
//!   — also for cache hits. A file that fails is removed from the cache (blob and snapshot
//!   link) and fetched once more; failing again is an error naming the file and both digests,
//!   and nothing is left in the cache that a later run could mistake for valid;
//! - transient HTTP failures are retried by `hf-hub` (3 attempts, exponential backoff).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::StreamExt;
use hf_hub::HFError;
use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::client::{Hub, HubFile};
use crate::error::{Error, Result};

/// Fetch `files` of `repo` at commit `sha`, `workers` at a time; returns their local paths
/// (snapshot paths in the cache), in the order of `files`.
pub async fn download_all(
    hub: &Hub,
    repo: &str,
    sha: &str,
    files: &[HubFile],
    workers: usize,
    bar: &ProgressBar,
) -> Result<Vec<PathBuf>> {
    let results: Vec<Result<PathBuf>> = futures::stream::iter(files.iter())
        .map(|f| fetch_one(hub, repo, sha, f, bar))
        .buffered(workers.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

async fn fetch_one(hub: &Hub, repo: &str, sha: &str, f: &HubFile, bar: &ProgressBar) -> Result<PathBuf> {
    let mut last_error = String::new();
    for attempt in 1..=2 {
        let counter = BarProgress { bar: bar.clone(), seen: Mutex::new(HashMap::new()) };
        let counted = std::sync::Arc::new(counter);
        let what = format!("download of `{}` of dataset `{repo}`", f.path);
        let path = crate::storage::retry::retry(&what, super::client::hf_verdict, || async {
            hub.dataset(repo)
                .download_file()
                .filename(f.path.clone())
                .revision(sha.to_string())
                .local_files_only(hub.env.offline)
                .progress(counted.clone())
                .send()
                .await
        })
        .await
        .map_err(|o| match o {
            crate::storage::retry::Outcome::Failed(e) => download_error(hub, e, repo, sha, &f.path),
            crate::storage::retry::Outcome::Exhausted { last, elapsed, .. } => Error::access(format!(
                "dataset `{repo}`: {}",
                crate::storage::retry::exhausted("the download of", &f.path, &last.to_string(), elapsed)
            )),
        })?;
        let seen = counted.total();
        bar.inc(f.size.saturating_sub(seen));
        let check = {
            let path = path.clone();
            let f = f.clone();
            tokio::task::spawn_blocking(move || verify(&path, &f))
                .await
                .map_err(|e| Error::Internal(format!("verification task failed: {e}")))?
        };
        match check {
            Ok(()) => return Ok(path),
            Err(why) => {
                evict(&path);
                bar.set_position(bar.position().saturating_sub(f.size));
                tracing::warn!(
                    "{} of dataset `{repo}` failed verification (attempt {attempt}): {why}",
                    f.path
                );
                last_error = why;
            }
        }
    }
    Err(Error::Hub(format!(
        "file `{}` of dataset `{repo}` (commit {sha}) failed verification twice: {last_error}; it was \
         removed from the cache and nothing was written. The Hub (or a proxy) served corrupt data: \
         retry later",
        f.path
    )))
}

/// Size and sha256 against the listing.
pub fn verify(path: &Path, f: &HubFile) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if meta.len() != f.size {
        return Err(format!("size {} bytes, the listing says {}", meta.len(), f.size));
    }
    if let Some(expected) = &f.sha256 {
        let mut file =
            std::fs::File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let got = hex::encode(hasher.finalize());
        if !got.eq_ignore_ascii_case(expected) {
            return Err(format!("sha256 {got}, the listing says {expected}"));
        }
    }
    Ok(())
}

/// Remove a cached file: the blob the snapshot link points to, then the link.
fn evict(path: &Path) {
    if let Ok(target) = std::fs::canonicalize(path)
        && target != path
    {
        let _ = std::fs::remove_file(&target);
    }
    let _ = std::fs::remove_file(path);
}

fn download_error(hub: &Hub, e: HFError, repo: &str, sha: &str, path: &str) -> Error {
    match e {
        HFError::LocalEntryNotFound { .. } => Error::Hub(format!(
            "HF_HUB_OFFLINE is set and `{path}` of dataset `{repo}` (commit {sha}) is not in the cache `{}`",
            hub.env.cache_dir.display()
        )),
        HFError::AuthRequired { context } | HFError::Forbidden { context } => {
            hub.status_error(context.status.as_u16(), context.error_code.as_deref(), repo, sha)
        }
        HFError::EntryNotFound { .. } => {
            Error::Hub(format!("`{path}` of dataset `{repo}` (commit {sha}) is missing on the Hub"))
        }
        HFError::Request { .. } => Error::Hub(format!(
            "cannot download `{path}` of dataset `{repo}`: the Hub at {} cannot be reached and the file is not cached",
            hub.env.endpoint
        )),
        other => Error::Hub(format!("cannot download `{path}` of dataset `{repo}`: {other}")),
    }
}

/// Feeds hf-hub's per-file byte counts into the shared bar.
struct BarProgress {
    bar: ProgressBar,
    seen: Mutex<HashMap<String, u64>>,
}

impl BarProgress {
    fn total(&self) -> u64 {
        self.seen.lock().expect("progress lock").values().sum()
    }
}

impl ProgressHandler for BarProgress {
    fn on_progress(&self, event: &ProgressEvent) {
        if let ProgressEvent::Download(DownloadEvent::Progress { files }) = event {
            let mut seen = self.seen.lock().expect("progress lock");
            for f in files {
                let before = seen.entry(f.filename.clone()).or_insert(0);
                if f.bytes_completed > *before {
                    self.bar.inc(f.bytes_completed - *before);
                    *before = f.bytes_completed;
                }
            }
        }
    }
}
