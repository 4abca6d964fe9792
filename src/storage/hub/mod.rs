//! The Hugging Face Hub as a remote service: the connection, the repo snapshot and the HF cache.
//! Below the data flow, so that whatever talks to the Hub (a dataset read as a source, a
//! tokenizer, a future sink publishing to the Hub) reaches it here and never through a source.
//!
//! - [`client`]: the Hub connection from the environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME`,
//!   `HF_HUB_CACHE`, `HF_HUB_OFFLINE`), an `hf-hub` client with timeouts, and the repo snapshot
//!   (commit sha, card, file listing with sizes and sha256) — online, or from the cache when the
//!   Hub is offline or unreachable;
//! - [`download`]: parallel, verified (size + sha256), retried downloads into the HF cache;
//! - [`commit`]: publishing a directory to a dataset repo as one commit (`--output hf://`).
//!
//! What a dataset's files mean (its card, which files make which split, its sizes) is
//! [`crate::source::hub`]'s.

pub mod client;
pub mod commit;
pub mod download;
