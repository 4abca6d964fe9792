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
//! The table is only written after the dataset is published, so a failed run never records a
//! map no dataset uses.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::table::{Location, TableRef};
use crate::transform::label_map::{LabelCounts, LabelMap};
use crate::transform::sql;

/// The map stored in the label table: labels ordered by id. `None` if the table does not exist.
pub async fn read(table: &TableRef) -> Result<Option<(Vec<String>, u64)>> {
    if !table.exists().await? {
        return Ok(None);
    }
    let opened = table.open().await?;
    let columns = opened.column_names();
    for c in ["id", "label"] {
        if !columns.iter().any(|x| x == c) {
            return Err(Error::MissingColumn {
                column: c.into(),
                what: "label table",
                table: table.name.clone(),
                available: columns.join(", "),
                flag: "--label-table (point it at a table delta-hf wrote, or a new path)",
            });
        }
    }
    let ctx = SessionContext::new();
    opened.table.update_datafusion_session(&ctx.state())?;
    let provider = opened.table.table_provider().await?;
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
                    "label table `{}` (version {}) is not a valid label map: ids must be \
                     0..n-1 without gaps or duplicates and labels non-null, but after id {} \
                     comes {}; repair it or use --label-map-mode rebuild",
                    table.name,
                    opened.version,
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
            "label table `{}` gives label `{dup}` two ids; repair it or use --label-map-mode rebuild",
            table.name
        )));
    }
    Ok(Some((names, opened.version)))
}

/// Commit the map as a new version; returns the version written.
pub async fn write(table: &TableRef, map: &LabelMap, counts: &LabelCounts, metadata: Value) -> Result<u64> {
    let mut fields =
        vec![Field::new("id", DataType::Int64, false), Field::new("label", DataType::Utf8, false)];
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int64Array::from_iter_values(0..map.names.len() as i64)),
        Arc::new(StringArray::from_iter_values(map.names.iter())),
    ];
    for (i, split) in counts.splits.iter().enumerate() {
        fields.push(Field::new(format!("count_{split}"), DataType::Int64, true));
        columns.push(Arc::new(Int64Array::from_iter_values(
            map.names.iter().map(|l| counts.by_label.get(l).map(|c| c[i] as i64).unwrap_or(0)),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let Location::Local(dir) = &table.location;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create label table dir", dir, e))?;
    let delta = DeltaTable::try_from_url(table.url()?)
        .await
        .map_err(|e| Error::TableUnreadable { table: table.name.clone(), reason: e.to_string() })?;
    let props = CommitProperties::default().with_metadata([("delta_hf".to_string(), metadata)]);
    let written = delta
        .write(vec![batch])
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .with_commit_properties(props)
        .await
        .map_err(|e| Error::Output(format!("cannot commit label table `{}`: {e}", table.name)))?;
    Ok(written.version().unwrap_or_default() as u64)
}
