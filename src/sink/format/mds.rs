//! Mosaic Streaming's MDS layout (`--format mds`): what `streaming.StreamingDataset` reads, in
//! version 2 exactly as `streaming.MDSWriter` 0.13 writes it (`streaming/base/format/mds/`).
//!
//! Layout of an output `OUT`:
//! - `OUT/<split>/shard.NNNNN.mds` (or `shard.NNNNN.mds.zstd` with `--mds-compression zstd[:L]`,
//!   the zstd frame of the raw shard) and `OUT/<split>/index.json` listing them in row order;
//! - `OUT/index.json`: every split's shards, their basenames prefixed with `<split>/`, as
//!   `streaming.base.util.merge_index` joins per-folder indexes; so `StreamingDataset(local=OUT,
//!   split=NAME)` reads one split and `StreamingDataset(local=OUT)` all of them;
//! - `label_map.json` as for every format.
//!
//! A raw shard: `uint32 num_samples`, `uint32 offsets[num_samples + 1]` (absolute, from the
//! start of the file), the shard's config (`json.dumps(config, sort_keys=True)`: version,
//! format, compression, hashes, size_limit, column names/encodings/sizes), then the samples. A
//! sample is one `uint32` size per variable-size column, then every column's bytes, columns
//! sorted by name. All integers little-endian.
//!
//! Encodings (from the Arrow type of the written column):
//!
//! | Arrow type | encoding | reads back as |
//! |---|---|---|
//! | string | `str` | `str` |
//! | binary | `bytes` | `bytes` |
//! | int64 | `int` | `int` |
//! | int8/16/32, uint8/16/32/64, float16/32/64 | the same name | a NumPy scalar |
//! | boolean | `uint8` (0 or 1) | `numpy.uint8` |
//! | decimal | `str_decimal` | `decimal.Decimal` |
//! | date | `str`, ISO 8601 `YYYY-MM-DD` | `str` (`date.fromisoformat`) |
//! | timestamp | `str`, ISO 8601 as Python's `isoformat()` writes it, `+00:00` when the column has a time zone (the instant in UTC) | `str` (`datetime.fromisoformat`) |
//! | list of integers or floats | `ndarray:<dtype>` | a 1-d NumPy array |
//! | anything else (lists of strings, structs, nested lists, maps, time, null type) | `json` | `json.loads` of what `json.dumps` writes for the `datasets` row |
//!
//! Nulls: a `json` column holds them (`null`, also nested). No other encoding has a null, so a
//! null met in any other column is refused (exit 1, naming the column and split) and nothing is
//! published. An empty numeric list is written as a zero-length array (`ndarray` with the
//! shape `(0,)`): `MDSWriter` refuses to encode one, but `streaming`'s decoder reads it back as
//! an empty array (every non-empty list is byte for byte what `MDSWriter` writes).
//!
//! Writing: a shard's samples go to an unnamed scratch file beside it (the header, which needs
//! the sample count, comes first in the file), then header, config and samples are streamed
//! into the shard file (through zstd when compressed), hashing the raw and the compressed bytes
//! on the way; the shard's index entry travels with it ([`super::ShardEncoder::index_entry`],
//! through a fan-out task's manifest), so `commit` writes the indexes from the manifests alone.
//! Publishing order: shards, `label_map.json`, the splits' `index.json`, then `OUT/index.json`.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, ListArray, StructArray,
};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions as DisplayOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{EncoderSetup, FormatOptions, Layout, ShardEncoder, ShardSink, SplitOutput};
use crate::error::{Error, Result};
use crate::sink::hf_dataset::write_json;

/// `--mds-compression`, `--mds-hashes`: how MDS shards are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdsOptions {
    /// As `streaming` names it (`zstd`, `zstd:7`), `None` for uncompressed shards.
    pub compression: Option<String>,
    /// Hash algorithms of every shard file, sorted, as `streaming` names them.
    pub hashes: Vec<String>,
}

impl Default for MdsOptions {
    fn default() -> Self {
        MdsOptions { compression: Some("zstd".into()), hashes: Vec::new() }
    }
}

/// The hashes delta-hf computes (a subset of `streaming.base.hashing`: `hashlib`'s and
/// `xxhash`'s names).
pub const HASHES: &[&str] = &[
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "xxh128", "xxh32", "xxh3_128", "xxh3_64", "xxh64",
];

impl MdsOptions {
    /// From `--mds-compression none|zstd[:LEVEL]` and `--mds-hashes` (exit 2 on a bad value).
    pub fn parse(compression: Option<&str>, hashes: &[String]) -> Result<Self> {
        let compression = match compression.map(str::trim) {
            None => Some("zstd".to_string()),
            Some("none") => None,
            Some("zstd") => Some("zstd".to_string()),
            Some(c) => match c.strip_prefix("zstd:").map(str::parse::<u8>) {
                Some(Ok(level)) if (1..=22).contains(&level) => Some(format!("zstd:{level}")),
                _ => {
                    return Err(Error::Usage(format!(
                        "--mds-compression `{c}` is not one of `none`, `zstd` or `zstd:LEVEL` (LEVEL 1 to 22)"
                    )));
                }
            },
        };
        let mut names: Vec<String> =
            hashes.iter().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
        if let Some(h) = names.iter().find(|h| !HASHES.contains(&h.as_str())) {
            return Err(Error::Usage(format!(
                "--mds-hashes `{h}` is not a hash delta-hf computes; use some of {}",
                HASHES.join(", ")
            )));
        }
        names.sort();
        names.dedup();
        Ok(MdsOptions { compression, hashes: names })
    }

    /// The zstd level (3 when not given, as `streaming`), `None` when uncompressed.
    fn zstd_level(&self) -> Option<i32> {
        let c = self.compression.as_deref()?;
        Some(c.strip_prefix("zstd:").and_then(|l| l.parse().ok()).unwrap_or(3))
    }

    fn suffix(&self) -> &'static str {
        match self.compression {
            Some(_) => ".zstd",
            None => "",
        }
    }
}

/// The MDS layout.
pub struct Mds;

impl Mds {
    fn options(options: &FormatOptions) -> MdsOptions {
        options.mds.clone().unwrap_or_default()
    }
}

impl Layout for Mds {
    fn extension(&self) -> &'static str {
        "mds"
    }

    fn shard_schema(&self, schema: Schema, _features: &Value) -> Schema {
        schema
    }

    fn encoder(
        &self,
        sink: ShardSink,
        schema: &SchemaRef,
        setup: &EncoderSetup,
    ) -> Result<Box<dyn ShardEncoder>> {
        Ok(Box::new(MdsShard::new(sink, schema, setup)?))
    }

    fn shard_name(&self, index: usize, _count: usize, options: &FormatOptions) -> String {
        format!("shard.{index:05}.mds{}", Mds::options(options).suffix())
    }

    fn staged_shard_name(&self, index: usize, options: &FormatOptions) -> String {
        self.shard_name(index, 0, options)
    }

    fn write_metadata(
        &self,
        root: &Path,
        outputs: &[(SplitOutput, Value)],
        _description: &str,
        _dataset_name: &str,
    ) -> Result<()> {
        let mut all = Vec::new();
        for (out, _) in outputs {
            let shards = out
                .shards
                .iter()
                .map(|s| {
                    let mut entry = s.index_entry.clone().ok_or_else(|| {
                        Error::Internal(format!(
                            "MDS shard {} of split {} has no index entry",
                            s.filename, out.name
                        ))
                    })?;
                    name_files(&mut entry, &s.filename);
                    Ok(entry)
                })
                .collect::<Result<Vec<Value>>>()?;
            for s in &shards {
                let mut s = s.clone();
                for key in ["raw_data", "zip_data"] {
                    if let Some(Value::String(b)) = s.get_mut(key).and_then(|f| f.get_mut("basename")) {
                        *b = format!("{}/{b}", out.name);
                    }
                }
                all.push(s);
            }
            write_json(&root.join(&out.name).join("index.json"), &json!({"version": 2, "shards": shards}))?;
        }
        write_json(&root.join("index.json"), &json!({"version": 2, "shards": all}))
    }

    fn publish_rank(&self, rel: &str) -> u8 {
        match rel {
            "index.json" => 3,
            _ if rel.ends_with("/index.json") => 2,
            _ if is_shard(rel) => 0,
            _ => 1,
        }
    }

    fn looks_like_dir(&self, dir: &Path) -> bool {
        dir.join("index.json").is_file()
    }

    fn looks_like_listing(&self, files: &[String]) -> bool {
        files.iter().any(|p| p == "index.json" || p.ends_with("/index.json") || is_shard(p))
    }

    fn markers(&self, listing: bool) -> &'static str {
        match listing {
            true => "`index.json` or `.mds` shards",
            false => "`index.json`",
        }
    }
}

fn is_shard(rel: &str) -> bool {
    rel.ends_with(".mds") || rel.ends_with(".mds.zstd")
}

/// Fill in the basenames of a shard's index entry from its file name (relative to its split).
fn name_files(entry: &mut Value, filename: &str) {
    let compressed = entry.get("zip_data").is_some_and(|z| !z.is_null());
    let raw = match compressed {
        true => filename.strip_suffix(".zstd").unwrap_or(filename),
        false => filename,
    };
    if let Some(r) = entry.get_mut("raw_data") {
        r["basename"] = raw.into();
    }
    if compressed && let Some(z) = entry.get_mut("zip_data") {
        z["basename"] = filename.into();
    }
}

/// How one column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Str,
    Bytes,
    Int,
    /// A fixed-size scalar: its `streaming` name and size.
    Scalar(&'static str, usize),
    /// Booleans as `uint8`.
    Bool,
    StrDecimal,
    Date,
    Timestamp,
    /// A 1-d numeric array: the dtype's name.
    NdArray(&'static str),
    Json,
}

impl Enc {
    fn of(dt: &DataType) -> Enc {
        match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Enc::Str,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Enc::Bytes,
            DataType::Int64 => Enc::Int,
            DataType::Boolean => Enc::Bool,
            DataType::Decimal128(..) | DataType::Decimal256(..) => Enc::StrDecimal,
            DataType::Date32 | DataType::Date64 => Enc::Date,
            DataType::Timestamp(..) => Enc::Timestamp,
            DataType::List(f) | DataType::FixedSizeList(f, _) => match dtype_name(f.data_type()) {
                Some(d) => Enc::NdArray(d),
                None => Enc::Json,
            },
            other => match dtype_name(other) {
                Some(d) => Enc::Scalar(d, other.primitive_width().unwrap_or(0)),
                None => Enc::Json,
            },
        }
    }

    fn name(self) -> String {
        match self {
            Enc::Str | Enc::Date | Enc::Timestamp => "str".into(),
            Enc::Bytes => "bytes".into(),
            Enc::Int => "int".into(),
            Enc::Scalar(n, _) => n.into(),
            Enc::Bool => "uint8".into(),
            Enc::StrDecimal => "str_decimal".into(),
            Enc::NdArray(d) => format!("ndarray:{d}"),
            Enc::Json => "json".into(),
        }
    }

    /// The fixed size, `None` for a variable size.
    fn size(self) -> Option<usize> {
        match self {
            Enc::Int => Some(8),
            Enc::Scalar(_, n) => Some(n),
            Enc::Bool => Some(1),
            _ => None,
        }
    }
}

/// NumPy's name of a fixed-size numeric type (`ndarray` and scalar encodings).
fn dtype_name(dt: &DataType) -> Option<&'static str> {
    Some(match dt {
        DataType::Int8 => "int8",
        DataType::Int16 => "int16",
        DataType::Int32 => "int32",
        DataType::Int64 => "int64",
        DataType::UInt8 => "uint8",
        DataType::UInt16 => "uint16",
        DataType::UInt32 => "uint32",
        DataType::UInt64 => "uint64",
        DataType::Float16 => "float16",
        DataType::Float32 => "float32",
        DataType::Float64 => "float64",
        _ => return None,
    })
}

/// One column: its index in the batch, name and encoding.
struct Column {
    index: usize,
    name: String,
    enc: Enc,
}

/// A column's encoded values for one batch: the bytes of row `r` are `data[ends[r-1]..ends[r]]`.
#[derive(Default)]
struct Encoded {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Encoded {
    fn row(&self, r: usize) -> &[u8] {
        let start = if r == 0 { 0 } else { self.ends[r - 1] };
        &self.data[start..self.ends[r]]
    }
}

/// One MDS shard being written.
struct MdsShard {
    sink: Option<ShardSink>,
    columns: Vec<Column>,
    split: String,
    options: MdsOptions,
    size_limit: Option<u64>,
    config: Vec<u8>,
    /// The samples, until the header can be written.
    body: BufWriter<File>,
    /// Every sample's size.
    sizes: Vec<u32>,
    /// The raw shard's size so far (as `MDSWriter` counts it against `size_limit`).
    raw: u64,
    scratch: Vec<Encoded>,
    entry: Option<Value>,
}

impl MdsShard {
    fn new(sink: ShardSink, schema: &SchemaRef, setup: &EncoderSetup) -> Result<Self> {
        let mut columns: Vec<Column> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(index, f)| Column { index, name: f.name().clone(), enc: Enc::of(f.data_type()) })
            .collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        let options = Mds::options(setup.options);
        let config = config_json(&columns, &options, setup.size_limit);
        let body = tempfile::tempfile_in(setup.dir)
            .map_err(|e| Error::io("cannot create a scratch file in", setup.dir, e))?;
        Ok(MdsShard {
            sink: Some(sink),
            raw: 8 + config.len() as u64,
            scratch: columns.iter().map(|_| Encoded::default()).collect(),
            columns,
            split: setup.split.to_string(),
            options,
            size_limit: setup.size_limit,
            config,
            body: BufWriter::with_capacity(256 * 1024, body),
            sizes: Vec::new(),
            entry: None,
        })
    }

    fn null_error(&self, column: &str, enc: Enc) -> ArrowError {
        let e = Error::Data(format!(
            "column `{column}` of split `{}` holds a null, which its MDS encoding `{}` cannot hold (only `json` \
             columns keep nulls); filter or fill the nulls in --select-sql (e.g. COALESCE), or use --drop-nulls \
             when it is the text or label",
            self.split,
            enc.name()
        ));
        ArrowError::ExternalError(Box::new(e))
    }
}

/// The shard config, as `json.dumps(config, sort_keys=True)` writes it.
fn config_json(columns: &[Column], options: &MdsOptions, size_limit: Option<u64>) -> Vec<u8> {
    let config = json!({
        "column_encodings": columns.iter().map(|c| c.enc.name()).collect::<Vec<_>>(),
        "column_names": columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "column_sizes": columns.iter().map(|c| c.enc.size()).collect::<Vec<_>>(),
        "compression": options.compression,
        "format": "mds",
        "hashes": options.hashes,
        "size_limit": size_limit,
        "version": 2,
    });
    let mut out = Vec::new();
    pyjson::value(&config, &mut out);
    out
}

fn io(e: std::io::Error) -> ArrowError {
    ArrowError::IoError(e.to_string(), e)
}

impl ShardEncoder for MdsShard {
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        let n = batch.num_rows();
        for (c, out) in self.columns.iter().zip(self.scratch.iter_mut()) {
            out.data.clear();
            out.ends.clear();
            let array = batch.column(c.index);
            if encode_column(array, c.enc, out)?.is_some() {
                return Err(self.null_error(&c.name, c.enc));
            }
        }
        let mut head = Vec::with_capacity(4 * self.columns.len());
        for r in 0..n {
            head.clear();
            let mut size = 0usize;
            for (c, e) in self.columns.iter().zip(&self.scratch) {
                let len = e.row(r).len();
                if c.enc.size().is_none() {
                    head.extend_from_slice(&(len as u32).to_le_bytes());
                    size += 4;
                }
                size += len;
            }
            self.body.write_all(&head).map_err(io)?;
            for e in &self.scratch {
                self.body.write_all(e.row(r)).map_err(io)?;
            }
            let size = u32::try_from(size).map_err(|_| {
                ArrowError::ExternalError(Box::new(Error::Data(format!(
                    "a row of split `{}` takes {size} bytes in MDS, more than its 4 GiB limit",
                    self.split
                ))))
            })?;
            self.sizes.push(size);
            self.raw += 4 + u64::from(size);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.raw
    }

    fn sink(&self) -> &ShardSink {
        self.sink.as_ref().expect("the sink is there until into_sink")
    }

    fn finish(&mut self) -> std::result::Result<(), ArrowError> {
        if self.raw > u64::from(u32::MAX) {
            return Err(ArrowError::ExternalError(Box::new(Error::Data(format!(
                "an MDS shard of split `{}` would hold {} bytes, but MDS offsets are 32-bit: use a smaller \
                 --max-shard-size or more --num-shards",
                self.split, self.raw
            )))));
        }
        self.body.flush().map_err(io)?;
        let n = self.sizes.len();
        let mut header = Vec::with_capacity(4 * (n + 2));
        header.extend_from_slice(&(n as u32).to_le_bytes());
        let mut offset = (4 + 4 * (n + 1) + self.config.len()) as u32;
        header.extend_from_slice(&offset.to_le_bytes());
        for s in &self.sizes {
            offset += s;
            header.extend_from_slice(&offset.to_le_bytes());
        }
        let sink = self.sink.take().expect("finished once");
        let mut file = Hashing::new(sink, &self.options.hashes);
        let body = self.body.get_mut();
        body.seek(SeekFrom::Start(0)).map_err(io)?;
        let raw_info = match self.options.zstd_level() {
            Some(level) => {
                let mut enc = zstd::stream::Encoder::new(&mut file, level).map_err(io)?;
                // The raw size in the frame header, as Python's `zstd.compress` writes it:
                // `streaming` decompresses with `zstd.decompress`, which needs it.
                enc.include_contentsize(true).map_err(io)?;
                enc.set_pledged_src_size(Some(self.raw)).map_err(io)?;
                let mut raw = Hashing::new(enc, &self.options.hashes);
                raw.write_all(&header).map_err(io)?;
                raw.write_all(&self.config).map_err(io)?;
                std::io::copy(body, &mut raw).map_err(io)?;
                let (enc, info) = raw.done();
                enc.finish().map_err(io)?;
                Some(info)
            }
            None => {
                file.write_all(&header).map_err(io)?;
                file.write_all(&self.config).map_err(io)?;
                std::io::copy(body, &mut file).map_err(io)?;
                None
            }
        };
        let (sink, file_info) = file.done();
        self.sink = Some(sink);
        self.entry = Some(match raw_info {
            Some(raw) => self.index_json(raw, file_info),
            None => self.index_json(file_info, Value::Null),
        });
        Ok(())
    }

    fn into_sink(mut self: Box<Self>) -> std::result::Result<ShardSink, ArrowError> {
        Ok(self.sink.take().expect("the sink is there until into_sink"))
    }

    fn index_entry(&self) -> Option<Value> {
        self.entry.clone()
    }
}

impl MdsShard {
    /// The shard's entry in `index.json` (basenames are added by [`Mds::write_metadata`]).
    fn index_json(&self, raw: Value, zip: Value) -> Value {
        json!({
            "column_encodings": self.columns.iter().map(|c| c.enc.name()).collect::<Vec<_>>(),
            "column_names": self.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            "column_sizes": self.columns.iter().map(|c| c.enc.size()).collect::<Vec<_>>(),
            "compression": self.options.compression,
            "format": "mds",
            "hashes": self.options.hashes,
            "raw_data": raw,
            "samples": self.sizes.len(),
            "size_limit": self.size_limit,
            "version": 2,
            "zip_data": zip,
        })
    }
}

/// A writer that counts and hashes what passes through it.
struct Hashing<W> {
    inner: W,
    bytes: u64,
    hashers: Vec<(String, Hasher)>,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W, names: &[String]) -> Self {
        Hashing { inner, bytes: 0, hashers: names.iter().map(|n| (n.clone(), Hasher::new(n))).collect() }
    }

    /// The writer back, and `{"bytes", "hashes"}` of what passed.
    fn done(self) -> (W, Value) {
        let hashes: Map<String, Value> = self.hashers.into_iter().map(|(n, h)| (n, h.hex().into())).collect();
        (self.inner, json!({"bytes": self.bytes, "hashes": hashes}))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        for (_, h) in &mut self.hashers {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One of [`HASHES`], hex-encoded as Python's `hexdigest()` (xxhash: the big-endian value).
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Xxh32(twox_hash::XxHash32),
    Xxh64(twox_hash::XxHash64),
    Xxh3_64(Box<twox_hash::XxHash3_64>),
    Xxh3_128(Box<twox_hash::XxHash3_128>),
}

impl Hasher {
    fn new(name: &str) -> Hasher {
        use md5::Digest as _;
        match name {
            "md5" => Hasher::Md5(md5::Md5::new()),
            "sha1" => Hasher::Sha1(<sha1::Sha1 as sha1::Digest>::new()),
            "sha224" => Hasher::Sha224(sha2::Sha224::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha384" => Hasher::Sha384(sha2::Sha384::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            "xxh32" => Hasher::Xxh32(twox_hash::XxHash32::with_seed(0)),
            "xxh64" => Hasher::Xxh64(twox_hash::XxHash64::with_seed(0)),
            "xxh3_64" => Hasher::Xxh3_64(Box::new(twox_hash::XxHash3_64::with_seed(0))),
            "xxh3_128" | "xxh128" => Hasher::Xxh3_128(Box::new(twox_hash::XxHash3_128::with_seed(0))),
            other => unreachable!("hash `{other}` was checked by MdsOptions::parse"),
        }
    }

    fn update(&mut self, data: &[u8]) {
        use std::hash::Hasher as _;
        match self {
            Hasher::Md5(h) => md5::Digest::update(h, data),
            Hasher::Sha1(h) => sha1::Digest::update(h, data),
            Hasher::Sha224(h) => sha2::Digest::update(h, data),
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
            Hasher::Sha384(h) => sha2::Digest::update(h, data),
            Hasher::Sha512(h) => sha2::Digest::update(h, data),
            Hasher::Xxh32(h) => h.write(data),
            Hasher::Xxh64(h) => h.write(data),
            Hasher::Xxh3_64(h) => h.write(data),
            Hasher::Xxh3_128(h) => h.write(data),
        }
    }

    fn hex(self) -> String {
        use std::hash::Hasher as _;
        match self {
            Hasher::Md5(h) => hex::encode(md5::Digest::finalize(h)),
            Hasher::Sha1(h) => hex::encode(sha1::Digest::finalize(h)),
            Hasher::Sha224(h) => hex::encode(sha2::Digest::finalize(h)),
            Hasher::Sha256(h) => hex::encode(sha2::Digest::finalize(h)),
            Hasher::Sha384(h) => hex::encode(sha2::Digest::finalize(h)),
            Hasher::Sha512(h) => hex::encode(sha2::Digest::finalize(h)),
            Hasher::Xxh32(h) => format!("{:08x}", h.finish() as u32),
            Hasher::Xxh64(h) => format!("{:016x}", h.finish()),
            Hasher::Xxh3_64(h) => format!("{:016x}", h.finish()),
            Hasher::Xxh3_128(h) => format!("{:032x}", h.finish_128()),
        }
    }
}

/// Encode every row of `array` into `out`; `Some(row)` is the first null row of an encoding that
/// has no null.
fn encode_column(
    array: &ArrayRef,
    enc: Enc,
    out: &mut Encoded,
) -> std::result::Result<Option<usize>, ArrowError> {
    let n = array.len();
    if enc != Enc::Json
        && let Some(nulls) = array.logical_nulls()
        && nulls.null_count() > 0
    {
        return Ok(nulls.iter().position(|v| !v));
    }
    out.ends.reserve(n);
    match enc {
        Enc::Str => {
            let a = array.as_string::<i32>();
            for v in a.iter() {
                out.data.extend_from_slice(v.unwrap_or_default().as_bytes());
                out.ends.push(out.data.len());
            }
        }
        Enc::Bytes => {
            let a = array.as_binary::<i32>();
            for v in a.iter() {
                out.data.extend_from_slice(v.unwrap_or_default());
                out.ends.push(out.data.len());
            }
        }
        Enc::Bool => {
            let a: &BooleanArray = array.as_boolean();
            for v in a.iter() {
                out.data.push(u8::from(v.unwrap_or_default()));
                out.ends.push(out.data.len());
            }
        }
        Enc::Int | Enc::Scalar(..) => {
            let data = array.to_data();
            let width = enc.size().expect("fixed size");
            let bytes = &data.buffers()[0].as_slice()[data.offset() * width..(data.offset() + n) * width];
            for r in 0..n {
                out.data.extend_from_slice(&bytes[r * width..(r + 1) * width]);
                out.ends.push(out.data.len());
            }
        }
        Enc::StrDecimal => {
            let f = ArrayFormatter::try_new(array.as_ref(), &DisplayOptions::default())?;
            for r in 0..n {
                write!(out.data, "{}", f.value(r)).map_err(io)?;
                out.ends.push(out.data.len());
            }
        }
        Enc::Date | Enc::Timestamp => {
            for r in 0..n {
                temporal(array.as_ref(), r, &mut out.data);
                out.ends.push(out.data.len());
            }
        }
        Enc::NdArray(_) => {
            let (values, offsets): (&ArrayRef, Vec<(usize, usize)>) = match array.data_type() {
                DataType::List(_) => {
                    let l: &ListArray = array.as_list::<i32>();
                    let o = l.value_offsets();
                    (l.values(), (0..n).map(|r| (o[r] as usize, o[r + 1] as usize)).collect())
                }
                DataType::FixedSizeList(_, k) => {
                    let l: &FixedSizeListArray = array.as_fixed_size_list();
                    let k = *k as usize;
                    (
                        l.values(),
                        (0..n)
                            .map(|r| (l.value_offset(r) as usize, l.value_offset(r) as usize + k))
                            .collect(),
                    )
                }
                other => return Err(ArrowError::InvalidArgumentError(format!("ndarray of {other}"))),
            };
            if let Some(nulls) = values.logical_nulls() {
                for (r, (s, e)) in offsets.iter().enumerate() {
                    if (*s..*e).any(|i| nulls.is_null(i)) {
                        return Ok(Some(r));
                    }
                }
            }
            let data = values.to_data();
            let width = values.data_type().primitive_width().expect("numeric");
            let buf = &data.buffers()[0].as_slice()[data.offset() * width..];
            for (s, e) in offsets {
                let len = (e - s) as u64;
                // [ndim << 2 | shape dtype] [shape] [values], the shape right-sized as streaming does.
                let (code, bytes): (u8, Vec<u8>) = if len < 1 << 8 {
                    (0, vec![len as u8])
                } else if len < 1 << 16 {
                    (1, (len as u16).to_le_bytes().to_vec())
                } else if len < 1 << 32 {
                    (2, (len as u32).to_le_bytes().to_vec())
                } else {
                    (3, len.to_le_bytes().to_vec())
                };
                out.data.push((1 << 2) | code);
                out.data.extend_from_slice(&bytes);
                out.data.extend_from_slice(&buf[s * width..e * width]);
                out.ends.push(out.data.len());
            }
        }
        Enc::Json => {
            for r in 0..n {
                pyjson::arrow(array.as_ref(), r, &mut out.data)?;
                out.ends.push(out.data.len());
            }
        }
    }
    Ok(None)
}

/// Row `r` of a date or timestamp array in ISO 8601, as Python's `isoformat()` writes it.
fn temporal(array: &dyn Array, r: usize, out: &mut Vec<u8>) {
    use chrono::{DateTime, NaiveDate};
    let naive = match array.data_type() {
        DataType::Date32 => {
            let d = array.as_primitive::<Date32Type>().value(r);
            let date = NaiveDate::from_num_days_from_ce_opt(719_163 + d).unwrap_or_default();
            let _ = write!(out, "{}", date.format("%Y-%m-%d"));
            return;
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(r);
            let date = DateTime::from_timestamp_millis(ms).unwrap_or_default().date_naive();
            let _ = write!(out, "{}", date.format("%Y-%m-%d"));
            return;
        }
        DataType::Timestamp(unit, _) => {
            let ns: i128 = match unit {
                TimeUnit::Second => {
                    i128::from(array.as_primitive::<TimestampSecondType>().value(r)) * 1_000_000_000
                }
                TimeUnit::Millisecond => {
                    i128::from(array.as_primitive::<TimestampMillisecondType>().value(r)) * 1_000_000
                }
                TimeUnit::Microsecond => {
                    i128::from(array.as_primitive::<TimestampMicrosecondType>().value(r)) * 1_000
                }
                TimeUnit::Nanosecond => i128::from(array.as_primitive::<TimestampNanosecondType>().value(r)),
            };
            let secs = ns.div_euclid(1_000_000_000) as i64;
            let nanos = ns.rem_euclid(1_000_000_000) as u32;
            DateTime::from_timestamp(secs, nanos).unwrap_or_default().naive_utc()
        }
        _ => return,
    };
    let _ = write!(out, "{}", naive.format("%Y-%m-%dT%H:%M:%S"));
    let nanos = naive.and_utc().timestamp_subsec_nanos();
    if nanos % 1000 == 0 && nanos > 0 {
        let _ = write!(out, ".{:06}", nanos / 1000);
    } else if nanos > 0 {
        let _ = write!(out, ".{nanos:09}");
    }
    if let DataType::Timestamp(_, Some(_)) = array.data_type() {
        out.extend_from_slice(b"+00:00");
    }
}

/// JSON exactly as Python's `json.dumps` writes it with its defaults (`, ` and `: `
/// separators, `ensure_ascii`, floats as `repr`), for the `json` encoding and shard configs.
mod pyjson {
    use super::*;

    /// A `serde_json` value (object keys in the map's order).
    pub fn value(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => out.extend_from_slice(i.to_string().as_bytes()),
                (_, Some(u), _) => out.extend_from_slice(u.to_string().as_bytes()),
                (_, _, Some(f)) => float(f, out),
                _ => out.extend_from_slice(b"null"),
            },
            Value::String(s) => string(s, out),
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    value(x, out);
                }
                out.push(b']');
            }
            Value::Object(m) => {
                out.push(b'{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    string(k, out);
                    out.extend_from_slice(b": ");
                    value(x, out);
                }
                out.push(b'}');
            }
        }
    }

    /// A string with `ensure_ascii`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and `\uXXXX`
    /// (lower-case hex, surrogate pairs) for everything outside printable ASCII.
    pub fn string(s: &str, out: &mut Vec<u8>) {
        out.push(b'"');
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                ' '..='~' => out.push(c as u8),
                _ => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
            }
        }
        out.push(b'"');
    }

    /// A float as Python's `repr` (shortest round-trip digits; exponent form below 1e-4 and
    /// from 1e16 on) and `json.dumps`' `NaN` / `Infinity`.
    pub fn float(f: f64, out: &mut Vec<u8>) {
        if f.is_nan() {
            return out.extend_from_slice(b"NaN");
        }
        if f.is_infinite() {
            return out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
        }
        let sci = format!("{f:e}"); // e.g. "-1.5e-5", shortest digits
        let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
        let exp: i32 = exp.parse().expect("an integer exponent");
        let (neg, mantissa) = match mantissa.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mantissa),
        };
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let decpt = exp + 1;
        if neg {
            out.push(b'-');
        }
        if f == 0.0 {
            return out.extend_from_slice(b"0.0");
        }
        if decpt <= -4 || decpt > 16 {
            out.extend_from_slice(&digits.as_bytes()[..1]);
            if digits.len() > 1 {
                out.push(b'.');
                out.extend_from_slice(&digits.as_bytes()[1..]);
            }
            let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        } else if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
            out.extend_from_slice(digits.as_bytes());
        } else {
            let d = decpt as usize;
            if digits.len() <= d {
                out.extend_from_slice(digits.as_bytes());
                out.extend(std::iter::repeat_n(b'0', d - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits.as_bytes()[..d]);
                out.push(b'.');
                out.extend_from_slice(&digits.as_bytes()[d..]);
            }
        }
    }

    /// Row `r` of an Arrow array as `json.dumps` writes the value `datasets` gives for it
    /// (struct → dict in field order, list → list); decimals, dates, timestamps and times as
    /// strings, binary as a list of byte values.
    pub fn arrow(a: &dyn Array, r: usize, out: &mut Vec<u8>) -> std::result::Result<(), ArrowError> {
        if a.is_null(r) {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        match a.data_type() {
            DataType::Null => out.extend_from_slice(b"null"),
            DataType::Boolean => {
                out.extend_from_slice(if a.as_boolean().value(r) { b"true" } else { b"false" })
            }
            DataType::Int8 => int(a.as_primitive::<Int8Type>().value(r), out),
            DataType::Int16 => int(a.as_primitive::<Int16Type>().value(r), out),
            DataType::Int32 => int(a.as_primitive::<Int32Type>().value(r), out),
            DataType::Int64 => int(a.as_primitive::<Int64Type>().value(r), out),
            DataType::UInt8 => int(a.as_primitive::<UInt8Type>().value(r), out),
            DataType::UInt16 => int(a.as_primitive::<UInt16Type>().value(r), out),
            DataType::UInt32 => int(a.as_primitive::<UInt32Type>().value(r), out),
            DataType::UInt64 => int(a.as_primitive::<UInt64Type>().value(r), out),
            DataType::Float16 => float(a.as_primitive::<Float16Type>().value(r).to_f64(), out),
            DataType::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(r)), out),
            DataType::Float64 => float(a.as_primitive::<Float64Type>().value(r), out),
            DataType::Utf8 => string(a.as_string::<i32>().value(r), out),
            DataType::LargeUtf8 => string(a.as_string::<i64>().value(r), out),
            DataType::Binary => bytes(a.as_binary::<i32>().value(r), out),
            DataType::LargeBinary => bytes(a.as_binary::<i64>().value(r), out),
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
                let mut s = Vec::new();
                temporal(a, r, &mut s);
                string(&String::from_utf8_lossy(&s), out);
            }
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                list(l.value(r).as_ref(), out)?;
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                list(l.value(r).as_ref(), out)?;
            }
            DataType::FixedSizeList(..) => list(a.as_fixed_size_list().value(r).as_ref(), out)?,
            DataType::Struct(fields) => {
                let s: &StructArray = a.as_struct();
                out.push(b'{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    string(f.name(), out);
                    out.extend_from_slice(b": ");
                    arrow(s.column(i).as_ref(), r, out)?;
                }
                out.push(b'}');
            }
            _ => {
                let f = ArrayFormatter::try_new(a, &DisplayOptions::default())?;
                string(&f.value(r).to_string(), out);
            }
        }
        Ok(())
    }

    fn int(v: impl std::fmt::Display, out: &mut Vec<u8>) {
        let _ = write!(out, "{v}");
    }

    fn bytes(b: &[u8], out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, x) in b.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            let _ = write!(out, "{x}");
        }
        out.push(b']');
    }

    fn list(values: &dyn Array, out: &mut Vec<u8>) -> std::result::Result<(), ArrowError> {
        out.push(b'[');
        for i in 0..values.len() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            arrow(values, i, out)?;
        }
        out.push(b']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_float(f: f64) -> String {
        let mut v = Vec::new();
        pyjson::float(f, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn floats_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (f64::from(0.1f32), "0.10000000149011612"),
            (1.2345e20, "1.2345e+20"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(py_float(f), want, "{f}");
        }
    }

    #[test]
    fn strings_with_ensure_ascii() {
        let mut v = Vec::new();
        pyjson::string("a\"b\\\n\u{7f}é😀", &mut v);
        assert_eq!(String::from_utf8(v).unwrap(), r#""a\"b\\\n\u007f\u00e9\ud83d\ude00""#);
    }

    #[test]
    fn options_as_streaming_names_them() {
        let o = MdsOptions::parse(Some("zstd:7"), &["xxh64".into(), "sha1".into(), "sha1".into()]).unwrap();
        assert_eq!(
            (o.compression.as_deref(), o.hashes.clone()),
            (Some("zstd:7"), vec!["sha1".into(), "xxh64".into()])
        );
        assert_eq!(o.zstd_level(), Some(7));
        assert_eq!(MdsOptions::parse(None, &[]).unwrap().zstd_level(), Some(3));
        assert_eq!(MdsOptions::parse(Some("none"), &[]).unwrap().compression, None);
        for bad in ["zstd:0", "zstd:23", "gzip", "zstd:x"] {
            assert!(matches!(MdsOptions::parse(Some(bad), &[]), Err(Error::Usage(_))), "{bad}");
        }
        assert!(matches!(MdsOptions::parse(None, &["blake3".into()]), Err(Error::Usage(_))));
    }

    #[test]
    fn hashes_match_python() {
        // hashlib.sha1(b"abc"), hashlib.md5(b"abc"), xxhash.xxh64(b"abc"), xxhash.xxh32(b"abc").
        let hex = |n: &str| {
            let mut h = Hasher::new(n);
            h.update(b"abc");
            h.hex()
        };
        assert_eq!(hex("sha1"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex("md5"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex("xxh64"), "44bc2cf5ad770999");
        assert_eq!(hex("xxh32"), "32d153ff");
    }

    #[test]
    fn names_and_order() {
        let zstd = FormatOptions { mds: Some(MdsOptions::default()) };
        let raw = FormatOptions { mds: Some(MdsOptions::parse(Some("none"), &[]).unwrap()) };
        assert_eq!(Mds.shard_name(3, 9, &zstd), "shard.00003.mds.zstd");
        assert_eq!(Mds.shard_name(3, 9, &raw), "shard.00003.mds");
        let mut files = ["index.json", "train/index.json", "label_map.json", "train/shard.00000.mds.zstd"];
        files.sort_by_key(|f| Mds.publish_rank(f));
        assert_eq!(files, ["train/shard.00000.mds.zstd", "label_map.json", "train/index.json", "index.json"]);
        assert!(Mds.looks_like_listing(&["train/_fanout-p/task-00000-a/shard.00000.mds".into()]));
        assert!(!Mds.looks_like_listing(&["train/state.json".into()]));
    }

    #[test]
    fn encodings_from_arrow_types() {
        use deltalake::arrow::datatypes::Field;
        use std::sync::Arc;
        let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        let cases = [
            (DataType::Utf8, "str", None),
            (DataType::Int64, "int", Some(8)),
            (DataType::Int32, "int32", Some(4)),
            (DataType::Float32, "float32", Some(4)),
            (DataType::Boolean, "uint8", Some(1)),
            (list(DataType::Int32), "ndarray:int32", None),
            (list(DataType::Utf8), "json", None),
            (DataType::Date32, "str", None),
            (DataType::Decimal128(10, 2), "str_decimal", None),
        ];
        for (t, name, size) in cases {
            let e = Enc::of(&t);
            assert_eq!((e.name().as_str(), e.size()), (name, size), "{t}");
        }
    }
}
