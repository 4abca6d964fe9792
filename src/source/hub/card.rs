//! The dataset card (`README.md` YAML front matter, which the Hub returns parsed as `cardData`):
//! `configs` (which files make which split) and `dataset_info` (features, split sizes,
//! `download_size`, `dataset_size`), either a map (one config) or a list with one entry per
//! `config_name`. Feature lists follow `datasets`' YAML form (`Features._to_yaml_list`).

use serde_json::Value;

use crate::error::{Error, Result};

/// The name `datasets` gives a config the card does not name.
pub const DEFAULT_CONFIG: &str = "default";

/// One entry of the card's `configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSpec {
    pub name: String,
    /// `(split, patterns)` in card order; empty when the config lists no `data_files`.
    pub data_files: Vec<(String, Vec<String>)>,
    /// `default: true`.
    pub default: bool,
}

/// One split of `dataset_info.splits`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SplitInfo {
    pub name: String,
    pub num_bytes: Option<u64>,
    pub num_examples: Option<u64>,
}

/// One entry of the card's `dataset_info`.
#[derive(Debug, Clone, Default)]
pub struct ConfigInfo {
    pub config_name: String,
    /// `(feature name, ClassLabel names in id order)` for the top-level ClassLabel features.
    pub class_labels: Vec<(String, Vec<String>)>,
    pub splits: Vec<SplitInfo>,
    pub download_size: Option<u64>,
    pub dataset_size: Option<u64>,
}

/// The parts of the card delta-hf uses.
#[derive(Debug, Clone, Default)]
pub struct Card {
    pub configs: Vec<ConfigSpec>,
    pub infos: Vec<ConfigInfo>,
}

impl Card {
    /// Parse `cardData` (`null` gives an empty card).
    pub fn parse(card: &Value) -> Result<Card> {
        let mut out = Card::default();
        if let Some(configs) = card.get("configs").and_then(Value::as_array) {
            for c in configs {
                let name = c.get("config_name").and_then(Value::as_str).unwrap_or(DEFAULT_CONFIG).to_string();
                let default = c.get("default").and_then(Value::as_bool).unwrap_or(false);
                let data_files = match c.get("data_files") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => parse_data_files(v).map_err(|why| {
                        Error::Hub(format!(
                            "the dataset card's config `{name}` has unusable data_files: {why}"
                        ))
                    })?,
                };
                out.configs.push(ConfigSpec { name, data_files, default });
            }
        }
        match card.get("dataset_info") {
            Some(Value::Array(list)) => out.infos.extend(list.iter().map(parse_info)),
            Some(v @ Value::Object(_)) => out.infos.push(parse_info(v)),
            _ => {}
        }
        Ok(out)
    }

    /// Every config name: the card's `configs`, else `dataset_info`'s, else none.
    pub fn config_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.configs.iter().map(|c| c.name.clone()).collect();
        for i in &self.infos {
            if !names.contains(&i.config_name) {
                names.push(i.config_name.clone());
            }
        }
        names
    }

    /// The `dataset_info` entry of `config`.
    pub fn info(&self, config: &str) -> Option<&ConfigInfo> {
        self.infos.iter().find(|i| i.config_name == config)
    }

    /// The `configs` entry of `config`.
    pub fn config(&self, config: &str) -> Option<&ConfigSpec> {
        self.configs.iter().find(|c| c.name == config)
    }

    /// Which config to use: the one asked for, else the `default: true` one, else the only one,
    /// else `default` when the card names none. Several and no choice is a usage error.
    pub fn choose_config(&self, asked: Option<&str>, repo: &str) -> Result<String> {
        let names = self.config_names();
        if let Some(a) = asked {
            if names.is_empty() && a == DEFAULT_CONFIG || names.iter().any(|n| n == a) {
                return Ok(a.to_string());
            }
            return Err(Error::Usage(format!(
                "config `{a}` not found in dataset `{repo}`; available: {}",
                if names.is_empty() { DEFAULT_CONFIG.to_string() } else { names.join(", ") }
            )));
        }
        if let Some(c) = self.configs.iter().find(|c| c.default) {
            return Ok(c.name.clone());
        }
        match names.as_slice() {
            [] => Ok(DEFAULT_CONFIG.to_string()),
            [one] => Ok(one.clone()),
            many => Err(Error::Usage(format!(
                "dataset `{repo}` has {} configs: {}; pick one with --config",
                many.len(),
                many.join(", ")
            ))),
        }
    }
}

/// `data_files`: a pattern, a list of patterns (both meaning `train`), a list of
/// `{split, path}` (path a pattern or a list), or a map split → pattern(s).
fn parse_data_files(v: &Value) -> std::result::Result<Vec<(String, Vec<String>)>, String> {
    let patterns = |v: &Value| -> std::result::Result<Vec<String>, String> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("`{x}` is not a path pattern")))
                .collect(),
            other => Err(format!("`{other}` is not a path pattern or a list of them")),
        }
    };
    match v {
        Value::String(_) => Ok(vec![("train".into(), patterns(v)?)]),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(vec![("train".into(), patterns(v)?)]),
        Value::Array(items) => {
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            for item in items {
                let split = item.get("split").and_then(Value::as_str).unwrap_or("train").to_string();
                let path = item.get("path").ok_or_else(|| format!("entry `{item}` has no `path`"))?;
                let p = patterns(path)?;
                match out.iter_mut().find(|(s, _)| *s == split) {
                    Some((_, existing)) => existing.extend(p),
                    None => out.push((split, p)),
                }
            }
            Ok(out)
        }
        Value::Object(map) => map.iter().map(|(k, v)| Ok((k.clone(), patterns(v)?))).collect(),
        other => Err(format!("`{other}` is not a pattern, a list or a map")),
    }
}

fn parse_info(v: &Value) -> ConfigInfo {
    let config_name = v.get("config_name").and_then(Value::as_str).unwrap_or(DEFAULT_CONFIG).to_string();
    let splits = match v.get("splits") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| {
                Some(SplitInfo {
                    name: s.get("name")?.as_str()?.to_string(),
                    num_bytes: s.get("num_bytes").and_then(Value::as_u64),
                    num_examples: s.get("num_examples").and_then(Value::as_u64),
                })
            })
            .collect(),
        // The older map form: `splits: {train: {name, num_bytes, num_examples}}`.
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, s)| SplitInfo {
                name: k.clone(),
                num_bytes: s.get("num_bytes").and_then(Value::as_u64),
                num_examples: s.get("num_examples").and_then(Value::as_u64),
            })
            .collect(),
        _ => Vec::new(),
    };
    ConfigInfo {
        config_name,
        class_labels: class_labels(v.get("features")),
        splits,
        download_size: v.get("download_size").and_then(Value::as_u64),
        dataset_size: v.get("dataset_size").and_then(Value::as_u64),
    }
}

/// ClassLabel features, top-level or as the items of a list feature (`Sequence(ClassLabel)`,
/// multi-label datasets such as go_emotions): YAML list form
/// `[{name, class_label: {names: {"0": a}}}]` (also under `dtype`, `sequence` or `list`) or the
/// JSON form `{label: {_type: ClassLabel, names: [..]}}` (also as the `feature` of a
/// `Sequence` / `List`).
fn class_labels(features: Option<&Value>) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    match features {
        Some(Value::Array(list)) => {
            for f in list {
                let (Some(name), Some(cl)) = (f.get("name").and_then(Value::as_str), yaml_class_label(f))
                else {
                    continue;
                };
                if let Some(names) = names_of(cl.get("names")) {
                    out.push((name.to_string(), names));
                }
            }
        }
        Some(Value::Object(map)) => {
            for (name, f) in map {
                if let Some(names) = json_class_label(f).and_then(|cl| names_of(cl.get("names"))) {
                    out.push((name.clone(), names));
                }
            }
        }
        _ => {}
    }
    out
}

/// `datasets` writes `{name, dtype: {class_label: ...}}`; `class_label` beside `name` is
/// accepted too, and either inside `sequence:` / `list:` (a list of class labels).
fn yaml_class_label(f: &Value) -> Option<&Value> {
    fn direct(v: &Value) -> Option<&Value> {
        v.get("class_label")
            .or_else(|| v.get("sequence").and_then(|s| s.get("class_label")))
            .or_else(|| v.get("list").and_then(|s| s.get("class_label")))
    }
    f.get("dtype").and_then(direct).or_else(|| direct(f))
}

/// `{_type: ClassLabel}`, or a `Sequence` / `List` whose `feature` is one.
fn json_class_label(f: &Value) -> Option<&Value> {
    match f.get("_type").and_then(Value::as_str)? {
        "ClassLabel" => Some(f),
        "Sequence" | "List" | "LargeList" => {
            f.get("feature").filter(|i| i.get("_type").and_then(Value::as_str) == Some("ClassLabel"))
        }
        _ => None,
    }
}

/// ClassLabel names: a list, or a map id → name (ids `0..n`, any order).
fn names_of(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        Value::Object(m) => {
            let mut pairs: Vec<(u64, String)> = m
                .iter()
                .map(|(k, v)| Some((k.trim().parse().ok()?, v.as_str()?.to_string())))
                .collect::<Option<_>>()?;
            pairs.sort();
            pairs
                .iter()
                .enumerate()
                .all(|(i, (id, _))| *id == i as u64)
                .then(|| pairs.into_iter().map(|p| p.1).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn imdb_like_card() {
        let card = json!({
            "configs": [{"config_name": "plain_text", "data_files": [
                {"split": "train", "path": "plain_text/train-*"},
                {"split": "test", "path": "plain_text/test-*"}], "default": true}],
            "dataset_info": {"config_name": "plain_text",
                "features": [{"name": "text", "dtype": "string"},
                             {"name": "label", "dtype": {"class_label": {"names": {"0": "neg", "1": "pos"}}}}],
                "splits": [{"name": "train", "num_bytes": 33432823, "num_examples": 25000}],
                "download_size": 83446840, "dataset_size": 133190302}
        });
        let c = Card::parse(&card).unwrap();
        assert_eq!(c.choose_config(None, "x").unwrap(), "plain_text");
        let i = c.info("plain_text").unwrap();
        assert_eq!(i.class_labels, vec![("label".to_string(), vec!["neg".to_string(), "pos".to_string()])]);
        assert_eq!(i.download_size, Some(83446840));
        assert_eq!(c.configs[0].data_files[1], ("test".to_string(), vec!["plain_text/test-*".to_string()]));
    }

    #[test]
    fn several_configs_need_a_choice() {
        let card = json!({"configs": [{"config_name": "a", "data_files": "a/*.parquet"},
                                      {"config_name": "b", "data_files": "b/*.parquet"}]});
        let c = Card::parse(&card).unwrap();
        assert!(c.choose_config(None, "x").unwrap_err().to_string().contains("a, b"));
        assert_eq!(c.choose_config(Some("b"), "x").unwrap(), "b");
        assert!(c.choose_config(Some("z"), "x").is_err());
        assert_eq!(c.configs[0].data_files, vec![("train".to_string(), vec!["a/*.parquet".to_string()])]);
    }

    #[test]
    fn class_labels_inside_lists() {
        let yaml: Value = serde_json::from_str(
            r#"[{"name": "labels", "sequence": {"class_label": {"names": {"0": "anger", "1": "joy"}}}},
                {"name": "tags", "dtype": {"list": {"class_label": {"names": ["O", "B-PER"]}}}},
                {"name": "text", "dtype": "string"}]"#,
        )
        .unwrap();
        assert_eq!(
            class_labels(Some(&yaml)),
            vec![
                ("labels".into(), vec!["anger".into(), "joy".into()]),
                ("tags".into(), vec!["O".into(), "B-PER".into()])
            ]
        );
        let json: Value = serde_json::from_str(
            r#"{"labels": {"_type": "Sequence", "feature": {"_type": "ClassLabel", "names": ["a", "b"]}},
                "ids": {"_type": "Sequence", "feature": {"_type": "Value", "dtype": "int64"}}}"#,
        )
        .unwrap();
        assert_eq!(class_labels(Some(&json)), vec![("labels".into(), vec!["a".into(), "b".into()])]);
    }
}
