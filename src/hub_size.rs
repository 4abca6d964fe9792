//! `delta-hf size`: resolve the dataset at a commit, then report its sizes (see
//! [`crate::source::hub::size`] for the sources and their order).

use crate::cli::SizeArgs;
use crate::error::Result;
use crate::source::hub::card::Card;
use crate::source::hub::client::{Hub, HubEnv};
use crate::source::hub::size::{self, SizeReport};

/// The parquet branch, the Hub's own conversion of every config.
pub const PARQUET_BRANCH: &str = "refs/convert/parquet";

/// Run `size`.
pub async fn size(args: &SizeArgs) -> Result<SizeReport> {
    let hub = Hub::new(HubEnv::from_env())?;
    let repo = &args.hub.dataset;
    let snap = hub.snapshot(repo, &args.hub.revision).await?;
    let card = Card::parse(&snap.card)?;
    // Without configs in the card, or without Parquet files for them, the parquet branch says
    // which configs exist and which files `pull` would read.
    let has_parquet = snap.files.iter().any(|f| f.path.ends_with(".parquet"));
    let parquet_branch = if card.config_names().is_empty() || !has_parquet {
        hub.snapshot(repo, PARQUET_BRANCH).await.ok()
    } else {
        None
    };
    let viewer = (!args.no_viewer).then_some(args.viewer_endpoint.as_str());
    size::report(&hub, &snap, parquet_branch.as_ref(), args.hub.config.as_deref(), viewer).await
}
