//! What a run takes back when it fails or is interrupted before its output is published: the
//! objects and volume files it uploaded, and its label-table commit. Also the cancellation flag
//! a signal sets, which the upload loop checks between files (in-flight uploads finish, no new
//! one starts).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

enum Action {
    /// An object this run uploaded (or started to).
    Object(Arc<dyn ObjectStore>, ObjPath),
    /// A file this run copied onto a volume mount.
    File(PathBuf),
    /// The label-table commit `version` in `log` (a store rooted at the table).
    Commit { store: Arc<dyn ObjectStore>, version: u64, table: String },
}

static ACTIONS: Mutex<Vec<Action>> = Mutex::new(Vec::new());
static CANCELLED: AtomicBool = AtomicBool::new(false);
static PUBLISHING: AtomicBool = AtomicBool::new(false);

fn push(a: Action) {
    ACTIONS.lock().unwrap_or_else(|p| p.into_inner()).push(a);
}

/// Record an object about to be uploaded.
pub fn object(store: Arc<dyn ObjectStore>, path: ObjPath) {
    push(Action::Object(store, path));
}

/// Record a file about to be copied onto a volume mount.
pub fn file(path: PathBuf) {
    push(Action::File(path));
}

/// Record the label-table commit of this run.
pub fn commit(store: Arc<dyn ObjectStore>, version: u64, table: String) {
    push(Action::Commit { store, version, table });
}

/// The output is published: nothing is to be taken back any more.
pub fn clear() {
    ACTIONS.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// A signal arrived: stop starting uploads.
pub fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Whether an upload to a remote output is under way (then a signal lets it stop cleanly).
pub fn publishing() -> bool {
    PUBLISHING.load(Ordering::SeqCst)
}

pub fn set_publishing(on: bool) {
    PUBLISHING.store(on, Ordering::SeqCst);
}

/// Take everything back, newest first. Best effort: each failure is logged.
pub async fn run() {
    let actions: Vec<Action> = std::mem::take(&mut *ACTIONS.lock().unwrap_or_else(|p| p.into_inner()));
    for a in actions.into_iter().rev() {
        match a {
            Action::Object(store, path) => match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!("could not remove the partial upload `{path}`: {e}"),
            },
            Action::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            Action::Commit { store, version, table } => undo_commit(&store, version, &table).await,
        }
    }
}

/// Remove commit `version` if it is still the table's latest: the export that made it did not
/// publish, so the map it recorded must not stay. If another run has committed on top of it
/// since, it stays (that run's map includes it, and the log must not have a gap).
async fn undo_commit(store: &Arc<dyn ObjectStore>, version: u64, table: &str) {
    let log = |v: u64| ObjPath::from(format!("_delta_log/{v:020}.json"));
    match store.head(&log(version + 1)).await {
        Err(object_store::Error::NotFound { .. }) => match store.delete(&log(version)).await {
            Ok(()) => {
                tracing::warn!("label table `{table}`: removed version {version}, as nothing was published")
            }
            Err(e) => tracing::warn!("label table `{table}`: could not remove version {version}: {e}"),
        },
        Ok(_) => tracing::warn!(
            "label table `{table}`: version {version} stays (another run committed on top of it)"
        ),
        Err(e) => tracing::warn!("label table `{table}`: could not check version {}: {e}", version + 1),
    }
}
