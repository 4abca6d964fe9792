//! Reading Delta tables: every table the tool reads (split inputs, label tables, `--labels-from`
//! tables) is opened here, at its pinned snapshot, and its protocol checked before any scan.
//!
//! Guarantees:
//! - a missing location is [`Error::TableNotFound`]; a location without `_delta_log/` or with a
//!   broken log is [`Error::TableUnreadable`] naming why;
//! - reader features outside [`READABLE_FEATURES`] refuse the table and name the feature
//!   (features that change nothing for a reader are read through [`ProtocolView`]);
//! - failures to reach or authenticate to a store or the catalog are [`Error::Access`];
//! - the snapshot version actually read is recorded in [`OpenedTable::version`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use deltalake::DeltaTable;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::datasource::physical_plan::FileScanConfig;
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::prelude::SessionContext;
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::protocol_view::{HIDDEN_FEATURES, ProtocolView};
use crate::storage::connector::Connector;
use crate::storage::location::{Pin, TableRef};
use crate::storage::tables::{Access, StoreWrap};

/// Reader features whose semantics this tool (through delta-rs' DataFusion scan) honours, so
/// that the rows it returns are the rows the table holds.
pub const READABLE_FEATURES: &[&str] = &["columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint"];

/// Why a reader feature outside [`READABLE_FEATURES`] is refused, where we know more than its name.
fn feature_note(feature: &str) -> Option<&'static str> {
    match feature {
        "vacuumProtocolCheck" => Some(
            "`vacuumProtocolCheck` only constrains VACUUM and is hidden from the reader when it is \
             declared in a JSON commit, but here the protocol comes from a checkpoint",
        ),
        "typeWidening" | "typeWidening-preview" => Some(
            "`typeWidening` tables may hold files written with narrower types that must be widened on read",
        ),
        "catalogManaged" | "catalogOwned-preview" => {
            Some("`catalogManaged` tables must be read through their catalog's commit coordinator")
        }
        "variantType" | "variantType-preview" | "variantShredding" | "variantShredding-preview" => {
            Some("variant columns have no `datasets` feature")
        }
        _ => None,
    }
}

/// Highest reader protocol version we understand.
const MAX_READER_VERSION: i32 = 3;

fn protocol_view(store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    Arc::new(ProtocolView::new(store))
}

/// Open the pinned snapshot of `t`, check that it can be read correctly, and return it.
pub async fn open(t: &TableRef, cx: &Connector) -> Result<OpenedTable> {
    if let Some(dir) = t.local_path() {
        if !dir.exists() {
            return Err(Error::TableNotFound {
                table: t.name.clone(),
                detail: format!("no such directory `{}`", dir.display()),
            });
        }
        if !dir.join("_delta_log").is_dir() {
            return Err(Error::unreadable(
                t.name.clone(),
                format!(
                    "not a Delta table: `{}` has no `_delta_log/` folder \
                     (a folder of Parquet files must be converted to Delta first)",
                    dir.display()
                ),
            ));
        }
    }
    let mut view = false;
    loop {
        let Some(mut builder) =
            t.builder(cx, Access::Read, view.then_some(protocol_view as StoreWrap)).await?
        else {
            return Err(t.not_in_catalog(cx).await);
        };
        match &t.pin {
            Some(Pin::Version(v)) => builder = builder.with_version(*v as _),
            Some(Pin::Timestamp(at)) => builder = builder.with_timestamp(*at),
            None => {}
        }
        let table = builder.load().await.map_err(|e| t.load_error(e))?;
        let opened = OpenedTable::new(t.clone(), table)?;
        let unsupported = opened.unsupported_features()?;
        // Only features that change nothing for a reader: load again through the view.
        if !view
            && !unsupported.is_empty()
            && unsupported.iter().all(|f| HIDDEN_FEATURES.contains(&f.as_str()))
        {
            tracing::debug!("{}: reading through a protocol view hiding {unsupported:?}", t.name);
            view = true;
            continue;
        }
        opened.check_protocol()?;
        if let Some(Pin::Timestamp(at)) = &t.pin {
            opened.check_committed_by(*at).await?;
        }
        return Ok(opened);
    }
}

/// An opened, checked snapshot of a table.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    /// How the user named it.
    pub table_ref: TableRef,
    /// The loaded snapshot.
    pub table: DeltaTable,
    /// The version read.
    pub version: u64,
}

impl OpenedTable {
    fn new(table_ref: TableRef, table: DeltaTable) -> Result<Self> {
        let version = table.version().ok_or_else(|| table_ref.unreadable("no version could be loaded"))?;
        Ok(OpenedTable { table_ref, version, table })
    }

    /// The name the user gave.
    pub fn name(&self) -> &str {
        &self.table_ref.name
    }

    /// Reader features of the protocol outside [`READABLE_FEATURES`].
    pub fn unsupported_features(&self) -> Result<Vec<String>> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        Ok(snapshot
            .protocol()
            .reader_features()
            .unwrap_or_default()
            .iter()
            .map(|f| f.to_string())
            .filter(|f| !READABLE_FEATURES.contains(&f.as_str()))
            .collect())
    }

    /// Refuse tables whose protocol asks for reader features we cannot honour.
    pub fn check_protocol(&self) -> Result<()> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        let protocol = snapshot.protocol();
        let reader_version = protocol.min_reader_version();
        if reader_version > MAX_READER_VERSION {
            return Err(self.table_ref.unreadable(format!(
                "its protocol needs reader version {reader_version}; delta-hf reads up to \
                     {MAX_READER_VERSION}"
            )));
        }
        let unsupported = self.unsupported_features()?;
        if !unsupported.is_empty() {
            let notes: Vec<&str> = unsupported.iter().filter_map(|f| feature_note(f)).collect();
            return Err(self.table_ref.unreadable(format!(
                "its protocol requires the reader table feature{} {}, which delta-hf cannot \
                     read correctly{}. Workaround: drop the feature in Databricks \
                     (`ALTER TABLE ... DROP FEATURE <name>`), or export a copy without it \
                     (`CREATE TABLE ... AS SELECT ...`) and point delta-hf at the copy",
                if unsupported.len() > 1 { "s" } else { "" },
                unsupported.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) },
            )));
        }
        Ok(())
    }

    /// delta-rs resolves an instant before the first commit to the first version; we refuse it
    /// instead: there is no version "at or before" that instant.
    async fn check_committed_by(&self, at: DateTime<Utc>) -> Result<()> {
        let v = self.version;
        let millis = match self.table.snapshot().ok().and_then(|s| s.version_timestamp(v as _)) {
            Some(ms) => ms,
            None => {
                let path = object_store::path::Path::from(format!("_delta_log/{v:020}.json"));
                match self.table.object_store().head(&path).await {
                    Ok(meta) => meta.last_modified.timestamp_millis(),
                    // No commit file (a checkpoint-only version): nothing to compare.
                    Err(_) => return Ok(()),
                }
            }
        };
        match DateTime::<Utc>::from_timestamp_millis(millis) {
            Some(committed) if committed > at => Err(self.table_ref.unreadable(format!(
                "no version was committed at or before {}: the oldest version in its log, {v}, was \
                 committed at {}; pick a later instant, or a version with @vN",
                at.to_rfc3339(),
                committed.to_rfc3339()
            ))),
            _ => Ok(()),
        }
    }

    /// The `delta_hf` commit metadata of the snapshot's latest commit, if any.
    pub async fn latest_metadata(&self) -> Result<Option<Value>> {
        let mut history = self.table.history(Some(1));
        let Some(c) = history.next().await else { return Ok(None) };
        let c = c.map_err(|e| self.table_ref.unreadable(e))?;
        Ok(c.info.get("delta_hf").cloned())
    }

    /// The snapshot as a DataFusion table in `ctx`'s session (so the scan follows its settings:
    /// Utf8 strings, pushdown); with `files`, only those data files (paths relative to the
    /// table root), read in the snapshot's order.
    pub async fn provider(
        &self,
        ctx: &SessionContext,
        files: Option<&[String]>,
    ) -> Result<Arc<dyn TableProvider>> {
        self.table.update_datafusion_session(&ctx.state())?;
        let mut builder = self.table.table_provider().with_session(Arc::new(ctx.state()));
        if let Some(files) = files {
            builder = builder.with_file_paths(files.iter().cloned());
        }
        Ok(builder.await?)
    }

    /// The data files a scan of the whole snapshot reads, in the order it reads them (the
    /// order of the rows an export writes), with their sizes: paths relative to the table root.
    pub async fn files_in_scan_order(&self, ctx: &SessionContext) -> Result<Vec<(String, u64)>> {
        let provider = self.provider(ctx, None).await?;
        let plan = provider.scan(&ctx.state(), None, &[], None).await?;
        let root = self
            .table
            .log_store()
            .root_url()
            .path()
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        let mut out: Vec<(String, u64)> = Vec::new();
        let mut stack = vec![plan];
        let mut found = false;
        // Depth first, children in order: the order the partitions are numbered in.
        while let Some(node) = stack.pop() {
            if let Some(exec) = node.downcast_ref::<DataSourceExec>()
                && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
            {
                found = true;
                for group in &config.file_groups {
                    for f in group.iter() {
                        let full = f.object_meta.location.as_ref();
                        let rel = full
                            .strip_prefix(&root)
                            .map(|r| r.trim_start_matches('/'))
                            .filter(|_| !root.is_empty())
                            .unwrap_or(full)
                            .to_string();
                        // A file split into byte ranges appears once per range, consecutively.
                        if out.last().map(|(p, _)| p != &rel).unwrap_or(true) {
                            out.push((rel, f.object_meta.size));
                        }
                    }
                }
            }
            for child in node.children().into_iter().rev() {
                stack.push(child.clone());
            }
        }
        if !found && self.file_count()? > 0 {
            return Err(Error::Internal(format!(
                "table `{}`: the scan plan lists no data files, so they cannot be split into tasks",
                self.name()
            )));
        }
        Ok(out)
    }

    /// Each data file's row count, by path relative to the table root as
    /// [`Self::files_in_scan_order`] names it: the Delta log's `numRecords` statistic, or, for a
    /// file written without it, the row count in its Parquet footer (one small read); less the
    /// rows its deletion vector removes. These are the rows a scan of the file returns.
    pub async fn file_rows(&self) -> Result<std::collections::HashMap<String, u64>> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        let mut rows = std::collections::HashMap::new();
        let mut store = None;
        for f in snapshot.log_data().iter() {
            let removed = f.deletion_vector_descriptor().map_or(0, |dv| dv.cardinality.max(0) as u64);
            let n = match f.num_records() {
                Some(n) => n as u64,
                None => {
                    let store = store.get_or_insert_with(|| self.table.log_store().object_store(None));
                    footer_rows(store.as_ref(), &f.object_store_path(), f.size().max(0) as u64)
                        .await
                        .map_err(|e| {
                            self.table_ref
                                .unreadable(format!("data file `{}`: its Parquet footer: {e}", f.path()))
                        })?
                }
            };
            let n = n.saturating_sub(removed);
            rows.insert(f.object_store_path().to_string(), n);
            rows.insert(f.path().into_owned(), n);
        }
        Ok(rows)
    }

    fn file_count(&self) -> Result<usize> {
        let snapshot = self.table.snapshot().map_err(|e| self.table_ref.unreadable(e))?;
        Ok(snapshot.log_data().num_files())
    }

    /// Column names of the table, in schema order.
    pub fn column_names(&self) -> Vec<String> {
        match self.table.snapshot() {
            Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// The row count in a Parquet file's footer (two small range reads: the footer's tail, then
/// its metadata).
async fn footer_rows(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    size: u64,
) -> std::result::Result<u64, String> {
    use deltalake::parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    if size < 8 {
        return Err(format!("{size} bytes, shorter than a Parquet footer"));
    }
    let tail = store.get_range(path, size - 8..size).await.map_err(|e| e.to_string())?;
    let tail: [u8; 8] = tail.as_ref().try_into().map_err(|_| "a short read of the footer".to_string())?;
    let len = FooterTail::try_new(&tail).map_err(|e| e.to_string())?.metadata_length() as u64;
    if len + 8 > size {
        return Err(format!("a footer of {len} bytes in a file of {size}"));
    }
    let meta = store.get_range(path, size - 8 - len..size - 8).await.map_err(|e| e.to_string())?;
    let meta = ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| e.to_string())?;
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::storage::session::{self, SessionOptions};

    /// The Delta log's row counts are found under the names the scan gives the files, also in
    /// partition folders whose names need escaping.
    #[tokio::test]
    async fn file_rows_name_the_files_as_the_scan_does() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("part", DataType::Utf8, false),
        ]));
        for (n, part) in [(3i64, "a b=c/%"), (5, "plain"), (2, "a b=c/%")] {
            let ids = Int64Array::from((0..n).collect::<Vec<_>>());
            let parts = StringArray::from(vec![part; n as usize]);
            let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(parts)]).unwrap();
            let t = DeltaTable::try_from_url(url.clone()).await.unwrap();
            t.write(vec![b]).with_partition_columns(["part"]).await.unwrap();
        }
        let t = open(
            &TableRef::parse(dir.path().to_str().unwrap()).unwrap(),
            &Connector::new(&[], None).unwrap(),
        )
        .await
        .unwrap();
        let ctx = session::session(SessionOptions::export(None)).unwrap();
        let files = t.files_in_scan_order(&ctx).await.unwrap();
        let rows = t.file_rows().await.unwrap();
        let mut counts: Vec<u64> = files.iter().map(|(p, _)| *rows.get(p).expect(p)).collect();
        counts.sort();
        assert_eq!(counts, vec![2, 3, 5]);
    }

    /// On Spark-written tables (deletion vectors, escaped partition values, checkpoints) the
    /// counts of the files a scan reads add up to the rows it returns.
    #[tokio::test]
    async fn file_rows_add_up_on_spark_tables() {
        let golden = std::env::var_os("DELTA_HF_GOLDEN_DIR")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/delta-golden")
            });
        if !golden.is_dir() {
            assert!(
                std::env::var_os("DELTA_HF_NO_SKIP").is_none_or(|v| v.is_empty() || v == "0"),
                "golden fixtures not found at {}",
                golden.display()
            );
            eprintln!(
                "SKIPPED: file_rows_add_up_on_spark_tables: no golden fixtures at {}",
                golden.display()
            );
            return;
        }
        // Deletion vectors and a checkpoint; updates; escaped partition values and no `numRecords`
        // in the log (the counts come from the Parquet footers).
        for name in
            ["dv-partitioned-with-checkpoint", "basic-with-inserts-updates", "data-reader-escaped-chars"]
        {
            let path = golden.join(name).join("delta");
            let t =
                open(&TableRef::parse(path.to_str().unwrap()).unwrap(), &Connector::new(&[], None).unwrap())
                    .await
                    .unwrap();
            let ctx = session::session(SessionOptions::export(None)).unwrap();
            let files = t.files_in_scan_order(&ctx).await.unwrap();
            assert!(!files.is_empty(), "{name}");
            let rows = t.file_rows().await.unwrap();
            let logged: u64 = files.iter().map(|(p, _)| *rows.get(p).expect(p)).sum();
            let scanned =
                ctx.read_table(t.provider(&ctx, None).await.unwrap()).unwrap().count().await.unwrap();
            assert_eq!(logged, scanned as u64, "{name}");
        }
    }
}
