//! The label table's layout, one row per label: `id BIGINT NOT NULL, label STRING NOT NULL`,
//! then `count_<split> BIGINT` for each split of the run. The one place that knows it, below the
//! stages: the writer ([`crate::sink::label_table`]) builds its batches with [`schema`], the
//! readers ([`crate::source::label_table`], `--labels-from` in [`crate::source::labels_from`],
//! and the writer merging with a concurrent run's map) read the map with [`names_of`].

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::storage::session;

pub const ID: &str = "id";
pub const LABEL: &str = "label";
/// Per-split count columns are `count_<split>`.
pub const COUNT_PREFIX: &str = "count_";

/// The map stored in a label table; see `sql/read_label_map.sql`. Reads [`VIEW`].
pub const READ_LABEL_MAP: &str = include_str!("../../sql/read_label_map.sql");
/// `label_table(id, label, ...)`: a label table being read.
const VIEW: &str = "label_table";

pub fn count_column(split: &str) -> String {
    format!("{COUNT_PREFIX}{split}")
}

/// The schema for a run over `splits`.
pub fn schema(splits: &[String]) -> Schema {
    let mut fields = vec![Field::new(ID, DataType::Int64, false), Field::new(LABEL, DataType::Utf8, false)];
    fields.extend(splits.iter().map(|s| Field::new(count_column(s), DataType::Int64, true)));
    Schema::new(fields)
}

/// Whether `columns` are a label table's: `id`, `label` and only count columns besides.
pub fn matches(columns: &[String]) -> bool {
    columns.iter().any(|c| c == ID)
        && columns.iter().any(|c| c == LABEL)
        && columns.iter().all(|c| c == ID || c == LABEL || c.starts_with(COUNT_PREFIX))
}

/// The labels of a loaded label table, in id order, checked to be a valid map.
pub async fn names_of(delta: &DeltaTable, name: &str, version: u64) -> Result<Vec<String>> {
    let columns: Vec<String> = match delta.snapshot() {
        Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
        Err(_) => Vec::new(),
    };
    for c in [ID, LABEL] {
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
    let ctx = session::small()?;
    delta.update_datafusion_session(&ctx.state())?;
    let provider = delta.table_provider().await?;
    ctx.register_table(VIEW, provider)?;
    let batches = ctx.sql(READ_LABEL_MAP).await?.collect().await?;
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
