//! Where results go.
//!
//! - [`features`]: Arrow types → `datasets` features, and the batch conversion that makes every
//!   column loadable;
//! - [`hf_dataset`]: the `save_to_disk` writer (shards, `state.json`, `dataset_info.json`,
//!   `dataset_dict.json`, `label_map.json`);
//! - [`publish`]: staging directory → final local output, atomically;
//! - [`remote`]: staging directory → object store or Unity Catalog volume, in an order that never
//!   shows a reader a partial dataset;
//! - [`delta`]: Delta tables created and written (`pull`'s per-split tables; new Unity Catalog
//!   tables created and registered);
//! - [`fanout`]: the fan-out staging area (a task's shards and manifest) on the output's store;
//! - [`label_table`]: the label map recorded as a Delta table (write, and merge with a
//!   concurrent run's map).

pub mod delta;
pub mod fanout;
pub mod features;
pub mod hf_dataset;
pub mod label_table;
pub mod publish;
pub mod remote;
pub mod undo;
