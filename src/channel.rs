//! The calling side of a worker connection: datafusion-distributed's `ChannelResolver` and
//! `WorkerChannel` over Unix sockets and shared-memory rings.
//!
//! Used by the coordinator and by every worker (a worker's consumer tasks fetch from other
//! workers). A worker is named by a URL `dfshm://w<slot>-g<generation>-<coordinator pid>-<nonce>`
//! whose host is also its abstract Unix socket name (`dfshm-<host>`), so resolving needs no
//! registry and a restarted worker (new generation) is never mistaken for the one a running query
//! planned with.
//!
//! Each call opens one connection (`wire` describes the messages):
//! - `coordinator_channel` sends the task's plan, then holds the connection open until the
//!   coordinator ends the task; the worker answers with load info, task metrics and `End`.
//! - `execute_task` creates a ring, sends it with the request, and demultiplexes the partitions
//!   the worker writes into it into one stream each. Dropping a partition stream cancels that
//!   partition at the producer; dropping all of them cancels the ring.

use crate::ring::RingParts;
use crate::shm::PeerProcess;
use crate::transport::{DecodeMode, RingReader, StreamEvent};
use crate::wire::{self, Head, Reply, Request};
use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, Metric, MetricValue};
use datafusion_distributed::{
    BytesCounterMetric, ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, ProducerHead, SetPlanRequest, WorkerChannel,
    WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream as StdUnixStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use url::Url;

/// The URL scheme of dfshm workers.
pub(crate) const SCHEME: &str = "dfshm";

/// Default data bytes of one execute-task ring.
pub(crate) const DEFAULT_RING_BYTES: usize = 4 << 20;

/// Where a worker listens, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerAddress {
    host: String,
    slot: usize,
}

impl WorkerAddress {
    /// The address of worker `slot`, generation `generation`, of the coordinator `pid`.
    pub(crate) fn new(slot: usize, generation: u64, pid: u32, nonce: &str) -> WorkerAddress {
        WorkerAddress {
            host: format!("w{slot}-g{generation}-{pid}-{nonce}"),
            slot,
        }
    }

    pub(crate) fn from_url(url: &Url) -> Result<WorkerAddress> {
        let bad = || {
            DataFusionError::Internal(format!(
                "{url} is not a dfshm worker URL (dfshm://w<slot>-g<generation>-<pid>-<nonce>)"
            ))
        };
        if url.scheme() != SCHEME {
            return Err(bad());
        }
        let host = url.host_str().ok_or_else(bad)?;
        let slot = host
            .strip_prefix('w')
            .and_then(|rest| rest.split('-').next())
            .and_then(|slot| slot.parse().ok())
            .ok_or_else(bad)?;
        Ok(WorkerAddress {
            host: host.to_string(),
            slot,
        })
    }

    pub(crate) fn url(&self) -> Url {
        Url::parse(&format!("{SCHEME}://{}", self.host)).expect("worker hosts are valid URL hosts")
    }

    /// The abstract socket address (nothing in the file system, gone when the worker exits).
    pub(crate) fn socket_address(&self) -> std::io::Result<SocketAddr> {
        SocketAddr::from_abstract_name(format!("dfshm-{}", self.host).as_bytes())
    }

    fn connect(&self) -> Result<StdUnixStream> {
        let address = self
            .socket_address()
            .map_err(|e| self.io_error("address", e))?;
        StdUnixStream::connect_addr(&address).map_err(|error| match error.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                DataFusionError::Execution(format!(
                    "worker {} is not running (it exited or was restarted since the query was \
                     planned); run the query again",
                    self.slot
                ))
            }
            _ => self.io_error("connect to", error),
        })
    }

    fn io_error(&self, what: &str, error: std::io::Error) -> DataFusionError {
        DataFusionError::Execution(format!("cannot {what} worker {}: {error}", self.slot))
    }

    /// An error a worker reported, named after it.
    fn worker_error(&self, error: DataFusionError) -> DataFusionError {
        match error {
            DataFusionError::ResourcesExhausted(message) => {
                DataFusionError::ResourcesExhausted(format!("worker {}: {message}", self.slot))
            }
            other => DataFusionError::Execution(format!(
                "worker {}: {}",
                self.slot,
                other.strip_backtrace()
            )),
        }
    }
}

/// Resolves dfshm worker URLs to channels; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ShmChannelResolver {
    ring_bytes: usize,
}

impl ShmChannelResolver {
    pub(crate) fn new(ring_bytes: usize) -> ShmChannelResolver {
        ShmChannelResolver { ring_bytes }
    }
}

#[async_trait]
impl ChannelResolver for ShmChannelResolver {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        Ok(Box::new(ShmChannel {
            address: WorkerAddress::from_url(url)?,
            ring_bytes: self.ring_bytes,
        }))
    }
}

/// One call to one worker.
struct ShmChannel {
    address: WorkerAddress,
    ring_bytes: usize,
}

/// Turns a connected std socket into a tokio one.
fn into_async(socket: StdUnixStream, address: &WorkerAddress) -> Result<UnixStream> {
    socket
        .set_nonblocking(true)
        .map_err(|e| address.io_error("configure the socket of", e))?;
    UnixStream::from_std(socket).map_err(|e| address.io_error("register the socket of", e))
}

/// Reads the next reply; an end of stream or a broken socket means the worker went away.
async fn next_reply(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    address: &WorkerAddress,
) -> Result<Reply> {
    let lost = |detail: String| {
        DataFusionError::Execution(format!(
            "lost worker {} ({detail}); it exited or was killed",
            address.slot
        ))
    };
    match wire::read_message(reader).await {
        Ok(Some(message)) => Ok(Reply::decode(&message)?),
        Ok(None) => Err(lost("its connection closed".into())),
        Err(error) => Err(lost(error.to_string())),
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl WorkerChannel for ShmChannel {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        _metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        if !set_plan_request.work_unit_feed_declarations.is_empty() {
            return Err(DataFusionError::NotImplemented(
                "work unit feeds are not supported by dfshm's shared-memory transport".into(),
            ));
        }
        let request = Request::CoordinatorChannel {
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
                .collect(),
            task_key: set_plan_request.task_key,
            task_count: set_plan_request.task_count,
            plan: set_plan_request.plan.encode(task_ctx)?,
            target_worker_url: set_plan_request.target_worker_url.to_string(),
            query_start_time_ns: set_plan_request.query_start_time_ns,
        };
        let address = self.address.clone();
        let socket = into_async(address.connect()?, &address)?;
        let (reader, mut writer) = socket.into_split();
        wire::write_message(&mut writer, &request.encode())
            .await
            .map_err(|e| address.io_error("send a plan to", e))?;
        // The coordinator-to-worker stream ends when the query does; its end (the socket's
        // write side closing) tells the worker to finish the task and report its metrics.
        let forward = tokio::spawn(async move {
            let mut c2w = c2w_stream;
            while let Some(message) = c2w.next().await {
                match message {
                    CoordinatorToWorkerMsg::WorkUnitEos => {
                        if wire::write_message(&mut writer, &[wire::C2W_WORK_UNIT_EOS])
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // No feeds were declared (checked above), so none can come.
                    CoordinatorToWorkerMsg::WorkUnitBatch(_) => return,
                }
            }
        });
        let guard = AbortOnDrop(forward);
        let replies = futures::stream::unfold(Some((reader, address, guard)), |state| async move {
            let (mut reader, address, guard) = state?;
            let message = match next_reply(&mut reader, &address).await {
                Ok(Reply::LoadInfo(info)) => Ok(WorkerToCoordinatorMsg::LoadInfo(info)),
                Ok(Reply::LoadInfoEos) => Ok(WorkerToCoordinatorMsg::LoadInfoEos),
                Ok(Reply::TaskMetrics(metrics)) => Ok(WorkerToCoordinatorMsg::TaskMetrics(metrics)),
                Ok(Reply::End) => return None,
                Ok(Reply::Failed(error)) => Err(address.worker_error(error)),
                Ok(other) => Err(DataFusionError::Internal(format!(
                    "worker {} answered a plan with {other:?}",
                    address.slot
                ))),
                Err(error) => Err(error),
            };
            let next = message.is_ok().then_some((reader, address, guard));
            Some((message, next))
        });
        Ok(replies.boxed())
    }

    async fn execute_task(
        &mut self,
        _headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let start = request.target_partition_start;
        let end = request.target_partition_end;
        let partitions = end.saturating_sub(start);
        if partitions > crate::transport::MAX_STREAMS as usize {
            return Err(DataFusionError::NotImplemented(format!(
                "{partitions} partitions in one request; dfshm's transport carries at most {}",
                crate::transport::MAX_STREAMS
            )));
        }
        let head = match request.producer_head {
            ProducerHead::None => Head::None,
            ProducerHead::BroadcastExec { output_partitions } => {
                Head::Broadcast { output_partitions }
            }
            ProducerHead::RepartitionExec { partitioning } => {
                Head::Repartition(partitioning.encode(task_ctx)?)
            }
        };
        let message = Request::ExecuteTask {
            task_key: request.task_key,
            start,
            end,
            head,
        }
        .encode();
        let address = self.address.clone();
        let ring = RingParts::create_owned("dfshm-ring", self.ring_bytes)
            .map_err(|e| DataFusionError::ResourcesExhausted(format!("a shared ring: {e}")))?;
        let socket = address.connect()?;
        ring.send(&socket, &message)
            .map_err(|e| address.io_error("send a ring to", e))?;
        let mut socket = into_async(socket, &address)?;
        let pid = socket
            .peer_cred()
            .ok()
            .and_then(|cred| cred.pid())
            .and_then(|pid| u32::try_from(pid).ok());
        match next_reply(&mut socket, &address).await? {
            Reply::Accepted => {}
            Reply::Failed(error) => return Err(address.worker_error(error)),
            other => {
                return Err(DataFusionError::Internal(format!(
                    "worker {} answered execute_task with {other:?}",
                    address.slot
                )));
            }
        }
        let peer = pid
            .and_then(|pid| PeerProcess::watch(pid).ok())
            .map(Arc::new);
        let reader = RingReader::new(ring.consumer(peer), DecodeMode::CopyOut);
        drop(ring);

        let reservation = Arc::new(
            MemoryConsumer::new(format!("dfshm ring from worker {}", address.slot))
                .register(task_ctx.memory_pool()),
        );
        // Bytes that came through rings, shown under the network boundary by EXPLAIN ANALYZE.
        let ring_bytes = BytesCounterMetric::default();
        metrics.register(Arc::new(Metric::new(
            MetricValue::Custom {
                name: "ring_bytes".into(),
                value: Arc::new(ring_bytes.clone()),
            },
            None,
        )));
        let (dropped_tx, dropped_rx) = mpsc::unbounded_channel();
        let mut senders = Vec::with_capacity(partitions);
        let mut streams = Vec::with_capacity(partitions);
        for slot in 0..partitions {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(Some(tx));
            streams.push(
                PartitionStream {
                    receiver: rx,
                    reservation: reservation.clone(),
                    slot,
                    dropped: dropped_tx.clone(),
                }
                .boxed(),
            );
        }
        drop(dropped_tx);
        let demux = Demux {
            reader,
            senders,
            held: vec![true; partitions],
            open: partitions,
            reservation,
            address,
            start,
            _socket: socket,
            ring_bytes,
        };
        tokio::spawn(demux.run(dropped_rx));
        Ok(streams)
    }

    async fn get_worker_info(
        &mut self,
        _request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        let address = self.address.clone();
        let mut socket = into_async(address.connect()?, &address)?;
        wire::write_message(&mut socket, &Request::Info.encode())
            .await
            .map_err(|e| address.io_error("ask", e))?;
        match next_reply(&mut socket, &address).await? {
            Reply::Info { version } => Ok(GetWorkerInfoResponse { version }),
            Reply::Failed(error) => Err(address.worker_error(error)),
            other => Err(DataFusionError::Internal(format!(
                "worker {} answered an info request with {other:?}",
                address.slot
            ))),
        }
    }
}

type Item = (Result<RecordBatch>, usize);

/// One partition of an execute-task call.
struct PartitionStream {
    receiver: mpsc::UnboundedReceiver<Item>,
    reservation: Arc<MemoryReservation>,
    slot: usize,
    dropped: mpsc::UnboundedSender<usize>,
}

impl Stream for PartitionStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some((item, bytes))) => {
                self.reservation.shrink(bytes);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        // Tells the demultiplexer, which cancels this partition at the producer (a no-op when it
        // already ended).
        let _ = self.dropped.send(self.slot);
        self.receiver.close();
        while let Ok((_, bytes)) = self.receiver.try_recv() {
            self.reservation.shrink(bytes);
        }
    }
}

/// Reads a ring and hands each partition's batches to its stream.
struct Demux {
    reader: RingReader,
    /// Where each partition's batches go, until the partition ended or its stream dropped.
    senders: Vec<Option<mpsc::UnboundedSender<Item>>>,
    /// Whether a consumer still holds each partition's stream.
    held: Vec<bool>,
    /// How many partitions are still held.
    open: usize,
    reservation: Arc<MemoryReservation>,
    address: WorkerAddress,
    start: usize,
    /// The connection: the worker stops producing when it closes.
    _socket: UnixStream,
    ring_bytes: BytesCounterMetric,
}

impl Demux {
    async fn run(mut self, mut dropped: mpsc::UnboundedReceiver<usize>) {
        let mut counted = 0;
        loop {
            let event = tokio::select! {
                slot = dropped.recv() => {
                    match slot {
                        Some(slot) => self.stream_dropped(slot),
                        None => self.open = 0,
                    }
                    if self.open == 0 {
                        // Nobody reads any partition: stop the producer altogether.
                        self.reader.cancel();
                        return;
                    }
                    continue;
                }
                event = self.reader.next_async() => event,
            };
            let read = self.reader.bytes_read();
            self.ring_bytes.add_bytes((read - counted) as usize);
            counted = read;
            match event {
                Ok(Some(StreamEvent::Batch { stream, batch })) => {
                    let slot = stream as usize;
                    let Some(Some(sender)) = self.senders.get(slot) else {
                        continue;
                    };
                    let bytes = batch.get_array_memory_size();
                    if let Err(error) = self.reservation.try_grow(bytes) {
                        let message = format!(
                            "worker {}: cannot buffer a batch from the ring: {error}",
                            self.address.slot
                        );
                        self.fail_all(|| DataFusionError::ResourcesExhausted(message.clone()));
                        return;
                    }
                    if sender.send((Ok(batch), bytes)).is_err() {
                        self.reservation.shrink(bytes);
                        self.senders[slot] = None;
                        let _ = self.reader.cancel_stream(stream);
                    }
                }
                Ok(Some(StreamEvent::End { stream })) => {
                    if let Some(sender) = self.senders.get_mut(stream as usize) {
                        *sender = None;
                    }
                }
                Ok(Some(StreamEvent::Error { stream, message })) => {
                    if let Some(sender) =
                        self.senders.get_mut(stream as usize).and_then(Option::take)
                    {
                        let error = self.address.worker_error(wire::error_from_text(&message));
                        let _ = sender.send((Err(error), 0));
                    }
                }
                Ok(None) => {
                    if let Some(slot) = self.senders.iter().position(Option::is_some) {
                        let message = format!(
                            "worker {} closed its ring before partition {} ended",
                            self.address.slot,
                            self.start + slot
                        );
                        self.fail_all(|| DataFusionError::Execution(message.clone()));
                    }
                    return;
                }
                Err(error) => {
                    let message = format!(
                        "lost worker {} while reading partitions {}..{}: {error}",
                        self.address.slot,
                        self.start,
                        self.start + self.senders.len()
                    );
                    self.fail_all(|| DataFusionError::Execution(message.clone()));
                    return;
                }
            }
        }
    }

    /// A consumer dropped the stream of `slot`: cancel that partition at the producer.
    fn stream_dropped(&mut self, slot: usize) {
        if !self.held.get(slot).copied().unwrap_or(false) {
            return;
        }
        self.held[slot] = false;
        self.open -= 1;
        if self.senders[slot].take().is_some() {
            let _ = self.reader.cancel_stream(slot as u32);
        }
    }

    /// Ends every unfinished partition with an error and cancels the ring.
    fn fail_all(&mut self, error: impl Fn() -> DataFusionError) {
        for sender in self.senders.iter_mut().filter_map(Option::take) {
            let _ = sender.send((Err(error()), 0));
        }
        self.reader.cancel();
    }
}
