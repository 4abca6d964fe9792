//! Publishing a directory to a Hub dataset repo as **one commit**, through the Hub's commit API
//! as `huggingface_hub`'s `upload_folder` speaks it (`hf-hub` 1.0 cannot: for a `basic` LFS
//! answer it sends binary files inline, which the Hub refuses).
//!
//! 1. **repo** — `GET /api/datasets/{repo}/revision/{branch}`; a repo that does not exist is
//!    created (`POST /api/repos/create`, `--private`); a branch that does not exist, 401/403
//!    and a model repo are refused (exit 3 naming the repo) before anything is uploaded;
//! 2. **listing** — the branch's files (tree, recursive, paged) with their git oid and LFS sha256:
//!    a file already there with the same content is left out of the commit;
//! 3. **preupload** — `POST .../preupload/{branch}` with each file's size and first 512 bytes:
//!    the Hub says `lfs` or `regular` per file;
//! 4. **LFS** — `POST {repo}.git/info/lfs/objects/batch` (transfer `basic`): for each object the
//!    Hub does not hold, `PUT` to the storage URL it gives (streamed from disk, with the
//!    headers it gives and never the Hub token), then its `verify` action;
//! 5. **commit** — `POST .../commit/{branch}` with NDJSON lines: the header (summary, the parent
//!    commit seen in 2, so a concurrent commit makes this one fail instead of mixing), `lfsFile`
//!    lines, `file` lines (base64) for regular files, `deletedFile` lines for the previous
//!    export's files that the new one does not have.
//!
//! Every request is retried on transient failures within `--retry-timeout` (exit 6 when it
//! runs out). Nothing is visible in the repo until the commit: uploaded LFS objects that no
//! commit names are invisible. The token is only sent to the Hub, never logged.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::Hub;
use crate::error::{Error, Result};
use crate::storage::retry::{self, HttpFailure, Outcome};

/// LFS objects uploaded at the same time.
const PARALLEL_UPLOADS: usize = 4;

const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// `hf://datasets/OWNER/NAME[@BRANCH]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HubTarget {
    pub repo: String,
    pub branch: String,
}

impl HubTarget {
    /// Parse an `hf://` output; `None` when `s` is not one. `hf://OWNER/NAME` and
    /// `hf://models/...` name model repos: refused (exit 3).
    pub fn parse(s: &str) -> Option<Result<HubTarget>> {
        let rest = s.strip_prefix("hf://")?;
        let rest = rest.trim_end_matches('/');
        let Some(id) = rest.strip_prefix("datasets/") else {
            let id = rest.strip_prefix("models/").unwrap_or(rest);
            return Some(Err(Error::Hub(format!(
                "--output `{s}` names the model repo `{id}`: a dataset is published to a dataset repo, \
                 `hf://datasets/{id}`"
            ))));
        };
        let (repo, branch) = match id.split_once('@') {
            Some((r, b)) => (r, b),
            None => (id, "main"),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        let ok = parts.len() == 2
            && parts.iter().all(|p| {
                !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            });
        if !ok || branch.is_empty() {
            return Some(Err(Error::Usage(format!(
                "--output `{s}`: a Hub output is hf://datasets/OWNER/NAME or hf://datasets/OWNER/NAME@BRANCH"
            ))));
        }
        Some(Ok(HubTarget { repo: repo.to_string(), branch: branch.to_string() }))
    }

    pub fn shown(&self) -> String {
        match self.branch.as_str() {
            "main" => format!("hf://datasets/{}", self.repo),
            b => format!("hf://datasets/{}@{b}", self.repo),
        }
    }
}

/// Refuse now, before any row is read, what would make [`push`] fail once the export is
/// written: no token, a token the Hub does not accept (401) or that only reads, a branch that
/// does not exist, a repo to create under an owner that is neither the token's user nor one of
/// its organizations (the Hub would answer 403). A repo that does not exist is otherwise fine
/// (it is created). Fine-grained tokens are not second-guessed: the Hub decides at the commit.
pub async fn check(hub: &Hub, target: &HubTarget) -> Result<()> {
    let c = Commit { hub, target };
    if hub.env.token.is_none() {
        return Err(c.refused(
            "publishing needs a token with write access: set HF_TOKEN (or log in with `hf auth login`)"
                .into(),
        ));
    }
    let me = c.whoami().await?;
    if me["auth"]["accessToken"]["role"] == "read" {
        return Err(c.refused(
            "the token is read-only (HTTP 403 at the commit); set HF_TOKEN to a token with write access"
                .into(),
        ));
    }
    let exists = c.branch_head().await?.is_some();
    let owner = target.repo.split('/').next().unwrap_or_default();
    let user = me["name"].as_str().unwrap_or_default();
    let orgs: Vec<&str> =
        me["orgs"].as_array().into_iter().flatten().filter_map(|o| o["name"].as_str()).collect();
    if !exists && !user.is_empty() && owner != user && !orgs.contains(&owner) {
        return Err(c.refused(format!(
            "the repo does not exist, and the token's user `{user}` cannot create it under `{owner}` \
             (neither the user nor one of its organizations: HTTP 403); publish under `{user}/...` or \
             an organization of the user"
        )));
    }
    Ok(())
}

/// One local file to publish.
struct Local {
    rel: String,
    path: std::path::PathBuf,
    size: u64,
    sha256: String,
    git_oid: String,
}

/// What the commit did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// The repo's web URL.
    pub url: String,
    pub commit: String,
    pub uploaded: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

/// Publish every file under `dir` to `target` in one commit named `summary`; the repo's files
/// for which `replaced` holds and that `dir` does not have are deleted in the same commit.
pub async fn push(
    hub: &Hub,
    target: &HubTarget,
    dir: &Path,
    summary: &str,
    private: bool,
    replaced: &dyn Fn(&str) -> bool,
) -> Result<Pushed> {
    let c = Commit { hub, target };
    // 1. the repo and the branch.
    let parent = match c.branch_head().await? {
        Some(sha) => sha,
        None => {
            c.create_repo(private).await?;
            c.branch_head().await?.ok_or_else(|| c.refused("was created but cannot be read back".into()))?
        }
    };
    // 2. what is there, and what is here.
    let remote = c.tree(&parent).await?;
    let locals = hash_dir(dir)?;
    let (mut same, mut todo) = (0usize, Vec::new());
    for l in locals.iter() {
        let unchanged = remote.iter().any(|r| same_file(r, l));
        match unchanged {
            true => same += 1,
            false => todo.push(l),
        }
    }
    let deleted: Vec<String> = remote
        .iter()
        .filter(|r| r["type"] == "file")
        .filter_map(|r| r["path"].as_str())
        .filter(|p| replaced(p) && !locals.iter().any(|l| l.rel == *p))
        .map(String::from)
        .collect();
    // 3. lfs or regular, as the Hub says.
    let modes = c.preupload(&todo).await?;
    let lfs: Vec<&Local> =
        todo.iter().copied().filter(|l| modes.get(&l.rel).is_some_and(|m| m == "lfs")).collect();
    // 4. the LFS objects.
    c.upload_lfs(&lfs).await?;
    // 5. the commit.
    let mut lines = vec![
        json!({"key": "header", "value": {"summary": summary, "description": "", "parentCommit": parent}}),
    ];
    for l in &todo {
        if lfs.iter().any(|x| x.rel == l.rel) {
            lines.push(json!({"key": "lfsFile", "value": {"path": l.rel, "algo": "sha256", "oid": l.sha256, "size": l.size}}));
        } else {
            let bytes = std::fs::read(&l.path).map_err(|e| Error::io("cannot read", &l.path, e))?;
            let content = base64::engine::general_purpose::STANDARD.encode(bytes);
            lines.push(
                json!({"key": "file", "value": {"path": l.rel, "content": content, "encoding": "base64"}}),
            );
        }
    }
    for p in &deleted {
        lines.push(json!({"key": "deletedFile", "value": {"path": p}}));
    }
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let commit = match c.commit(body).await? {
        Some(answer) => answer["commitOid"].as_str().unwrap_or_default().to_string(),
        // The branch moved since `parent`: our own commit whose answer was lost (a retried
        // request), or someone else's. Ours when the branch now holds exactly what we sent.
        None => match c.branch_head().await? {
            Some(head) if holds(&c.tree(&head).await?, &locals, &deleted) => head,
            _ => {
                return Err(c.refused(
                    "another commit reached the branch while this export was uploaded; nothing was \
                     committed, run again"
                        .into(),
                ));
            }
        },
    };
    Ok(Pushed {
        url: format!("{}/datasets/{}", hub.env.endpoint, target.repo),
        commit,
        uploaded: todo.len(),
        unchanged: same,
        deleted: deleted.len(),
    })
}

/// Whether the tree `remote` holds every local file with its content and none of `deleted`.
fn holds(remote: &[Value], locals: &[Local], deleted: &[String]) -> bool {
    locals.iter().all(|l| remote.iter().any(|r| same_file(r, l)))
        && !remote.iter().any(|r| r["path"].as_str().is_some_and(|p| deleted.iter().any(|d| d == p)))
}

/// Whether the tree entry `r` is the local file `l` (its LFS sha256, else its git oid).
fn same_file(r: &Value, l: &Local) -> bool {
    r["path"] == l.rel.as_str()
        && (r["lfs"]["oid"] == l.sha256.as_str() || (r["lfs"].is_null() && r["oid"] == l.git_oid.as_str()))
}

/// Every file under `dir`, with its sha256 and git blob oid (read once).
fn hash_dir(dir: &Path) -> Result<Vec<Local>> {
    let mut rels = Vec::new();
    crate::sink::remote::walk(dir, dir, &mut rels)?;
    rels.sort();
    let mut out = Vec::with_capacity(rels.len());
    for rel in rels {
        let path = dir.join(&rel);
        let mut f = std::fs::File::open(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let size = f.metadata().map_err(|e| Error::io("cannot read", &path, e))?.len();
        let (mut sha, mut git) = (<Sha256 as Digest>::new(), GitOid::new());
        git.update(format!("blob {size}\0").as_bytes());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io("cannot read", &path, e))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            git.update(&buf[..n]);
        }
        out.push(Local { rel, path, size, sha256: hex::encode(sha.finalize()), git_oid: git.hex() });
    }
    Ok(out)
}

/// The requests of one push.
struct Commit<'a> {
    hub: &'a Hub,
    target: &'a HubTarget,
}

impl Commit<'_> {
    fn api(&self, what: &str) -> String {
        format!(
            "{}/api/datasets/{}/{what}/{}",
            self.hub.env.endpoint,
            self.target.repo,
            urlencoding(&self.target.branch)
        )
    }

    fn authed(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.hub.env.token {
            Some(t) => r.bearer_auth(t.expose()),
            None => r,
        }
    }

    fn refused(&self, why: String) -> Error {
        Error::Hub(format!("dataset repo `{}` on {}: {why}", self.target.repo, self.hub.env.endpoint))
    }

    /// Send with retries; a non-2xx answer is refused (exit 3) with the Hub's message.
    async fn send(
        &self,
        what: &str,
        build: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, bytes::Bytes)> {
        match retry::send(what, build).await {
            Ok(x) => Ok(x),
            Err(Outcome::Exhausted { last, elapsed }) => {
                Err(retry::exhausted(what, &self.target.shown(), &last.to_string(), elapsed).into())
            }
            Err(Outcome::Failed(HttpFailure::Transport(e))) => {
                Err(self
                    .refused(format!("{what}: the Hub cannot be reached: {}", crate::error::chain_text(&e))))
            }
            Err(Outcome::Failed(f)) => Err(self.refused(format!("{what}: {f}"))),
        }
    }

    /// Refuse a non-2xx answer with what it means.
    fn check(
        &self,
        what: &str,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<()> {
        if status.is_success() {
            return Ok(());
        }
        let msg = headers
            .get("x-error-message")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .or_else(|| {
                serde_json::from_slice::<Value>(body).ok().and_then(|v| v["error"].as_str().map(String::from))
            })
            .unwrap_or_default();
        let why = match status.as_u16() {
            401 => format!(
                "{what}: HTTP 401, the Hub does not accept the token (set HF_TOKEN to a token with write access){}",
                if self.hub.env.token.is_none() { "; no token is set" } else { "" }
            ),
            403 => format!("{what}: HTTP 403, the token may not write to this repo: {msg}"),
            s => format!("{what}: HTTP {s}: {msg}"),
        };
        Err(self.refused(why))
    }

    /// `GET /api/whoami-v2`: the token's user, its organizations and the token's role.
    async fn whoami(&self) -> Result<Value> {
        let url = format!("{}/api/whoami-v2", self.hub.env.endpoint);
        let (status, headers, body) =
            self.send("checking the token", || self.authed(self.hub.http.get(&url))).await?;
        self.check("checking the token", status, &headers, &body)?;
        serde_json::from_slice(&body)
            .map_err(|e| self.refused(format!("checking the token: the Hub's answer is not JSON: {e}")))
    }

    /// The branch's head commit; `None` when the repo does not exist.
    async fn branch_head(&self) -> Result<Option<String>> {
        let url = format!(
            "{}/api/datasets/{}/revision/{}",
            self.hub.env.endpoint,
            self.target.repo,
            urlencoding(&self.target.branch)
        );
        let (status, headers, body) =
            self.send("reading the repo", || self.authed(self.hub.http.get(&url))).await?;
        let code = headers.get("x-error-code").and_then(|v| v.to_str().ok()).unwrap_or("");
        match (status.as_u16(), code) {
            (404, "RevisionNotFound") => Err(self.refused(format!(
                "branch `{}` does not exist; create it on the Hub first (or publish to main)",
                self.target.branch
            ))),
            (404, _) if self.target.branch != "main" => Err(self.refused(format!(
                "the repo does not exist, so branch `{}` does not either; publish to main first",
                self.target.branch
            ))),
            (404, _) => Ok(None),
            _ => {
                self.check("reading the repo", status, &headers, &body)?;
                let v: Value =
                    serde_json::from_slice(&body).map_err(|e| self.refused(format!("repo info: {e}")))?;
                v["sha"]
                    .as_str()
                    .map(|s| Some(s.to_string()))
                    .ok_or_else(|| self.refused("repo info has no sha".into()))
            }
        }
    }

    async fn create_repo(&self, private: bool) -> Result<()> {
        let (org, name) = self.target.repo.split_once('/').expect("checked in parse");
        let url = format!("{}/api/repos/create", self.hub.env.endpoint);
        let body = json!({"name": name, "organization": org, "type": "dataset", "private": private});
        let (status, headers, bytes) =
            self.send("creating the repo", || self.authed(self.hub.http.post(&url).json(&body))).await?;
        if status.as_u16() == 409 {
            return Ok(()); // created meanwhile (or by a retried request)
        }
        self.check("creating the repo", status, &headers, &bytes)
    }

    /// Every entry of the branch at `sha` (files with `oid` and `lfs.oid`).
    async fn tree(&self, sha: &str) -> Result<Vec<Value>> {
        let mut url =
            format!("{}/api/datasets/{}/tree/{sha}?recursive=true", self.hub.env.endpoint, self.target.repo);
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let (status, headers, body) =
                self.send("listing the repo", || self.authed(self.hub.http.get(&url))).await?;
            self.check("listing the repo", status, &headers, &body)?;
            let page: Vec<Value> =
                serde_json::from_slice(&body).map_err(|e| self.refused(format!("tree listing: {e}")))?;
            out.extend(page);
            match super::client::next_link(&headers) {
                Some(next) => url = next,
                None => return Ok(out),
            }
        }
        Err(self.refused("the tree listing never ends".into()))
    }

    /// path -> `lfs` | `regular`.
    async fn preupload(&self, files: &[&Local]) -> Result<std::collections::HashMap<String, String>> {
        let mut modes = std::collections::HashMap::new();
        for chunk in files.chunks(256) {
            let mut entries = Vec::with_capacity(chunk.len());
            for l in chunk {
                let mut sample = vec![0u8; 512];
                let mut f = std::fs::File::open(&l.path).map_err(|e| Error::io("cannot read", &l.path, e))?;
                let n = std::io::Read::read(&mut f, &mut sample)
                    .map_err(|e| Error::io("cannot read", &l.path, e))?;
                sample.truncate(n);
                let sample = base64::engine::general_purpose::STANDARD.encode(sample);
                entries.push(json!({"path": l.rel, "size": l.size, "sample": sample}));
            }
            let url = self.api("preupload");
            let body = json!({"files": entries});
            let (status, headers, bytes) = self
                .send("the preupload check", || self.authed(self.hub.http.post(&url).json(&body)))
                .await?;
            self.check("the preupload check", status, &headers, &bytes)?;
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| self.refused(format!("preupload: {e}")))?;
            for f in v["files"].as_array().into_iter().flatten() {
                if let (Some(p), Some(m)) = (f["path"].as_str(), f["uploadMode"].as_str()) {
                    modes.insert(p.to_string(), m.to_string());
                }
            }
        }
        Ok(modes)
    }

    /// The LFS batch (256 objects at a time, as `huggingface_hub` asks), then each upload
    /// (`PUT`, streamed) and its verify, [`PARALLEL_UPLOADS`] at a time.
    async fn upload_lfs(&self, files: &[&Local]) -> Result<()> {
        let url =
            format!("{}/datasets/{}.git/info/lfs/objects/batch", self.hub.env.endpoint, self.target.repo);
        for chunk in files.chunks(256) {
            let objects: Vec<Value> =
                chunk.iter().map(|l| json!({"oid": l.sha256, "size": l.size})).collect();
            let body = json!({
                "operation": "upload",
                "transfers": ["basic"],
                "objects": objects,
                "hash_algo": "sha256",
                "ref": {"name": format!("refs/heads/{}", self.target.branch)},
            });
            let (status, headers, bytes) = self
                .send("the LFS batch", || {
                    self.authed(self.hub.http.post(&url))
                        .header("Accept", LFS_JSON)
                        .header("Content-Type", LFS_JSON)
                        .body(body.to_string())
                })
                .await?;
            self.check("the LFS batch", status, &headers, &bytes)?;
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| self.refused(format!("LFS batch: {e}")))?;
            if let Some(t) = v["transfer"].as_str().filter(|t| *t != "basic") {
                return Err(
                    self.refused(format!("the LFS batch chose transfer `{t}`; only `basic` was offered"))
                );
            }
            let mut transfers = Vec::new();
            for o in v["objects"].as_array().into_iter().flatten() {
                let oid = o["oid"].as_str().unwrap_or_default();
                if let Some(err) = o.get("error") {
                    return Err(self.refused(format!(
                        "LFS object {oid}: {}",
                        err["message"].as_str().unwrap_or("refused")
                    )));
                }
                let Some(local) = chunk.iter().find(|l| l.sha256 == oid) else { continue };
                // No actions: the Hub holds the object already.
                if let Some(actions) = o.get("actions") {
                    transfers.push(self.transfer(local, actions));
                }
            }
            futures::stream::iter(transfers)
                .buffer_unordered(PARALLEL_UPLOADS)
                .try_collect::<Vec<()>>()
                .await?;
        }
        Ok(())
    }

    /// One object: its upload to the storage URL the Hub gave (without the Hub's token), then
    /// its verify.
    async fn transfer(&self, local: &Local, actions: &Value) -> Result<()> {
        if let Some(up) = actions.get("upload") {
            let href = up["href"].as_str().unwrap_or_default().to_string();
            let what = format!("uploading `{}`", local.rel);
            if up["header"].get("chunk_size").is_some() {
                // The Hub's multipart transfer (files over 5 GB): not written yet.
                return Err(self.refused(format!(
                    "{what}: the Hub asks for a multipart upload of this {} file, which delta-hf does \
                     not do; nothing was committed: export with smaller shards (--max-shard-size 4GB, \
                     or more --num-shards)",
                    crate::summary::human_bytes(local.size)
                )));
            }
            let (status, headers, bytes) = self
                .send(&what, || {
                    let mut r = self.hub.http.put(&href).header("Content-Length", local.size);
                    for (k, v) in up["header"].as_object().into_iter().flatten() {
                        r = r.header(k, v.as_str().unwrap_or_default());
                    }
                    r.body(file_body(&local.path))
                })
                .await?;
            self.check(&what, status, &headers, &bytes)?;
        }
        if let Some(verify) = actions.get("verify") {
            let href = verify["href"].as_str().unwrap_or_default().to_string();
            let what = format!("verifying `{}`", local.rel);
            let body = json!({"oid": local.sha256, "size": local.size});
            let (status, headers, bytes) = self
                .send(&what, || {
                    let mut r = self.authed(self.hub.http.post(&href)).header("Content-Type", LFS_JSON);
                    for (k, v) in verify["header"].as_object().into_iter().flatten() {
                        r = r.header(k, v.as_str().unwrap_or_default());
                    }
                    r.body(body.to_string())
                })
                .await?;
            self.check(&what, status, &headers, &bytes)?;
        }
        Ok(())
    }

    /// The commit's answer; `None` when the Hub refuses it because the branch moved (412).
    async fn commit(&self, ndjson: String) -> Result<Option<Value>> {
        let url = self.api("commit");
        let (status, headers, bytes) = self
            .send("the commit", || {
                self.authed(self.hub.http.post(&url))
                    .header("Content-Type", "application/x-ndjson")
                    .body(ndjson.clone())
            })
            .await?;
        if status.as_u16() == 412 {
            return Ok(None);
        }
        self.check("the commit", status, &headers, &bytes)?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| self.refused(format!("commit answer: {e}")))
    }
}

/// A file as a streamed request body (opened afresh for every attempt).
fn file_body(path: &Path) -> reqwest::Body {
    let path = path.to_path_buf();
    let stream = futures::stream::once(async move { tokio::fs::File::open(path).await })
        .map_ok(tokio_util::io::ReaderStream::new)
        .try_flatten();
    reqwest::Body::wrap_stream(stream)
}

use futures::{StreamExt, TryStreamExt};

/// A git blob oid (SHA-1 of `blob <size>\0` and the bytes), as the tree listing gives it.
struct GitOid(sha1::Sha1);

impl GitOid {
    fn new() -> Self {
        GitOid(<sha1::Sha1 as sha1::Digest>::new())
    }

    fn update(&mut self, bytes: &[u8]) {
        sha1::Digest::update(&mut self.0, bytes);
    }

    fn hex(self) -> String {
        hex::encode(sha1::Digest::finalize(self.0))
    }
}

/// A revision as one path segment (`/` → `%2F`).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = HubTarget::parse("hf://datasets/acme/out@dev").unwrap().unwrap();
        assert_eq!((t.repo.as_str(), t.branch.as_str()), ("acme/out", "dev"));
        assert_eq!(t.shown(), "hf://datasets/acme/out@dev");
        assert_eq!(HubTarget::parse("hf://datasets/acme/out").unwrap().unwrap().branch, "main");
        assert!(HubTarget::parse("/tmp/x").is_none());
        let e = HubTarget::parse("hf://acme/tiny-bert").unwrap().unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::Input);
        assert!(HubTarget::parse("hf://datasets/acme").unwrap().is_err());
        assert_eq!(urlencoding("refs/pr/1"), "refs%2Fpr%2F1");
    }

    #[test]
    fn git_blob_oid() {
        // `git hash-object` of "hello\n".
        let mut g = GitOid::new();
        g.update(b"blob 6\0hello\n");
        assert_eq!(g.hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }
}
