//! `delta-hf size`: resolve the dataset at a commit, then report its sizes (see
//! [`crate::source::hub::size`] for the sources and their order).

use crate::error::Result;
use crate::settings::SizeSettings;
use crate::source::hub::card::Card;
use crate::source::hub::files::PARQUET_BRANCH;
use crate::source::hub::size::{self, SizeReport};
use crate::storage::hub::client::{Hub, HubEnv};

/// Run `size`.
pub async fn run(s: &SizeSettings) -> Result<SizeReport> {
    // 1. resolve: the commit and its card.
    let hub = Hub::new(HubEnv::from_env())?;
    let snap = hub.snapshot(&s.dataset, &s.revision).await?;
    let card = Card::parse(&snap.card)?;
    // Without configs in the card, or without Parquet files for them, the parquet branch says
    // which configs exist and which files `pull` would read.
    let has_parquet = snap.files.iter().any(|f| f.path.ends_with(".parquet"));
    let parquet_branch = if card.config_names().is_empty() || !has_parquet {
        hub.snapshot(&s.dataset, PARQUET_BRANCH).await.ok()
    } else {
        None
    };
    // 2. report: card, viewer, tree.
    size::report(&hub, &snap, parquet_branch.as_ref(), s.config.as_deref(), s.viewer.as_deref()).await
}
