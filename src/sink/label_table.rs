//! The label map recorded as a Delta table, for model construction
//! (`AutoModelForSequenceClassification(num_labels, id2label, label2id)`).
//!
//! Layout ([`label_layout`]): one row per label —
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

use deltalake::DeltaTableError;
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::transaction::TransactionError;
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sink::delta::{self, NewTable};
use crate::storage::connector::Connector;
use crate::storage::label_layout::{self, names_of};
use crate::storage::location::TableRef;
use crate::transform::label_map::{LabelCounts, LabelMap};

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
        let new = NewTable { location: t.new_location, flag: "--label-table-location" };
        let (delta, created) = delta::open_for_write(t.table, t.cx, new).await?;
        let current = delta.version();
        let mut names = map.names.clone();
        if check_races && current.is_some() && current != base {
            let theirs = names_of(&delta, name, current.unwrap_or_default()).await?;
            names = merge(&names, &theirs).map_err(|(id, ours, other)| {
                Error::output(format!(
                    "label table `{name}` was changed by another run while this one was working (now version \
                     {}): it gives id {id} to `{other}`, this run gave it to `{ours}`. Nothing was published; \
                     run prepare again to build on the table's current map",
                    current.unwrap_or_default()
                ))
            })?;
        }
        let batch = batch(&names, counts)?;
        let batch_schema = batch.schema();
        // No retry inside delta-rs: a taken version is checked here (ours whose answer was lost, or
        // another run's), never re-committed on top.
        let props = CommitProperties::default()
            .with_metadata([("delta_hf".to_string(), metadata.clone())])
            .with_max_retries(0);
        let log_store = delta.log_store().object_store(None);
        let result = delta
            .write(vec![batch])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_commit_properties(props)
            .await;
        let lost_answer = match (&result, metadata["run_id"].as_str()) {
            (Err(_), Some(id)) => crate::sink::delta::committed_by(t.table, t.cx, id).await,
            _ => None,
        };
        if let Some(v) = lost_answer {
            tracing::info!("label table {name}: the commit's answer was lost, but version {v} is ours");
            crate::sink::undo::commit(log_store, v, name.to_string());
            if let Some(c) = created {
                c.register(t.cx, &batch_schema).await?;
            }
            return Ok(v);
        }
        match result {
            Ok(written) => {
                let version = written.version().unwrap_or_default();
                // Taken back if the dataset is not published after all (see sink::undo).
                crate::sink::undo::commit(log_store, version, name.to_string());
                if let Some(c) = created {
                    c.register(t.cx, &batch_schema).await?;
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
                let subject = format!("label table `{name}`");
                return Err(Error::upstream(e, &subject, |m| {
                    Error::output(format!("cannot commit {subject}: {m}"))
                }));
            }
        }
    }
    Err(Error::output(format!(
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

/// The batch of the map in [`label_layout`].
fn batch(names: &[String], counts: &LabelCounts) -> Result<RecordBatch> {
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int64Array::from_iter_values(0..names.len() as i64)),
        Arc::new(StringArray::from_iter_values(names.iter())),
    ];
    for i in 0..counts.splits.len() {
        columns.push(Arc::new(Int64Array::from_iter_values(
            names.iter().map(|l| counts.by_label.get(l).map(|c| c[i] as i64).unwrap_or(0)),
        )));
    }
    Ok(RecordBatch::try_new(Arc::new(label_layout::schema(&counts.splits)), columns)?)
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
