//! `--split-from` in `prepare`: the table read once, each row routed to its split.
//!
//! A split is the table filtered by [`super::split::SplitOf`], and every stage reads every split
//! (the label pass, the duplicate and leak pass, the write): as filters, each of them would
//! decode the whole table (and hash every row's key) once per split. Instead the table's needed
//! columns are decoded once, each row's split computed once, and each split's rows written in
//! order to uncompressed Arrow IPC files in the working directory -- one file per split and
//! source partition -- which the stages then read as the split's table (one partition per file,
//! in the source's partition order, so the rows of a split come in the same order the filter
//! would give them, and every stage sees the same partitions).
//!
//! The files are removed when the export ends (a [`tempfile::TempDir`]). The fan-out keeps the
//! filter (a task reads only its own files once).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{Array, BooleanArray, RecordBatch, UInt32Array};
use deltalake::arrow::compute::BatchCoalescer;
use deltalake::arrow::compute::kernels::cmp::eq;
use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::ipc::reader::FileReader;
use deltalake::arrow::ipc::writer::FileWriter;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::logical_expr::Expr;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::datafusion::prelude::DataFrame;
use futures::StreamExt;
use indicatif::ProgressBar;

use super::split::{SplitFrom, column};
use crate::error::{Error, Result};
use crate::storage::session;

const SPLIT_COLUMN: &str = "__delta_hf_split";

/// The splits of one table, routed: each split's table, and the directory holding their files
/// (removed when dropped).
pub struct Routed {
    pub splits: Vec<Arc<dyn TableProvider>>,
    pub rows: Vec<u64>,
    _dir: tempfile::TempDir,
}

/// Read `table`'s `columns` once and route every row to its split (`sf`'s rule) into files under
/// a new directory in `parent`; `bar` counts the rows read.
pub async fn route(
    table: DataFrame,
    sf: &SplitFrom,
    columns: &[String],
    parent: &Path,
    batch_size: usize,
    bar: &ProgressBar,
) -> Result<Routed> {
    let dir = tempfile::Builder::new()
        .prefix("delta-hf-splits-")
        .tempdir_in(parent)
        .map_err(|e| spill_error(parent, &e))?;
    let k = sf.ratios.len();
    let mut exprs: Vec<Expr> = columns.iter().map(|c| column(c)).collect();
    exprs.push(sf.split_of().alias(SPLIT_COLUMN));
    let df = table.select(exprs)?;
    let full = df.schema().as_arrow().clone();
    let schema: SchemaRef = Arc::new(Schema::new(full.fields()[..columns.len()].to_vec()));
    let streams = session::streams(df).await?;
    let mut tasks = Vec::with_capacity(streams.len());
    for (p, stream) in streams.into_iter().enumerate() {
        let paths: Vec<PathBuf> = (0..k).map(|s| dir.path().join(format!("{s:03}-{p:05}.arrow"))).collect();
        let (schema, bar) = (schema.clone(), bar.clone());
        tasks.push(tokio::spawn(route_partition(stream, schema, paths, batch_size, bar)));
    }
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); k];
    let mut rows = vec![0u64; k];
    for t in tasks {
        let (paths, counts) =
            t.await.map_err(|e| Error::Internal(format!("routing the splits stopped: {e}")))??;
        for (s, (path, n)) in paths.into_iter().zip(counts).enumerate() {
            files[s].push(path);
            rows[s] += n;
        }
    }
    let splits = files
        .into_iter()
        .map(|paths| {
            let partitions: Vec<Arc<dyn PartitionStream>> = paths
                .into_iter()
                .map(|path| {
                    Arc::new(IpcPartition { path, schema: schema.clone() }) as Arc<dyn PartitionStream>
                })
                .collect();
            Ok(Arc::new(StreamingTable::try_new(schema.clone(), partitions)?) as Arc<dyn TableProvider>)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Routed { splits, rows, _dir: dir })
}

/// A split file that cannot be written (the caller falls back to filtering the table).
fn spill_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Output { message: format!("cannot write the split rows to {}: {e}", path.display()), source: None }
}

/// One source partition: every batch's rows filtered into each split's coalescer, full batches
/// written to the split's file. Returns the files and each one's row count.
async fn route_partition(
    mut stream: SendableRecordBatchStream,
    schema: SchemaRef,
    paths: Vec<PathBuf>,
    batch_size: usize,
    bar: ProgressBar,
) -> Result<(Vec<PathBuf>, Vec<u64>)> {
    let io = |path: &Path, e: &dyn std::fmt::Display| spill_error(path, e);
    let mut writers = Vec::with_capacity(paths.len());
    for path in &paths {
        let f = File::create(path).map_err(|e| io(path, &e))?;
        writers.push(
            FileWriter::try_new(BufWriter::with_capacity(1 << 20, f), &schema).map_err(|e| io(path, &e))?,
        );
    }
    let mut coalescers: Vec<BatchCoalescer> =
        paths.iter().map(|_| BatchCoalescer::new(schema.clone(), batch_size)).collect();
    let mut counts = vec![0u64; paths.len()];
    let n = schema.fields().len();
    let drain = |c: &mut BatchCoalescer, w: &mut FileWriter<BufWriter<File>>, path: &Path| -> Result<()> {
        while let Some(b) = c.next_completed_batch() {
            w.write(&b).map_err(|e| io(path, &e))?;
        }
        Ok(())
    };
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        bar.inc(batch.num_rows() as u64);
        let split = batch
            .column(n)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| Error::Internal("the split column is not UInt32".into()))?
            .clone();
        let data = batch.project(&(0..n).collect::<Vec<_>>())?;
        for (s, c) in coalescers.iter_mut().enumerate() {
            let mask: BooleanArray = eq(&split, &UInt32Array::new_scalar(s as u32))?;
            let selected = mask.true_count();
            if selected == 0 {
                continue;
            }
            counts[s] += selected as u64;
            match selected == data.num_rows() {
                true => c.push_batch(data.clone())?,
                false => c.push_batch_with_filter(data.clone(), &mask)?,
            }
            drain(c, &mut writers[s], &paths[s])?;
        }
    }
    for (s, (mut c, mut w)) in coalescers.into_iter().zip(writers).enumerate() {
        c.finish_buffered_batch()?;
        drain(&mut c, &mut w, &paths[s])?;
        w.finish().map_err(|e| io(&paths[s], &e))?;
    }
    Ok((paths, counts))
}

/// A split's rows from one source partition, read back from its file.
#[derive(Debug)]
struct IpcPartition {
    path: PathBuf,
    schema: SchemaRef,
}

impl PartitionStream for IpcPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let opened = File::open(&self.path)
            .map_err(|e| DataFusionError::External(format!("{}: {e}", self.path.display()).into()))
            .and_then(|f| {
                FileReader::try_new(BufReader::with_capacity(1 << 20, f), None).map_err(Into::into)
            });
        let batches: Box<dyn Iterator<Item = deltalake::datafusion::error::Result<RecordBatch>> + Send> =
            match opened {
                Ok(reader) => Box::new(reader.map(|b| b.map_err(Into::into))),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::iter(batches)))
    }
}
