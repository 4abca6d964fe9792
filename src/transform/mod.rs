//! Stage 2 of the data flow: what is computed from the rows.
//!
//! - [`sql`]: the statements in `sql/`, embedded at build time, and the DataFusion session
//!   they run in;
//! - [`encode`]: the `label_id` expression that turns label strings into ids;
//! - [`label_map`]: one deterministic label → id map for every split, from the label counts,
//!   an existing label table, or an explicit `--labels` list;
//! - [`tokenize`]: `prepare --tokenizer`: token columns appended to every batch.

pub mod encode;
pub mod label_map;
pub mod sql;
pub mod tokenize;
