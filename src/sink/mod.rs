//! Stage 3 of the data flow: where results go.
//!
//! - [`features`]: Arrow types → `datasets` features, and the batch conversion that makes every
//!   column loadable;
//! - [`hf_dataset`]: the `save_to_disk` writer (shards, `state.json`, `dataset_info.json`,
//!   `dataset_dict.json`);
//! - [`publish`]: staging directory → final output, atomically;
//! - [`remote`]: staging directory → object store or Unity Catalog volume, in an order that never
//!   shows a reader a partial dataset;
//! - [`label_table`]: the label map recorded as a Delta table;
//! - [`delta_table`]: a Delta table streamed from a DataFusion plan (`pull`'s per-split tables).

pub mod delta_table;
pub mod features;
pub mod hf_dataset;
pub mod label_table;
pub mod publish;
pub mod remote;
pub mod undo;
