//! What is computed from the rows, in the order `prepare` runs it.
//!
//! - [`sql`]: the statements in `sql/`, embedded at build time, and the views they read;
//! - [`select`]: one DataFrame per split with the export columns (or a `--select-sql` query);
//! - [`label_kind`]: what the label column holds (`--label-kind`), from its type; the columns
//!   each kind writes;
//! - [`label_pass`]: null checks and label counts over every split, then the map
//!   ([`list_pass`] for list labels and regression targets);
//! - [`label_map`]: one deterministic label → id map for every split, from the label counts,
//!   an existing label table, or an explicit list (the label table's layout is
//!   [`crate::storage::label_layout`]'s, the one DataFusion session builder
//!   [`crate::storage::session`]);
//! - [`encode`]: labels → ids for an export, ids → names for `pull`; [`list_encode`]: list
//!   labels → lists of ids or multi-hot vectors, and the sub-word alignment of token tags.
//! - [`tokenize`]: `prepare --tokenizer`: token columns appended to every batch.

pub mod encode;
pub mod label_kind;
pub mod label_map;
pub mod label_pass;
pub mod list_encode;
pub mod list_pass;
pub mod select;
pub mod sql;
pub mod tokenize;
