//! Which repo files make which split of a config — what `load_dataset` decides.
//!
//! 1. The card's `configs` entry for the config lists `data_files` (`{split, path}` patterns):
//!    a file belongs to a split when it matches one of its patterns (`*` never crosses `/`, `**`
//!    does).
//! 2. Otherwise the first rule that matches anything wins: `data/{split}-NNNNN-of-NNNNN*`; a
//!    split keyword as a directory name; a split keyword in the file name (between separators
//!    `-._ `, digits or the ends); else every data file is `train`.
//!
//! Keywords: train/training → `train`; validation/valid/dev/val → `validation`;
//! test/testing/eval/evaluation → `test`. Hidden files, `README.md`, `dataset_info.json`,
//! `.gitattributes` and scripts are never data.
//!
//! The `refs/convert/parquet` branch has its own layout: `{config}/{split}/NNNN.parquet`, and
//! `{config}/partial-{split}/` for conversions of the first ~5 GB only.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::card::{Card, DEFAULT_CONFIG};
use crate::error::{Error, Result};
use crate::storage::hub::client::HubFile;

/// The parquet branch, the Hub's own conversion of every config.
pub const PARQUET_BRANCH: &str = "refs/convert/parquet";

/// The files of one split, in path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFiles {
    pub split: String,
    pub files: Vec<HubFile>,
    /// Only part of the split (a `partial-` Parquet conversion).
    pub partial: bool,
}

impl SplitFiles {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

const KEYWORDS: &[(&str, &[&str])] = &[
    ("train", &["train", "training"]),
    ("validation", &["validation", "valid", "dev", "val"]),
    ("test", &["test", "testing", "eval", "evaluation"]),
];

/// Whether `path` can hold data (not metadata, not hidden, not a script).
pub fn is_data_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    !(path.split('/').any(|c| c.starts_with('.') || c.starts_with("__"))
        || name.eq_ignore_ascii_case("README.md")
        || name == "dataset_info.json"
        || name == "dataset_infos.json"
        || name.ends_with(".py"))
}

/// The splits of `config` on the repo's own files.
pub fn map_config(card: &Card, config: &str, files: &[HubFile]) -> Result<Vec<SplitFiles>> {
    let data: Vec<&HubFile> = files.iter().filter(|f| is_data_file(&f.path)).collect();
    if let Some(spec) = card.config(config).filter(|c| !c.data_files.is_empty()) {
        let mut out = Vec::new();
        for (split, patterns) in &spec.data_files {
            let set = glob_set(patterns, config)?;
            let matched: Vec<HubFile> =
                data.iter().filter(|f| set.is_match(&f.path)).map(|f| (*f).clone()).collect();
            out.push(SplitFiles { split: split.clone(), files: matched, partial: false });
        }
        return Ok(out);
    }
    // A card config without data_files takes the files under a directory of its name, if any.
    let scoped: Vec<&HubFile> = if config != DEFAULT_CONFIG {
        let prefix = format!("{config}/");
        let under: Vec<&HubFile> = data.iter().copied().filter(|f| f.path.starts_with(&prefix)).collect();
        if under.is_empty() { data } else { under }
    } else {
        data
    };
    Ok(by_patterns(&scoped))
}

fn glob_set(patterns: &[String], config: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_start_matches("./");
        let g = GlobBuilder::new(p).literal_separator(true).build().map_err(|e| {
            Error::Hub(format!(
                "the dataset card's config `{config}` has an invalid data_files pattern `{p}`: {e}"
            ))
        })?;
        b.add(g);
    }
    b.build().map_err(|e| Error::Hub(format!("config `{config}`: {e}")))
}

/// The standard file-name rules.
fn by_patterns(files: &[&HubFile]) -> Vec<SplitFiles> {
    // 1. data/{split}-NNNNN-of-NNNNN*
    let mut sharded: Vec<SplitFiles> = Vec::new();
    for f in files {
        let Some(rest) = f.path.strip_prefix("data/") else { continue };
        if rest.contains('/') {
            continue;
        }
        if let Some(split) = sharded_split(rest) {
            push(&mut sharded, split, f);
        }
    }
    if !sharded.is_empty() {
        return sharded;
    }
    // 2. a keyword as a directory name; 3. a keyword in the file name.
    for in_dir in [true, false] {
        let mut out: Vec<SplitFiles> = Vec::new();
        for (split, words) in KEYWORDS {
            for f in files {
                let (dirs, name) = match f.path.rsplit_once('/') {
                    Some((d, n)) => (d, n),
                    None => ("", f.path.as_str()),
                };
                let hit = if in_dir {
                    dirs.split('/').any(|d| words.iter().any(|w| keyword_at_start(d, w)))
                } else {
                    words.iter().any(|w| keyword_in_name(name, w))
                };
                if hit {
                    push(&mut out, split, f);
                }
            }
        }
        if !out.is_empty() {
            return out;
        }
    }
    // 4. everything is train.
    if files.is_empty() {
        return Vec::new();
    }
    vec![SplitFiles {
        split: "train".into(),
        files: files.iter().map(|f| (*f).clone()).collect(),
        partial: false,
    }]
}

fn push(out: &mut Vec<SplitFiles>, split: &str, f: &HubFile) {
    match out.iter_mut().find(|s| s.split == split) {
        Some(s) => s.files.push(f.clone()),
        None => out.push(SplitFiles { split: split.to_string(), files: vec![f.clone()], partial: false }),
    }
}

/// `train-00000-of-00002.parquet` → `train`.
fn sharded_split(name: &str) -> Option<&str> {
    let (split, rest) = name.split_once('-')?;
    let b = rest.as_bytes();
    let ok = b.len() >= 14
        && b[..5].iter().all(u8::is_ascii_digit)
        && &b[5..9] == b"-of-"
        && b[9..14].iter().all(u8::is_ascii_digit);
    (ok && !split.is_empty() && split.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(split)
}

fn is_sep(c: char) -> bool {
    matches!(c, '-' | '_' | '.' | ' ') || c.is_ascii_digit()
}

/// `train`, `train-x`, `train_2` as a directory name.
fn keyword_at_start(dir: &str, word: &str) -> bool {
    let d = dir.to_ascii_lowercase();
    d == word || (d.starts_with(word) && d[word.len()..].starts_with(is_sep))
}

/// `word` in a file name between separators, digits or the ends.
fn keyword_in_name(name: &str, word: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let mut start = 0;
    while let Some(pos) = n[start..].find(word) {
        let i = start + pos;
        let before_ok = i == 0 || n[..i].ends_with(is_sep);
        let after = &n[i + word.len()..];
        let after_ok = after.is_empty() || after.starts_with(is_sep);
        if before_ok && after_ok {
            return true;
        }
        start = i + word.len();
    }
    false
}

/// The splits of `config` on the `refs/convert/parquet` branch.
pub fn map_parquet_branch(config: &str, files: &[HubFile]) -> Vec<SplitFiles> {
    let prefix = format!("{config}/");
    let mut out: Vec<SplitFiles> = Vec::new();
    for f in files {
        let Some(rest) = f.path.strip_prefix(&prefix) else { continue };
        let Some((dir, name)) = rest.split_once('/') else { continue };
        if name.contains('/') || !name.ends_with(".parquet") {
            continue;
        }
        let (split, partial) = match dir.strip_prefix("partial-") {
            Some(s) => (s, true),
            None => (dir, false),
        };
        match out.iter_mut().find(|s| s.split == split) {
            Some(s) => s.files.push(f.clone()),
            None => out.push(SplitFiles { split: split.to_string(), files: vec![f.clone()], partial }),
        }
    }
    out
}

/// Configs present on the `refs/convert/parquet` branch.
pub fn parquet_branch_configs(files: &[HubFile]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in files {
        if let Some((c, rest)) = f.path.split_once('/')
            && rest.ends_with(".parquet")
            && !out.iter().any(|x| x == c)
        {
            out.push(c.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &str) -> HubFile {
        HubFile { path: p.into(), size: 1, sha256: None }
    }

    fn splits(v: &[SplitFiles]) -> Vec<(String, Vec<String>)> {
        v.iter().map(|s| (s.split.clone(), s.files.iter().map(|f| f.path.clone()).collect())).collect()
    }

    #[test]
    fn standard_patterns() {
        let files = [
            f("README.md"),
            f("data/train-00000-of-00002.parquet"),
            f("data/train-00001-of-00002.parquet"),
            f("data/test-00000-of-00001.parquet"),
        ];
        let s = map_config(&Card::default(), "default", &files).unwrap();
        assert_eq!(s[0].split, "train");
        assert_eq!(s[0].files.len(), 2);
        assert_eq!(s[1].split, "test");
        let files = [f("train.csv"), f("dev.csv"), f("my_test_1.csv"), f(".gitattributes")];
        let s = map_config(&Card::default(), "default", &files).unwrap();
        assert_eq!(
            splits(&s),
            vec![
                ("train".into(), vec!["train.csv".into()]),
                ("validation".into(), vec!["dev.csv".into()]),
                ("test".into(), vec!["my_test_1.csv".into()])
            ]
        );
        let files = [f("training/a.parquet"), f("eval/b.parquet")];
        let s = map_config(&Card::default(), "default", &files).unwrap();
        assert_eq!(splits(&s)[1], ("test".into(), vec!["eval/b.parquet".into()]));
        let s = map_config(&Card::default(), "default", &[f("contest.parquet"), f("x.parquet")]).unwrap();
        assert_eq!(splits(&s), vec![("train".into(), vec!["contest.parquet".into(), "x.parquet".into()])]);
    }

    #[test]
    fn card_patterns_do_not_cross_directories() {
        let card = Card::parse(&serde_json::json!({"configs": [{"config_name": "a",
            "data_files": [{"split": "train", "path": "a/*.parquet"}, {"split": "test", "path": "a/**/test*"}]}]}))
        .unwrap();
        let files = [f("a/x.parquet"), f("a/sub/y.parquet"), f("a/sub/test-1.parquet")];
        let s = map_config(&card, "a", &files).unwrap();
        assert_eq!(splits(&s)[0], ("train".into(), vec!["a/x.parquet".into()]));
        assert_eq!(splits(&s)[1], ("test".into(), vec!["a/sub/test-1.parquet".into()]));
    }

    #[test]
    fn parquet_branch() {
        let files = [
            f("a/train/0000.parquet"),
            f("a/train/0001.parquet"),
            f("a/partial-test/0000.parquet"),
            f("b/train/0000.parquet"),
        ];
        let s = map_parquet_branch("a", &files);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].files.len(), 2);
        assert!(s[1].partial && s[1].split == "test");
        assert_eq!(parquet_branch_configs(&files), vec!["a", "b"]);
    }
}
