//! Below the data flow: how locations are named and reached.
//!
//! - [`location`]: table references and output locations as the user typed them, parsed
//!   without I/O (local paths, `s3://` / `abfss://` / `gs://` URIs, Unity Catalog names and
//!   `/Volumes/...` paths);
//! - [`connector`]: a run's storage options, its Unity Catalog client, and the object stores
//!   built from them (configured as delta-rs configures its stores; vended credentials for
//!   catalog locations);
//! - [`tables`]: a table reference → a Delta table builder, and what a failed load means;
//! - [`unity`]: the Unity Catalog REST API (config, client, credential vending);
//! - [`retry`]: the one retry policy of remote calls, and object stores that follow it;
//! - [`http`]: the HTTP client of object stores, which waits out `Retry-After`;
//! - [`aws`]: S3 credentials resolved as delta-rs resolves them (the AWS SDK's chain);
//! - [`secret`]: values that are never printed.

pub mod aws;
pub mod connector;
pub mod http;
pub mod location;
pub mod retry;
pub mod secret;
pub mod tables;
pub mod unity;
