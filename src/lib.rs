//! delta-hf: Delta Lake tables → Hugging Face `datasets` caches with one shared label map.
//!
//! The modules follow the data flow: [`source`] (where rows come from) → [`transform`] (what
//! is computed) → [`sink`] (where results go), run in order by [`pipeline`]. [`cli`] and
//! [`settings`] turn the command line into one validated settings struct; [`error`] holds the
//! error type and the exit codes.

pub mod cli;
pub mod error;
pub mod pipeline;
pub mod settings;
pub mod sink;
pub mod source;
pub mod summary;
pub mod transform;
pub mod ui;
