//! The Hub layout `push_to_hub` writes: `data/<split>-NNNNN-of-MMMMM.parquet` and a `README.md`
//! whose YAML front matter (the dataset card's metadata) has `dataset_info` (features with
//! `ClassLabel` names, splits with `num_bytes` / `num_examples`, `download_size`,
//! `dataset_size`) and `configs` (the `default` config's `data_files` per split) — what
//! `datasets.load_dataset(OUT)` (2.19 through 5.x) and the Hub's viewer read.
//!
//! Guarantees:
//! - every file is written as `datasets`' `to_parquet` writes it: snappy, the page index,
//!   content-defined chunking with `datasets`' options (recorded under the
//!   `content_defined_chunking` key, so the Hub's Xet storage deduplicates re-uploads), the
//!   `huggingface` features in the Arrow schema, and row groups cut at 100 MB of Arrow data
//!   (`datasets.config.MAX_ROW_GROUP_SIZE`: what the viewer expects);
//! - a split with no rows is refused (exit 1, before anything is published): `datasets`
//!   cannot load an empty Parquet split (nor what `push_to_hub` writes for one);
//! - `--max-shard-size` counts the Arrow data put into a shard (as `push_to_hub`'s
//!   `max_shard_size` does), not the compressed file's size;
//! - the split writer writes each split's shards into `<split>/`; [`Layout::write_metadata`]
//!   moves them to `data/<split>-NNNNN-of-MMMMM.parquet` (and removes the emptied folder);
//!   a remote fan-out's shards stay where its tasks uploaded them and `data_files` lists them
//!   one by one;
//! - `num_bytes` of a split is the uncompressed size its files' footers record (the size of
//!   the data in memory, as `datasets` estimates it), `download_size` the files' sizes;
//! - publishing order: the data files, then `label_map.json`, then `README.md`. Unlike the
//!   `save_to_disk` layout, `load_dataset` also finds `data/*.parquet` without the card, so on
//!   an object store a reader listing the folder while it is published may see part of it (a
//!   local output is moved into place whole; a Hub output is one commit);
//! - an existing output is one of ours when it has `.parquet` files under `data/` (local), or
//!   any `.parquet` file (remote).

use std::path::Path;

use deltalake::arrow::array::Array;
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::metadata::KeyValue;
use deltalake::parquet::file::properties::{CdcOptions, WriterProperties};
use serde_json::{Map, Value, json};

use super::{EncoderSetup, FormatOptions, Layout, ShardEncoder, ShardSink, SplitOutput};
use crate::error::{Error, Result};

/// `datasets.config.MAX_ROW_GROUP_SIZE` ("100MB"): a row group holds at most this much Arrow
/// data (one more batch may pass it).
const ROW_GROUP_BYTES: u64 = 100_000_000;

/// `datasets.config.DEFAULT_CDC_OPTIONS`.
const CDC: CdcOptions = CdcOptions { min_chunk_size: 256 * 1024, max_chunk_size: 1024 * 1024, norm_level: 0 };

/// The folder of the data files.
const DATA: &str = "data";

/// The dataset card.
pub const README: &str = "README.md";

/// The Hub layout.
pub struct Parquet;

impl Layout for Parquet {
    fn extension(&self) -> &'static str {
        "parquet"
    }

    fn shard_schema(&self, schema: Schema, features: &Value) -> Schema {
        super::arrow::Arrow.shard_schema(schema, features)
    }

    fn encoder(
        &self,
        sink: ShardSink,
        schema: &SchemaRef,
        _: &EncoderSetup,
    ) -> Result<Box<dyn ShardEncoder>> {
        Ok(Box::new(ParquetShard::open(sink, schema, ROW_GROUP_BYTES)?))
    }

    fn shard_name(&self, index: usize, count: usize, _: &FormatOptions) -> String {
        format!("{index:05}-of-{count:05}.parquet")
    }

    fn staged_shard_name(&self, index: usize, _: &FormatOptions) -> String {
        format!("data-{index:05}.parquet")
    }

    fn write_metadata(
        &self,
        root: &Path,
        outputs: &[(SplitOutput, Value)],
        description: &str,
        _dataset_name: &str,
    ) -> Result<()> {
        let data = root.join(DATA);
        std::fs::create_dir_all(&data).map_err(|e| Error::io("cannot create", &data, e))?;
        let names: Vec<&str> = outputs.iter().map(|(o, _)| o.name.as_str()).collect();
        let mut splits = Vec::with_capacity(outputs.len());
        let mut data_files = Vec::with_capacity(outputs.len());
        let (mut download_size, mut dataset_size) = (0u64, 0u64);
        // The columns' order (features JSON objects sort their keys): a written file's schema.
        let mut schema: Option<SchemaRef> = None;
        for (out, _) in outputs {
            if out.num_rows == 0 {
                return Err(Error::Data(format!(
                    "split `{}` has no rows: the Hub's Parquet layout cannot hold an empty split (`datasets`' \
                     Parquet reader fails on it, as on what `push_to_hub` writes for one); leave the split out \
                     or write --format arrow",
                    out.name
                )));
            }
            let mut paths = Vec::with_capacity(out.shards.len());
            let mut all_moved = true;
            let mut num_bytes = 0u64;
            for sh in &out.shards {
                let from = root.join(&out.name).join(&sh.filename);
                if !sh.filename.contains('/') && from.is_file() {
                    let rel = format!("{DATA}/{}-{}", out.name, sh.filename);
                    let to = root.join(&rel);
                    std::fs::rename(&from, &to).map_err(|e| Error::io("cannot move shard", &from, e))?;
                    let (size, file_schema) = footer(&to)?;
                    num_bytes += size;
                    schema.get_or_insert(file_schema);
                    paths.push(rel);
                } else {
                    // A remote fan-out's shard, left where its task uploaded it.
                    all_moved = false;
                    num_bytes += sh.num_bytes;
                    paths.push(format!("{}/{}", out.name, sh.filename));
                }
                download_size += sh.num_bytes;
            }
            // Emptied by the moves (a remote fan-out's folder is only in the store).
            let _ = std::fs::remove_dir(root.join(&out.name));
            dataset_size += num_bytes;
            splits.push(Yaml::map([
                ("name", Yaml::str(&out.name)),
                ("num_bytes", Yaml::Int(num_bytes)),
                ("num_examples", Yaml::Int(out.num_rows)),
            ]));
            // `data/<split>-*` as `push_to_hub` writes it, unless that pattern would also take
            // another split's files (`train` and `train-extra`) or the files are elsewhere.
            let clash = names.iter().any(|n| *n != out.name && n.starts_with(&format!("{}-", out.name)));
            let path = match all_moved && !clash {
                true => Yaml::Str(format!("{DATA}/{}-*", out.name)),
                false => Yaml::List(paths.into_iter().map(Yaml::Str).collect()),
            };
            data_files.push(Yaml::map([("split", Yaml::str(&out.name)), ("path", path)]));
        }
        let features = outputs.first().map(|(_, f)| f.clone()).unwrap_or_else(|| json!({}));
        let card = Yaml::map([
            (
                "dataset_info",
                Yaml::map([
                    ("features", yaml_features(&features, schema.as_deref())),
                    ("splits", Yaml::List(splits)),
                    ("download_size", Yaml::Int(download_size)),
                    ("dataset_size", Yaml::Int(dataset_size)),
                ]),
            ),
            (
                "configs",
                Yaml::List(vec![Yaml::map([
                    ("config_name", Yaml::str("default")),
                    ("data_files", Yaml::List(data_files)),
                ])]),
            ),
        ]);
        let text = format!("---\n{}---\n\n{description}\n", card.dump());
        let path = root.join(README);
        std::fs::write(&path, text).map_err(|e| Error::io("cannot write", &path, e))
    }

    fn publish_rank(&self, rel: &str) -> u8 {
        match rel {
            README => 2,
            _ if rel.ends_with(".parquet") => 0,
            _ => 1,
        }
    }

    fn looks_like_dir(&self, dir: &Path) -> bool {
        std::fs::read_dir(dir.join(DATA))
            .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".parquet")))
            .unwrap_or(false)
    }

    fn looks_like_listing(&self, files: &[String]) -> bool {
        files.iter().any(|p| p.ends_with(".parquet"))
    }

    fn markers(&self, listing: bool) -> &'static str {
        match listing {
            true => "`.parquet` files",
            false => "`.parquet` files under `data/`",
        }
    }
}

/// One Parquet file being written; row groups are cut by the Arrow data they hold.
struct ParquetShard {
    state: State,
    /// A row group is closed once it holds this much Arrow data ([`ROW_GROUP_BYTES`]).
    row_group_bytes: u64,
    /// Arrow bytes in the open row group.
    in_group: u64,
    /// Arrow bytes written to this file.
    data: u64,
}

impl ParquetShard {
    /// A file in `sink` for batches of `schema`, as `datasets` writes them.
    fn open(sink: ShardSink, schema: &SchemaRef, row_group_bytes: u64) -> Result<Self> {
        // As `json.dumps(datasets.config.DEFAULT_CDC_OPTIONS)` spells it.
        let cdc = format!(
            "{{\"min_chunk_size\": {}, \"max_chunk_size\": {}, \"norm_level\": {}}}",
            CDC.min_chunk_size, CDC.max_chunk_size, CDC.norm_level
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(None)
            .set_content_defined_chunking(Some(CDC))
            .set_key_value_metadata(Some(vec![KeyValue::new("content_defined_chunking".to_string(), cdc)]))
            .build();
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(props)).map_err(ArrowError::from)?;
        Ok(ParquetShard { state: State::Open(Box::new(writer)), row_group_bytes, in_group: 0, data: 0 })
    }
}

/// The writer, until the footer is written; then the byte sink it gave back.
enum State {
    Open(Box<ArrowWriter<ShardSink>>),
    Done(ShardSink),
    /// Only while finishing.
    Taken,
}

fn finished() -> ArrowError {
    ArrowError::ParquetError("the Parquet file is already finished".into())
}

impl ShardEncoder for ParquetShard {
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        let State::Open(writer) = &mut self.state else { return Err(finished()) };
        writer.write(batch)?;
        let n = arrow_bytes(batch);
        self.in_group += n;
        self.data += n;
        if self.in_group >= self.row_group_bytes {
            writer.flush()?;
            self.in_group = 0;
        }
        Ok(())
    }

    fn sink(&self) -> &ShardSink {
        match &self.state {
            State::Open(w) => w.inner(),
            State::Done(sink) => sink,
            State::Taken => unreachable!("a shard is never looked at while it is finishing"),
        }
    }

    /// The data put into the shard so far: the file grows in large steps (buffered row
    /// groups), so `--max-shard-size` counts this instead of the file's bytes.
    fn size(&self) -> u64 {
        self.data
    }

    /// The last row group and the footer; the sink is taken back (ArrowWriter gives it back
    /// only when it writes the footer).
    fn finish(&mut self) -> std::result::Result<(), ArrowError> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Open(w) => {
                self.state = State::Done(w.into_inner()?);
                Ok(())
            }
            other => {
                self.state = other;
                Err(finished())
            }
        }
    }

    fn into_sink(self: Box<Self>) -> std::result::Result<ShardSink, ArrowError> {
        match self.state {
            State::Open(w) => Ok(w.into_inner()?),
            State::Done(sink) => Ok(sink),
            State::Taken => Err(finished()),
        }
    }
}

/// The Arrow data a batch holds (a slice counts only its rows), as `pyarrow.Table.nbytes`.
fn arrow_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size()) as u64)
        .sum()
}

/// The uncompressed size of a Parquet file's row groups and its Arrow schema, from its footer.
fn footer(path: &Path) -> Result<(u64, SchemaRef)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(ArrowError::from)?;
    let size = builder.metadata().row_groups().iter().map(|g| g.total_byte_size().max(0) as u64).sum();
    Ok((size, builder.schema().clone()))
}

/// A YAML node: maps keep their order (serde_json's maps sort their keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
    Str(String),
    Int(u64),
}

impl Yaml {
    fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Yaml {
        Yaml::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn str(s: &str) -> Yaml {
        Yaml::Str(s.to_string())
    }

    /// JSON as it is (maps in serde_json's order).
    fn from_json(v: &Value) -> Yaml {
        match v {
            Value::Object(m) => Yaml::Map(m.iter().map(|(k, v)| (k.clone(), Yaml::from_json(v))).collect()),
            Value::Array(a) => Yaml::List(a.iter().map(Yaml::from_json).collect()),
            Value::String(s) => Yaml::Str(s.clone()),
            Value::Number(n) => n.as_u64().map(Yaml::Int).unwrap_or_else(|| Yaml::Str(n.to_string())),
            Value::Bool(b) => Yaml::Str(b.to_string()),
            Value::Null => Yaml::Str("null".into()),
        }
    }

    /// Block-style text, as `huggingface_hub` dumps a card's metadata (a list under a key is
    /// not indented; a list item's first map entry is on the dash's line). Strings are plain
    /// where YAML reads them back as the same string, else double-quoted (JSON escapes are
    /// YAML escapes).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match self {
            Yaml::Map(m) => {
                for (k, v) in m {
                    out.push_str(&format!("{pad}{}:", key(k)));
                    match v {
                        Yaml::Map(x) if !x.is_empty() => {
                            out.push('\n');
                            v.write(out, indent + 2);
                        }
                        Yaml::List(x) if !x.is_empty() => {
                            out.push('\n');
                            v.write(out, indent);
                        }
                        s => out.push_str(&format!(" {}\n", s.scalar())),
                    }
                }
            }
            Yaml::List(items) => {
                for v in items {
                    out.push_str(&format!("{pad}-"));
                    match v {
                        Yaml::Map(x) if !x.is_empty() => {
                            let mut inner = String::new();
                            v.write(&mut inner, indent + 2);
                            out.push(' ');
                            out.push_str(inner.trim_start());
                        }
                        Yaml::List(x) if !x.is_empty() => {
                            out.push('\n');
                            v.write(out, indent + 2);
                        }
                        s => out.push_str(&format!(" {}\n", s.scalar())),
                    }
                }
            }
            s => out.push_str(&format!("{pad}{}\n", s.scalar())),
        }
    }

    fn scalar(&self) -> String {
        match self {
            Yaml::Str(s) if plain(s) => s.clone(),
            Yaml::Str(s) => Value::String(s.clone()).to_string(),
            Yaml::Int(n) => n.to_string(),
            Yaml::Map(_) => "{}".into(),
            Yaml::List(_) => "[]".into(),
        }
    }
}

fn key(k: &str) -> String {
    match k.parse::<u64>() {
        Ok(_) => format!("'{k}'"),
        Err(_) => Yaml::str(k).scalar(),
    }
}

/// Whether `s` reads back from YAML 1.1 and 1.2 as this string when written without quotes.
fn plain(s: &str) -> bool {
    let special = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"];
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '*'))
        && !special.contains(&s.to_ascii_lowercase().as_str())
}

/// The `features` of a dataset card: `datasets`' `Features._to_yaml_list` of the features
/// JSON. Lists are spelled `sequence:` as `datasets` 2.x and 3.x write them; 4.x and later
/// read that as `List`, as they read the JSON's `Sequence` (see [`crate::sink::features`]).
/// Columns and struct fields come in the order of `schema` (the written files' schema) when
/// given, else in the JSON's order.
pub fn yaml_features(features: &Value, schema: Option<&Schema>) -> Yaml {
    let dt = schema.map(|s| DataType::Struct(s.fields().clone()));
    match to_yaml_inner(features, dt.as_ref()).into_iter().next() {
        Some((_, fields)) => fields,
        None => Yaml::List(Vec::new()),
    }
}

/// `{name: ..., <the feature's entries>}`.
fn named(name: &str, f: &Value, dt: Option<&DataType>) -> Yaml {
    let mut entries = vec![("name".to_string(), Yaml::str(name))];
    entries.extend(to_yaml_inner(f, dt));
    Yaml::Map(entries)
}

/// The item type of a list type.
fn item(dt: Option<&DataType>) -> Option<&DataType> {
    match dt {
        Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// A struct's fields in the order of its Arrow type `dt` (those it names, then any other).
fn in_order<'a>(obj: &'a Map<String, Value>, dt: Option<&DataType>) -> Vec<(&'a String, &'a Value)> {
    let mut out: Vec<(&String, &Value)> = Vec::with_capacity(obj.len());
    if let Some(DataType::Struct(fields)) = dt {
        out.extend(fields.iter().filter_map(|f| obj.get_key_value(f.name())));
    }
    let named: Vec<&String> = out.iter().map(|(k, _)| *k).collect();
    let rest: Vec<(&String, &Value)> = obj.iter().filter(|(k, _)| !named.contains(k)).collect();
    out.extend(rest);
    out
}

fn field_type<'a>(dt: Option<&'a DataType>, name: &str) -> Option<&'a DataType> {
    match dt {
        Some(DataType::Struct(fields)) => fields.iter().find(|f| f.name() == name).map(|f| f.data_type()),
        _ => None,
    }
}

/// One feature's map entries (`dt`: its Arrow type, when known).
fn to_yaml_inner(f: &Value, dt: Option<&DataType>) -> Vec<(String, Yaml)> {
    match f {
        Value::Object(obj) => {
            let mut obj = obj.clone();
            let ty = obj.remove("_type");
            match ty.as_ref().and_then(Value::as_str) {
                Some(t @ ("Sequence" | "List" | "LargeList")) => {
                    let key = match t {
                        "LargeList" => "large_list",
                        "List" => "list",
                        _ => "sequence",
                    };
                    let feature = obj.remove("feature").unwrap_or(Value::Null);
                    let mut out = vec![(key.to_string(), simplify(to_yaml_inner(&feature, item(dt))))];
                    out.extend(obj.iter().map(|(k, v)| (k.clone(), Yaml::from_json(v))));
                    out
                }
                Some("Value") => obj.iter().map(|(k, v)| (k.clone(), Yaml::from_json(v))).collect(),
                Some(t) if obj.is_empty() => vec![("dtype".into(), Yaml::Str(snake_case(t)))],
                Some(t) => {
                    let mut inner: Vec<(String, Yaml)> = Vec::new();
                    for (k, v) in &obj {
                        let y = match (t, k.as_str(), v) {
                            // Server-side requirement: the ids as string keys, in id order.
                            ("ClassLabel", "names", Value::Array(names)) => Yaml::Map(
                                names
                                    .iter()
                                    .enumerate()
                                    .map(|(i, n)| (i.to_string(), Yaml::from_json(n)))
                                    .collect(),
                            ),
                            _ => Yaml::from_json(v),
                        };
                        inner.push((k.clone(), y));
                    }
                    vec![("dtype".into(), Yaml::Map(vec![(snake_case(t), Yaml::Map(inner))]))]
                }
                None => {
                    let fields = in_order(&obj, dt).into_iter().map(|(n, f)| named(n, f, field_type(dt, n)));
                    vec![("struct".into(), Yaml::List(fields.collect()))]
                }
            }
        }
        Value::Array(items) => {
            let first = items.first().cloned().unwrap_or(Value::Null);
            vec![("list".into(), simplify(to_yaml_inner(&first, item(dt))))]
        }
        other => vec![("dtype".into(), Yaml::from_json(other))],
    }
}

/// The item of a list: `{dtype: int32}` → `int32`, `{dtype: {class_label: ..}}` →
/// `{class_label: ..}`, `{struct: [...]}` → `[...]`.
fn simplify(entries: Vec<(String, Yaml)>) -> Yaml {
    match entries.as_slice() {
        [(k, v)] if k == "dtype" || k == "struct" => v.clone(),
        _ => Yaml::Map(entries),
    }
}

/// `ClassLabel` → `class_label`.
fn snake_case(t: &str) -> String {
    let mut out = String::new();
    for (i, c) in t.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order() {
        assert_eq!(Parquet.shard_name(1, 12, &FormatOptions::default()), "00001-of-00012.parquet");
        let mut files = ["README.md", "label_map.json", "data/train-00000-of-00001.parquet"];
        files.sort_by_key(|f| Parquet.publish_rank(f));
        assert_eq!(files, ["data/train-00000-of-00001.parquet", "label_map.json", "README.md"]);
        assert!(Parquet.looks_like_listing(&["data/train-00000-of-00001.parquet".into()]));
        assert!(!Parquet.looks_like_listing(&["README.md".into()]));
    }

    #[test]
    fn row_groups_are_cut_by_arrow_bytes_and_the_file_reads_back() {
        use deltalake::arrow::array::{Int64Array, StringArray};
        use deltalake::arrow::datatypes::Field;
        use std::sync::Arc;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = |i: i64| {
            let texts: Vec<String> = (0..100).map(|k| format!("row {i} {k} {}", "x".repeat(90))).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(texts)),
                    Arc::new(Int64Array::from_iter_values(i * 100..i * 100 + 100)),
                ],
            )
            .unwrap()
        };
        let one = arrow_bytes(&batch(0));
        // A row group per 2.5 batches of Arrow data: closed after the 3rd, 6th, 9th batch.
        let sink = crate::sink::hf_dataset::test_sink(&path);
        let mut enc: Box<dyn ShardEncoder> =
            Box::new(ParquetShard::open(sink, &schema, one * 5 / 2).unwrap());
        for i in 0..10 {
            enc.write(&batch(i)).unwrap();
        }
        assert_eq!(enc.size(), one * 10);
        enc.finish().unwrap();
        let mut sink = enc.into_sink().unwrap();
        std::io::Write::flush(&mut sink).unwrap();
        drop(sink);
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let rows: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(rows, [300, 300, 300, 100]);
        let kv = reader.metadata().file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "content_defined_chunking"));
        let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n, 1000);
    }

    #[test]
    fn features_as_datasets_dumps_them() {
        let f = json!({
            "ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"},
            "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
            "s": [{"a": {"dtype": "string", "_type": "Value"}}],
            "tags": {"feature": {"names": ["O"], "_type": "ClassLabel"}, "_type": "Sequence"},
        });
        let yaml = Yaml::map([("features", yaml_features(&f, None))]).dump();
        let want = "features:
- name: ids
  sequence: int32
- name: label
  dtype:
    class_label:
      names:
        '0': neg
        '1': pos
- name: s
  list:
  - name: a
    dtype: string
- name: tags
  sequence:
    class_label:
      names:
        '0': O
";
        assert_eq!(yaml, want);
    }

    #[test]
    fn strings_are_quoted_when_yaml_would_read_them_otherwise() {
        let s = |x: &str| Yaml::str(x).scalar();
        assert_eq!(s("pos"), "pos");
        assert_eq!(s("yes"), "\"yes\"");
        assert_eq!(s("1"), "\"1\"");
        assert_eq!(s("a: b"), "\"a: b\"");
        assert_eq!(s("data/train-*"), "data/train-*");
    }
}
