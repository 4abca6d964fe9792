//! Stage 1 for Hub datasets: where rows come from when they live on the Hugging Face Hub.
//!
//! - [`client`]: the Hub connection from the environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME`,
//!   `HF_HUB_CACHE`, `HF_HUB_OFFLINE`), an `hf-hub` client with timeouts, and the repo snapshot
//!   (commit sha, card, file listing with sizes and sha256) — online, or from the cache when the
//!   Hub is offline or unreachable;
//! - [`card`]: the dataset card's `cardData` (`configs`, `dataset_info`, ClassLabel names);
//! - [`files`]: which repo files make which split of a config, the way `load_dataset` decides;
//! - [`size`]: the sizes `load_dataset_builder(..).info` shows, each with its source;
//! - [`download`]: parallel, verified (size + sha256), retried downloads into the HF cache.

pub mod card;
pub mod client;
pub mod download;
pub mod files;
pub mod size;
