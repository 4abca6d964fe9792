//! The `save_to_disk` layout: one directory per split with Arrow IPC *stream* shards,
//! `state.json` and `dataset_info.json`, and `dataset_dict.json` at the root — what
//! `datasets.load_from_disk` opens (contract: `shared/docs/hf-datasets-format.md`).
//!
//! Guarantees:
//! - shards are uncompressed IPC streams named `data-XXXXX-of-YYYYY.arrow`, listed in row order
//!   in `state.json`; the schema carries the `huggingface` metadata with the same features as
//!   `dataset_info.json`; a stream finished with no batch (an empty split) is schema-only, which
//!   `datasets` loads;
//! - a fan-out task uploads its shards as `data-XXXXX.arrow` in its attempt folder, and
//!   `state.json` lists them there (paths relative to the split's folder);
//! - `state.json` gets a fresh random fingerprint on every write (`map()` caches key on it);
//! - publishing order: shards, then `dataset_info.json` and any other file, then each
//!   `state.json`, then `dataset_dict.json` — without it `load_from_disk` refuses the path, so a
//!   dataset is loadable exactly when it is complete;
//! - an existing output is one of ours when it has a `dataset_dict.json` or a `state.json` at
//!   its top (local), or any `dataset_dict.json`, `state.json` or `.arrow` file (remote).

use std::path::Path;

use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::ipc::writer::StreamWriter;
use deltalake::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::{EncoderSetup, FormatOptions, Layout, ShardEncoder, ShardSink, SplitOutput};
use crate::error::Result;
use crate::sink::hf_dataset::write_json;

/// The `save_to_disk` layout.
pub struct Arrow;

impl Layout for Arrow {
    fn extension(&self) -> &'static str {
        "arrow"
    }

    fn shard_schema(&self, schema: Schema, features: &Value) -> Schema {
        let hf_meta = json!({"info": {"features": features}}).to_string();
        schema.with_metadata([("huggingface".to_string(), hf_meta)].into())
    }

    fn encoder(
        &self,
        sink: ShardSink,
        schema: &SchemaRef,
        _: &EncoderSetup,
    ) -> Result<Box<dyn ShardEncoder>> {
        Ok(Box::new(IpcShard(StreamWriter::try_new(sink, schema)?)))
    }

    fn shard_name(&self, index: usize, count: usize, _: &FormatOptions) -> String {
        format!("data-{index:05}-of-{count:05}.arrow")
    }

    fn staged_shard_name(&self, index: usize, _: &FormatOptions) -> String {
        format!("data-{index:05}.arrow")
    }

    fn write_metadata(
        &self,
        root: &Path,
        outputs: &[(SplitOutput, Value)],
        description: &str,
        dataset_name: &str,
    ) -> Result<()> {
        let all: Vec<_> = outputs.iter().map(|(o, _)| o.clone()).collect();
        for (out, features) in outputs {
            write_split_metadata(root, out, &all, features, description, dataset_name)?;
        }
        let split_names: Vec<String> = all.iter().map(|o| o.name.clone()).collect();
        write_dataset_dict(root, &split_names)
    }

    fn publish_rank(&self, rel: &str) -> u8 {
        match rel {
            "dataset_dict.json" => 3,
            _ if rel == "state.json" || rel.ends_with("/state.json") => 2,
            _ if rel.ends_with(".arrow") => 0,
            _ => 1,
        }
    }

    fn looks_like_dir(&self, dir: &Path) -> bool {
        dir.join("dataset_dict.json").is_file() || dir.join("state.json").is_file()
    }

    fn looks_like_listing(&self, files: &[String]) -> bool {
        files.iter().any(|p| {
            p == "dataset_dict.json"
                || p == "state.json"
                || p.ends_with("/state.json")
                || p.ends_with(".arrow")
        })
    }

    fn markers(&self, listing: bool) -> &'static str {
        match listing {
            true => "`dataset_dict.json`, `state.json` or `.arrow` shards",
            false => "`dataset_dict.json` or `state.json`",
        }
    }
}

/// One IPC stream shard.
struct IpcShard(StreamWriter<ShardSink>);

impl ShardEncoder for IpcShard {
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        self.0.write(batch)
    }

    fn sink(&self) -> &ShardSink {
        self.0.get_ref()
    }

    fn finish(&mut self) -> std::result::Result<(), ArrowError> {
        self.0.finish()
    }

    fn into_sink(self: Box<Self>) -> std::result::Result<ShardSink, ArrowError> {
        self.0.into_inner()
    }
}

/// `state.json` and `dataset_info.json` of a written split. Like `datasets`' own info, the
/// `splits` map and `dataset_size` describe the whole DatasetDict (`all`), the same in every split.
fn write_split_metadata(
    root: &Path,
    split: &SplitOutput,
    all: &[SplitOutput],
    features: &Value,
    description: &str,
    dataset_name: &str,
) -> Result<()> {
    let dir = root.join(&split.name);
    let files: Vec<Value> = split.shards.iter().map(|s| json!({"filename": s.filename})).collect();
    let state = json!({
        "_data_files": files,
        "_fingerprint": fingerprint(),
        "_format_columns": null,
        "_format_kwargs": {},
        "_format_type": null,
        "_output_all_columns": false,
        "_split": split.name,
    });
    let splits: serde_json::Map<String, Value> = all
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                json!({
                    "name": s.name,
                    "num_bytes": s.num_bytes,
                    "num_examples": s.num_rows,
                    "dataset_name": dataset_name,
                }),
            )
        })
        .collect();
    let dataset_size: u64 = all.iter().map(|s| s.num_bytes).sum();
    let info = json!({
        "builder_name": "delta-hf",
        "citation": "",
        "config_name": "default",
        "dataset_name": dataset_name,
        "dataset_size": dataset_size,
        "description": description,
        "features": features,
        "homepage": "",
        "license": "",
        "size_in_bytes": dataset_size,
        "splits": splits,
        "version": {"version_str": "0.0.0", "major": 0, "minor": 0, "patch": 0},
    });
    write_json(&dir.join("dataset_info.json"), &info)?;
    write_json(&dir.join("state.json"), &state)
}

/// `dataset_dict.json` listing the splits in the order given.
fn write_dataset_dict(root: &Path, splits: &[String]) -> Result<()> {
    write_json(&root.join("dataset_dict.json"), &json!({"splits": splits}))
}

/// A fresh 16-hex-digit fingerprint.
fn fingerprint() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order() {
        let o = FormatOptions::default();
        assert_eq!(Arrow.shard_name(1, 12, &o), "data-00001-of-00012.arrow");
        assert_eq!(Arrow.staged_shard_name(3, &o), "data-00003.arrow");
        let mut files =
            ["dataset_dict.json", "train/state.json", "label_map.json", "train/data-00000-of-00001.arrow"];
        files.sort_by_key(|f| Arrow.publish_rank(f));
        assert_eq!(
            files,
            ["train/data-00000-of-00001.arrow", "label_map.json", "train/state.json", "dataset_dict.json"]
        );
    }

    #[test]
    fn recognises_its_outputs() {
        assert!(Arrow.looks_like_listing(&["train/_fanout-p/task-00000-a/data-00000.arrow".into()]));
        assert!(Arrow.looks_like_listing(&["state.json".into()]));
        assert!(!Arrow.looks_like_listing(&["notes.txt".into(), "train/statejson".into()]));
        let tmp = tempfile::tempdir().unwrap();
        assert!(!Arrow.looks_like_dir(tmp.path()));
        std::fs::write(tmp.path().join("dataset_dict.json"), "{}").unwrap();
        assert!(Arrow.looks_like_dir(tmp.path()));
    }
}
