//! The sizes `load_dataset_builder(..).info` shows, for each config, each figure with where it
//! came from, in this order of preference:
//! 1. the card's `dataset_info` (`download_size`, `dataset_size`, per-split `num_bytes` /
//!    `num_examples`);
//! 2. the dataset viewer's `GET /size?dataset=D` (`num_bytes_original_files` = download size,
//!    `num_bytes_memory` = dataset size, `num_rows`), only for the `main` revision (the viewer
//!    knows no other);
//! 3. the sum of the config's data file sizes in the tree listing (download size only).
//!
//! Figures are printed like `datasets` (`79.58 MiB`, binary units, two decimals, `Unknown size`).

use serde::Serialize;
use serde_json::Value;

use super::card::{Card, ConfigInfo};
use super::files::{self, SplitFiles};
use crate::error::Result;
use crate::storage::hub::client::{Hub, RepoSnapshot};
use crate::ui::thousands;

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The card's `dataset_info`.
    Card,
    /// The dataset viewer's `/size`.
    Viewer,
    /// The sum of the file sizes in the repo tree.
    Tree,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Card => "card dataset_info",
            Source::Viewer => "dataset viewer /size",
            Source::Tree => "sum of repo file sizes",
        }
    }
}

/// A byte count, its `datasets` rendering and its source (none when unknown).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub bytes: Option<u64>,
    pub human: String,
    pub source: Option<Source>,
}

impl Figure {
    fn new(bytes: Option<u64>, source: Source) -> Self {
        Figure { bytes, human: size_str(bytes), source: bytes.map(|_| source) }
    }
    fn unknown() -> Self {
        Figure { bytes: None, human: size_str(None), source: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitSize {
    pub name: String,
    pub num_rows: Option<u64>,
    pub num_bytes: Option<u64>,
    pub human: String,
    pub source: Option<Source>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub path: String,
    pub size: u64,
    pub human: String,
    pub split: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigSize {
    pub config: String,
    pub download_size: Figure,
    pub dataset_size: Figure,
    pub splits: Vec<SplitSize>,
    pub files: Vec<FileRow>,
    /// The viewer's figures cover only part of the data (`partial: true`).
    pub partial: bool,
}

/// What `delta-hf size` prints.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub dataset: String,
    pub revision: String,
    pub commit: String,
    pub from_cache: bool,
    pub configs: Vec<String>,
    pub sizes: Vec<ConfigSize>,
    /// Why a source could not be used (e.g. the viewer unreachable).
    pub notes: Vec<String>,
}

/// `datasets.utils.py_utils.size_str`: binary units, two decimals; 0 or unknown is
/// `Unknown size`.
pub fn size_str(bytes: Option<u64>) -> String {
    let Some(b) = bytes.filter(|b| *b > 0) else { return "Unknown size".into() };
    const UNITS: &[(&str, u64)] =
        &[("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, unit) in UNITS {
        let v = b as f64 / *unit as f64;
        if v >= 1.0 {
            return format!("{v:.2} {name}");
        }
    }
    format!("{b} bytes")
}

/// The viewer's `/size` for a dataset: per config and per split.
#[derive(Debug, Default)]
struct ViewerSizes {
    configs: Vec<(String, Option<u64>, Option<u64>)>,
    splits: Vec<(String, String, Option<u64>, Option<u64>)>,
    partial: bool,
}

async fn viewer_sizes(hub: &Hub, viewer: &str, dataset: &str) -> std::result::Result<ViewerSizes, String> {
    let url = format!("{}/size?dataset={}", viewer.trim_end_matches('/'), dataset);
    let (status, _, body) =
        crate::storage::retry::send(&format!("GET {url}"), || hub.get(&url)).await.map_err(|o| {
            use crate::storage::retry::{HttpFailure, Outcome};
            match o {
                Outcome::Failed(HttpFailure::Transport(e)) => format!(
                    "dataset viewer at {viewer} not reachable ({})",
                    if e.is_timeout() { "timed out" } else { "connection failed" }
                ),
                Outcome::Failed(f) => format!("dataset viewer at {viewer} answered {f}"),
                Outcome::Exhausted { last, .. } => {
                    format!("dataset viewer at {viewer} kept failing ({last})")
                }
            }
        })?;
    if !status.is_success() {
        return Err(format!("dataset viewer at {viewer} answered HTTP {} for `{dataset}`", status.as_u16()));
    }
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| format!("dataset viewer answer is not JSON: {e}"))?;
    let size = &v["size"];
    let mut out = ViewerSizes { partial: v["partial"].as_bool().unwrap_or(false), ..Default::default() };
    for c in size["configs"].as_array().into_iter().flatten() {
        let Some(name) = c["config"].as_str() else { continue };
        out.configs.push((
            name.to_string(),
            c["num_bytes_original_files"].as_u64(),
            c["num_bytes_memory"].as_u64(),
        ));
    }
    if let Some(c) = size.get("config").and_then(|c| c["config"].as_str()) {
        let c0 = &size["config"];
        out.configs.push((
            c.to_string(),
            c0["num_bytes_original_files"].as_u64(),
            c0["num_bytes_memory"].as_u64(),
        ));
    }
    for s in size["splits"].as_array().into_iter().flatten() {
        let (Some(c), Some(n)) = (s["config"].as_str(), s["split"].as_str()) else { continue };
        out.splits.push((
            c.to_string(),
            n.to_string(),
            s["num_rows"].as_u64(),
            s["num_bytes_memory"].as_u64(),
        ));
    }
    Ok(out)
}

/// Build the report for `config` (or every config).
pub async fn report(
    hub: &Hub,
    snap: &RepoSnapshot,
    parquet_branch: Option<&RepoSnapshot>,
    only_config: Option<&str>,
    viewer: Option<&str>,
) -> Result<SizeReport> {
    let card = Card::parse(&snap.card)?;
    let (configs, chosen) = configs(&card, snap, parquet_branch, only_config)?;
    let mut notes = Vec::new();
    let need_viewer = chosen.iter().any(|c| {
        card.info(c)
            .is_none_or(|i| i.download_size.is_none() || i.dataset_size.is_none() || i.splits.is_empty())
    });
    let viewer_data = match viewer {
        Some(v) if need_viewer && !hub.env.offline && snap.revision == "main" => {
            viewer_sizes(hub, v, &snap.repo).await.map_err(|e| notes.push(e)).ok()
        }
        Some(_) if need_viewer && snap.revision != "main" => {
            notes.push(format!("the dataset viewer only knows `main`, not revision `{}`", snap.revision));
            None
        }
        _ => None,
    };
    let mut sizes = Vec::new();
    for config in &chosen {
        let mut split_files: Vec<SplitFiles> = files::map_config(&card, config, &snap.files)?;
        if split_files.iter().all(|s| s.files.is_empty())
            && let Some(pb) = parquet_branch
        {
            split_files = files::map_parquet_branch(config, &pb.files);
        }
        sizes.push(config_size(&card, config, &split_files, viewer_data.as_ref()));
    }
    Ok(SizeReport {
        dataset: snap.repo.clone(),
        revision: snap.revision.clone(),
        commit: snap.sha.clone(),
        from_cache: snap.from_cache,
        configs,
        sizes,
        notes,
    })
}

/// Every config of the dataset (card, else the parquet branch, else `default`), and the ones
/// to report.
fn configs(
    card: &Card,
    snap: &RepoSnapshot,
    parquet_branch: Option<&RepoSnapshot>,
    only_config: Option<&str>,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut configs = card.config_names();
    if configs.is_empty()
        && let Some(pb) = parquet_branch
    {
        configs = files::parquet_branch_configs(&pb.files);
    }
    if configs.is_empty() {
        configs.push(super::card::DEFAULT_CONFIG.to_string());
    }
    let chosen: Vec<String> = match only_config {
        Some(c) => vec![
            card.choose_config(Some(c), &snap.repo)
                .or_else(|e| if configs.iter().any(|x| x == c) { Ok(c.to_string()) } else { Err(e) })?,
        ],
        None => configs.clone(),
    };
    Ok((configs, chosen))
}

/// One config's figures, each from the best source that has it.
fn config_size(
    card: &Card,
    config: &str,
    split_files: &[SplitFiles],
    viewer: Option<&ViewerSizes>,
) -> ConfigSize {
    let info = card.info(config);
    let tree_total: u64 = split_files.iter().map(SplitFiles::bytes).sum();
    let v_conf = viewer.and_then(|v| v.configs.iter().find(|c| c.0 == *config));
    let download_size = match (info.and_then(|i| i.download_size), v_conf.and_then(|c| c.1)) {
        (Some(b), _) => Figure::new(Some(b), Source::Card),
        (None, Some(b)) => Figure::new(Some(b), Source::Viewer),
        _ if tree_total > 0 => Figure::new(Some(tree_total), Source::Tree),
        _ => Figure::unknown(),
    };
    let dataset_size = match (info.and_then(|i| i.dataset_size), v_conf.and_then(|c| c.2)) {
        (Some(b), _) => Figure::new(Some(b), Source::Card),
        (None, Some(b)) => Figure::new(Some(b), Source::Viewer),
        _ => Figure::unknown(),
    };
    let files = split_files
        .iter()
        .flat_map(|s| {
            s.files.iter().map(|f| FileRow {
                path: f.path.clone(),
                size: f.size,
                human: size_str(Some(f.size)),
                split: s.split.clone(),
            })
        })
        .collect();
    ConfigSize {
        config: config.to_string(),
        download_size,
        dataset_size,
        splits: split_sizes(info, config, split_files, viewer),
        files,
        partial: viewer.is_some_and(|v| v.partial) || split_files.iter().any(|s| s.partial),
    }
}

/// Rows and bytes per split: the card's splits, then the viewer's, then those of the files.
fn split_sizes(
    info: Option<&ConfigInfo>,
    config: &str,
    split_files: &[SplitFiles],
    viewer: Option<&ViewerSizes>,
) -> Vec<SplitSize> {
    let mut names: Vec<String> =
        info.map(|i| i.splits.iter().map(|s| s.name.clone()).collect()).unwrap_or_default();
    if let Some(v) = viewer {
        for s in v.splits.iter().filter(|s| s.0 == *config) {
            if !names.contains(&s.1) {
                names.push(s.1.clone());
            }
        }
    }
    for s in split_files {
        if !names.contains(&s.split) {
            names.push(s.split.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let card_split = info.and_then(|i| i.splits.iter().find(|s| s.name == name));
            let viewer_split = viewer.and_then(|v| v.splits.iter().find(|s| s.0 == *config && s.1 == name));
            let (num_rows, num_bytes, source) = match (card_split, viewer_split) {
                (Some(c), _) if c.num_examples.is_some() || c.num_bytes.is_some() => {
                    (c.num_examples, c.num_bytes, Some(Source::Card))
                }
                (_, Some(v)) => (v.2, v.3, Some(Source::Viewer)),
                _ => (None, None, None),
            };
            SplitSize { name, num_rows, num_bytes, human: size_str(num_bytes), source }
        })
        .collect()
}

impl SizeReport {
    /// The human rendering.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "dataset {} at {} (commit {}){}",
            self.dataset,
            self.revision,
            self.commit,
            if self.from_cache { ", from the local cache" } else { "" }
        );
        let _ = writeln!(o, "configs: {}", self.configs.join(", "));
        for c in &self.sizes {
            let _ = writeln!(
                o,
                "\nconfig {}{}",
                c.config,
                if c.partial { " (partial: estimated from part of the data)" } else { "" }
            );
            let src = |f: &Figure| f.source.map(|s| format!(" ({})", s.describe())).unwrap_or_default();
            let _ = writeln!(o, "  download size: {}{}", c.download_size.human, src(&c.download_size));
            let _ = writeln!(o, "  dataset size:  {}{}", c.dataset_size.human, src(&c.dataset_size));
            if !c.splits.is_empty() {
                let _ = writeln!(o, "  splits:");
                let w = c.splits.iter().map(|s| s.name.len()).max().unwrap_or(0);
                for s in &c.splits {
                    let rows = s
                        .num_rows
                        .map(|n| format!("{} rows", thousands(n)))
                        .unwrap_or_else(|| "unknown rows".into());
                    let _ = writeln!(
                        o,
                        "    {:<w$}  {:>16}  {:>12}{}",
                        s.name,
                        rows,
                        s.human,
                        s.source.map(|x| format!("  ({})", x.describe())).unwrap_or_default()
                    );
                }
            }
            if !c.files.is_empty() {
                let _ = writeln!(o, "  data files:");
                let w = c.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
                for f in &c.files {
                    let _ = writeln!(o, "    {:<w$}  {:>12}  {}", f.path, f.human, f.split);
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(o, "\nnote: {n}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_datasets() {
        assert_eq!(size_str(Some(83_446_840)), "79.58 MiB");
        assert_eq!(size_str(Some(133_190_302)), "127.02 MiB");
        assert_eq!(size_str(None), "Unknown size");
        assert_eq!(size_str(Some(0)), "Unknown size");
        assert_eq!(size_str(Some(512)), "512 bytes");
        assert_eq!(size_str(Some(2048)), "2.00 KiB");
        assert_eq!(thousands(25000), "25,000");
        assert_eq!(thousands(100), "100");
    }
}
