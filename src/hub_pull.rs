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
//!    the files' order) streams into one Delta commit (see [`crate::sink::delta_table`]).
//!    ClassLabel columns of the card are written as their names (strings; `-1`, the `datasets`
//!    "no label", and ids outside the names become null) and the names, in id order, go into the
//!    commit metadata (`delta_hf.class_labels`) so `prepare --labels-from TABLE` keeps the ids.

use crate::source::storage::Connector;
use std::time::Duration;

use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{Expr, cast, lit, when};
use deltalake::datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::delta_datafusion::DeltaSessionContext;
use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use crate::cli::PullArgs;
use crate::error::{Error, Result};
use crate::hub_size::PARQUET_BRANCH;
use crate::sink::delta_table;
use crate::source::hub::card::Card;
use crate::source::hub::client::{Hub, HubEnv, RepoSnapshot};
use crate::source::hub::download;
use crate::source::hub::files::{self, SplitFiles};
use crate::source::hub::size::{size_str, thousands};
use crate::source::table::TableRef;
use crate::ui::Ui;

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

/// Run `pull`.
pub async fn pull(a: &PullArgs, ui: &Ui) -> Result<PullSummary> {
    let started = std::time::Instant::now();
    let cx = Connector::new(&a.storage)?;
    if a.to.is_none() && a.split_tables.is_empty() {
        return Err(Error::Usage(
            "say where the tables go: --to PREFIX (one table per split at PREFIX/<split>) or \
             --split-table SPLIT=TABLE"
                .into(),
        ));
    }
    let mut explicit: Vec<(String, String)> = Vec::new();
    for s in &a.split_tables {
        let (split, table) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--split-table `{s}` must be SPLIT=TABLE, e.g. --split-table train=/data/imdb_train"
            ))
        })?;
        explicit.push((split.trim().to_string(), table.trim().to_string()));
    }

    // 1. resolve
    let hub = Hub::new(HubEnv::from_env())?;
    let repo = &a.hub.dataset;
    let snap = hub.snapshot(repo, &a.hub.revision).await?;
    let card = Card::parse(&snap.card)?;
    let mut files_snap: RepoSnapshot = snap.clone();
    let mut files_from = "repo".to_string();
    let config;
    let mut splits: Vec<SplitFiles>;
    let own =
        if a.parquet_branch { None } else { own_parquet_splits(&card, a.hub.config.as_deref(), &snap)? };
    match own {
        Some((c, s)) => {
            config = c;
            splits = s;
        }
        None => {
            let pb = hub.snapshot(repo, PARQUET_BRANCH).await.map_err(|e| {
                Error::Hub(format!(
                    "dataset `{repo}` has no Parquet data files for this config and its `{PARQUET_BRANCH}` \
                     branch cannot be read: {e}"
                ))
            })?;
            let pb_configs = files::parquet_branch_configs(&pb.files);
            config = match (&a.hub.config, card.choose_config(a.hub.config.as_deref(), repo)) {
                (_, Ok(c)) => c,
                (Some(c), Err(_)) if pb_configs.contains(c) => c.clone(),
                (None, Err(_)) if pb_configs.len() == 1 => pb_configs[0].clone(),
                (_, Err(e)) => return Err(e),
            };
            splits = files::map_parquet_branch(&config, &pb.files);
            if splits.is_empty() {
                return Err(Error::Hub(format!(
                    "config `{config}` of dataset `{repo}` has no Parquet files on `{PARQUET_BRANCH}`; \
                     configs there: {}",
                    if pb_configs.is_empty() { "none".to_string() } else { pb_configs.join(", ") }
                )));
            }
            files_snap = pb;
            files_from = PARQUET_BRANCH.to_string();
        }
    }
    for s in splits.iter().filter(|s| s.partial) {
        ui.warn(format!(
            "split `{}` on {PARQUET_BRANCH} is a partial conversion (the first ~5 GB only)",
            s.split
        ));
    }

    // Targets.
    for (split, _) in &explicit {
        if !splits.iter().any(|s| s.split == *split) {
            return Err(Error::Usage(format!(
                "--split-table names split `{split}`, which config `{config}` of `{repo}` does not have; \
                 splits: {}",
                splits.iter().map(|s| s.split.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if a.to.is_none() {
        splits.retain(|s| explicit.iter().any(|(x, _)| *x == s.split));
    }
    let mut targets = Vec::with_capacity(splits.len());
    for s in &splits {
        let name = match explicit.iter().find(|(x, _)| *x == s.split) {
            Some((_, t)) => t.clone(),
            None => table_for(a.to.as_deref().expect("checked above"), &s.split),
        };
        let t = TableRef::parse_location(&name)?;
        delta_table::check_target(&t, a.overwrite, &cx).await?;
        targets.push(t);
    }
    for s in &splits {
        if s.files.is_empty() {
            return Err(Error::Hub(format!("split `{}` of config `{config}` matches no data file", s.split)));
        }
    }
    let class_labels = card.info(&config).map(|i| i.class_labels.clone()).unwrap_or_default();

    // 2. download
    let all: Vec<_> = splits.iter().flat_map(|s| s.files.iter().cloned()).collect();
    let total: u64 = all.iter().map(|f| f.size).sum();
    ui.step(format!(
        "downloading {} files ({}) of {repo} at {}",
        all.len(),
        size_str(Some(total)),
        files_snap.sha
    ));
    let bar = bytes_bar(ui, total);
    let paths = download::download_all(&hub, repo, &files_snap.sha, &all, a.max_workers, &bar).await;
    bar.finish_and_clear();
    let paths = paths?;

    // 3. write
    let mut out = Vec::with_capacity(splits.len());
    let mut offset = 0;
    for (s, table) in splits.iter().zip(&targets) {
        let split_paths: Vec<String> =
            paths[offset..offset + s.files.len()].iter().map(|p| p.display().to_string()).collect();
        offset += s.files.len();
        let rows = parquet_rows(&split_paths)?;
        // delta-rs' session (its planner runs the write), one partition so rows keep file order.
        let overrides: std::collections::HashMap<String, String> = [
            ("datafusion.execution.target_partitions", "1"),
            ("datafusion.execution.batch_size", "8192"),
            ("datafusion.execution.parquet.schema_force_view_types", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ctx: SessionContext = DeltaSessionContext::new_with_session_overrides(&overrides)?.into_inner();
        let mut df =
            ctx.read_parquet(split_paths.clone(), ParquetReadOptions::default()).await.map_err(|e| {
                Error::Hub(format!(
                    "the files of split `{}` of `{repo}` are not readable Parquet: {e}",
                    s.split
                ))
            })?;
        let present: Vec<(String, Vec<String>)> = class_labels
            .iter()
            .filter(|(name, _)| {
                df.schema().field_with_unqualified_name(name).is_ok_and(|f| f.data_type().is_integer())
            })
            .cloned()
            .collect();
        if !present.is_empty() {
            let exprs: Vec<Expr> = df
                .schema()
                .fields()
                .iter()
                .map(|f| match present.iter().find(|(n, _)| n == f.name()) {
                    Some((n, names)) => names_expr(n, names),
                    None => column(f.name()),
                })
                .collect();
            df = df.select(exprs)?;
        }
        let metadata = json!({
            "dataset": repo,
            "config": config,
            "split": s.split,
            "revision": snap.revision,
            "commit": files_snap.sha,
            "repo_commit": snap.sha,
            "files_from": files_from,
            "endpoint": hub.env.endpoint,
            "files": s.files.iter().map(|f| json!({"path": f.path, "size": f.size, "sha256": f.sha256})).collect::<Vec<_>>(),
            "class_labels": present.iter().map(|(n, names)| (n.clone(), json!(names))).collect::<serde_json::Map<_, _>>(),
        });
        ui.step(format!("writing split {} to {}", s.split, table.name));
        let version = delta_table::write(table, &cx, &ctx, df, a.overwrite, metadata).await?;
        out.push(PulledSplit {
            split: s.split.clone(),
            table: table.name.clone(),
            version,
            rows,
            files: s.files.len(),
            bytes: s.bytes(),
            partial: s.partial,
        });
    }
    Ok(PullSummary {
        dataset: repo.clone(),
        config,
        revision: snap.revision.clone(),
        commit: files_snap.sha.clone(),
        files_from,
        from_cache: snap.from_cache,
        class_labels: class_labels.into_iter().map(|(n, names)| (n, json!(names))).collect(),
        splits: out,
        seconds: started.elapsed().as_secs_f64(),
    })
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

/// `CASE id WHEN 0 THEN name0 ... ELSE NULL END AS name`.
fn names_expr(column: &str, names: &[String]) -> Expr {
    let id = cast(self::column(column), DataType::Int64);
    if names.is_empty() {
        return lit(ScalarValue::Utf8(None)).alias(column);
    }
    let mut case = when(id.clone().eq(lit(0i64)), lit(names[0].clone()));
    for (i, n) in names.iter().enumerate().skip(1) {
        case = case.when(id.clone().eq(lit(i as i64)), lit(n.clone()));
    }
    case.otherwise(lit(ScalarValue::Utf8(None))).expect("a CASE with branches").alias(column)
}

/// A column by its exact name (no identifier parsing).
fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
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

fn bytes_bar(ui: &Ui, total: u64) -> ProgressBar {
    if !ui.draws_bars() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message("downloading");
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
