//! The split writer: each split's batches cut into shard files of the output format, with
//! `label_map.json` (the same in every format). What a shard file holds, its name and the
//! metadata around it are the format's ([`super::format`]); the rest is the same for every
//! format and lives here.
//!
//! Guarantees:
//! - shards are contiguous in row order, named by the format in that order; a split always has
//!   at least one shard (an empty split gets a shard with the schema and no rows);
//! - each column has one Arrow type in every shard and split ([`super::features`]);
//! - with [`ShardPolicy::MaxBytes`] every DataFusion partition is decoded by a task of its own
//!   and written by a thread of its own into its own shards (rolled before a shard would pass
//!   the limit) and the shards are numbered in partition order, so the output is deterministic
//!   for a given plan; with
//!   [`ShardPolicy::Count`] the partitions are written in order and cut at even row counts;
//! - a shard is written under a hidden temporary name and renamed once complete (flushed to
//!   stable storage first with `--fsync`).
//!
//! Everything is written under a staging directory; publishing is [`super::publish`]'s job.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::features::{features_json, normalize_batch, normalize_schema};
use super::format::{Format, ShardEncoder};
use crate::error::{Error, Result};

/// Batches bigger than this (in memory) are sliced before conversion, keeping every written
/// string/binary array far below the 2 GiB limit of 32-bit offsets.
const MAX_BATCH_BYTES: usize = 128 * 1024 * 1024;

/// The shard writer's buffer gathers the small pieces of the IPC stream (message headers,
/// offsets, ids); a batch's text buffer is larger and goes to the file in one `write` of its
/// own instead of being copied through the buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// How each split is cut into shard files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardPolicy {
    /// Start a new shard before one would exceed this many bytes.
    MaxBytes(u64),
    /// Exactly this many shards, rows spread as evenly as possible.
    Count(usize),
}

/// One written shard.
#[derive(Debug, Clone, Serialize)]
pub struct ShardInfo {
    pub filename: String,
    pub num_rows: u64,
    pub num_bytes: u64,
    /// CRC-32 of the file's bytes, computed as they are written (`None`: not written here).
    #[serde(skip)]
    pub crc32: Option<u32>,
}

/// What was written for one split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitOutput {
    pub name: String,
    pub num_rows: u64,
    pub num_bytes: u64,
    pub shards: Vec<ShardInfo>,
    /// What the written rows hold (issue 23's report), when observed.
    #[serde(skip)]
    pub stats: Option<crate::transform::stats::SplitStats>,
}

/// A per-batch transformation run on the writer threads before a batch is written (e.g. the
/// tokenizer); its output must match the schema the sink was made for.
pub type BatchMap = Arc<dyn Fn(&RecordBatch) -> Result<RecordBatch> + Send + Sync>;

/// How each shard file is written.
#[derive(Debug, Clone, Copy)]
struct ShardOptions {
    /// Its format.
    format: Format,
    /// `--fsync`: flushed to stable storage before it counts as written.
    fsync: bool,
    /// Its CRC-32 computed as it is written.
    checksum: bool,
}

/// Writes one split's shards into `<root>/<split>/` (opened by [`Format::open_split`]).
pub struct SplitSink {
    name: String,
    dir: PathBuf,
    schema: SchemaRef,
    features: Value,
    policy: ShardPolicy,
    opts: ShardOptions,
    decoders: Arc<Semaphore>,
    map: Option<BatchMap>,
}

impl SplitSink {
    /// Prepare `<root>/<split>/` for a stream of batches with `input_schema`, in `format`.
    /// `class_label` turns that column into a `ClassLabel` with these names (ordered by id).
    pub(in crate::sink) fn new(
        format: Format,
        root: &Path,
        split: &str,
        input_schema: &Schema,
        class_label: Option<(&str, &[String])>,
        policy: ShardPolicy,
    ) -> Result<Self> {
        let dir = root.join(split);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let out = normalize_schema(input_schema);
        let features = features_json(&out, class_label)?;
        let schema = Arc::new(format.layout().shard_schema(out, &features));
        let decoders = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
        Ok(SplitSink {
            name: split.to_string(),
            dir,
            schema,
            features,
            policy,
            opts: ShardOptions { format, fsync: false, checksum: false },
            decoders,
            map: None,
        })
    }

    /// Flush every shard to stable storage before it counts as written (`--fsync`).
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.opts.fsync = fsync;
        self
    }

    /// Compute each shard's CRC-32 as it is written ([`ShardInfo::crc32`]; a fan-out task's
    /// manifest lists them).
    pub fn with_checksums(mut self, checksums: bool) -> Self {
        self.opts.checksum = checksums;
        self
    }

    /// Decode this split's partitions only with a permit of `decoders`, which the sinks of
    /// other splits written at the same time may share (default: no limit).
    pub fn with_decoders(mut self, decoders: Arc<Semaphore>) -> Self {
        self.decoders = decoders;
        self
    }

    /// Run `map` over every batch on the writer threads (`input_schema` of [`SplitSink::new`]
    /// must be its output schema).
    pub fn with_batch_map(mut self, map: Option<BatchMap>) -> Self {
        self.map = map;
        self
    }

    /// Write every partition stream; `total_rows` is required for [`ShardPolicy::Count`].
    pub async fn write(
        self,
        partitions: Vec<SendableRecordBatchStream>,
        total_rows: Option<u64>,
        progress: ProgressBar,
    ) -> Result<(SplitOutput, Value)> {
        let opts = self.opts;
        let temp_shards = match self.policy {
            ShardPolicy::MaxBytes(max) => {
                let mut tasks = Vec::new();
                for (p, stream) in partitions.into_iter().enumerate() {
                    let dir = self.dir.clone();
                    let schema = self.schema.clone();
                    let progress = progress.clone();
                    tasks.push(pump(stream, self.decoders.clone(), self.map.clone(), move |rx| {
                        write_rolling(rx, &dir, p, &schema, opts, max, &progress)
                    }));
                }
                let results = futures::future::try_join_all(tasks).await?;
                results.into_iter().flatten().collect::<Vec<_>>()
            }
            ShardPolicy::Count(n) => {
                let total =
                    total_rows.ok_or_else(|| Error::Internal("row count unknown for --num-shards".into()))?;
                let stream = futures::stream::iter(partitions).flatten();
                let dir = self.dir.clone();
                let schema = self.schema.clone();
                let progress = progress.clone();
                pump(Box::pin(stream), self.decoders.clone(), self.map.clone(), move |rx| {
                    write_counted(rx, &dir, &schema, opts, even_split(total, n), &progress)
                })
                .await?
            }
        };
        let mut temp_shards = temp_shards;
        if temp_shards.is_empty() {
            temp_shards.push(write_empty(&self.dir, &self.schema, self.opts)?);
        }
        let n = temp_shards.len();
        let mut shards = Vec::with_capacity(n);
        for (i, t) in temp_shards.into_iter().enumerate() {
            let filename = opts.format.layout().shard_name(i, n);
            let dest = self.dir.join(&filename);
            std::fs::rename(&t.path, &dest).map_err(|e| Error::io("cannot rename shard", &t.path, e))?;
            shards.push(ShardInfo { filename, num_rows: t.rows, num_bytes: t.bytes, crc32: t.crc32 });
        }
        let out = SplitOutput {
            name: self.name.clone(),
            num_rows: shards.iter().map(|s| s.num_rows).sum(),
            num_bytes: shards.iter().map(|s| s.num_bytes).sum(),
            shards,
            stats: None,
        };
        Ok((out, self.features))
    }
}

/// Feed a DataFusion stream through a bounded channel to `write` running on its own thread.
///
/// The stream is polled by a task of its own, once it holds one of the `decoders` permits: the
/// partitions of every split decode in parallel on the runtime's workers, but never more at once
/// than there are permits (each in-flight Parquet row group holds its compressed column chunks
/// in memory). With a `map`, a thread of its own runs it between the reader and the writer
/// (bounded channels on both sides), so mapping one batch overlaps writing the previous one.
/// Dropping this future aborts the task, which closes the channel and lets the writer finish.
async fn pump<S, F, T>(mut stream: S, decoders: Arc<Semaphore>, map: Option<BatchMap>, write: F) -> Result<T>
where
    S: futures::Stream<Item = deltalake::datafusion::error::Result<RecordBatch>> + Unpin + Send + 'static,
    F: FnOnce(&mut tokio::sync::mpsc::Receiver<RecordBatch>) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let (mapper, mut rx) = match map {
        None => (None, rx),
        Some(f) => {
            let (mapped_tx, mapped_rx) = tokio::sync::mpsc::channel::<RecordBatch>(1);
            let mapper = tokio::task::spawn_blocking(move || -> Result<()> {
                while let Some(batch) = rx.blocking_recv() {
                    if mapped_tx.blocking_send(f(&batch)?).is_err() {
                        break; // the writer stopped: its error is reported below
                    }
                }
                Ok(())
            });
            (Some(mapper), mapped_rx)
        }
    };
    let writer = tokio::task::spawn_blocking(move || write(&mut rx));
    let mut reader = JoinSet::new();
    reader.spawn(async move {
        let _permit = decoders.acquire_owned().await.expect("the semaphore is never closed");
        while let Some(batch) = stream.next().await {
            if tx.send(batch?).await.is_err() {
                break; // the writer stopped: its error is reported below
            }
        }
        Ok::<_, deltalake::datafusion::error::DataFusionError>(())
    });
    let read = reader.join_next().await.expect("one reader task");
    let mapped = match mapper {
        Some(m) => m.await.map_err(|e| Error::Internal(format!("mapping thread failed: {e}")))?,
        None => Ok(()),
    };
    let written = writer.await.map_err(|e| Error::Internal(format!("writer thread failed: {e}")))?;
    mapped?;
    read.map_err(|e| Error::Internal(format!("reader task failed: {e}")))??;
    written
}

struct TempShard {
    path: PathBuf,
    rows: u64,
    bytes: u64,
    crc32: Option<u32>,
}

/// What a shard's format encodes into: the file, buffered, its bytes counted.
pub type ShardSink = Counting<BufWriter<File>>;

/// Counts the bytes that pass through, and their CRC-32 when asked (a fan-out task's manifest
/// lists it; computing it here spares reading the shard again).
pub struct Counting<W> {
    inner: W,
    n: u64,
    crc: Option<crc32fast::Hasher>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        if let Some(c) = &mut self.crc {
            c.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct OpenShard {
    path: PathBuf,
    writer: Box<dyn ShardEncoder>,
    rows: u64,
    fsync: bool,
}

impl OpenShard {
    fn create(path: PathBuf, schema: &SchemaRef, opts: ShardOptions) -> Result<Self> {
        let file = File::create(&path).map_err(|e| Error::io("cannot create shard", &path, e))?;
        let sink = Counting {
            inner: BufWriter::with_capacity(WRITE_BUFFER, file),
            n: 0,
            crc: opts.checksum.then(crc32fast::Hasher::new),
        };
        let writer = opts.format.layout().encoder(sink, schema)?;
        Ok(OpenShard { path, writer, rows: 0, fsync: opts.fsync })
    }

    fn bytes(&self) -> u64 {
        self.writer.sink().n
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|e| self.io_error(e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<TempShard> {
        self.writer.finish().map_err(|e| self.io_error(e))?;
        let bytes = self.bytes();
        let mut sink = self.writer.into_sink().map_err(Error::Arrow)?;
        sink.flush().map_err(|e| Error::io("cannot write shard", &self.path, e))?;
        let crc32 = sink.crc.take().map(|c| c.finalize());
        let file = sink
            .inner
            .into_inner()
            .map_err(|e| Error::io("cannot write shard", &self.path, e.into_error()))?;
        if self.fsync {
            file.sync_all().map_err(|e| Error::io("cannot sync shard", &self.path, e))?;
        }
        Ok(TempShard { path: self.path, rows: self.rows, bytes, crc32 })
    }

    fn io_error(&self, e: deltalake::arrow::error::ArrowError) -> Error {
        match e {
            deltalake::arrow::error::ArrowError::IoError(_, io) => {
                Error::io("cannot write shard", &self.path, io)
            }
            e => Error::Arrow(e),
        }
    }
}

/// Split big batches, then convert to the output schema.
fn prepared(batch: &RecordBatch, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let size = batch.get_array_memory_size();
    let pieces = if size > MAX_BATCH_BYTES && batch.num_rows() > 1 {
        let parts = size.div_ceil(MAX_BATCH_BYTES).min(batch.num_rows());
        let step = batch.num_rows().div_ceil(parts);
        (0..batch.num_rows()).step_by(step).map(|o| batch.slice(o, step.min(batch.num_rows() - o))).collect()
    } else {
        vec![batch.clone()]
    };
    pieces.iter().map(|b| normalize_batch(b, schema)).collect()
}

/// One partition's shards, each rolled over before it would pass `max` bytes.
fn write_rolling(
    rx: &mut tokio::sync::mpsc::Receiver<RecordBatch>,
    dir: &Path,
    partition: usize,
    schema: &SchemaRef,
    opts: ShardOptions,
    max: u64,
    progress: &ProgressBar,
) -> Result<Vec<TempShard>> {
    let mut done = Vec::new();
    let mut open: Option<OpenShard> = None;
    while let Some(batch) = rx.blocking_recv() {
        if batch.num_rows() == 0 {
            continue;
        }
        for b in prepared(&batch, schema)? {
            // Bytes per row of this batch (slices share buffers, so measure the whole batch).
            let per_row = (b.get_array_memory_size() as u64).div_ceil(b.num_rows() as u64).max(1);
            let mut offset = 0;
            while offset < b.num_rows() {
                let left = b.num_rows() - offset;
                if let Some(shard) = &open {
                    let room = max.saturating_sub(shard.bytes());
                    if shard.rows > 0 && room < per_row {
                        done.push(open.take().expect("open shard").finish()?);
                    }
                }
                let shard = match open.as_mut() {
                    Some(s) => s,
                    None => {
                        let ext = opts.format.layout().extension();
                        let path = dir.join(format!(".part-{partition:04}-{:05}.{ext}.tmp", done.len()));
                        open.insert(OpenShard::create(path, schema, opts)?)
                    }
                };
                let room = max.saturating_sub(shard.bytes());
                // At least one row per shard, however large.
                let take = ((room / per_row) as usize).clamp(1, left);
                shard.write(&b.slice(offset, take))?;
                progress.inc(take as u64);
                offset += take;
            }
        }
    }
    if let Some(shard) = open {
        done.push(shard.finish()?);
    }
    Ok(done)
}

/// Rows per shard when `total` rows are spread over `n` shards (first `total % n` get one more),
/// never more shards than rows (but at least one).
pub fn even_split(total: u64, n: usize) -> Vec<u64> {
    let n = (n as u64).min(total.max(1));
    (0..n).map(|i| total / n + u64::from(i < total % n)).collect()
}

/// Shards cut at exact row counts, partitions in order.
fn write_counted(
    rx: &mut tokio::sync::mpsc::Receiver<RecordBatch>,
    dir: &Path,
    schema: &SchemaRef,
    opts: ShardOptions,
    plan: Vec<u64>,
    progress: &ProgressBar,
) -> Result<Vec<TempShard>> {
    let mut done: Vec<TempShard> = Vec::new();
    let mut open: Option<OpenShard> = None;
    let mut written_rows: u64 = 0;
    let planned: u64 = plan.iter().sum();
    while let Some(batch) = rx.blocking_recv() {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let idx = done.len().min(plan.len() - 1);
            let target = plan[idx];
            if open.is_none() {
                let ext = opts.format.layout().extension();
                let path = dir.join(format!(".counted-{:05}.{ext}.tmp", done.len()));
                open = Some(OpenShard::create(path, schema, opts)?);
            }
            let shard = open.as_mut().expect("open shard");
            // The last planned shard takes whatever remains (the count is exact unless the
            // table changed under us, which the pinned snapshot prevents).
            let room = if idx == plan.len() - 1 { u64::MAX } else { target - shard.rows };
            let take = (room.min((batch.num_rows() - offset) as u64)) as usize;
            for b in prepared(&batch.slice(offset, take), schema)? {
                shard.write(&b)?;
            }
            offset += take;
            written_rows += take as u64;
            progress.inc(take as u64);
            if idx < plan.len() - 1 && shard.rows == target {
                done.push(open.take().expect("open shard").finish()?);
            }
        }
    }
    if let Some(shard) = open {
        done.push(shard.finish()?);
    }
    if written_rows != planned {
        return Err(Error::Internal(format!(
            "expected {planned} rows for --num-shards, wrote {written_rows}"
        )));
    }
    Ok(done)
}

/// A shard with the schema and no rows: an empty split that still loads.
fn write_empty(dir: &Path, schema: &SchemaRef, opts: ShardOptions) -> Result<TempShard> {
    let ext = opts.format.layout().extension();
    OpenShard::create(dir.join(format!(".empty.{ext}.tmp")), schema, opts)?.finish()
}

/// Write pretty JSON.
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::{Counting, even_split};
    use std::io::Write;

    #[test]
    fn shard_checksum_is_crc32() {
        // CRC-32/ISO-HDLC of "123456789" is cbf43926 (the catalogue's check value; zlib.crc32).
        let mut c = Counting { inner: Vec::new(), n: 0, crc: Some(crc32fast::Hasher::new()) };
        c.write_all(b"1234").unwrap();
        c.write_all(b"56789").unwrap();
        assert_eq!((c.n, c.crc.unwrap().finalize()), (9, 0xcbf43926));
    }

    #[test]
    fn even_split_like_datasets() {
        assert_eq!(even_split(10, 3), vec![4, 3, 3]);
        assert_eq!(even_split(2, 5), vec![1, 1]);
        assert_eq!(even_split(0, 3), vec![0]);
    }
}
