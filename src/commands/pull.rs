//! `delta-hf pull`, stage by stage:
//!
//! 1. **resolve** — the dataset at a commit sha (from the Hub, or the cache when offline or
//!    unreachable), the config, its files per split (the card's `data_files` or the standard
//!    patterns; the `refs/convert/parquet` branch when the repo's files are not Parquet or with
//!    `--parquet-branch`), and the target table of every split, checked before any download;
//! 2. **download** — every file of the chosen splits into the Hugging Face cache, several at a
//!    time, each verified (size, sha256) — before any table is written, so a bad file writes
//!    nothing;
//! 3. **write** — per split, a DataFusion scan of its Parquet files (one partition: rows keep
//!    the files' order) streams into one Delta commit (see [`crate::sink::delta`]).
//!    ClassLabel columns of the card are written as their names (strings; `-1`, the `datasets`
//!    "no label", and ids outside the names become null) and the names, in id order, go into the
//!    commit metadata (`delta_hf.class_labels`) so `prepare --labels-from TABLE` keeps the ids.

use std::path::PathBuf;

use deltalake::datafusion::logical_expr::Expr;
use deltalake::datafusion::prelude::{DataFrame, ParquetReadOptions};
use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::settings::PullSettings;
use crate::sink::delta;
use crate::source::hub::card::Card;
use crate::source::hub::files::{self, PARQUET_BRANCH, SplitFiles};
use crate::source::hub::size::size_str;
use crate::storage::connector::Connector;
use crate::storage::hub::client::{Hub, HubEnv, RepoSnapshot};
use crate::storage::hub::download;
use crate::storage::location::TableRef;
use crate::storage::session::{self, SessionOptions};
use crate::transform::columns::column;
use crate::transform::encode::names_of_ids;
use crate::ui::{Ui, thousands};

/// `--to PREFIX` places split `s` at `PREFIX/s`.
///
/// A Unity Catalog prefix names a schema or a table stem: `uc://main.ml` → `main.ml.<split>`,
/// `uc://main.ml.imdb` → `main.ml.imdb_<split>`.
pub fn table_for(prefix: &str, split: &str) -> String {
    if let Some(uc) = prefix.strip_prefix("uc://") {
        let uc = uc.trim_end_matches('.');
        return match uc.split('.').count() {
            3 => format!("uc://{uc}_{split}"),
            _ => format!("uc://{uc}.{split}"),
        };
    }
    format!("{}/{split}", prefix.trim_end_matches('/'))
}

/// One written table.
#[derive(Debug, Clone, Serialize)]
pub struct PulledSplit {
    pub split: String,
    pub table: String,
    pub version: u64,
    pub rows: u64,
    pub files: usize,
    pub bytes: u64,
    pub partial: bool,
}

/// What `pull` did.
#[derive(Debug, Clone, Serialize)]
pub struct PullSummary {
    pub dataset: String,
    pub config: String,
    pub revision: String,
    /// The commit the files were read at (of the parquet branch when it was used).
    pub commit: String,
    /// `repo` or `refs/convert/parquet`.
    pub files_from: String,
    pub from_cache: bool,
    pub class_labels: serde_json::Map<String, serde_json::Value>,
    pub splits: Vec<PulledSplit>,
    pub seconds: f64,
}

impl PullSummary {
    pub fn render(&self) -> String {
        let mut o = format!(
            "pulled {} (config {}, revision {}, commit {}{}{}):\n",
            self.dataset,
            self.config,
            self.revision,
            self.commit,
            if self.files_from == "repo" {
                String::new()
            } else {
                format!(", files from {}", self.files_from)
            },
            if self.from_cache { ", from the local cache" } else { "" }
        );
        for s in &self.splits {
            o.push_str(&format!(
                "  {} -> {} (version {}, {} rows, {} file{}, {}{})\n",
                s.split,
                s.table,
                s.version,
                thousands(s.rows),
                s.files,
                if s.files == 1 { "" } else { "s" },
                size_str(Some(s.bytes)),
                if s.partial { ", partial conversion" } else { "" }
            ));
        }
        o
    }
}

/// The files to pull: the commit they are read at, the config, and the splits.
struct Resolved {
    snap: RepoSnapshot,
    /// The snapshot the files come from (the parquet branch's when it is used).
    files_snap: RepoSnapshot,
    files_from: String,
    config: String,
    splits: Vec<SplitFiles>,
    class_labels: Vec<(String, Vec<String>)>,
}

/// Run `pull`.
pub async fn run(s: &PullSettings, ui: &Ui) -> Result<PullSummary> {
    let started = std::time::Instant::now();
    let cx = s.storage.connector()?;
    let hub = Hub::new(HubEnv::from_env())?;

    // 1. resolve: the commit, the config, its files per split, and a checked target per split.
    let mut r = resolve(s, &hub, ui).await?;
    let targets = targets(s, &mut r, &cx).await?;

    // 2. download: every file, verified, before any table is written.
    let all: Vec<_> = r.splits.iter().flat_map(|sp| sp.files.iter().cloned()).collect();
    let total: u64 = all.iter().map(|f| f.size).sum();
    ui.step(format!(
        "downloading {} files ({}) of {} at {}",
        all.len(),
        size_str(Some(total)),
        s.dataset,
        r.files_snap.sha
    ));
    let bar = ui.bytes_bar(total, "downloading".into());
    let paths = download::download_all(&hub, &s.dataset, &r.files_snap.sha, &all, s.max_workers, &bar).await;
    bar.finish_and_clear();
    let mut paths = paths?.into_iter();

    // 3. write: one streamed commit per split.
    let mut out = Vec::with_capacity(r.splits.len());
    for (split, table) in r.splits.iter().zip(&targets) {
        let split_paths: Vec<PathBuf> = paths.by_ref().take(split.files.len()).collect();
        ui.step(format!("writing split {} to {}", split.split, table.name));
        out.push(write_split(s, &r, &hub, &cx, split, table, &split_paths).await?);
    }
    Ok(PullSummary {
        dataset: s.dataset.clone(),
        config: r.config,
        revision: r.snap.revision.clone(),
        commit: r.files_snap.sha.clone(),
        files_from: r.files_from,
        from_cache: r.snap.from_cache,
        class_labels: r.class_labels.into_iter().map(|(n, names)| (n, json!(names))).collect(),
        splits: out,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The commit, the config and its split files: the repo's own Parquet files, else the
/// Hub's conversion on the parquet branch.
async fn resolve(s: &PullSettings, hub: &Hub, ui: &Ui) -> Result<Resolved> {
    let repo = &s.dataset;
    let snap = hub.snapshot(repo, &s.revision).await?;
    let card = Card::parse(&snap.card)?;
    let own = if s.parquet_branch { None } else { own_parquet_splits(&card, s.config.as_deref(), &snap)? };
    let (config, splits, files_snap, files_from) = match own {
        Some((c, splits)) => (c, splits, snap.clone(), "repo".to_string()),
        None => {
            let pb = hub.snapshot(repo, PARQUET_BRANCH).await.map_err(|e| {
                Error::Hub(format!(
                    "dataset `{repo}` has no Parquet data files for this config and its `{PARQUET_BRANCH}` \
                     branch cannot be read: {e}"
                ))
            })?;
            let pb_configs = files::parquet_branch_configs(&pb.files);
            let config = match (&s.config, card.choose_config(s.config.as_deref(), repo)) {
                (_, Ok(c)) => c,
                (Some(c), Err(_)) if pb_configs.contains(c) => c.clone(),
                (None, Err(_)) if pb_configs.len() == 1 => pb_configs[0].clone(),
                (_, Err(e)) => return Err(e),
            };
            let splits = files::map_parquet_branch(&config, &pb.files);
            if splits.is_empty() {
                return Err(Error::Hub(format!(
                    "config `{config}` of dataset `{repo}` has no Parquet files on `{PARQUET_BRANCH}`; \
                     configs there: {}",
                    if pb_configs.is_empty() { "none".to_string() } else { pb_configs.join(", ") }
                )));
            }
            (config, splits, pb, PARQUET_BRANCH.to_string())
        }
    };
    for sp in splits.iter().filter(|sp| sp.partial) {
        ui.warn(format!(
            "split `{}` on {PARQUET_BRANCH} is a partial conversion (the first ~5 GB only)",
            sp.split
        ));
    }
    let class_labels = card.info(&config).map(|i| i.class_labels.clone()).unwrap_or_default();
    Ok(Resolved { snap, files_snap, files_from, config, splits, class_labels })
}

/// The table of every split to pull (only the `--split-table` ones without `--to`), each
/// checked before any download.
async fn targets(s: &PullSettings, r: &mut Resolved, cx: &Connector) -> Result<Vec<TableRef>> {
    for (split, _) in &s.split_tables {
        if !r.splits.iter().any(|sp| sp.split == *split) {
            return Err(Error::Usage(format!(
                "--split-table names split `{split}`, which config `{}` of `{}` does not have; splits: {}",
                r.config,
                s.dataset,
                r.splits.iter().map(|sp| sp.split.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if s.to.is_none() {
        r.splits.retain(|sp| s.split_tables.iter().any(|(x, _)| *x == sp.split));
    }
    let mut targets = Vec::with_capacity(r.splits.len());
    for sp in &r.splits {
        let name = match (s.split_tables.iter().find(|(x, _)| *x == sp.split), &s.to) {
            (Some((_, t)), _) => t.clone(),
            (None, Some(to)) => table_for(to, &sp.split),
            (None, None) => return Err(Error::Internal("a split with no target".into())),
        };
        let t = TableRef::parse_location(&name)?;
        delta::check_target(&t, s.overwrite, cx).await?;
        targets.push(t);
    }
    if let Some(sp) = r.splits.iter().find(|sp| sp.files.is_empty()) {
        return Err(Error::Hub(format!(
            "split `{}` of config `{}` matches no data file",
            sp.split, r.config
        )));
    }
    Ok(targets)
}

/// One split's Parquet files → one Delta commit, ClassLabel ids written as their names.
async fn write_split(
    s: &PullSettings,
    r: &Resolved,
    hub: &Hub,
    cx: &Connector,
    split: &SplitFiles,
    table: &TableRef,
    paths: &[PathBuf],
) -> Result<PulledSplit> {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let rows = parquet_rows(&paths)?;
    // One partition, so rows keep the files' order.
    let ctx = session::session(SessionOptions::ordered())?;
    let df = ctx.read_parquet(paths, ParquetReadOptions::default()).await.map_err(|e| {
        Error::Hub(format!(
            "the files of split `{}` of `{}` are not readable Parquet: {e}",
            split.split, s.dataset
        ))
    })?;
    let (df, present) = class_labels_as_names(df, &r.class_labels)?;
    let metadata = json!({
        "dataset": s.dataset,
        "config": r.config,
        "split": split.split,
        "revision": r.snap.revision,
        "commit": r.files_snap.sha,
        "repo_commit": r.snap.sha,
        "files_from": r.files_from,
        "endpoint": hub.env.endpoint,
        "files": split.files.iter().map(|f| json!({"path": f.path, "size": f.size, "sha256": f.sha256})).collect::<Vec<_>>(),
        "class_labels": present.iter().map(|(n, names)| (n.clone(), json!(names))).collect::<serde_json::Map<_, _>>(),
    });
    let version = delta::write(table, cx, &ctx, df, s.overwrite, metadata).await?;
    Ok(PulledSplit {
        split: split.split.clone(),
        table: table.name.clone(),
        version,
        rows,
        files: split.files.len(),
        bytes: split.bytes(),
        partial: split.partial,
    })
}

/// ClassLabel features: a column's name and its label names in id order.
type ClassLabels = Vec<(String, Vec<String>)>;

/// The card's ClassLabel columns present (as integers) in `df`, replaced by their names.
fn class_labels_as_names(
    df: DataFrame,
    class_labels: &[(String, Vec<String>)],
) -> Result<(DataFrame, ClassLabels)> {
    let present: ClassLabels = class_labels
        .iter()
        .filter(|(name, _)| {
            df.schema().field_with_unqualified_name(name).is_ok_and(|f| f.data_type().is_integer())
        })
        .cloned()
        .collect();
    if present.is_empty() {
        return Ok((df, present));
    }
    let exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| match present.iter().find(|(n, _)| n == f.name()) {
            Some((n, names)) => names_of_ids(n, names),
            None => column(f.name()),
        })
        .collect();
    Ok((df.select(exprs)?, present))
}

/// The config and its splits on the repo's own files, when they are all Parquet.
fn own_parquet_splits(
    card: &Card,
    asked: Option<&str>,
    snap: &RepoSnapshot,
) -> Result<Option<(String, Vec<SplitFiles>)>> {
    let config = match card.choose_config(asked, &snap.repo) {
        Ok(c) => c,
        // A config only the parquet branch knows.
        Err(_) if asked.is_some() && card.config_names().is_empty() => return Ok(None),
        Err(e) => return Err(e),
    };
    let splits: Vec<SplitFiles> =
        files::map_config(card, &config, &snap.files)?.into_iter().filter(|s| !s.files.is_empty()).collect();
    let all_parquet =
        !splits.is_empty() && splits.iter().all(|s| s.files.iter().all(|f| f.path.ends_with(".parquet")));
    Ok(all_parquet.then_some((config, splits)))
}

/// Rows in these Parquet files, from their footers.
fn parquet_rows(paths: &[String]) -> Result<u64> {
    let mut rows = 0u64;
    for p in paths {
        let file = std::fs::File::open(p).map_err(|e| Error::io("cannot open downloaded file", p, e))?;
        let reader = SerializedFileReader::new(file)
            .map_err(|e| Error::Hub(format!("downloaded file `{p}` is not a Parquet file: {e}")))?;
        rows += reader.metadata().file_metadata().num_rows() as u64;
    }
    Ok(rows)
}
