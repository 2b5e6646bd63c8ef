//! Which transport reaches a worker, by its URL's scheme: `dfshm://` is a worker process of this
//! host's pool, reached through shared-memory rings (`exchange`); `http://` is
//! datafusion-distributed's gRPC workers (`remote`), on this host or another. One plan may have
//! tasks on both; the coordinator places stages so that a remote worker never has to read a
//! shared-memory one (see `coordinator::placement`).
//!
//! [`GrpcChannels`] reaches `http://` workers: one HTTP/2 connection per worker, made within the
//! worker timeout, kept alive by pings, and every error it carries names the worker's URL.
//!
//! Every channel the coordinator opens also records, for EXPLAIN ANALYZE, which worker each task
//! of each stage ran on (`workers_of_stage_N={task:worker, ...}` on the `DistributedExec` line).

use crate::exchange::ShmChannelResolver;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{
    CustomMetricValue, ExecutionPlanMetricsSet, Label, Metric, MetricValue,
};
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, DISTRIBUTED_DATAFUSION_TASK_ID_LABEL,
    ExecuteTaskRequest, GetWorkerInfoRequest, GetWorkerInfoResponse, SetPlanRequest, WorkerChannel,
    WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Endpoint;
use url::Url;

/// A channel resolver dispatching on the URL's scheme.
#[derive(Clone)]
pub(crate) struct Channels {
    /// `None` in a remote worker: shared-memory workers are on another host's pool.
    shm: Option<ShmChannelResolver>,
    grpc: GrpcChannels,
}

impl Channels {
    /// Channels of a process on the pool's host (the coordinator, a worker process).
    pub(crate) fn new(shm: ShmChannelResolver, grpc: GrpcChannels) -> Channels {
        Channels {
            shm: Some(shm),
            grpc,
        }
    }

    /// Channels of a remote worker, which reaches only other remote workers.
    pub(crate) fn remote_only(grpc: GrpcChannels) -> Channels {
        Channels { shm: None, grpc }
    }
}

#[async_trait::async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let inner = match url.scheme() {
            crate::exchange::SCHEME => match &self.shm {
                Some(shm) => shm.get_worker_client_for_url(url).await?,
                None => {
                    return Err(DataFusionError::Internal(format!(
                        "a remote worker was asked to read shared-memory worker {url}, which \
                         only processes on the coordinator's host can reach (dfshm places \
                         stages that read shared-memory workers on shared-memory workers)"
                    )));
                }
            },
            _ if is_remote(url) => self.grpc.get_worker_client_for_url(url).await?,
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "worker URL {url} has scheme {other:?}: dfshm reaches dfshm:// (worker \
                     processes on this host) and http:// (remote gRPC workers)"
                )));
            }
        };
        Ok(Box::new(Placed {
            worker: short_name(url),
            remote: is_remote(url).then(|| url.clone()),
            inner,
        }))
    }
}

/// How EXPLAIN ANALYZE names a worker: `dfshm://w<slot>` for a worker process, the URL without
/// its path for a remote worker.
fn short_name(url: &Url) -> String {
    if url.scheme() == crate::exchange::SCHEME {
        let host = url.host_str().unwrap_or_default();
        let slot = host.split('-').next().unwrap_or(host);
        return format!("{}://{slot}", url.scheme());
    }
    url.as_str().trim_end_matches('/').to_string()
}

/// A channel that records where the tasks it is given run and, to a remote worker, names it in
/// every error it carries.
struct Placed {
    worker: String,
    /// The URL of a remote worker.
    remote: Option<Url>,
    inner: Box<dyn WorkerChannel>,
}

impl Placed {
    /// `error`, saying which remote worker it came from (a cancellation stays one:
    /// `is_cancelled` looks through the context).
    fn named(&self) -> impl Fn(DataFusionError) -> DataFusionError + Clone + use<> {
        let url = self.remote.clone();
        move |error| match &url {
            Some(url) => DataFusionError::Context(format!("remote worker {url}"), Box::new(error)),
            None => error,
        }
    }
}

#[async_trait::async_trait]
impl WorkerChannel for Placed {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let key = set_plan_request.task_key;
        metrics.register(Arc::new(Metric::new_with_labels(
            MetricValue::Custom {
                name: format!("workers_of_stage_{}", key.stage_id).into(),
                value: Arc::new(WorkerName(parking_lot::Mutex::new(self.worker.clone()))),
            },
            None,
            vec![Label::new(
                DISTRIBUTED_DATAFUSION_TASK_ID_LABEL,
                key.task_number.to_string(),
            )],
        )));
        let named = self.named();
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(named.clone())?;
        Ok(match self.remote {
            Some(_) => stream.map_err(named).boxed(),
            None => stream,
        })
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        if let Some(url) = &self.remote
            && crate::exchange::capturing(&request.task_key.query_id)
        {
            return Err(DataFusionError::NotImplemented(format!(
                "this result cannot be handed out in partitions: a part of it is computed on \
                 remote worker {url}, and partitioned results are read from this host's \
                 shared-memory workers; read it with ExecuteQuery"
            )));
        }
        let named = self.named();
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(named.clone())?;
        Ok(match self.remote {
            Some(_) => streams
                .into_iter()
                .map(|stream| stream.map_err(named.clone()).boxed())
                .collect(),
            None => streams,
        })
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        self.inner
            .get_worker_info(request)
            .await
            .map_err(self.named())
    }
}

/// The worker a task ran on, as a metric (aggregating keeps the first name).
#[derive(Debug, Default)]
struct WorkerName(parking_lot::Mutex<String>);

impl std::fmt::Display for WorkerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.lock())
    }
}

impl CustomMetricValue for WorkerName {
    fn new_empty(&self) -> Arc<dyn CustomMetricValue> {
        Arc::new(WorkerName::default())
    }

    fn aggregate(&self, other: Arc<dyn CustomMetricValue + 'static>) {
        let Some(other) = other.as_any().downcast_ref::<WorkerName>() else {
            return;
        };
        let other = other.0.lock().clone();
        let mut mine = self.0.lock();
        if mine.is_empty() {
            *mine = other;
        } else if !other.is_empty() && *mine != other {
            mine.push('+');
            mine.push_str(&other);
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn is_eq(&self, other: &Arc<dyn CustomMetricValue>) -> bool {
        other
            .as_any()
            .downcast_ref::<WorkerName>()
            .is_some_and(|other| *other.0.lock() == *self.0.lock())
    }
}

/// The URL scheme of remote workers (no TLS in this build: `https` is refused with the reason).
pub(crate) fn is_remote(url: &Url) -> bool {
    url.scheme() == "http"
}

/// Reaches `http://` workers: one cached HTTP/2 channel per URL (tonic reconnects a channel
/// whose connection broke, so a worker that comes back is used again by the next query).
#[derive(Clone)]
pub(crate) struct GrpcChannels {
    timeout: Option<Duration>,
    channels: Arc<parking_lot::Mutex<HashMap<Url, BoxCloneSyncChannel>>>,
}

impl GrpcChannels {
    /// Channels that connect within `timeout` (`None`: as long as TCP takes) and whose
    /// connections are pinged so that a worker that stops answering fails its queries.
    pub(crate) fn new(timeout: Option<Duration>) -> GrpcChannels {
        GrpcChannels {
            timeout,
            channels: Arc::default(),
        }
    }

    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        if let Some(channel) = self.channels.lock().get(url) {
            return Ok(channel.clone());
        }
        let unreachable = |detail: String| {
            DataFusionError::Execution(format!(
                "cannot reach remote worker {url}: {detail}; check that `dfshm worker --listen` \
                 runs there and that this host can reach its address"
            ))
        };
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|error| unreachable(error.to_string()))?
            .tcp_nodelay(true);
        if let Some(timeout) = self.timeout {
            // A worker that answers no HTTP/2 ping for half the timeout is taken as gone.
            let half = (timeout / 2).max(Duration::from_millis(100));
            endpoint = endpoint
                .connect_timeout(timeout)
                .http2_keep_alive_interval(half)
                .keep_alive_timeout(half)
                .keep_alive_while_idle(false);
        }
        let connect = endpoint.connect();
        let connected = match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, connect).await.map_err(|_| {
                unreachable(format!("no answer within {:.1} s", timeout.as_secs_f64()))
            })?,
            None => connect.await,
        };
        let channel = BoxCloneSyncChannel::new(connected.map_err(|error| {
            let mut detail = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                // Some layers repeat their cause's words in their own message.
                let words = cause.to_string();
                if !detail.ends_with(&words) {
                    detail = format!("{detail}: {words}");
                }
                source = cause.source();
            }
            unreachable(detail)
        })?);
        self.channels.lock().insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait::async_trait]
impl ChannelResolver for GrpcChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        Ok(create_worker_client(self.channel(url).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_named_short_and_names_aggregate_without_repeats() {
        let shm = Url::parse("dfshm://w1-g2-345-abcd").unwrap();
        assert_eq!(short_name(&shm), "dfshm://w1");
        let remote = Url::parse("http://127.0.0.1:7000").unwrap();
        assert_eq!(short_name(&remote), "http://127.0.0.1:7000");
        let name = WorkerName::default();
        for worker in ["http://h1:7000", "http://h1:7000", "dfshm://w0"] {
            name.aggregate(Arc::new(WorkerName(parking_lot::Mutex::new(worker.into()))));
        }
        assert_eq!(name.to_string(), "http://h1:7000+dfshm://w0");
    }
}
