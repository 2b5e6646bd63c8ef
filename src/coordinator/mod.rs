//! The coordinator side of distributed execution: a session whose physical planner is
//! datafusion-distributed's (stages, tasks, network boundaries), and the clusters that resolve the
//! worker URLs of its tasks.
//!
//! This module never plans on its own and never moves bytes itself: the planner is
//! datafusion-distributed's, and each cluster supplies the `WorkerChannel` that reaches a worker.

#[cfg(feature = "grpc")]
mod grpc;
mod in_process;
mod pool;
mod routing;

use crate::cache::{CacheCodec, CachingQueryPlanner, ResultCache, ResultPlanner};
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{
    ChannelResolver, DistributedExt, SessionStateBuilderExt, WorkerResolver,
};
use in_process::{ClusterResolver, InProcessCluster, Observer};
use std::sync::Arc;

pub(crate) use pool::{WORKER_ENV, WorkerPool, WorkerSettings, find_worker_program};
pub use routing::{Boundary, route_partition};

/// A session context whose queries run as stages on `workers` datafusion-distributed gRPC
/// workers on localhost (the baseline the shared-memory transport is compared with).
#[cfg(feature = "grpc")]
pub(crate) fn grpc_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    cache: Option<Arc<ResultCache>>,
) -> Result<SessionContext> {
    let cluster = grpc::GrpcCluster::start(workers, runtime.clone())
        .map_err(|error| datafusion::common::DataFusionError::External(Box::new(error)))?;
    distributed_context(
        config,
        runtime,
        grpc::GrpcResolver(Arc::new(cluster)),
        datafusion_distributed::grpc::DefaultChannelResolver::default(),
        cache,
    )
}

/// A session context whose queries run as stages on the worker processes of `pool`, reached
/// through shared-memory rings.
pub(crate) fn shm_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    pool: Arc<WorkerPool>,
    cache: Option<Arc<ResultCache>>,
) -> Result<SessionContext> {
    let channels = crate::channel::ShmChannelResolver::new(
        pool.settings().ring_bytes,
        pool.settings().stall_timeout,
    );
    distributed_context(config, runtime, pool::PoolResolver(pool), channels, cache)
}

/// A session context whose queries run as stages on `workers` in-process datafusion-distributed
/// workers (`datafusion-distributed` decides how many tasks each stage gets).
pub(crate) fn in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    cache: Option<Arc<ResultCache>>,
) -> Result<SessionContext> {
    observed_in_process_context(config, runtime, workers, None, cache)
}

/// Like [`in_process_context`], calling `observer` on every `execute_task` request.
fn observed_in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    observer: Option<Observer>,
    cache: Option<Arc<ResultCache>>,
) -> Result<SessionContext> {
    let cluster = InProcessCluster::start(workers, runtime.clone(), observer)?;
    let cluster = ClusterResolver(cluster);
    distributed_context(config, runtime, cluster.clone(), cluster, cache)
}

/// A session planned by datafusion-distributed over `workers`, reached through `channels`, with
/// the result `cache` (if any) looked up before and after stages are cut.
fn distributed_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: impl WorkerResolver + 'static,
    channels: impl ChannelResolver + Send + Sync + 'static,
    cache: Option<Arc<ResultCache>>,
) -> Result<SessionContext> {
    let one_partition_per_task = config.target_partitions() == 1;
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
    if let Some(cache) = cache {
        // ... and the cut points of the staged plan after.
        let distributed = builder
            .query_planner()
            .take()
            .expect("with_distributed_planner installs a planner");
        builder =
            builder.with_query_planner(Arc::new(CachingQueryPlanner::around(cache, distributed)));
    }
    builder = builder
        .with_distributed_worker_resolver(workers)
        .with_distributed_channel_resolver(channels)
        .with_distributed_user_codec(CacheCodec);
    if one_partition_per_task {
        // datafusion-distributed 4 plans every join as CollectLeft when tasks have one partition
        // each, and broadcasting such a build side computes a scalar subquery (TPC-H q11, q15)
        // once per task instead of once: wrong answers. Without broadcast joins they are right.
        builder = builder.with_distributed_broadcast_joins(false)?;
    }
    Ok(SessionContext::new_with_state(builder.build()))
}
