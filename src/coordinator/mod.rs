//! The coordinator side of distributed execution: a session whose physical planner is
//! datafusion-distributed's (stages, tasks, network boundaries), and the clusters that resolve the
//! worker URLs of its tasks.
//!
//! This module never plans on its own and never moves bytes itself: the planner is
//! datafusion-distributed's, and each cluster supplies the `WorkerChannel` that reaches a worker.

mod in_process;
mod routing;

use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt};
use in_process::{ClusterResolver, InProcessCluster, Observer};
use std::sync::Arc;

pub use routing::{Boundary, route_partition};

/// A session context whose queries run as stages on `workers` in-process datafusion-distributed
/// workers (`datafusion-distributed` decides how many tasks each stage gets).
pub(crate) fn in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
) -> Result<SessionContext> {
    observed_in_process_context(config, runtime, workers, None)
}

/// Like [`in_process_context`], calling `observer` on every `execute_task` request.
fn observed_in_process_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    workers: usize,
    observer: Option<Observer>,
) -> Result<SessionContext> {
    let cluster = InProcessCluster::start(workers, runtime.clone(), observer)?;
    let cluster = ClusterResolver(cluster);
    // The config goes in first: `with_config` after the resolvers would drop them.
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_distributed_planner()
        .with_distributed_worker_resolver(cluster.clone())
        .with_distributed_channel_resolver(cluster)
        .build();
    Ok(SessionContext::new_with_state(state))
}
