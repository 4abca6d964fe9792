//! The fan-out's staging area: where `run-task` puts a task's shards and manifest, and what
//! `commit` checks and publishes. Reached through the same stores as outputs: a local
//! directory, an object store or a volume ([`Area`]).
//!
//! Layout under the staging root (the output itself on an object store or volume, a hidden
//! directory beside a local output):
//! - `<split>/_fanout-<plan id>/task-<i>-<attempt>/<shard>` (object store, volume; shard `k` is
//!   named by the format's [`staged_shard_name`](crate::sink::format::Layout::staged_shard_name))
//!   or `task-<i>-<attempt>/<split>/<shard>` (local; the writer's names): each attempt of a task
//!   writes under a fresh attempt id, so attempts never touch each other's files;
//! - `_fanout-<plan id>/task-<i>.json`: the task's [`Manifest`] (rows, bytes, and per shard its
//!   path, rows, bytes and CRC-32), created only if absent once every shard is in place: the
//!   first attempt to finish wins, a later one finds it, checks it and removes its own files.
//!
//! A manifest names only files that are complete, so `commit` uses exactly the listed files;
//! everything else under the root (attempts that were killed or lost the race) is removed
//! by the commit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sink::remote::{Dest, walk};
use crate::storage::connector::Connector;
use crate::storage::location::OutputSpec;

/// A directory on some store, addressed by relative paths with `/`.
pub enum Area {
    /// A local directory: renames are cheap.
    Local(PathBuf),
    /// An object store or a volume.
    Remote(Dest),
}

impl Area {
    /// The area at `spec` (a local path, a URI or a `/Volumes/...` path).
    pub async fn resolve(spec: &OutputSpec, cx: &Connector) -> Result<Area> {
        match (spec, Dest::resolve(spec, cx).await?) {
            (_, Some(d)) => Ok(Area::Remote(d)),
            (OutputSpec::Local(p), None) => {
                Ok(Area::Local(std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?))
            }
            _ => Err(Error::Internal("a remote location resolved to nothing".into())),
        }
    }

    /// How it is shown in messages.
    pub fn shown(&self) -> String {
        match self {
            Area::Local(p) => p.display().to_string(),
            Area::Remote(d) => d.shown().to_string(),
        }
    }

    /// The local path of `rel`, for a local area.
    pub fn local(&self, rel: &str) -> Option<PathBuf> {
        match self {
            Area::Local(p) => Some(p.join(rel)),
            Area::Remote(_) => None,
        }
    }

    /// The bytes of `rel`, `None` when absent.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Area::Local(root) => match std::fs::read(root.join(rel)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", root.join(rel), e)),
            },
            Area::Remote(d) => d.get(rel).await,
        }
    }

    /// Write a small file whole, replacing any (readers see the old or the new one).
    pub async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            Area::Local(root) => {
                let tmp = write_temp(root, rel, &bytes)?;
                let to = root.join(rel);
                std::fs::rename(&tmp, &to).map_err(|e| Error::io("cannot write", &to, e))
            }
            Area::Remote(d) => d.put_bytes(rel, bytes).await,
        }
    }

    /// Write a small file only if absent; `false` when it exists.
    pub async fn put_new(&self, rel: &str, bytes: Vec<u8>) -> Result<bool> {
        match self {
            Area::Local(root) => {
                let tmp = write_temp(root, rel, &bytes)?;
                let to = root.join(rel);
                // A hard link never replaces its target: an atomic create-if-absent.
                let linked = std::fs::hard_link(&tmp, &to);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(Error::io("cannot create", &to, e)),
                }
            }
            Area::Remote(d) => d.put_new(rel, bytes).await,
        }
    }

    /// The size of `rel`, `None` when absent.
    pub async fn head(&self, rel: &str) -> Result<Option<u64>> {
        match self {
            Area::Local(root) => match std::fs::metadata(root.join(rel)) {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", root.join(rel), e)),
            },
            Area::Remote(d) => d.head(rel).await,
        }
    }

    /// Every file under the area, as relative paths.
    pub async fn list(&self) -> Result<Vec<String>> {
        match self {
            Area::Local(root) => {
                let mut out = Vec::new();
                if root.is_dir() {
                    walk(root, root, &mut out)?;
                }
                Ok(out)
            }
            Area::Remote(d) => d.list().await,
        }
    }

    /// Remove one file (absent is fine).
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self {
            Area::Local(root) => match std::fs::remove_file(root.join(rel)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("cannot remove", root.join(rel), e)),
            },
            Area::Remote(d) => d.delete(rel).await,
        }
    }
}

fn write_temp(root: &Path, rel: &str, bytes: &[u8]) -> Result<PathBuf> {
    let to = root.join(rel);
    let dir = to.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let tmp = dir.join(format!(".tmp-{}-{:08x}", std::process::id(), rand::random::<u32>()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
    Ok(tmp)
}

/// A file location (the plan) as its folder and its name.
pub fn split_file(spec: &OutputSpec) -> Result<(OutputSpec, String)> {
    let bad = || Error::Usage(format!("--plan `{}` names no file", spec.shown()));
    match spec {
        OutputSpec::Local(p) => {
            let abs = std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?;
            let name = abs.file_name().ok_or_else(bad)?.to_string_lossy().into_owned();
            let dir = abs.parent().ok_or_else(bad)?.to_path_buf();
            Ok((OutputSpec::Local(dir), name))
        }
        OutputSpec::Uri(u) => {
            let path = u.path().trim_end_matches('/');
            let (dir, name) = path.rsplit_once('/').ok_or_else(bad)?;
            if name.is_empty() {
                return Err(bad());
            }
            let mut d = u.clone();
            d.set_path(dir);
            Ok((OutputSpec::Uri(d), name.to_string()))
        }
        OutputSpec::Volume { volume, path, shown } => {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            let shown_dir = shown.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            Ok((
                OutputSpec::Volume { volume: volume.clone(), path: dir.to_string(), shown: shown_dir },
                name.to_string(),
            ))
        }
    }
}

/// The folder of the plan's own files (manifests) under the staging root.
pub fn plan_dir(plan_id: &str) -> String {
    format!("_fanout-{plan_id}")
}

/// Where task `task`'s manifest goes.
pub fn manifest_path(plan_id: &str, task: usize) -> String {
    format!("{}/task-{task:05}.json", plan_dir(plan_id))
}

/// The attempt folder of split `split`'s shards under the staging root.
pub fn attempt_dir(plan_id: &str, task: usize, attempt: &str, split: &str, in_output: bool) -> String {
    if in_output {
        format!("{split}/{}/task-{task:05}-{attempt}", plan_dir(plan_id))
    } else {
        format!("task-{task:05}-{attempt}/{split}")
    }
}

/// Whether `rel` (a path under the staging root) belongs to plan `plan_id`'s staging.
pub fn is_staging(rel: &str, plan_id: &str) -> bool {
    let tag = plan_dir(plan_id);
    rel.starts_with(&format!("{tag}/")) || rel.split('/').nth(1) == Some(tag.as_str())
}

/// What one task wrote: `commit` publishes exactly these files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub plan_id: String,
    pub task: usize,
    pub attempt: String,
    pub finished: String,
    pub splits: Vec<ManifestSplit>,
}

/// One split's part of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSplit {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// The data files read.
    pub files: usize,
    /// The `datasets` features of the shards (the same in every task).
    pub features: serde_json::Value,
    /// In row order.
    pub shards: Vec<ManifestShard>,
    /// issue 23: what the task's rows of the split hold (the commit merges the tasks' parts
    /// into the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::transform::stats::SplitStats>,
    /// SFT exports: the task's part of the split's SFT statistics (the commit merges the tasks'
    /// parts into the summary's `sft` section and the split's `dropped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sft: Option<crate::transform::sft::SplitStats>,
}

/// One shard of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestShard {
    /// Relative to the staging root.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// CRC-32 (IEEE, as zlib and gzip compute it) of the shard's bytes, 8 hex digits.
    pub crc32: String,
    /// What the format's metadata records about the shard (MDS: its `index.json` entry), so
    /// `commit` writes the metadata without reading the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_entry: Option<serde_json::Value>,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifests serialise")
    }

    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        serde_json::from_slice(bytes).ok()
    }

    /// The first problem that makes this manifest unusable for plan `plan_id`'s task `task`
    /// (a listed shard missing or of another size), `None` when it is complete.
    pub async fn problem(&self, area: &Area, plan_id: &str, task: usize) -> Result<Option<String>> {
        if self.plan_id != plan_id || self.task != task {
            return Ok(Some(format!("its manifest is for plan {} task {}", self.plan_id, self.task)));
        }
        for split in &self.splits {
            for s in &split.shards {
                match area.head(&s.path).await? {
                    Some(n) if n == s.bytes => {}
                    Some(n) => {
                        return Ok(Some(format!(
                            "shard `{}` has {n} bytes, its manifest says {}",
                            s.path, s.bytes
                        )));
                    }
                    None => return Ok(Some(format!("shard `{}` listed in its manifest is missing", s.path))),
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_paths_belong_to_their_plan() {
        let id = "p1";
        assert!(is_staging(&manifest_path(id, 3), id));
        assert!(is_staging(&format!("{}/data-00000.arrow", attempt_dir(id, 0, "a", "train", true)), id));
        assert!(!is_staging("train/data-00000-of-00001.arrow", id));
        assert!(!is_staging("train/state.json", id));
        assert!(!is_staging(&manifest_path("other", 3), id));
    }

    #[test]
    fn a_plan_file_is_its_folder_and_name() {
        let (dir, name) = split_file(&OutputSpec::parse("s3://b/plans/p.json").unwrap()).unwrap();
        assert_eq!((dir.shown(), name.as_str()), ("s3://b/plans".to_string(), "p.json"));
        let (dir, name) = split_file(&OutputSpec::parse("/Volumes/c/s/v/plans/p.json").unwrap()).unwrap();
        assert_eq!((dir.shown(), name.as_str()), ("/Volumes/c/s/v/plans".to_string(), "p.json"));
        let (dir, name) = split_file(&OutputSpec::parse("/tmp/x/p.json").unwrap()).unwrap();
        assert_eq!((dir.shown(), name.as_str()), ("/tmp/x".to_string(), "p.json"));
    }

    #[tokio::test]
    async fn put_new_creates_once() {
        let tmp = tempfile::tempdir().unwrap();
        let area = Area::Local(tmp.path().to_path_buf());
        assert!(area.put_new("a/m.json", b"1".to_vec()).await.unwrap());
        assert!(!area.put_new("a/m.json", b"2".to_vec()).await.unwrap());
        assert_eq!(area.get("a/m.json").await.unwrap().unwrap(), b"1");
        assert_eq!(area.list().await.unwrap(), vec!["a/m.json".to_string()]);
    }
}
