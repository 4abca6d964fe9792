//! Reading a label table (as `--label-table` writes it, in [`crate::storage::label_layout`]'s
//! layout): the labels in id order, checked to be a valid map (ids `0..n` without gaps or
//! duplicates, labels non-null and distinct).

use crate::error::Result;
use crate::source::table;
use crate::storage::connector::Connector;
use crate::storage::label_layout;
use crate::storage::location::TableRef;

/// The map stored in the label table: labels ordered by id, and the version read. `None` if
/// the table does not exist.
pub async fn read(t: &TableRef, cx: &Connector) -> Result<Option<(Vec<String>, u64)>> {
    if !t.exists(cx).await? {
        return Ok(None);
    }
    let opened = table::open(t, cx).await?;
    let names = label_layout::names_of(&opened.table, &t.name, opened.version).await?;
    Ok(Some((names, opened.version)))
}
