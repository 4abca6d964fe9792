//! `--report-table TABLE`: the report appended to a Delta table, one row per split and run, so
//! runs can be compared over time (`SELECT * FROM t WHERE split = 'train' ORDER BY created`).
//!
//! Layout ([`schema`]): `run_id`, `created` (timestamp, UTC), `output`, `split`, `source_table`,
//! `source_version`, `label_kind`, `rows_in`, `rows_out`; `dropped` and `classes` (the split's
//! drop counts by reason and its per-class or per-label counts and weights) as JSON text;
//! `chars_p50`/`_p90`/`_p99`/`_max`, `tokens_p50`/`_p90`/`_p99`/`_max`, `max_length`,
//! `truncated`, `truncated_share` (null when not measured); `report`: the split's whole entry of
//! `report.json`. Numbers that may be absent are nullable.
//!
//! One append commit per run (`delta_hf` commit metadata: the run id and output), made before
//! the dataset is published and taken back if it is not (as the label table's). The table may
//! be a path, a URI or a Unity Catalog name (a new one is created under its schema's storage
//! root and registered).

use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use serde_json::json;

use super::Report;
use crate::error::{Error, Result};
use crate::sink::delta::{self, NewTable};
use crate::storage::connector::Connector;
use crate::storage::location::TableRef;

/// The table's columns.
pub fn schema() -> Schema {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("created", utc, false),
        Field::new("output", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("source_table", DataType::Utf8, false),
        Field::new("source_version", DataType::Int64, false),
        Field::new("label_kind", DataType::Utf8, true),
        Field::new("rows_in", DataType::Int64, false),
        Field::new("rows_out", DataType::Int64, false),
        Field::new("dropped", DataType::Utf8, false),
        Field::new("classes", DataType::Utf8, true),
    ];
    for what in ["chars", "tokens"] {
        for p in ["p50", "p90", "p99"] {
            fields.push(Field::new(format!("{what}_{p}"), DataType::Float64, true));
        }
        fields.push(Field::new(format!("{what}_max"), DataType::Int64, true));
    }
    fields.extend([
        Field::new("max_length", DataType::Int64, true),
        Field::new("truncated", DataType::Int64, true),
        Field::new("truncated_share", DataType::Float64, true),
        Field::new("report", DataType::Utf8, false),
    ]);
    Schema::new(fields)
}

/// The report's rows.
fn batch(r: &Report) -> Result<RecordBatch> {
    let n = r.splits.len();
    let created = chrono::DateTime::parse_from_rfc3339(&r.created)
        .map(|t| t.timestamp_micros())
        .map_err(|e| Error::Internal(format!("report time `{}`: {e}", r.created)))?;
    let text = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from((0..n).map(f).collect::<Vec<_>>()))
    };
    let int = |f: &dyn Fn(usize) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from((0..n).map(f).collect::<Vec<_>>()))
    };
    let float = |f: &dyn Fn(usize) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from((0..n).map(f).collect::<Vec<_>>()))
    };
    let sp = &r.splits;
    let classes = |i: usize| match (&sp[i].classes, &sp[i].positives) {
        (Some(c), _) => Some(json!(c).to_string()),
        (_, Some(p)) => Some(json!(p).to_string()),
        _ => None,
    };
    let mut columns: Vec<ArrayRef> = vec![
        text(&|_| Some(r.run_id.clone())),
        Arc::new(TimestampMicrosecondArray::from(vec![created; n]).with_timezone("UTC")),
        text(&|_| Some(r.output.clone())),
        text(&|i| Some(sp[i].name.clone())),
        text(&|i| Some(sp[i].table.clone())),
        int(&|i| Some(sp[i].version as i64)),
        text(&|_| r.label_kind.clone()),
        int(&|i| Some(sp[i].rows_in as i64)),
        int(&|i| Some(sp[i].rows_out as i64)),
        text(&|i| Some(json!(sp[i].dropped).to_string())),
        text(&classes),
    ];
    let lengths: [Vec<Option<&super::LengthSummary>>; 2] = [
        sp.iter().map(|s| s.chars.as_ref()).collect(),
        sp.iter().map(|s| s.tokens.as_ref().map(|t| &t.lengths)).collect(),
    ];
    for l in &lengths {
        columns.push(float(&|i| l[i].and_then(|l| l.p50)));
        columns.push(float(&|i| l[i].and_then(|l| l.p90)));
        columns.push(float(&|i| l[i].and_then(|l| l.p99)));
        columns.push(int(&|i| l[i].and_then(|l| l.max).map(|m| m as i64)));
    }
    columns.push(int(&|i| sp[i].tokens.as_ref().and_then(|t| t.max_length).map(|m| m as i64)));
    columns.push(int(&|i| sp[i].tokens.as_ref().map(|t| t.truncated as i64)));
    columns.push(float(&|i| sp[i].tokens.as_ref().map(|t| t.truncated_share)));
    columns.push(text(&|i| Some(json!(sp[i]).to_string())));
    Ok(RecordBatch::try_new(Arc::new(schema()), columns)?)
}

/// Append the report's rows to `table` (created if absent); returns the version committed.
/// The commit is taken back if the dataset is not published after all ([`crate::sink::undo`]).
pub async fn append(table: &TableRef, cx: &Connector, r: &Report) -> Result<u64> {
    let name = &table.name;
    let (delta, created) = delta::open_for_write(table, cx, NewTable { location: None, flag: "" }).await?;
    let batch = batch(r)?;
    let schema = batch.schema();
    let metadata = json!({
        "run_id": r.run_id,
        "output": r.output,
        "tool": r.tool,
        "what": "report",
    });
    let props =
        CommitProperties::default().with_metadata([("delta_hf".to_string(), metadata)]).with_max_retries(3);
    let log_store = delta.log_store().object_store(None);
    let written = delta
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_schema_mode(SchemaMode::Merge)
        .with_commit_properties(props)
        .await
        .map_err(|e| {
            let subject = format!("report table `{name}`");
            Error::upstream(e, &subject, |m| Error::output(format!("cannot append to {subject}: {m}")))
        })?;
    let version = written.version().unwrap_or_default();
    crate::sink::undo::commit(log_store, version, name.to_string());
    if let Some(c) = created {
        c.register(cx, &schema).await?;
    }
    Ok(version)
}
