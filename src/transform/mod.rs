//! Stage 2 of the data flow: what is computed from the rows.
//!
//! - [`sql`]: the statements in `sql/`, embedded at build time, and the DataFusion session
//!   they run in;
//! - [`label_map`]: one deterministic label → id map for every split, from the label counts,
//!   an existing label table, or an explicit `--labels` list.

pub mod label_map;
pub mod sql;
