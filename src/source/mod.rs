//! Stage 1 of the data flow: where rows come from.
//!
//! - [`table`]: a table reference (local path or `file://` URI, optionally pinned to a version or
//!   timestamp) resolved in one place, opened as a Delta snapshot, its protocol checked before any
//!   scan so that a table we cannot read correctly is refused with the reason.
//!   Also object-store URIs and Unity Catalog names.
//! - [`storage`]: storage options, object stores, and the Unity Catalog client for a run;
//! - [`unity`]: the Unity Catalog REST API — auth like the Databricks CLI, table/volume lookup,
//!   credential vending with renewal;
//! - [`hub`]: Hugging Face Hub datasets (card, sizes, split files, verified downloads into the HF
//!   cache) for `size` and `pull`.
//! - [`labels_from`]: `prepare --labels-from` (a dataset card's ClassLabel names, or a label table).
//! - [`demo`]: the deterministic demo tables `make demo` generates.
//! - [`tokenizer`]: `prepare --tokenizer` (a file, a directory, a URI or `hf://MODEL`), parsed.

pub mod demo;
pub mod hub;
pub mod labels_from;
pub mod protocol_view;
pub mod storage;
pub mod table;
pub mod tokenizer;
pub mod unity;
