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
//! `export` holds the stages `prepare` runs, which `plan`, `run_task` and `commit` share (its
//! `analyse` is the one front half of `prepare` and `plan`: select, label kind, label pass): no
//! command imports another.
//!
//! **To add a command**: a module here with a `run(settings, ui)` that returns a serialisable
//! summary with a `render()`; its flags as a variant of [`crate::cli::Command`], validated into
//! a settings struct in [`crate::settings`]; and its arm in [`crate::run`] (plus the arms of
//! [`crate::is_quiet`] and the retry budget there, which read its `--quiet` and
//! `--retry-timeout`).

pub mod commit;
pub mod demo_data;
mod export;
pub mod plan;
pub mod prepare;
pub mod pull;
pub mod run_task;
pub mod size;
