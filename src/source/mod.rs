//! Stage 1 of the data flow: where rows come from.
//!
//! - [`table`]: a table reference (local path or `file://` URI, optionally pinned to a version or
//!   timestamp) resolved in one place, opened as a Delta snapshot, its protocol checked before any
//!   scan so that a table we cannot read correctly is refused with the reason.
//! - [`demo`]: the deterministic demo tables `make demo` generates.

pub mod demo;
pub mod table;
