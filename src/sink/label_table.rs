//! The label map recorded as a Delta table, for model construction
//! (`AutoModelForSequenceClassification(num_labels, id2label, label2id)`).
//!
//! Layout (wide): one row per label —
//! `id BIGINT NOT NULL, label STRING NOT NULL, count_<split> BIGINT` for each split of the run
//! (rows of that label in that split; 0 when absent). Every run commits the whole map as a new
//! version (overwrite, schema replaced so split columns follow the run), so the latest version
//! is the map and older versions stay readable by time travel. The commit metadata carries
//! `delta_hf` = `{run_id, sources: [{split, table, version}], output, label_map_mode}`.
//!
//! The table is written once the dataset is fully staged and just before it is published, so
//! a run that fails while reading or writing records nothing, and a run whose ids clash with a
//! concurrent run's publishes nothing (see [`write`]).
//!
//! The table may be a local path, a storage URI or a Unity Catalog name; a new Unity Catalog
//! table is created as EXTERNAL at `--label-table-location` (or under its schema's storage
//! root) and registered after its first commit.

use std::sync::Arc;

use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::transaction::TransactionError;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::storage::Connector;
use crate::source::table::{TableRef, access_error};
use crate::transform::label_map::{LabelCounts, LabelMap};
use crate::transform::sql;

/// The map stored in the label table: labels ordered by id, and the version read. `None` if
/// the table does not exist.
pub async fn read(table: &TableRef, cx: &Connector) -> Result<Option<(Vec<String>, u64)>> {
    if !table.exists(cx).await? {
        return Ok(None);
    }
    let opened = table.open(cx).await?;
    let names = names_of(&opened.table, &table.name, opened.version).await?;
    Ok(Some((names, opened.version)))
}

/// The labels of a loaded label table, in id order, checked to be a valid map.
async fn names_of(delta: &DeltaTable, name: &str, version: u64) -> Result<Vec<String>> {
    let columns: Vec<String> = match delta.snapshot() {
        Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
        Err(_) => Vec::new(),
    };
    for c in ["id", "label"] {
        if !columns.iter().any(|x| x == c) {
            return Err(Error::MissingColumn {
                column: c.into(),
                what: "label table",
                table: name.to_string(),
                available: columns.join(", "),
                flag: "--label-table (point it at a table delta-hf wrote, or a new path)",
            });
        }
    }
    let ctx = SessionContext::new();
    delta.update_datafusion_session(&ctx.state())?;
    let provider = delta.table_provider().await?;
    ctx.register_table("label_table", provider)?;
    let batches = ctx.sql(sql::READ_LABEL_MAP).await?.collect().await?;
    let mut names = Vec::new();
    for b in &batches {
        let ids = deltalake::arrow::compute::cast(b.column(0), &DataType::Int64)?;
        let ids = ids.as_any().downcast_ref::<Int64Array>().expect("cast to int64");
        let labels = deltalake::arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let labels = labels.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
        for i in 0..b.num_rows() {
            let expected = names.len() as i64;
            if ids.is_null(i) || labels.is_null(i) || ids.value(i) != expected {
                return Err(Error::Data(format!(
                    "label table `{name}` (version {version}) is not a valid label map: ids must be \
                     0..n-1 without gaps or duplicates and labels non-null, but after id {} \
                     comes {}; repair it or use --label-map-mode rebuild",
                    expected - 1,
                    if ids.is_null(i) { "a null id".to_string() } else { format!("id {}", ids.value(i)) },
                )));
            }
            names.push(labels.value(i).to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|l| !seen.insert(*l)) {
        return Err(Error::Data(format!(
            "label table `{name}` gives label `{dup}` two ids; repair it or use --label-map-mode rebuild"
        )));
    }
    Ok(names)
}

/// Where the label map is committed.
pub struct Target<'a> {
    pub table: &'a TableRef,
    pub cx: &'a Connector,
    /// Location for a Unity Catalog label table that does not exist yet.
    pub new_location: Option<&'a str>,
}

/// How often a commit that lost a race with another run is retried.
const ATTEMPTS: usize = 5;

/// Commit the map as a new version; returns the version written.
///
/// `base` is the version the map was built on (`None`: no table, or `--label-map-mode rebuild`).
/// When another run committed since, its map must agree with ours on every id both have — ours
/// only appended after theirs, or theirs after ours (then their longer map is kept, with zero
/// counts for the labels this run did not see). Otherwise this run fails before its dataset is
/// published, naming the clash; the table is left as the other run wrote it. A commit that loses
/// the race at the storage level is re-checked the same way and retried.
pub async fn write(
    t: &Target<'_>,
    map: &LabelMap,
    counts: &LabelCounts,
    metadata: Value,
    base: Option<u64>,
    check_races: bool,
) -> Result<u64> {
    let name = &t.table.name;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let (delta, created) = t.table.open_for_write(t.cx, t.new_location).await?;
        let current = delta.version();
        let mut names = map.names.clone();
        if check_races && current.is_some() && current != base {
            let theirs = names_of(&delta, name, current.unwrap_or_default()).await?;
            names = merge(&names, &theirs).map_err(|(id, ours, other)| {
                Error::Output(format!(
                    "label table `{name}` was changed by another run while this one was working (now version \
                     {}): it gives id {id} to `{other}`, this run gave it to `{ours}`. Nothing was published; \
                     run prepare again to build on the table's current map",
                    current.unwrap_or_default()
                ))
            })?;
        }
        let (batch, columns) = batch(&names, counts)?;
        // No retry inside delta-rs: a taken version is checked here (ours whose answer was lost, or
        // another run's), never re-committed on top.
        let props = CommitProperties::default()
            .with_metadata([("delta_hf".to_string(), metadata.clone())])
            .with_max_retries(0);
        let result = delta
            .write(vec![batch])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_commit_properties(props)
            .await;
        let lost_answer = match &result {
            Err(_) => match metadata["run_id"].as_str() {
                Some(id) => crate::sink::delta_table::committed_by(t.table, t.cx, id).await,
                None => None,
            },
            Ok(_) => None,
        };
        if let Some(v) = lost_answer {
            tracing::info!("label table {name}: the commit's answer was lost, but version {v} is ours");
            if let Some(d) = t.table.open(t.cx).await.ok() {
                crate::sink::undo::commit(d.table.log_store().object_store(None), v, name.to_string());
            }
            if let Some(c) = created {
                c.register(t.cx, &columns).await?;
            }
            return Ok(v);
        }
        match result {
            Ok(written) => {
                let version = written.version().unwrap_or_default();
                crate::sink::undo::commit(
                    written.log_store().object_store(None),
                    version as u64,
                    name.to_string(),
                );
                if let Some(c) = created {
                    c.register(t.cx, &columns).await?;
                }
                return Ok(version);
            }
            Err(DeltaTableError::Transaction { source })
                if matches!(
                    source,
                    TransactionError::CommitConflict(_)
                        | TransactionError::VersionAlreadyExists(_)
                        | TransactionError::MaxCommitAttempts(_)
                ) =>
            {
                tracing::info!("label table {name}: lost a commit race ({source}); checking and retrying");
                last_error = Some(source.to_string());
            }
            Err(e) => {
                return Err(match access_error(&e) {
                    Some(m) => Error::Access(format!("label table `{name}`: {m}")),
                    None => Error::Output(format!("cannot commit label table `{name}`: {e}")),
                });
            }
        }
    }
    Err(Error::Output(format!(
        "cannot commit label table `{name}`: other runs kept committing first ({}); nothing was published, \
         retry",
        last_error.unwrap_or_default()
    )))
}

/// The union of two maps that agree on every shared id (one extends the other), or the first
/// id where they disagree: `(id, ours, theirs)`.
fn merge(ours: &[String], theirs: &[String]) -> std::result::Result<Vec<String>, (usize, String, String)> {
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a != b {
            return Err((i, a.clone(), b.clone()));
        }
    }
    Ok(if theirs.len() > ours.len() { theirs.to_vec() } else { ours.to_vec() })
}

/// Columns as Unity Catalog wants them to register a table: name, type name, nullable.
type UcColumns = Vec<(String, &'static str, bool)>;

/// The wide batch, and its columns as Unity Catalog types.
fn batch(names: &[String], counts: &LabelCounts) -> Result<(RecordBatch, UcColumns)> {
    let mut fields =
        vec![Field::new("id", DataType::Int64, false), Field::new("label", DataType::Utf8, false)];
    let mut uc = vec![("id".to_string(), "LONG", false), ("label".to_string(), "STRING", false)];
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int64Array::from_iter_values(0..names.len() as i64)),
        Arc::new(StringArray::from_iter_values(names.iter())),
    ];
    for (i, split) in counts.splits.iter().enumerate() {
        fields.push(Field::new(format!("count_{split}"), DataType::Int64, true));
        uc.push((format!("count_{split}"), "LONG", true));
        columns.push(Arc::new(Int64Array::from_iter_values(
            names.iter().map(|l| counts.by_label.get(l).map(|c| c[i] as i64).unwrap_or(0)),
        )));
    }
    Ok((RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?, uc))
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn merges_extensions_only() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(merge(&v(&["a", "b"]), &v(&["a", "b", "c"])).unwrap(), v(&["a", "b", "c"]));
        assert_eq!(merge(&v(&["a", "b", "d"]), &v(&["a", "b"])).unwrap(), v(&["a", "b", "d"]));
        assert_eq!(
            merge(&v(&["a", "b", "d"]), &v(&["a", "b", "c"])).unwrap_err(),
            (2, "d".into(), "c".into())
        );
    }
}
