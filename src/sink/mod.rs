//! Where results go.
//!
//! - [`format`]: the output format — the seam where everything specific to a layout lives
//!   (shard files and their names, metadata files, the order of a publish, what an existing
//!   output of the format looks like); [`format::arrow`] is the `save_to_disk` layout. To add a
//!   format, see there;
//! - [`hf_dataset`]: the split writer, the same for every format (shards cut by
//!   [`hf_dataset::ShardPolicy`], decoding and writing threads, checksums), and `label_map.json`;
//! - [`features`]: Arrow types → `datasets` features, and the batch conversion that makes every
//!   column loadable;
//! - [`publish`]: staging directory → final local output, atomically;
//! - [`remote`]: staging directory → object store or Unity Catalog volume, in the format's
//!   publish order, which never shows a reader a partial dataset;
//! - [`delta`]: Delta tables created and written (`pull`'s per-split tables; new Unity Catalog
//!   tables created and registered);
//! - [`fanout`]: the fan-out staging area (a task's shards and manifest) on the output's store;
//! - [`label_table`]: the label map recorded as a Delta table (write, and merge with a
//!   concurrent run's map).
//! - [`report`] (issue 23): `report.json` / `report.html` beside the data, and `--report-table`.

pub mod delta;
pub mod fanout;
pub mod features;
pub mod format;
pub mod hf_dataset;
pub mod label_table;
pub mod publish;
pub mod remote;
pub mod undo;
// issue 23: the report
pub mod report;
