//! Staging and publishing: a dataset appears at its output path complete, or not at all.
//!
//! Everything is written into a staging directory — by default a hidden sibling of the output
//! (`.<name>.delta-hf-staging-<pid>-<rand>`), so the final move is a same-filesystem rename; with
//! `--working-dir` elsewhere, the finished tree is first copied to such a sibling. Then:
//! - no output yet: an atomic rename that refuses to replace anything (`RENAME_NOREPLACE`);
//! - `--overwrite`: the staged tree and the old output are swapped atomically
//!   (`RENAME_EXCHANGE`) and the old tree is deleted afterwards; where the filesystem cannot
//!   swap, the old tree is moved aside first and moved back if the second rename fails.
//!
//! A failed or interrupted run removes its staging directory (`Drop`); a killed run leaves a
//! hidden staging directory that the next run for the same output removes (its pid is gone).
//! The previous output is never touched until the new one is complete.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::format::Format;
use crate::error::{Error, Result};

const STAGING_TAG: &str = ".delta-hf-staging-";

/// Staging directories not yet published or removed, for [`remove_leftovers`].
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove every staging directory of this process that is still there. `main` calls it after
/// the runtime has stopped: an interrupted run's writer threads may still have been finishing
/// a shard in it when the pipeline was dropped.
pub fn remove_leftovers() {
    let dirs = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for d in dirs {
        let _ = std::fs::remove_dir_all(&d);
    }
}

fn track(dir: &Path, live: bool) {
    let mut l = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    l.retain(|d| d != dir);
    if live {
        l.push(dir.to_path_buf());
    }
}

/// A staging directory for one output.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    output: PathBuf,
    overwrite: bool,
    published: bool,
}

impl Staging {
    /// Check the output can be written (replacing only an output of `format`) and create the
    /// staging directory.
    pub fn create(
        output: &Path,
        working_dir: Option<&Path>,
        overwrite: bool,
        format: Format,
    ) -> Result<Self> {
        let output = check_output(output, overwrite, format)?;
        let name = output.file_name().expect("checked").to_os_string();
        let parent = output.parent().expect("absolute path with a file name has a parent").to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io("cannot create", &parent, e))?;
        remove_stale(&parent, &name);
        let base = match working_dir {
            Some(w) => {
                std::fs::create_dir_all(w).map_err(|e| Error::io("cannot create working dir", w, e))?;
                w.to_path_buf()
            }
            None => parent,
        };
        let dir = base.join(staging_name(&name));
        std::fs::create_dir(&dir).map_err(|e| Error::io("cannot create staging dir", &dir, e))?;
        track(&dir, true);
        Ok(Staging { dir, output, overwrite, published: false })
    }

    /// A staging directory for an output that is not a local directory (published by
    /// [`crate::sink::remote`]): in `working_dir`, else the system temp dir. It is always
    /// removed when dropped.
    pub fn scratch(name: &str, working_dir: Option<&Path>) -> Result<Self> {
        let base = match working_dir {
            Some(w) => {
                std::fs::create_dir_all(w).map_err(|e| Error::io("cannot create working dir", w, e))?;
                w.to_path_buf()
            }
            None => std::env::temp_dir(),
        };
        let name = OsString::from(if name.is_empty() { "dataset" } else { name });
        remove_stale(&base, &name);
        let dir = base.join(staging_name(&name));
        std::fs::create_dir(&dir).map_err(|e| Error::io("cannot create staging dir", &dir, e))?;
        track(&dir, true);
        Ok(Staging { dir, output: PathBuf::new(), overwrite: false, published: false })
    }

    /// Where to write.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The final location.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Move the complete staged tree to the output path.
    pub fn publish(mut self) -> Result<()> {
        let parent = self.output.parent().expect("checked in create").to_path_buf();
        let name = self.output.file_name().expect("checked in create").to_os_string();
        // Bring the tree onto the output's filesystem first if it is staged elsewhere.
        if self.dir.parent() != Some(parent.as_path()) {
            let sibling = parent.join(staging_name(&name));
            match std::fs::rename(&self.dir, &sibling) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    copy_tree(&self.dir, &sibling)?;
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
                Err(e) => return Err(Error::io("cannot move staged dataset", &self.dir, e)),
            }
            track(&self.dir, false);
            track(&sibling, true);
            self.dir = sibling;
        }
        sync_dir(&self.dir);
        if self.output.exists() {
            if !self.overwrite {
                return Err(Error::output(format!(
                    "output `{}` appeared while this run was writing; pass --overwrite to replace it",
                    self.output.display()
                )));
            }
            if exchange(&self.dir, &self.output).is_ok() {
                // The old tree now lives at the staging path: delete it.
                sync_dir(&parent);
                self.published = true;
                let _ = std::fs::remove_dir_all(&self.dir);
                return Ok(());
            }
            let aside = parent.join(staging_name(&name));
            std::fs::rename(&self.output, &aside)
                .map_err(|e| Error::io("cannot move the old output aside", &self.output, e))?;
            if let Err(e) = std::fs::rename(&self.dir, &self.output) {
                let _ = std::fs::rename(&aside, &self.output);
                return Err(Error::io("cannot publish", &self.output, e));
            }
            let _ = std::fs::remove_dir_all(&aside);
        } else {
            rename_noreplace(&self.dir, &self.output)
                .map_err(|e| Error::io("cannot publish dataset to", &self.output, e))?;
        }
        sync_dir(&parent);
        self.published = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.published || std::fs::remove_dir_all(&self.dir).is_ok() {
            track(&self.dir, false);
        }
    }
}

/// Check a local output can be written (absent, or with `--overwrite` an empty directory or an
/// output of `format`); returns its absolute path.
pub fn check_output(output: &Path, overwrite: bool, format: Format) -> Result<PathBuf> {
    let output = std::path::absolute(output).map_err(|e| Error::io("cannot resolve", output, e))?;
    if output.file_name().is_none() {
        return Err(Error::Usage(format!("output `{}` has no directory name", output.display())));
    }
    if output.exists() && !overwrite {
        return Err(Error::output(format!(
            "output `{}` already exists; pass --overwrite to replace it, or choose another --output",
            output.display()
        )));
    }
    if output.exists() && !output.is_dir() {
        return Err(Error::output(format!(
            "output `{}` exists and is not a directory; refusing to replace it",
            output.display()
        )));
    }
    if output.is_dir() && !replaceable(&output, format) {
        return Err(Error::output(format!(
            "output `{}` exists and does not look like a dataset (no {}, and not empty); refusing to \
             replace it even with --overwrite. Choose another --output or remove it yourself",
            output.display(),
            format.layout().markers(false)
        )));
    }
    Ok(output)
}

/// `--overwrite` only ever replaces an empty directory or an output of the format.
fn replaceable(dir: &Path, format: Format) -> bool {
    format.layout().looks_like_dir(dir)
        || std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false)
}

fn staging_name(output_name: &OsString) -> OsString {
    let mut n = OsString::from(".");
    n.push(output_name);
    n.push(format!("{STAGING_TAG}{}-{:08x}", std::process::id(), rand::random::<u32>()));
    n
}

/// Remove staging dirs of this output left by runs that no longer exist (killed runs).
fn remove_stale(parent: &Path, output_name: &OsString) {
    let mut prefix = OsString::from(".");
    prefix.push(output_name);
    prefix.push(STAGING_TAG);
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!("removing staging left by an interrupted run: {}", e.path().display());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("cannot create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io("cannot read", from, e))? {
        let entry = entry.map_err(|e| Error::io("cannot read", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| Error::io("cannot copy", &src, e))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(from.as_os_str().as_bytes())?;
    let b = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), flags) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        match renameat2(from, to, libc::RENAME_NOREPLACE) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOSYS) => {}
            other => return other,
        }
    }
    if to.exists() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}
