//! Below the data flow: how locations are named and reached, and what every stage shares to
//! reach them. Nothing here imports a stage (`source/`, `transform/`, `sink/`) or a command;
//! every stage may import it.
//!
//! - [`location`]: table references and output locations as the user typed them, parsed
//!   without I/O (local paths, `s3://` / `abfss://` / `gs://` URIs, Unity Catalog names and
//!   `/Volumes/...` paths);
//! - [`connector`]: a run's storage options, its Unity Catalog client, and the object stores
//!   built from them (configured as delta-rs configures its stores; vended credentials for
//!   catalog locations);
//! - [`options`]: a store's configuration, the user's options layered over the environment;
//! - [`aws`]: S3 credentials resolved as delta-rs resolves them (the AWS SDK's chain);
//! - [`http`]: the HTTP client of object stores, which waits out `Retry-After`;
//! - [`retry`]: the one retry policy of remote calls, and object stores that follow it;
//! - [`tables`]: a table reference → a Delta table builder, and what a failed load means;
//! - [`session`]: the one builder of DataFusion sessions, and the order their streams are read;
//! - [`label_layout`]: the label table's layout (columns, schema) and its reader, shared by
//!   the source that reads a label table and the sink that writes one;
//! - [`unity`]: the Unity Catalog REST API (config, client, credential vending);
//! - [`hub`]: the Hugging Face Hub (connection, repo snapshots, the HF cache, verified
//!   downloads), for whatever reads from it or, later, writes to it;
//! - [`secret`]: values that are never printed.
//!
//! To add an object store (a new URI scheme): accept its scheme in [`location`] (`CLOUD_SCHEMES`
//! and the table parser), build it in
//! [`connector`] (`Connector::store` and `Connector::build`: its object_store builder, the
//! [`options`] layering of its environment prefix, [`http::RetryAfterConnector`], wrapped in
//! [`retry::RetryStore`]), and, if its credential failures have their own wording, teach
//! [`crate::error::boundary`] the needles (with a test each). A new remote service (not an object
//! store) gets its own folder here, like [`unity`] and [`hub`], and calls [`retry`] for every
//! request.

pub mod aws;
pub mod connector;
pub mod http;
pub mod hub;
pub mod label_layout;
pub mod location;
pub mod options;
pub mod retry;
pub mod secret;
pub mod session;
pub mod tables;
pub mod unity;
