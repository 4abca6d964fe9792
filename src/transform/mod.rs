//! What is computed from the rows, in the order `prepare` runs it.
//!
//! - [`sql`]: the statements in `sql/`, embedded at build time, and the views they read;
//! - [`columns`]: the export's column names (the user's, and the fixed ones they are bound to);
//! - [`select`]: one DataFrame per split with the export columns (or a `--select-sql` query);
//! - [`kind`]: what the label column holds (`--label-kind`), from its type, and everything
//!   that differs by kind — one module per kind behind one interface (label pass, encoding,
//!   features, `label_map.json`, summary, the flags it takes);
//! - [`label_pass`]: the label pass's machinery (null checks, label counts over every split,
//!   the map), which each kind's pass is made of ([`list_pass`]: the checks of list labels and
//!   regression targets);
//! - [`label_map`]: one deterministic label → id map for every split, from the label counts,
//!   an existing label table, or an explicit list (the label table's layout is
//!   [`crate::storage::label_layout`]'s, the one DataFusion session builder
//!   [`crate::storage::session`]);
//! - [`encode`]: labels → ids for an export, ids → names for `pull`; [`list_encode`]: list
//!   labels → lists of ids or multi-hot vectors, and the sub-word alignment of token tags.
//! - [`tokenize`]: `prepare --tokenizer`: token columns appended to every batch.
//! - [`stats`] (issue 23, the report): per-split statistics observed on the written batches
//!   (label counts, lengths in characters and tokens, truncation), exact and mergeable.

pub mod columns;
pub mod encode;
pub mod kind;
pub mod label_map;
pub mod label_pass;
pub mod list_encode;
pub mod list_pass;
pub mod select;
pub mod sql;
pub mod tokenize;
// issue 23: the report's statistics
pub mod stats;
// SFT exports (issue 21).
pub mod sft;
