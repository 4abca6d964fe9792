//! Below the data flow: how locations are named and reached.
//!
//! - [`location`]: table references and output locations as the user typed them, parsed
//!   without I/O (local paths, `s3://` / `abfss://` / `gs://` URIs, Unity Catalog names and
//!   `/Volumes/...` paths);
//! - [`connector`]: a run's storage options, its Unity Catalog client, and the object stores
//!   built from them (deltalake's factories for URIs, vended credentials for catalog locations);
//! - [`tables`]: a table reference → a Delta table builder, and what a failed load means;
//! - [`unity`]: the Unity Catalog REST API (config, client, credential vending);
//! - [`secret`]: values that are never printed.

pub mod connector;
pub mod location;
pub mod secret;
pub mod tables;
pub mod unity;
