//! Stage 0: turn parsed flags into one validated settings struct, without doing any I/O on the
//! tables themselves (ripgrep's low-args → high-args split). Everything `prepare` needs to know
//! is here; the pipeline never looks at raw flags.

use std::path::PathBuf;

use crate::cli::{LabelMapMode, LabelOrder, PrepareArgs, StorageArgs};
use crate::error::{Error, Result};
use crate::sink::remote::OutputSpec;
use crate::source::labels_from::LabelsFrom;
use crate::source::table::{Pin, TableRef, parse_timestamp};
use crate::source::tokenizer::TokenizerSpec;
use crate::transform::tokenize::{ATTENTION_MASK, INPUT_IDS, TOKEN_TYPE_IDS, TokenizeOptions};

/// One split to export.
#[derive(Debug, Clone)]
pub struct SplitInput {
    /// The split name (`train`, `test`, ...).
    pub name: String,
    /// Its table, pinned if asked.
    pub table: TableRef,
}

/// How each split is cut into shard files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardPolicy {
    /// Start a new shard before one would exceed this many bytes.
    MaxBytes(u64),
    /// Exactly this many shards, rows spread as evenly as possible.
    Count(usize),
}

/// The columns of a labelled export.
#[derive(Debug, Clone)]
pub struct Columns {
    pub text: String,
    pub label: String,
    pub keep: Vec<String>,
}

/// Everything `prepare` needs, validated.
#[derive(Debug, Clone)]
pub struct PrepareSettings {
    pub splits: Vec<SplitInput>,
    pub columns: Columns,
    /// The `--select-sql` file and its text.
    pub select_sql: Option<(PathBuf, String)>,
    /// `false` with `--no-labels`.
    pub with_labels: bool,
    pub label_order: LabelOrder,
    /// The `--labels` file and the labels it lists, in order.
    pub labels_file: Option<(PathBuf, Vec<String>)>,
    /// `--labels-from`: resolved (read) when the run starts.
    pub labels_from: Option<LabelsFrom>,
    pub output: Option<OutputSpec>,
    pub shards: ShardPolicy,
    pub label_table: Option<TableRef>,
    /// Where a new Unity Catalog label table is created.
    pub label_table_location: Option<String>,
    /// Storage options and Databricks profile.
    pub storage: StorageArgs,
    pub label_map_mode: LabelMapMode,
    pub working_dir: Option<PathBuf>,
    pub overwrite: bool,
    pub fsync: bool,
    pub drop_nulls: bool,
    pub require_train_labels: bool,
    pub memory_limit: Option<usize>,
    /// `--tokenizer` and how to tokenize (`--max-length`, `--padding`, `--text-pair-col`,
    /// `--drop-text`); the tokenizer is read when the run starts.
    pub tokenizer: Option<(TokenizerSpec, TokenizeOptions)>,
    pub json: bool,
    pub quiet: bool,
}

/// The output column names of a labelled export.
pub const TEXT: &str = "text";
pub const LABEL: &str = "label";

impl PrepareSettings {
    /// Validate the flags. Reads the small `--labels` and `--select-sql` files; touches no table.
    pub fn from_args(a: PrepareArgs) -> Result<Self> {
        let global_pin = match (&a.version, &a.timestamp) {
            (Some(v), _) => Some(Pin::Version(*v)),
            (None, Some(t)) => Some(Pin::Timestamp(parse_timestamp(t)?)),
            (None, None) => None,
        };
        let mut specs: Vec<(String, String)> = Vec::new();
        if let Some(t) = &a.train {
            specs.push(("train".into(), t.clone()));
        }
        if let Some(t) = &a.eval {
            specs.push(("test".into(), t.clone()));
        }
        for s in &a.splits {
            let (name, table) = s.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--split `{s}` must be NAME=TABLE, e.g. --split train=/data/reviews_train"
                ))
            })?;
            specs.push((name.trim().to_string(), table.trim().to_string()));
        }
        if specs.is_empty() {
            return Err(Error::Usage(
                "no split given: name at least one with --split NAME=TABLE (or --train/--eval)".into(),
            ));
        }
        let mut splits: Vec<SplitInput> = Vec::new();
        for (name, table) in specs {
            validate_split_name(&name)?;
            if splits.iter().any(|s| s.name == name) {
                return Err(Error::Usage(format!("split `{name}` is given more than once")));
            }
            let table = TableRef::parse(&table)?.with_default_pin(global_pin.as_ref());
            splits.push(SplitInput { name, table });
        }

        let shards = match a.num_shards {
            Some(0) => return Err(Error::Usage("--num-shards must be at least 1".into())),
            Some(n) => ShardPolicy::Count(n),
            None => ShardPolicy::MaxBytes(parse_size(&a.max_shard_size, "--max-shard-size")?),
        };
        if let ShardPolicy::MaxBytes(0) = shards {
            return Err(Error::Usage("--max-shard-size must be more than 0 bytes".into()));
        }

        let select_sql = match a.select_sql {
            Some(p) => {
                let sql = std::fs::read_to_string(&p)
                    .map_err(|e| Error::io("cannot read --select-sql file", &p, e))?;
                Some((p, sql))
            }
            None => None,
        };
        let labels_file = match a.labels {
            Some(p) => {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| Error::io("cannot read --labels file", &p, e))?;
                let labels = parse_labels_file(&text, &p)?;
                Some((p, labels))
            }
            None => None,
        };

        let columns = Columns { text: a.text_col, label: a.label_col, keep: a.keep_cols };
        if !a.no_labels {
            if columns.text == columns.label {
                return Err(Error::Usage(format!(
                    "--text-col and --label-col both name `{}`; they must differ",
                    columns.text
                )));
            }
            for k in &columns.keep {
                if k == TEXT || k == LABEL || *k == columns.text || *k == columns.label {
                    return Err(Error::Usage(format!(
                        "--keep-col `{k}` clashes with the text or label column; the export \
                         writes the text as `text` and the label as `label`"
                    )));
                }
            }
        } else if a.label_table.is_some() || labels_file.is_some() || a.labels_from.is_some() {
            return Err(Error::Usage(
                "--no-labels exports no label map: drop --label-table / --labels / --labels-from".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for k in &columns.keep {
            if !seen.insert(k) {
                return Err(Error::Usage(format!("--keep-col `{k}` is given more than once")));
            }
        }

        let label_table = a.label_table.as_deref().map(TableRef::parse_location).transpose()?;
        let labels_from = a.labels_from.as_deref().map(LabelsFrom::parse).transpose()?;
        let memory_limit = a
            .memory_limit
            .as_deref()
            .map(|s| parse_size(s, "--memory-limit").map(|n| n as usize))
            .transpose()?;

        let tokenizer = tokenize_settings(&a, &columns)?;

        Ok(PrepareSettings {
            splits,
            columns,
            select_sql,
            with_labels: !a.no_labels,
            label_order: a.label_order,
            labels_file,
            labels_from,
            output: a.output.as_deref().map(OutputSpec::parse).transpose()?,
            shards,
            label_table,
            label_table_location: a.label_table_location,
            storage: a.storage,
            label_map_mode: a.label_map_mode,
            working_dir: a.working_dir,
            overwrite: a.overwrite,
            fsync: a.fsync,
            drop_nulls: a.drop_nulls,
            require_train_labels: a.require_train_labels,
            memory_limit,
            tokenizer,
            json: a.json,
            quiet: a.quiet,
        })
    }
}

/// `--tokenizer` and its options, checked against the columns.
fn tokenize_settings(a: &PrepareArgs, columns: &Columns) -> Result<Option<(TokenizerSpec, TokenizeOptions)>> {
    let Some(src) = &a.tokenizer else { return Ok(None) };
    if a.max_length == Some(0) {
        return Err(Error::Usage("--max-length must be at least 1".into()));
    }
    if let Some(p) = &a.text_pair_col {
        let clash = p == &columns.text || (!a.no_labels && (p == &columns.label || p == TEXT || p == LABEL));
        if clash {
            return Err(Error::Usage(format!(
                "--text-pair-col `{p}` names the text or label column; it must be another column"
            )));
        }
        if matches!(p.as_str(), INPUT_IDS | TOKEN_TYPE_IDS | ATTENTION_MASK) {
            return Err(Error::Usage(format!("--text-pair-col `{p}` clashes with a token column")));
        }
    }
    let options = TokenizeOptions {
        max_length: a.max_length,
        padding: a.padding,
        pair_col: a.text_pair_col.clone(),
        drop_text: a.drop_text,
    };
    Ok(Some((TokenizerSpec::parse(src)?, options)))
}

/// `datasets` requires split names matching `^\w+(\.\w+)*$`.
fn validate_split_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "split name `{name}` is not valid for `datasets`: use letters, digits and `_`, \
             optionally dot-separated (e.g. `train`, `validation`, `test.small`)"
        )))
    }
}

/// One label per line; blank lines and surrounding whitespace ignored; duplicates refused.
pub fn parse_labels_file(text: &str, path: &std::path::Path) -> Result<Vec<String>> {
    let mut labels = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if !seen.insert(l.to_string()) {
            return Err(Error::Usage(format!(
                "--labels file `{}` lists `{l}` twice (line {})",
                path.display(),
                i + 1
            )));
        }
        labels.push(l.to_string());
    }
    if labels.is_empty() {
        return Err(Error::Usage(format!("--labels file `{}` lists no label", path.display())));
    }
    Ok(labels)
}

/// Parse a size the way `datasets` does: `500MB` (decimal), `256MiB` (binary), `1GB`, `2KiB`,
/// or plain bytes. Units are case-insensitive; fractions allowed (`1.5GB`).
pub fn parse_size(s: &str, flag: &str) -> Result<u64> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    const UNITS: &[(&str, f64)] = &[
        ("PIB", 1125899906842624.0),
        ("TIB", 1099511627776.0),
        ("GIB", 1073741824.0),
        ("MIB", 1048576.0),
        ("KIB", 1024.0),
        ("PB", 1e15),
        ("TB", 1e12),
        ("GB", 1e9),
        ("MB", 1e6),
        ("KB", 1e3),
        ("B", 1.0),
    ];
    let (num, mult) = UNITS
        .iter()
        .find_map(|(u, m)| upper.strip_suffix(u).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((upper.clone(), 1.0));
    let value: f64 = num.parse().map_err(|_| {
        Error::Usage(format!("{flag} `{s}` is not a size; use e.g. `500MB`, `256MiB` or bytes"))
    })?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::Usage(format!("{flag} `{s}` must be a positive size")));
    }
    Ok((value * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_datasets() {
        assert_eq!(parse_size("500MB", "x").unwrap(), 500_000_000);
        assert_eq!(parse_size("1MiB", "x").unwrap(), 1_048_576);
        assert_eq!(parse_size("1.5gb", "x").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("1234", "x").unwrap(), 1234);
        assert!(parse_size("lots", "x").is_err());
    }

    #[test]
    fn split_names() {
        assert!(validate_split_name("train").is_ok());
        assert!(validate_split_name("test.small").is_ok());
        assert!(validate_split_name("my-split").is_err());
        assert!(validate_split_name("").is_err());
    }
}
