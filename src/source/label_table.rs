//! Reading a label table (as `--label-table` writes it, see
//! [`crate::transform::label_map::table_layout`]): the labels in id order, checked to be a
//! valid map (ids `0..n` without gaps or duplicates, labels non-null and distinct).

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::source::table;
use crate::storage::connector::Connector;
use crate::storage::location::TableRef;
use crate::transform::label_map::table_layout;
use crate::transform::{session, sql};

/// The map stored in the label table: labels ordered by id, and the version read. `None` if
/// the table does not exist.
pub async fn read(t: &TableRef, cx: &Connector) -> Result<Option<(Vec<String>, u64)>> {
    if !t.exists(cx).await? {
        return Ok(None);
    }
    let opened = table::open(t, cx).await?;
    let names = names_of(&opened.table, &t.name, opened.version).await?;
    Ok(Some((names, opened.version)))
}

/// The labels of a loaded label table, in id order, checked to be a valid map.
pub async fn names_of(delta: &DeltaTable, name: &str, version: u64) -> Result<Vec<String>> {
    let columns: Vec<String> = match delta.snapshot() {
        Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
        Err(_) => Vec::new(),
    };
    for c in [table_layout::ID, table_layout::LABEL] {
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
    ctx.register_table(sql::LABEL_TABLE_VIEW, provider)?;
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
