//! delta-hf: Delta Lake tables → Hugging Face `datasets` caches with one shared label map.
//!
//! The modules follow the data flow: [`source`] (where rows come from) → [`transform`] (what
//! is computed) → [`sink`] (where results go), run in order by [`pipeline`]. [`cli`] and
//! [`settings`] turn the command line into one validated settings struct; [`error`] holds the
//! error type and the exit codes. [`hub_size`] and [`hub_pull`] run `size` and `pull` (Hub
//! datasets → Delta tables) over [`source::hub`] and [`sink::delta_table`].

pub mod cli;
pub mod error;
pub mod hub_pull;
pub mod hub_size;
pub mod pipeline;
pub mod settings;
pub mod sink;
pub mod source;
pub mod summary;
pub mod transform;
pub mod ui;
