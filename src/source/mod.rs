//! Where rows come from: Delta tables, label tables, and Hugging Face Hub datasets.
//!
//! - [`table`]: opening a table at its pinned snapshot, its protocol checked before any scan
//!   (with [`protocol_view`] for features that change nothing for a reader);
//! - [`label_table`]: the map recorded in a label table, read and checked;
//! - [`labels_from`]: `prepare --labels-from` (a dataset card's ClassLabel names, or a table);
//! - [`hub`]: Hub datasets (card, sizes, split files, verified downloads into the HF cache) for
//!   `size` and `pull`.
//! - [`tokenizer`]: `prepare --tokenizer` (a file, a directory, a URI or `hf://MODEL`), read and
//!   parsed.

pub mod hub;
pub mod label_table;
pub mod labels_from;
pub mod protocol_view;
pub mod table;
pub mod tokenizer;
