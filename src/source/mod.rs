//! Where rows come from: Delta tables, label tables, and Hugging Face Hub datasets.
//!
//! - [`table`]: opening a table at its pinned snapshot, its protocol checked before any scan
//!   (with [`protocol_view`] for features that change nothing for a reader);
//! - [`label_table`]: the map recorded in a label table, read and checked (the layout is
//!   [`crate::storage::label_layout`]'s, shared with the sink that writes it);
//! - [`labels_from`]: `prepare --labels-from` (a dataset card's ClassLabel names, or a table),
//!   and the fixed label list ([`labels_from::ListedLabels`]) it and `--labels FILE` give;
//! - [`hub`]: Hub datasets (card, split files, sizes) for `size` and `pull`; the Hub itself
//!   (connection, snapshot, cache, downloads) is [`crate::storage::hub`];
//! - [`tokenizer`]: `prepare --tokenizer` (a file, a directory, a URI or `hf://MODEL`), read and
//!   parsed.
//!
//! A source reaches storage, the Hub and DataFusion through `storage/` only: it imports neither
//! `transform/` nor `sink/`.

pub mod hub;
pub mod label_table;
pub mod labels_from;
pub mod protocol_view;
pub mod table;
pub mod tokenizer;
