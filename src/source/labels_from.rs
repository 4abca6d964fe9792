//! `prepare --labels-from`: a label order taken from elsewhere, so ids match a published
//! dataset.
//!
//! - `hf://datasets/OWNER/NAME[@REVISION][:CONFIG]` — the ClassLabel names in the card's
//!   `dataset_info` for CONFIG (default: the card's default or only config) at REVISION
//!   (default `main`), read through the Hub (or the cache: see [`crate::storage::hub::client`]);
//! - any other value is a Delta table (same syntax as `--label-table`): a label table (`id`,
//!   `label`), or a table written by `delta-hf pull` (`delta_hf.class_labels` in its latest
//!   commit's metadata).
//!
//! With several ClassLabel features, the one named like `--label-col` is used. Either way, and
//! for `--labels FILE`, the result is a [`ListedLabels`]: the list in id order and where it came
//! from, which the label pass checks the rows against.

use crate::error::{Error, Result};
use crate::source::hub::card::Card;
use crate::source::table;
use crate::storage::connector::Connector;
use crate::storage::hub::client::{Hub, HubEnv, validate_repo_id};
use crate::storage::label_layout;
use crate::storage::location::TableRef;

/// Where `--labels-from` points.
#[derive(Debug, Clone)]
pub enum LabelsFrom {
    Card { spec: String, repo: String, revision: String, config: Option<String> },
    Table(TableRef),
}

impl LabelsFrom {
    /// Parse without I/O.
    pub fn parse(spec: &str) -> Result<Self> {
        if let Some(rest) = spec.strip_prefix("hf://") {
            let Some(rest) = rest.strip_prefix("datasets/") else {
                return Err(Error::Usage(format!(
                    "--labels-from `{spec}`: only dataset cards are supported, as \
                     hf://datasets/OWNER/NAME[@REVISION][:CONFIG]"
                )));
            };
            let (rest, config) = match rest.rsplit_once(':') {
                Some((r, c)) if !c.is_empty() => (r, Some(c.to_string())),
                _ => (rest, None),
            };
            let (repo, revision) = match rest.split_once('@') {
                Some((r, v)) if !v.is_empty() => (r, v.to_string()),
                _ => (rest, "main".to_string()),
            };
            validate_repo_id(repo).map_err(|_| {
                Error::Usage(format!("--labels-from `{spec}`: `{repo}` is not a dataset id (OWNER/NAME)"))
            })?;
            return Ok(LabelsFrom::Card { spec: spec.to_string(), repo: repo.to_string(), revision, config });
        }
        Ok(LabelsFrom::Table(TableRef::parse_location(spec)?))
    }

    pub fn spec(&self) -> &str {
        match self {
            LabelsFrom::Card { spec, .. } => spec,
            LabelsFrom::Table(t) => &t.name,
        }
    }

    /// The label names in id order.
    pub async fn resolve(&self, label_col: &str, cx: &Connector) -> Result<ListedLabels> {
        let labels = match self {
            LabelsFrom::Card { spec, repo, revision, config } => {
                let hub = Hub::new(HubEnv::from_env())?;
                let snap = hub.snapshot(repo, revision).await?;
                let card = Card::parse(&snap.card)?;
                let config = card.choose_config(config.as_deref(), repo)?;
                let features = card.info(&config).map(|i| i.class_labels.clone()).unwrap_or_default();
                pick(features, label_col).ok_or_else(|| {
                    Error::Hub(format!(
                        "--labels-from `{spec}`: the card of `{repo}` (config `{config}`, commit {}) has \
                         no ClassLabel feature{} in its dataset_info",
                        snap.sha,
                        if label_col.is_empty() {
                            String::new()
                        } else {
                            format!(" named `{label_col}` (or a single one)")
                        }
                    ))
                })?
            }
            LabelsFrom::Table(t) => {
                let opened = table::open(t, cx).await?;
                let cols = opened.column_names();
                if label_layout::matches(&cols) {
                    label_layout::names_of(&opened.table, &t.name, opened.version).await?
                } else {
                    let meta = opened.latest_metadata().await?;
                    let features: Vec<(String, Vec<String>)> = meta
                        .as_ref()
                        .and_then(|m| m.get("class_labels"))
                        .and_then(|c| c.as_object())
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| {
                                    let names = v
                                        .as_array()?
                                        .iter()
                                        .map(|x| x.as_str().map(str::to_string))
                                        .collect::<Option<Vec<_>>>()?;
                                    Some((k.clone(), names))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    pick(features, label_col).ok_or_else(|| {
                        t.unreadable(format!(
                            "--labels-from needs a label table (columns `id`, `label`) or a table \
                             written by `delta-hf pull` from a dataset with a ClassLabel `{label_col}`; \
                             this one has columns {} and no ClassLabel names in its latest commit",
                            cols.join(", ")
                        ))
                    })?
                }
            }
        };
        if labels.is_empty() {
            return Err(Error::Usage(format!("--labels-from `{}` gives no label", self.spec())));
        }
        Ok(ListedLabels {
            source: format!("the labels of --labels-from `{}`", self.spec()),
            hint: "ids must match that list: filter the rows with --select-sql, or drop --labels-from".into(),
            labels,
        })
    }
}

/// A fixed label list in id order (`--labels FILE` or `--labels-from`), and where it came from.
#[derive(Debug, Clone)]
pub struct ListedLabels {
    /// For messages: "the --labels file `x`", "--labels-from `hf://...`".
    pub source: String,
    /// What to do about a label outside the list.
    pub hint: String,
    pub labels: Vec<String>,
}

impl ListedLabels {
    /// The `--labels FILE` list.
    pub fn from_file(labels: Vec<String>) -> Self {
        ListedLabels {
            source: "the --labels file".into(),
            hint: "add it to the file (one per line) or filter the rows with --select-sql".into(),
            labels,
        }
    }
}

/// The ClassLabel named `label_col`, else the only one.
fn pick(mut features: Vec<(String, Vec<String>)>, label_col: &str) -> Option<Vec<String>> {
    if let Some(i) = features.iter().position(|(n, _)| n == label_col) {
        return Some(features.swap_remove(i).1);
    }
    (features.len() == 1).then(|| features.remove(0).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_specs() {
        match LabelsFrom::parse("hf://datasets/stanfordnlp/imdb@refs/convert/parquet:plain_text").unwrap() {
            LabelsFrom::Card { repo, revision, config, .. } => {
                assert_eq!(repo, "stanfordnlp/imdb");
                assert_eq!(revision, "refs/convert/parquet");
                assert_eq!(config.as_deref(), Some("plain_text"));
            }
            other => panic!("{other:?}"),
        }
        match LabelsFrom::parse("hf://datasets/imdb").unwrap() {
            LabelsFrom::Card { repo, revision, config, .. } => {
                assert_eq!((repo.as_str(), revision.as_str(), config), ("imdb", "main", None));
            }
            other => panic!("{other:?}"),
        }
        assert!(LabelsFrom::parse("hf://models/x").is_err());
        assert!(matches!(LabelsFrom::parse("/data/labels").unwrap(), LabelsFrom::Table(_)));
    }
}
