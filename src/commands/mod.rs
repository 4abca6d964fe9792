//! The commands, each a short linear `run` over the stages below it (source → transform →
//! sink), with a comment per stage.
//!
//! - [`prepare`]: Delta tables → a DatasetDict with one label map (and the label table);
//! - [`pull`]: a Hub dataset → one Delta table per split;
//! - [`size`]: a Hub dataset's sizes;
//! - [`plan`], [`run_task`], [`commit`]: `prepare` split into tasks that many machines run
//!   (fan-out): pin and plan, write one task's shards, publish them as one dataset;
//! - [`demo_data`]: the demo tables `make demo` exports.
//!
//! `export` holds the stages `prepare` runs, which `plan`, `run_task` and `commit` share: no
//! command imports another.

pub mod commit;
pub mod demo_data;
mod export;
pub mod plan;
pub mod prepare;
pub mod pull;
pub mod run_task;
pub mod size;
