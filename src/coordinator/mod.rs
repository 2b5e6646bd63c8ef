//! The coordinator side of distributed execution: a session whose physical planner is
//! datafusion-distributed's (stages, tasks, network boundaries), and the clusters that resolve the
//! worker URLs of its tasks.
//!
//! This module never plans on its own and never moves bytes itself: the planner is
//! datafusion-distributed's, and each cluster supplies the `WorkerChannel` that reaches a worker.

mod grpc;
mod guard;
mod in_process;
pub(crate) mod partitions;
mod placement;
mod pool;
mod sizing;

use crate::cache::{CacheCodec, CachingQueryPlanner, ResultCache, ResultPlanner};
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{
    ChannelResolver, DistributedConfig, DistributedExt, NetworkBoundaryExt, RouteTasksHandler,
    SessionStateBuilderExt, WorkerResolver,
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
pub(crate) fn grpc_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let cluster = grpc::GrpcCluster::start(workers)
        .map_err(|error| datafusion::common::DataFusionError::External(Box::new(error)))?;
    distributed_context(
        config,
        runtime,
        grpc::GrpcResolver(Arc::new(cluster)),
        datafusion_distributed::grpc::DefaultChannelResolver::default(),
        None,
        StageCache::of(cache),
        sizing,
    )
}

/// The workers of a distributed engine on the shared-memory transport: this host's worker
/// processes (`pool`) and remote gRPC workers (`remote`), at least one of either.
pub(crate) struct WorkerSet {
    pub(crate) pool: Option<Arc<WorkerPool>>,
    pub(crate) remote: Vec<url::Url>,
    /// How long a worker may take to connect or answer before its query fails.
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) ring_bytes: usize,
    pub(crate) exchange_budget: usize,
}

/// A session context whose queries run as stages on the worker processes of a pool, reached
/// through shared-memory rings, and on remote gRPC workers.
pub(crate) fn shm_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: WorkerSet,
    cache: Option<Arc<ResultCache>>,
    sizing: TaskSizing,
) -> Result<SessionContext> {
    let mut shm = crate::exchange::ShmChannelResolver::new(workers.ring_bytes, workers.timeout)
        .with_exchange_budget(workers.exchange_budget);
    if let Some(pool) = &workers.pool {
        shm = shm.with_obituaries(pool.clone());
    }
    let channels =
        crate::channels::Channels::new(shm, crate::channels::GrpcChannels::new(workers.timeout));
    // Without worker processes no task is sure to reach this host's cache folder: stage parts
    // are then neither served nor recorded (whole results still are, in this process).
    let stage_parts = workers.pool.is_some();
    let placed = placement::Workers::new(workers.pool, workers.remote);
    distributed_context(
        config,
        runtime,
        placed.clone(),
        channels,
        Some(Arc::new(placed)),
        cache.map(|cache| StageCache { cache, stage_parts }),
        sizing,
    )
}

/// The result cache of a distributed session, and whether stage outputs are cached too.
struct StageCache {
    cache: Arc<ResultCache>,
    stage_parts: bool,
}

impl StageCache {
    fn of(cache: Option<Arc<ResultCache>>) -> Option<StageCache> {
        cache.map(|cache| StageCache {
            cache,
            stage_parts: true,
        })
    }
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
    distributed_context(
        config,
        runtime,
        cluster.clone(),
        cluster,
        None,
        StageCache::of(cache),
        sizing,
    )
}

/// A session planned by datafusion-distributed over `workers`, reached through `channels`, with
/// stages placed by `route` before datafusion-distributed's own routing, and the result `cache`
/// (if any) looked up before and after stages are cut.
fn distributed_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: impl WorkerResolver + 'static,
    channels: impl ChannelResolver + Send + Sync + 'static,
    route: Option<Arc<dyn RouteTasksHandler>>,
    cache: Option<StageCache>,
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
    if let Some(StageCache { cache, .. }) = &cache {
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
    if let Some(StageCache { cache, stage_parts }) = cache {
        // ... and the cut points of the staged plan are served or recorded after.
        planner = Arc::new(CachingQueryPlanner::around(cache, planner, stage_parts));
    }
    builder = builder.with_query_planner(planner);
    builder = builder
        .with_distributed_worker_resolver(workers)
        .with_distributed_channel_resolver(channels)
        .with_distributed_user_codec(CacheCodec)
        .with_distributed_desired_task_count_handler(sizing);
    if let Some(route) = route {
        builder = builder.with_distributed_route_tasks_handler(route);
    }
    // Task metrics only for EXPLAIN ANALYZE (see `collect_metrics_if_analyzed`).
    if let Some(config) = builder.config()
        && let Ok(config) = DistributedConfig::from_config_options_mut(config.options_mut())
    {
        config.collect_metrics = false;
    }
    Ok(SessionContext::new_with_state(builder.build()))
}

/// Has the workers send their task metrics back for an EXPLAIN ANALYZE, the one statement that
/// shows them. Other queries collect them only where the session `SET
/// distributed.collect_metrics = true` (off in dfshm's sessions): the end of a query that
/// collects them waits, after its last batch, for a round trip to each of its tasks.
pub(crate) fn collect_metrics_if_analyzed(state: &mut SessionState, plan: &LogicalPlan) {
    let collects = DistributedConfig::from_config_options(state.config().options())
        .is_ok_and(|config| config.collect_metrics);
    if !collects
        && matches!(plan, LogicalPlan::Analyze(_))
        && let Ok(config) =
            DistributedConfig::from_config_options_mut(state.config_mut().options_mut())
    {
        config.collect_metrics = true;
    }
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
