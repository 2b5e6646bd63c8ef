//! An in-process cluster: N datafusion-distributed `Worker`s living in this process, reached
//! through a `WorkerChannel` that calls them directly (no serialization, no copies).
//!
//! It runs exactly the distributed plans worker processes will run, so the differential tests
//! (`tpch_matches_datafusion`, `multi_process`) can check the planner (stages, tasks, network
//! boundaries) independently of any transport. It never spawns processes or threads.

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, DistributedExt, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, MaybeEncoded, SetPlanRequest, Worker,
    WorkerChannel, WorkerResolver, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::HeaderMap;
use std::sync::{Arc, Weak};
use url::Url;

/// The workers of an in-process cluster and the URLs that name them.
pub(crate) struct InProcessCluster {
    urls: Vec<Url>,
    workers: Vec<Worker>,
    /// Sees every `execute_task` request with the consumer's task context (tests use it to pin
    /// routing against the planner's real requests).
    observer: Option<Observer>,
}

/// A callback on every `execute_task` request and the consuming task's context.
pub(crate) type Observer = Arc<dyn Fn(&ExecuteTaskRequest, &Arc<TaskContext>) + Send + Sync>;

impl std::fmt::Debug for InProcessCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessCluster")
            .field("urls", &self.urls)
            .finish()
    }
}

impl InProcessCluster {
    /// Starts `count` workers sharing `runtime` (and so its memory pool); `observer`, if any, is
    /// called on every `execute_task` request.
    pub(crate) fn start(
        count: usize,
        runtime: Arc<RuntimeEnv>,
        observer: Option<Observer>,
    ) -> Result<Arc<InProcessCluster>> {
        let urls = (0..count)
            .map(|index| Url::parse(&format!("dfshm-in-process://worker-{index}")))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        // Each worker's sessions must reach the other workers through the same resolver; a weak
        // handle avoids a cycle from the cluster to itself through the workers.
        Ok(Arc::new_cyclic(|cluster: &Weak<InProcessCluster>| {
            let workers = (0..count)
                .map(|_| {
                    let resolver = WeakCluster(cluster.clone());
                    Worker::from_session_builder(crate::worker::WorkerSessions::new(
                        move |config| config.with_distributed_channel_resolver(resolver.clone()),
                    ))
                    .with_runtime_env(runtime.clone())
                })
                .collect();
            InProcessCluster {
                urls,
                workers,
                observer,
            }
        }))
    }

    fn channel(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let index = self
            .urls
            .iter()
            .position(|known| known == url)
            .ok_or_else(|| {
                DataFusionError::Internal(format!("no in-process worker is named {url}"))
            })?;
        Ok(Box::new(InProcessChannel {
            worker: self.workers[index].clone(),
            observer: self.observer.clone(),
        }))
    }
}

/// The cluster as the coordinator's channel and worker resolver.
#[derive(Debug, Clone)]
pub(crate) struct ClusterResolver(pub(crate) Arc<InProcessCluster>);

#[async_trait]
impl ChannelResolver for ClusterResolver {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        self.0.channel(url)
    }
}

impl WorkerResolver for ClusterResolver {
    fn get_urls(&self) -> Result<Vec<Url>> {
        Ok(self.0.urls.clone())
    }
}

/// The cluster as seen from inside its own workers.
#[derive(Debug, Clone)]
struct WeakCluster(Weak<InProcessCluster>);

#[async_trait]
impl ChannelResolver for WeakCluster {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let cluster = self.0.upgrade().ok_or_else(|| {
            DataFusionError::Execution("the engine owning this worker was dropped".to_string())
        })?;
        cluster.channel(url)
    }
}

/// Calls a `Worker` of this process directly.
struct InProcessChannel {
    worker: Worker,
    observer: Option<Observer>,
}

#[async_trait]
impl WorkerChannel for InProcessChannel {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        mut set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        _metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        // The coordinator may hand the same plan object to several tasks; each task must own its
        // node instances (network boundaries keep per-task connection state), exactly as a worker
        // process that decodes its own copy would. So the plan travels encoded, as it will over
        // a socket.
        let plan = std::mem::replace(
            &mut set_plan_request.plan,
            MaybeEncoded::Encoded(Vec::new()),
        );
        set_plan_request.plan = MaybeEncoded::Encoded(plan.encode(task_ctx)?);
        self.worker
            .coordinator_channel(headers, set_plan_request, c2w_stream.map(Ok).boxed())
            .await
    }

    async fn execute_task(
        &mut self,
        _headers: HeaderMap,
        request: ExecuteTaskRequest,
        _metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        if let Some(observer) = &self.observer {
            observer(&request, task_ctx);
        }
        let (streams, _) = self.worker.execute_task(request).await?;
        Ok(streams.into_iter().map(|stream| stream.boxed()).collect())
    }

    async fn get_worker_info(
        &mut self,
        _request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        Ok(GetWorkerInfoResponse {
            version: self.worker.version().to_string(),
        })
    }
}
