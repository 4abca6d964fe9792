//! The one builder of DataFusion sessions (datafusion-cli's way: one function from settings).
//! Below the stages, because every one of them queries tables: a source reads a label table
//! ([`super::label_layout`]), `transform/` runs the export's queries, a command writes.
//!
//! Every session delta-hf runs — `prepare`'s export, `pull`'s ordered writes, reading a label
//! table — is built by [`session`], so they share these settings:
//! - delta-rs' query planner, which its writer needs for the plans it builds;
//! - no round-robin repartitioning, and no repartitioned joins in a `--select-sql` query: each
//!   scan partition flows through the plan in its own order (deterministic, streaming);
//! - no file-scan work stealing: a partition reads exactly the files (or byte ranges) it was
//!   planned with, so a split's row order is the same on every run;
//! - Parquet strings read as `Utf8`, the type written, instead of `Utf8View` (saves a copy of
//!   every text), and filters pushed into the Parquet scan;
//! - no IN-list pushdown of hash joins (delta-rs' workaround for a DataFusion panic on
//!   dictionary join keys);
//! - an optional memory limit for the aggregation operators.

use std::sync::Arc;

use deltalake::datafusion::error::Result as DataFusionResult;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, execute_stream, execute_stream_partitioned,
};
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;

use crate::error::Result;

/// What a session is sized for.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Scan partitions (parallel decoders).
    pub partitions: usize,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Memory limit of the spilling operators, in bytes.
    pub memory_limit: Option<usize>,
}

impl SessionOptions {
    /// An export: one partition per core, 2048-row batches (see `make bench`).
    pub fn export(memory_limit: Option<usize>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        SessionOptions { partitions: cores, batch_size: 2048, memory_limit }
    }

    /// A write that keeps the input's row order: one partition.
    pub fn ordered() -> Self {
        SessionOptions { partitions: 1, batch_size: 8192, memory_limit: None }
    }
}

/// Build a session.
pub fn session(o: SessionOptions) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_target_partitions(o.partitions)
        .with_batch_size(o.batch_size)
        .with_round_robin_repartition(false)
        .with_repartition_joins(false)
        .with_repartition_aggregations(true);
    let opts = config.options_mut();
    // Each partition reads the files it was planned with, in order: with work stealing (on by
    // default since DataFusion 55) an idle partition takes a sibling's next file, so which rows
    // land in which shard, and the row order of a split, changed from run to run.
    opts.execution.enable_file_stream_work_stealing = false;
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.schema_force_view_types = false;
    opts.optimizer.hash_join_inlist_pushdown_max_size = 0;
    opts.optimizer.hash_join_inlist_pushdown_max_distinct_values = 0;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = o.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .with_query_planner(DeltaPlanner::new())
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// A small session for reading small tables (label tables).
pub fn small() -> Result<SessionContext> {
    session(SessionOptions { partitions: 1, batch_size: 8192, memory_limit: None })
}

/// The output streams of `df`, in the order its rows are written: one per partition, read each
/// in turn or under a limited number of decode permits. When the plan hash-repartitions (an
/// aggregating `--select-sql`), its partitions are not independent: reading one while another
/// waits makes the repartitioning buffer the waiting one's share of the whole input. Such a plan
/// is read as one stream that polls every partition at once.
pub async fn streams(df: DataFrame) -> DataFusionResult<Vec<SendableRecordBatchStream>> {
    let task_ctx = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    if repartitions(plan.as_ref()) && plan.output_partitioning().partition_count() > 1 {
        Ok(vec![execute_stream(plan, task_ctx)?])
    } else {
        execute_stream_partitioned(plan, task_ctx)
    }
}

fn repartitions(plan: &dyn ExecutionPlan) -> bool {
    plan.name() == "RepartitionExec" || plan.children().into_iter().any(|c| repartitions(c.as_ref()))
}
