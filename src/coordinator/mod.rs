//! The coordinator side of distributed execution: a session whose physical planner is
//! datafusion-distributed's (stages, tasks, network boundaries), and the clusters that resolve the
//! worker URLs of its tasks.
//!
//! This module never plans on its own and never moves bytes itself: the planner is
//! datafusion-distributed's, and each cluster supplies the `WorkerChannel` that reaches a worker.

#[cfg(feature = "grpc")]
mod grpc;
mod guard;
mod in_process;
pub(crate) mod partitions;
mod pool;
mod sizing;

use crate::cache::{CacheCodec, CachingQueryPlanner, ResultCache, ResultPlanner};
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{
    ChannelResolver, DistributedExt, NetworkBoundaryExt, SessionStateBuilderExt, WorkerResolver,
};
use guard::GuardedPlanner;
pub(crate) use in_process::Observer;
use in_process::{ClusterResolver, InProcessCluster};
use std::sync::Arc;

pub use pool::find_worker_program;
pub(crate) use pool::{WORKER_ENV, WorkerPool, WorkerSettings};
pub use sizing::DEFAULT_SCAN_BYTES_PER_TASK;
pub(crate) use sizing::TaskSizing;

/// A session context whose queries run as stages on `workers` datafusion-distributed gRPC
/// workers on localhost (the baseline the shared-memory transport is compared with).
#[cfg(feature = "grpc")]
pub(crate) fn grpc_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let cluster = grpc::GrpcCluster::start(workers, runtime.clone())
        .map_err(|error| datafusion::common::DataFusionError::External(Box::new(error)))?;
    distributed_context(
        config,
        runtime,
        grpc::GrpcResolver(Arc::new(cluster)),
        datafusion_distributed::grpc::DefaultChannelResolver::default(),
        cache,
        sizing,
    )
}

/// A session context whose queries run as stages on the worker processes of `pool`, reached
/// through shared-memory rings.
pub(crate) fn shm_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    pool: Arc<WorkerPool>,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let channels = crate::exchange::ShmChannelResolver::new(
        pool.settings().ring_bytes,
        pool.settings().stall_timeout,
    )
    .with_exchange_budget(pool.settings().exchange_budget)
    .with_obituaries(pool.clone());
    distributed_context(
        config,
        runtime,
        pool::PoolResolver(pool),
        channels,
        cache,
        sizing,
    )
}

/// A session context whose queries run as stages on `workers` in-process datafusion-distributed
/// workers (`datafusion-distributed` decides how many tasks each stage gets).
pub(crate) fn in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    observed_in_process_context(config, runtime, workers, None, cache, sizing)
}

/// Like [`in_process_context`], calling `observer` on every `execute_task` request.
pub(crate) fn observed_in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    observer: Option<Observer>,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let cluster = InProcessCluster::start(workers, runtime.clone(), observer)?;
    let cluster = ClusterResolver(cluster);
    distributed_context(config, runtime, cluster.clone(), cluster, cache, sizing)
}

/// A session planned by datafusion-distributed over `workers`, reached through `channels`, with
/// the result `cache` (if any) looked up before and after stages are cut.
fn distributed_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: impl WorkerResolver + 'static,
    channels: impl ChannelResolver + Send + Sync + 'static,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let physical_scalar_subqueries = config
        .options()
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery;
    // The config goes in first: `with_config` after the resolvers would drop them.
    let mut builder = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime);
    if let Some(cache) = &cache {
        // datafusion-distributed's planner wraps the planner it finds: the whole result is
        // looked up before stages are cut.
        builder = builder.with_query_planner(Arc::new(ResultPlanner::new(cache.clone())));
    }
    builder = builder.with_distributed_planner();
    // datafusion-distributed turns DataFusion's physical scalar subqueries off, so that the
    // optimizer rewrites them into joins: such a join answers where DataFusion raises "Scalar
    // subquery returned more than one row", and some shapes (a subquery in ORDER BY or inside
    // an aggregate) then fail to plan. dfshm keeps the setting DataFusion has; a stage that would
    // carry a scalar subquery's result without its `ScalarSubqueryExec` does not survive the
    // codec, so the guard below runs that query in the coordinator.
    if let Some(config) = builder.config() {
        config
            .options_mut()
            .optimizer
            .enable_physical_uncorrelated_scalar_subquery = physical_scalar_subqueries;
    }
    // What datafusion-distributed plans is checked before it is sent (and run here if it
    // cannot be sent faithfully) ...
    let distributed = builder
        .query_planner()
        .take()
        .expect("with_distributed_planner installs a planner");
    let mut planner: Arc<dyn QueryPlanner + Send + Sync> =
        Arc::new(GuardedPlanner::around(distributed));
    if let Some(cache) = cache {
        // ... and the cut points of the staged plan are served or recorded after.
        planner = Arc::new(CachingQueryPlanner::around(cache, planner));
    }
    builder = builder.with_query_planner(planner);
    builder = builder
        .with_distributed_worker_resolver(workers)
        .with_distributed_channel_resolver(channels)
        .with_distributed_user_codec(CacheCodec)
        .with_distributed_desired_task_count_handler(sizing);
    Ok(SessionContext::new_with_state(builder.build()))
}

/// The network boundaries in `plan`: each is a stage that ran (or will run) on workers. Zero
/// means the whole plan runs in this process.
pub fn stages_on_workers(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let own = usize::from(plan.is_network_boundary());
    own + plan
        .children()
        .into_iter()
        .map(stages_on_workers)
        .sum::<usize>()
}
