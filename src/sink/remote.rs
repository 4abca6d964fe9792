//! Publishing a staged dataset where there is no atomic rename: object stores (`s3://`,
//! `abfss://`, `gs://`) and Unity Catalog volumes (`/Volumes/<catalog>/<schema>/<volume>/...`).
//!
//! The dataset is first written completely to a local staging directory (`--working-dir`, else
//! the system temp dir). Then, in the output format's publish order
//! ([`Layout::publish_rank`](super::format::Layout::publish_rank); for `save_to_disk` see
//! [`super::format::arrow`]):
//! 1. with `--overwrite`, the old dataset is made unloadable *first* — its files deleted from
//!    the highest rank down, the files that make it loadable first — so no reader can ever
//!    load a mix of old and new shards;
//! 2. the files are uploaded rank by rank, each rank complete before the next: the shards
//!    first (large files as multipart uploads, a few files at a time), the metadata after;
//! 3. the highest rank last: a dataset is loadable exactly when it is complete.
//!
//! A run that dies before the last rank leaves files that do not load; the next run with
//! `--overwrite` replaces them (they look like an output of the format).
//!
//! Volumes: on a Databricks cluster `/Volumes/...` is a FUSE mount with no rename, append or
//! random writes — there files are copied whole and sequentially in the order above. Off a
//! cluster the volume is resolved through Unity Catalog (`GET volumes/{name}`), and the files
//! go to its storage location with temporary `WRITE_VOLUME` credentials.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::error::{Error, Result};
use crate::sink::format::Format;
use crate::sink::undo;
use crate::storage::connector::Connector;
use crate::storage::location::{OutputSpec, redact};
use crate::storage::unity::{UcError, VendFor, VendedCredentials};
use crate::ui::Ui;

/// Files up to this size are uploaded in one request; larger ones as multipart uploads.
const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// Part size of multipart uploads.
const PART_SIZE: usize = 16 * 1024 * 1024;
/// Files uploaded at the same time.
const PARALLEL_FILES: usize = 4;

/// Where the files of a non-local output are put.
pub enum Dest {
    /// An object store, under `prefix`.
    Store { store: Arc<dyn ObjectStore>, prefix: ObjPath, shown: String },
    /// A mounted volume (FUSE): whole files, written sequentially, no renames.
    Mount { dir: PathBuf, shown: String },
}

/// Where `/Volumes` is mounted on a cluster (`DELTA_HF_VOLUMES_MOUNT` overrides it).
fn volumes_mount() -> PathBuf {
    std::env::var_os("DELTA_HF_VOLUMES_MOUNT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/Volumes"))
}

impl Dest {
    /// Resolve a remote output; `None` for a local one (published by rename instead).
    pub async fn resolve(spec: &OutputSpec, cx: &Connector) -> Result<Option<Dest>> {
        match spec {
            OutputSpec::Local(_) => Ok(None),
            OutputSpec::Uri(url) => {
                let store = cx.store(url)?;
                let prefix = ObjPath::from_url_path(url.path())
                    .map_err(|e| Error::Usage(format!("--output `{}`: {e}", redact(url))))?;
                Ok(Some(Dest::Store { store, prefix, shown: redact(url) }))
            }
            OutputSpec::Volume { volume, path, shown } => {
                let mount = volumes_mount().join(&volume.catalog).join(&volume.schema).join(&volume.name);
                if mount.is_dir() {
                    return Ok(Some(Dest::Mount { dir: mount.join(path), shown: shown.clone() }));
                }
                let uc = cx.unity().await?;
                let info = uc.get_volume(volume).await.map_err(|e| match e {
                    UcError::NotFound(_) => Error::output(format!(
                        "--output `{shown}`: Unity Catalog at {} has no volume `{volume}` (or you may not see \
                         it); create it (`CREATE VOLUME {volume}`) or check the path",
                        uc.host()
                    )),
                    UcError::Other(e) => e,
                })?;
                let root = Url::parse(info.storage_location.trim_end_matches('/')).map_err(|e| {
                    Error::output(format!("volume `{volume}` has a storage location that is not a URL: {e}"))
                })?;
                let vended = VendedCredentials::new(
                    uc,
                    format!("volume `{volume}`"),
                    VendFor::Volume { volume_id: info.volume_id.clone(), operation: "WRITE_VOLUME" },
                )
                .await?;
                let full = format!("{}/{}", root.path().trim_end_matches('/'), path);
                if root.scheme() == "file" {
                    return Ok(Some(Dest::Mount { dir: PathBuf::from(&full), shown: shown.clone() }));
                }
                let store = cx.vended_store(&root, vended)?;
                let prefix = ObjPath::from_url_path(&full)
                    .map_err(|e| Error::Usage(format!("--output `{shown}`: {e}")))?;
                Ok(Some(Dest::Store { store, prefix, shown: shown.clone() }))
            }
        }
    }

    pub fn shown(&self) -> &str {
        match self {
            Dest::Store { shown, .. } | Dest::Mount { shown, .. } => shown,
        }
    }

    /// Relative paths of every file under the destination.
    pub async fn list(&self) -> Result<Vec<String>> {
        match self {
            Dest::Store { store, prefix, .. } => {
                let objects: Vec<_> = store
                    .list(Some(prefix))
                    .try_collect()
                    .await
                    .map_err(|e| self.store_error("cannot list", e))?;
                let base = format!("{prefix}/");
                Ok(objects
                    .into_iter()
                    .filter_map(|o| o.location.as_ref().strip_prefix(&base).map(String::from))
                    .collect())
            }
            Dest::Mount { dir, .. } => {
                let mut out = Vec::new();
                if dir.is_dir() {
                    walk(dir, dir, &mut out)?;
                }
                Ok(out)
            }
        }
    }

    fn store_error(&self, what: &str, e: object_store::Error) -> Error {
        let shown = self.shown().to_string();
        Error::upstream(e, &format!("--output `{shown}`"), |m| {
            Error::output(format!("{what} `{shown}`: {m}"))
        })
    }

    /// Before any work: refuse an existing output without `--overwrite`, and never replace
    /// something that is not an output of `format`.
    pub async fn check(&self, overwrite: bool, format: Format) -> Result<()> {
        let existing = self.list().await?;
        if existing.is_empty() {
            return Ok(());
        }
        if !overwrite {
            return Err(Error::output(format!(
                "output `{}` already exists; pass --overwrite to replace it, or choose another --output",
                self.shown()
            )));
        }
        if !format.layout().looks_like_listing(&existing) {
            return Err(Error::output(format!(
                "output `{}` holds files that do not look like a dataset (no {}); refusing to replace it \
                 even with --overwrite",
                self.shown(),
                format.layout().markers(true)
            )));
        }
        Ok(())
    }

    /// Put the staged tree (an output of `format`) at the destination, in the order described
    /// in the module docs.
    pub async fn publish(&self, staged: &Path, overwrite: bool, format: Format, ui: &Ui) -> Result<()> {
        self.publish_keeping(staged, overwrite, format, ui, &|_| false).await
    }

    /// [`Dest::publish`], where the files already at the destination for which `keep` is true
    /// are part of the new dataset (a fan-out's shards, written in place): they are neither an
    /// old output nor removed.
    pub async fn publish_keeping(
        &self,
        staged: &Path,
        overwrite: bool,
        format: Format,
        ui: &Ui,
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<()> {
        let mut files = Vec::new();
        walk(staged, staged, &mut files)?;
        let rank = |p: &str| format.layout().publish_rank(p);
        files.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        let mut ranks: Vec<u8> = files.iter().map(|f| rank(f)).collect();
        ranks.dedup();

        let existing: Vec<String> = self.list().await?.into_iter().filter(|p| !keep(p)).collect();
        if !existing.is_empty() {
            if !overwrite {
                return Err(Error::output(format!(
                    "output `{}` appeared while this run was writing; pass --overwrite to replace it",
                    self.shown()
                )));
            }
            let mut old = existing;
            old.sort_by(|a, b| rank(b).cmp(&rank(a)).then(a.cmp(b)));
            for p in &old {
                self.delete(p).await?;
            }
        }

        let total: u64 =
            files.iter().map(|f| std::fs::metadata(staged.join(f)).map(|m| m.len()).unwrap_or(0)).sum();
        let bar = ui.bytes_bar(total, format!("uploading to {}", self.shown()));
        undo::set_publishing(true);
        let result = async {
            for &group in &ranks {
                let batch: Vec<&String> = files.iter().filter(|f| rank(f) == group).collect();
                let parallel = if matches!(self, Dest::Mount { .. }) { 1 } else { PARALLEL_FILES };
                // Every upload started is awaited (none is cut off mid-request), so what went up
                // is known and can be removed if the run does not publish.
                let results: Vec<Result<()>> = futures::stream::iter(batch.into_iter().map(|f| {
                    let bar = bar.clone();
                    async move {
                        if undo::cancelled() {
                            return Err(Error::Interrupted);
                        }
                        let n = self.put(&staged.join(f), f).await?;
                        bar.inc(n);
                        Ok::<_, Error>(())
                    }
                }))
                .buffer_unordered(parallel)
                .collect()
                .await;
                results.into_iter().collect::<Result<Vec<()>>>()?;
            }
            Ok(())
        }
        .await;
        undo::set_publishing(false);
        bar.finish_and_clear();
        result
    }

    /// Remove one file (absent is fine).
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self {
            Dest::Store { store, prefix, .. } => match store.delete(&join(prefix, rel)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.store_error("cannot delete the old output in", e)),
            },
            Dest::Mount { dir, .. } => {
                let p = dir.join(rel);
                match std::fs::remove_file(&p) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io("cannot delete the old output file", p, e)),
                }
            }
        }
    }

    /// Copy one file; returns its size.
    pub async fn put(&self, local: &Path, rel: &str) -> Result<u64> {
        let len = std::fs::metadata(local).map_err(|e| Error::io("cannot read staged file", local, e))?.len();
        match self {
            Dest::Mount { dir, .. } => {
                let to = dir.join(rel);
                undo::file(to.clone());
                let local = local.to_path_buf();
                tokio::task::spawn_blocking(move || copy_whole(&local, &to))
                    .await
                    .map_err(|e| Error::Internal(format!("copy task failed: {e}")))??;
            }
            Dest::Store { store, prefix, .. } => {
                let location = join(prefix, rel);
                undo::object(store.clone(), location.clone());
                if len <= SINGLE_PUT_MAX {
                    let bytes = tokio::fs::read(local)
                        .await
                        .map_err(|e| Error::io("cannot read staged file", local, e))?;
                    store
                        .put(&location, bytes.into())
                        .await
                        .map_err(|e| self.store_error("cannot upload to", e))?;
                } else {
                    let upload = store
                        .put_multipart(&location)
                        .await
                        .map_err(|e| self.store_error("cannot start an upload to", e))?;
                    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                    let mut file = std::fs::File::open(local)
                        .map_err(|e| Error::io("cannot read staged file", local, e))?;
                    let mut buf = vec![0u8; PART_SIZE];
                    loop {
                        let n = read_full(&mut file, &mut buf)
                            .map_err(|e| Error::io("cannot read staged file", local, e))?;
                        if n == 0 {
                            break;
                        }
                        if let Err(e) = writer.wait_for_capacity(2).await {
                            // An abandoned multipart upload is aborted (its parts cost storage).
                            let _ = writer.abort().await;
                            return Err(self.store_error("cannot upload to", e));
                        }
                        writer.write(&buf[..n]);
                    }
                    if let Err(e) = writer.finish().await {
                        // A completion the store applied but whose answer was lost is retried and
                        // refused (NoSuchUpload): the object is then there, whole. Nothing else
                        // writes this path (a new output, or the old one deleted first).
                        match store.head(&location).await {
                            Ok(meta) if meta.size == len => tracing::debug!(
                                "the upload of {location} completed although its answer was lost"
                            ),
                            _ => return Err(self.store_error("cannot complete the upload to", e)),
                        }
                    }
                }
            }
        }
        Ok(len)
    }
}

/// Small documents and single files by relative path (the fan-out's plan, manifests and
/// staging, [`crate::sink::fanout`]).
impl Dest {
    /// The bytes of one file, `None` when it does not exist.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Dest::Store { store, prefix, .. } => match store.get(&join(prefix, rel)).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.store_error("cannot read", e))?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_error("cannot read", e)),
            },
            Dest::Mount { dir, .. } => match std::fs::read(dir.join(rel)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", dir.join(rel), e)),
            },
        }
    }

    /// Write one small file whole, replacing it (one request: readers see all of it or the old one).
    pub async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            Dest::Store { store, prefix, .. } => {
                store
                    .put(&join(prefix, rel), bytes.into())
                    .await
                    .map_err(|e| self.store_error("cannot write", e))?;
            }
            Dest::Mount { dir, .. } => {
                let to = dir.join(rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io("cannot create directory", parent, e))?;
                }
                std::fs::write(&to, bytes).map_err(|e| Error::io("cannot write", &to, e))?;
            }
        }
        Ok(())
    }

    /// Write one small file unless it exists (a conditional create where the store has one);
    /// `false` when it was there already.
    pub async fn put_new(&self, rel: &str, bytes: Vec<u8>) -> Result<bool> {
        match self {
            Dest::Store { store, prefix, .. } => {
                let at = join(prefix, rel);
                let opts = object_store::PutOptions::from(object_store::PutMode::Create);
                match store.put_opts(&at, bytes.clone().into(), opts).await {
                    Ok(_) => Ok(true),
                    Err(
                        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
                    ) => Ok(false),
                    Err(object_store::Error::NotImplemented { .. }) => {
                        // No conditional put on this store: check, then write (a narrow race).
                        if self.head(rel).await?.is_some() {
                            return Ok(false);
                        }
                        self.put_bytes(rel, bytes).await?;
                        Ok(true)
                    }
                    Err(e) => Err(self.store_error("cannot write", e)),
                }
            }
            Dest::Mount { dir, .. } => {
                let to = dir.join(rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io("cannot create directory", parent, e))?;
                }
                let mut f = match std::fs::OpenOptions::new().write(true).create_new(true).open(&to) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                    Err(e) => return Err(Error::io("cannot create", &to, e)),
                };
                std::io::Write::write_all(&mut f, &bytes).map_err(|e| Error::io("cannot write", &to, e))?;
                Ok(true)
            }
        }
    }

    /// The size of one file, `None` when it does not exist.
    pub async fn head(&self, rel: &str) -> Result<Option<u64>> {
        match self {
            Dest::Store { store, prefix, .. } => match store.head(&join(prefix, rel)).await {
                Ok(m) => Ok(Some(m.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_error("cannot read", e)),
            },
            Dest::Mount { dir, .. } => match std::fs::metadata(dir.join(rel)) {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", dir.join(rel), e)),
            },
        }
    }
}

fn join(prefix: &ObjPath, rel: &str) -> ObjPath {
    rel.split('/').fold(prefix.clone(), |p, part| p.join(part))
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Write `to` once, front to back (what a FUSE volume supports), creating its directory.
fn copy_whole(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create directory", parent, e))?;
    }
    let mut src = std::fs::File::open(from).map_err(|e| Error::io("cannot read staged file", from, e))?;
    let mut dst = std::fs::File::create(to).map_err(|e| Error::io("cannot write", to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("cannot write", to, e))?;
    Ok(())
}

/// Relative paths (with `/`) of the files under `dir`.
pub(crate) fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mount_publish_replaces_whole_dataset_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let staged = tmp.path().join("staged");
        std::fs::create_dir_all(staged.join("train")).unwrap();
        std::fs::write(staged.join("train/data-00000-of-00001.arrow"), b"new").unwrap();
        std::fs::write(staged.join("train/state.json"), b"{}").unwrap();
        std::fs::write(staged.join("dataset_dict.json"), b"{}").unwrap();
        let out = tmp.path().join("vol/ds");
        std::fs::create_dir_all(out.join("train")).unwrap();
        std::fs::write(out.join("train/data-00000-of-00002.arrow"), b"old").unwrap();
        std::fs::write(out.join("train/data-00001-of-00002.arrow"), b"old").unwrap();
        std::fs::write(out.join("dataset_dict.json"), b"{}").unwrap();
        let dest = Dest::Mount { dir: out.clone(), shown: "ds".into() };
        assert!(dest.check(false, Format::Arrow).await.is_err());
        dest.check(true, Format::Arrow).await.unwrap();
        dest.publish(&staged, true, Format::Arrow, &Ui::new(true)).await.unwrap();
        let mut files = dest.list().await.unwrap();
        files.sort();
        assert_eq!(files, ["dataset_dict.json", "train/data-00000-of-00001.arrow", "train/state.json"]);
        assert_eq!(std::fs::read(out.join("train/data-00000-of-00001.arrow")).unwrap(), b"new");
    }
}
