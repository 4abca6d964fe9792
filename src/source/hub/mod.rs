//! Stage 1 for Hub datasets: where rows come from when they live on the Hugging Face Hub. The
//! Hub itself (connection, snapshot, cache, downloads) is reached through [`crate::storage::hub`].
//!
//! - [`card`]: the dataset card's `cardData` (`configs`, `dataset_info`, ClassLabel names);
//! - [`files`]: which repo files make which split of a config, the way `load_dataset` decides;
//! - [`size`]: the sizes `load_dataset_builder(..).info` shows, each with its source.

pub mod card;
pub mod files;
pub mod size;
