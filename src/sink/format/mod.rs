//! The output format: how a written dataset is laid out, and everything a command needs to know
//! about that layout — the one seam between the commands and the files they produce.
//!
//! [`Format`] names a format (what a job, and later a `--format` flag, chooses); its
//! [`Format::layout`] is the format's [`Layout`], and each format is one module here:
//! - [`arrow`]: the `save_to_disk` layout `datasets.load_from_disk` opens (Arrow IPC stream
//!   shards, `state.json`, `dataset_info.json`, `dataset_dict.json`);
//! - [`parquet`]: the Hub layout `push_to_hub` writes and `datasets.load_dataset` opens
//!   (`data/<split>-NNNNN-of-MMMMM.parquet`, `README.md` with the card's metadata);
//! - [`mds`]: Mosaic Streaming's MDS shards and `index.json` files (`StreamingDataset`).
//!
//! A format's own options (`--mds-compression`, ...) are [`FormatOptions`], part of the export
//! spec; the layout gets them where they change a file or its name.
//!
//! **To add a format: add a module here and an arm in [`Format::layout`]** (with its variant in
//! [`Format`]). The module implements [`Layout`] (and a [`ShardEncoder`] for its shard files);
//! nothing in `commands/`, [`super::publish`], [`super::remote`] or [`super::fanout`] names a
//! file of a format. What stays the same for every format: the split writer
//! ([`super::hf_dataset`]: shard cutting by [`ShardPolicy`], decoding and writing threads,
//! checksums, `--fsync`), the `datasets` features ([`super::features`]), `label_map.json`,
//! staging and publishing.
//!
//! What a [`Layout`] guarantees, method by method:
//! - [`Layout::extension`]: the shard files' extension; a shard being written is a hidden
//!   `….<extension>.tmp` file in its split's folder until it is complete;
//! - [`Layout::shard_schema`]: the Arrow schema every shard of a split is written with (the
//!   normalised columns, plus what the format records beside them);
//! - [`Layout::encoder`]: one shard file's encoder over the writer's byte sink
//!   ([`ShardSink`]: counted, checksummed, flushed and synced by the writer); an encoder that is
//!   finished with no batch written is still a loadable, empty shard; its
//!   [`ShardEncoder::size`] is what the writer cuts shards by, and its
//!   [`ShardEncoder::index_entry`] (if any) travels with the shard to [`Layout::write_metadata`]
//!   ([`super::hf_dataset::ShardInfo::index_entry`], and a fan-out task's manifest);
//! - [`Layout::shard_name`]: shard `index` of `count` of a split, relative to the split's
//!   folder; the names of a split sort in row order (`prepare`, and the local fan-out commit
//!   that links the tasks' shards under these names);
//! - [`Layout::staged_shard_name`]: the name a fan-out task gives shard `index` of its part
//!   when it uploads it to a remote staging area, where the commit leaves it in place (a task
//!   does not know the global count); unique within the task's attempt folder, in row order. A
//!   local task's shards keep the writer's names ([`Layout::shard_name`] within the task);
//! - [`Layout::write_metadata`]: every per-split and top-level file the format needs besides
//!   the shards, from the [`SplitOutput`]s (in the order the dataset lists its splits; a
//!   shard's `filename` is relative to its split's folder and may lead into a subfolder); a
//!   format whose shards do not live in per-split folders moves the local ones into place here;
//! - [`Layout::publish_rank`]: the order of a remote publish (and of the fan-out's commit): the
//!   ranks are uploaded in ascending order, each complete before the next, so the highest rank
//!   is written last and is what makes an output loadable; an old output is deleted in
//!   descending order, so it is unloadable before its shards go. A reader never loads a
//!   partial or mixed output;
//! - [`Layout::looks_like_dir`] / [`Layout::looks_like_listing`]: whether an existing local
//!   directory / remote listing is an output of this format, so `--overwrite` never wipes
//!   anything else (an empty directory is always replaceable; that check is not the format's);
//!   [`Layout::markers`] names what they look for in the refusal.

use std::path::Path;

use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::hf_dataset::{ShardPolicy, ShardSink, SplitOutput, SplitSink};
use crate::error::Result;

pub mod arrow;
pub mod mds;
pub mod parquet;

/// An output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `datasets`' `save_to_disk` layout: `load_from_disk` opens it ([`arrow`]).
    #[default]
    Arrow,
    /// The Hub's Parquet layout, as `push_to_hub` writes it: `load_dataset` opens it ([`parquet`]).
    Parquet,
    /// Mosaic Streaming's MDS shards: `StreamingDataset` reads them ([`mds`]).
    Mds,
}

/// The options of the formats that have some (`None`: not that format, or its defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatOptions {
    /// `--mds-compression`, `--mds-hashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mds: Option<mds::MdsOptions>,
}

impl FormatOptions {
    /// No option set (what an `arrow` export's spec holds, so its plan stays as it was).
    pub fn is_empty(&self) -> bool {
        self.mds.is_none()
    }
}

/// What a shard encoder is made for besides its schema.
pub struct EncoderSetup<'a> {
    /// The export's format options.
    pub options: &'a FormatOptions,
    /// The split's folder (where a format may keep scratch files).
    pub dir: &'a Path,
    /// The split's name, for messages.
    pub split: &'a str,
    /// `--max-shard-size` in bytes (`None` with `--num-shards`).
    pub size_limit: Option<u64>,
}

impl Format {
    /// Everything specific to this format.
    pub fn layout(self) -> &'static dyn Layout {
        match self {
            Format::Arrow => &arrow::Arrow,
            Format::Parquet => &parquet::Parquet,
            Format::Mds => &mds::Mds,
        }
    }

    /// Prepare `<root>/<split>/` for a stream of batches with `input_schema`, written in this
    /// format (see [`SplitSink`]). `class_label` turns that column into a `ClassLabel` with these
    /// names (ordered by id).
    pub fn open_split(
        self,
        root: &Path,
        split: &str,
        input_schema: &Schema,
        class_label: Option<(&str, &[String])>,
        policy: ShardPolicy,
    ) -> Result<SplitSink> {
        SplitSink::new(self, root, split, input_schema, class_label, policy)
    }
}

/// Everything specific to one output format (the guarantees are listed in the module docs).
pub trait Layout: Send + Sync {
    /// The shard files' extension, without the dot.
    fn extension(&self) -> &'static str;

    /// The schema a split's shards are written with: `schema` (normalised for `datasets`), and
    /// the split's `features` if the format records them with the data.
    fn shard_schema(&self, schema: Schema, features: &Value) -> Schema;

    /// Start one shard file in `sink`, for batches of `schema` (from [`Layout::shard_schema`]).
    fn encoder(
        &self,
        sink: ShardSink,
        schema: &SchemaRef,
        setup: &EncoderSetup,
    ) -> Result<Box<dyn ShardEncoder>>;

    /// Shard `index` of `count` in a split, relative to the split's folder.
    fn shard_name(&self, index: usize, count: usize, options: &FormatOptions) -> String;

    /// The name a fan-out task uploads shard `index` of its part under, in a remote staging area.
    fn staged_shard_name(&self, index: usize, options: &FormatOptions) -> String;

    /// The per-split and top-level metadata of the splits `outputs` (each with its `datasets`
    /// features), under `root`.
    fn write_metadata(
        &self,
        root: &Path,
        outputs: &[(SplitOutput, Value)],
        description: &str,
        dataset_name: &str,
    ) -> Result<()>;

    /// When a file (a path relative to the output, with `/`) is published: ascending ranks, the
    /// highest last.
    fn publish_rank(&self, rel: &str) -> u8;

    /// Whether the local directory `dir` holds an output of this format.
    fn looks_like_dir(&self, dir: &Path) -> bool;

    /// Whether `files` (every path under a remote output) are an output of this format.
    fn looks_like_listing(&self, files: &[String]) -> bool;

    /// What [`Layout::looks_like_listing`] (`listing`) or [`Layout::looks_like_dir`] looks for,
    /// as a message names it.
    fn markers(&self, listing: bool) -> &'static str;
}

/// One shard file being encoded by its format.
pub trait ShardEncoder: Send {
    /// Append a batch of the shard's schema.
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError>;

    /// The byte sink (how many bytes have reached it so far).
    fn sink(&self) -> &ShardSink;

    /// The shard's size so far, as the writer cuts shards by it (default: the bytes written).
    fn size(&self) -> u64 {
        self.sink().written()
    }

    /// What the format's metadata records about this shard, once finished (default: nothing).
    fn index_entry(&self) -> Option<Value> {
        None
    }

    /// Write whatever ends the file (after the last batch).
    fn finish(&mut self) -> std::result::Result<(), ArrowError>;

    /// The byte sink back, once finished (the writer flushes and syncs it).
    fn into_sink(self: Box<Self>) -> std::result::Result<ShardSink, ArrowError>;
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn format_names_are_lowercase() {
        assert_eq!(serde_json::to_value(Format::Arrow).unwrap(), "arrow");
        assert_eq!(serde_json::from_value::<Format>("arrow".into()).unwrap(), Format::Arrow);
        assert_eq!(<Format as clap::ValueEnum>::from_str("arrow", false).unwrap(), Format::default());
        assert_eq!(serde_json::to_value(Format::Parquet).unwrap(), "parquet");
        assert_eq!(serde_json::to_value(Format::Mds).unwrap(), "mds");
        assert_eq!(<Format as clap::ValueEnum>::from_str("mds", false).unwrap(), Format::Mds);
    }
}
