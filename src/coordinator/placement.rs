//! The workers of a distributed engine, and which of them a stage's tasks go to.
//!
//! An engine has the worker processes of its pool on this host (`dfshm://`, shared memory), remote
//! gRPC workers (`http://`), or both. Every task can read a remote worker, but only processes on
//! this host can read a worker process. So a stage that reads a stage with a task on a worker
//! process, or that serves cached stage parts from this host's cache folder, runs on worker
//! processes; any other stage goes wherever datafusion-distributed's own routing puts it (round
//! robin from a random worker, or beside the single task it reads). Data thus flows from remote
//! workers towards this host, never back.

use super::pool::WorkerPool;
use crate::cache::CachedScanExec;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    NetworkBoundaryExt, RouteTasksEvent, RouteTasksEventResponse, RouteTasksHandler, Stage,
    WorkerResolver,
};
use std::sync::Arc;
use url::Url;

/// The worker processes of this host's pool (if any) and the remote workers (if any).
#[derive(Clone)]
pub(crate) struct Workers {
    pool: Option<Arc<WorkerPool>>,
    remote: Arc<[Url]>,
}

impl Workers {
    pub(crate) fn new(pool: Option<Arc<WorkerPool>>, remote: Vec<Url>) -> Workers {
        Workers {
            pool,
            remote: remote.into(),
        }
    }
}

impl WorkerResolver for Workers {
    fn get_urls(&self) -> Result<Vec<Url>> {
        let mut urls = match &self.pool {
            Some(pool) => pool.urls()?,
            None => Vec::new(),
        };
        urls.extend(self.remote.iter().cloned());
        if urls.is_empty() {
            return Err(DataFusionError::Configuration(
                "this engine has no workers to run stages on".into(),
            ));
        }
        Ok(urls)
    }
}

/// Whether the stage headed by `plan` must run on this host: it reads a task on a worker
/// process, or it reads cached parts from this host's folder.
fn needs_this_host(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut local = false;
    let _ = plan.apply(|node| {
        if node.downcast_ref::<CachedScanExec>().is_some() {
            local = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        let Some(boundary) = node.as_network_boundary() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if let Stage::Remote(input) = boundary.input_stage()
            && input
                .workers
                .iter()
                .any(|url| url.scheme() == crate::exchange::SCHEME)
        {
            local = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        // The boundary's own input is another stage, already placed.
        Ok(TreeNodeRecursion::Jump)
    });
    local
}

impl RouteTasksHandler for Workers {
    fn handle(&self, event: RouteTasksEvent) -> Option<Result<RouteTasksEventResponse>> {
        // Without both kinds of worker, every worker can read every other one.
        let pool = self.pool.as_ref().filter(|_| !self.remote.is_empty())?;
        if !needs_this_host(event.plan) {
            return None;
        }
        let urls = match pool.urls() {
            Ok(urls) if !urls.is_empty() => urls,
            Ok(_) => return None,
            Err(error) => return Some(Err(error)),
        };
        let start = rand_start(urls.len());
        Some(Ok(RouteTasksEventResponse::new(
            (0..event.task_count)
                .map(|task| urls[(start + task) % urls.len()].clone())
                .collect(),
        )))
    }
}

/// A pseudo-random index below `len` (spreads single-task stages over the pool).
fn rand_start(len: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or_default(),
    );
    (hasher.finish() % len as u64) as usize
}
