//! The SQL kept in `sql/` (one statement per file, named for what it produces), embedded at
//! compile time, and the DataFusion session it runs in.
//!
//! No user input is ever formatted into SQL: user-named columns are bound through the
//! DataFrame API (exact identifiers, no parsing) into views with fixed column names, and the
//! statements below only refer to those views.

use std::sync::Arc;

use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;

/// Per (split, label) row counts; see `sql/label_counts.sql`.
pub const LABEL_COUNTS: &str = include_str!("../../sql/label_counts.sql");
/// Per split null-text counts; see `sql/null_texts.sql`.
pub const NULL_TEXTS: &str = include_str!("../../sql/null_texts.sql");
/// Label strings → ids; see `sql/encode_labels.sql`.
pub const ENCODE_LABELS: &str = include_str!("../../sql/encode_labels.sql");
/// The map stored in a label table; see `sql/read_label_map.sql`.
pub const READ_LABEL_MAP: &str = include_str!("../../sql/read_label_map.sql");
/// Row count of one split; see `sql/count_rows.sql`.
pub const COUNT_ROWS: &str = include_str!("../../sql/count_rows.sql");

/// The column holding the id (renamed `label` after projection).
pub const LABEL_ID_COLUMN: &str = "__label_id";

/// The one DataFusion session of a run.
///
/// Settings that keep the export deterministic and streaming:
/// - no round-robin repartitioning, and no repartitioned joins in a `--select-sql` query: each
///   scan partition flows through the plan in its own order;
/// - Parquet strings read as `Utf8`, the type written, instead of `Utf8View` (saves a copy of
///   every text);
/// - an optional memory limit for the aggregation operators.
pub fn session(memory_limit: Option<usize>) -> Result<SessionContext> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_batch_size(2048)
        .with_round_robin_repartition(false)
        .with_repartition_joins(false)
        .with_repartition_aggregations(true);
    let opts = config.options_mut();
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.schema_force_view_types = false;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
    Ok(ctx)
}
