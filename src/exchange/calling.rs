//! The calling side of a worker connection: datafusion-distributed's `ChannelResolver` and
//! `WorkerChannel` over Unix sockets and shared-memory rings.
//!
//! Used by the coordinator and by every worker (a worker's consumer tasks fetch from other
//! workers). A worker is named by a URL `dfshm://w<slot>-g<generation>-<coordinator pid>-<nonce>`
//! whose host is also its abstract Unix socket name (`dfshm-<host>`), so resolving needs no
//! registry and a restarted worker (new generation) is never mistaken for the one a running query
//! planned with.
//!
//! Each call has a connection to itself (`protocol` describes the messages): one this process
//! kept from an earlier call to the same worker that ended cleanly (`kept`), else a new one. A
//! call that ends cleanly keeps its connection in turn; any other closes it, which ends the call
//! at the worker.
//! - `coordinator_channel` sends the task's plan, then holds the connection until the
//!   coordinator ends the task (`C2W_END`); the worker answers with load info, task metrics and
//!   `End`.
//! - `execute_task` creates a ring, sends it with the request, and demultiplexes the partitions
//!   the worker writes into it into one stream each. Each partition flows within its credit
//!   (`credit`): the request carries every partition's first window, and grants go back on the
//!   connection as the partition's reader takes batches, so what waits in this process is
//!   bounded by the query's exchange budget whatever the reader's speed. Dropping a partition
//!   stream cancels that partition at the producer; dropping all of them, one unfinished,
//!   cancels the ring and closes the connection. After the ring's end the call ends with `Done`.

use super::credit::{Budget, StreamCredit};
use super::framing::{DecodeMode, MAX_STREAMS, RingReader, StreamEvent};
use super::kept::{ConnectionStats, KeptConnections};
use super::protocol::{self, ConsumerMessage, PlanCall, Reply, Request, TaskCall};
use crate::ring::RingParts;
use crate::shm::{PeerProcess, SegmentPool};
use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, Metric, MetricValue, Time};
use datafusion_distributed::{
    BytesCounterMetric, ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, MaxGaugeMetric, SetPlanRequest, TaskKey,
    WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream as StdUnixStream};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

/// The URL scheme of dfshm workers.
pub(crate) const SCHEME: &str = "dfshm";

/// Default data bytes of one execute-task ring.
pub(crate) const DEFAULT_RING_BYTES: usize = 4 << 20;

/// Bytes of finished rings this process keeps for its next calls (16 default rings).
pub(super) const RING_POOL_IDLE_BYTES: usize = 16 * (DEFAULT_RING_BYTES + (64 << 10));

/// How long a finished ring is kept before it is unmapped.
const RING_POOL_IDLE_TIME: Duration = Duration::from_secs(5);

/// The rings of this process's calls: one pool for every worker it calls, since a worker maps a
/// ring per call anyway and a pool per worker would keep workers × rings warm.
static RING_POOL: std::sync::LazyLock<SegmentPool> = std::sync::LazyLock::new(|| {
    SegmentPool::new(
        "ring",
        RING_POOL_IDLE_BYTES,
        RING_POOL_IDLE_TIME,
        crate::ring::receiver_detached,
    )
});

/// The connections of this process's finished calls, kept for its next calls (`kept`).
static KEPT: KeptConnections = KeptConnections::new();

/// Closes the connections this process keeps for its next calls.
pub(crate) fn clear_kept_connections() {
    KEPT.clear()
}

/// The counters of this process's connections to workers.
pub(crate) fn connection_stats() -> ConnectionStats {
    KEPT.stats()
}

/// Takes a connection to `host` this process keeps, if any (for tests).
#[cfg(test)]
pub(super) fn kept_connection(host: &str) -> bool {
    KEPT.take(host).is_some()
}

/// This process's ring pool.
pub(crate) fn ring_pool() -> &'static SegmentPool {
    &RING_POOL
}

/// What the process that started the workers knows of how one ended: its exit status and the
/// last lines it wrote to stderr (a panic message, an allocator's complaint). Errors about a lost
/// worker say it, instead of only what broke on this side.
pub(crate) trait WorkerObituaries: Send + Sync + std::fmt::Debug {
    /// How the worker listening at `host` ended, if it has (waiting briefly for its last words).
    fn obituary(&self, host: &str) -> Option<String>;

    /// How every worker that has ended since it was started ended: an error a live worker
    /// reports may come from losing another one.
    fn deaths(&self) -> Vec<String>;
}

/// The obituaries a channel consults; never part of an address's identity.
#[derive(Debug, Clone, Default)]
struct Obituaries(Option<Arc<dyn WorkerObituaries>>);

impl PartialEq for Obituaries {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Obituaries {}

/// Where a worker listens, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerAddress {
    host: String,
    slot: usize,
    obituaries: Obituaries,
}

impl WorkerAddress {
    /// The address of worker `slot`, generation `generation`, of the coordinator `pid`.
    pub(crate) fn new(slot: usize, generation: u64, pid: u32, nonce: &str) -> WorkerAddress {
        WorkerAddress {
            host: format!("w{slot}-g{generation}-{pid}-{nonce}"),
            slot,
            obituaries: Obituaries::default(),
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
            obituaries: Obituaries::default(),
        })
    }

    /// The host name, which is also the worker's socket name.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// `"; how the worker ended"` when the obituaries know, else nothing.
    fn death_note(&self) -> String {
        match self
            .obituaries
            .0
            .as_ref()
            .and_then(|o| o.obituary(&self.host))
        {
            Some(obituary) => format!("; {obituary}"),
            None => String::new(),
        }
    }

    pub(crate) fn url(&self) -> Url {
        Url::parse(&format!("{SCHEME}://{}", self.host)).expect("worker hosts are valid URL hosts")
    }

    /// The abstract socket address (nothing in the file system, gone when the worker exits).
    pub(crate) fn socket_address(&self) -> std::io::Result<SocketAddr> {
        SocketAddr::from_abstract_name(format!("dfshm-{}", self.host).as_bytes())
    }

    /// A connection for a call: one kept from a finished call, else a new one.
    fn connection(&self) -> Result<StdUnixStream> {
        match KEPT.take(&self.host) {
            Some(socket) => Ok(socket),
            None => {
                KEPT.made_one();
                self.connect()
            }
        }
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

    /// An error a worker reported, named after it, with how any worker that died meanwhile
    /// ended (a worker fetching from a dead one only knows its connection closed).
    fn worker_error(&self, error: DataFusionError) -> DataFusionError {
        let deaths: String = self
            .obituaries
            .0
            .as_ref()
            .map(|obituaries| obituaries.deaths())
            .unwrap_or_default()
            .iter()
            .map(|death| format!("; {death}"))
            .collect();
        match error {
            DataFusionError::ResourcesExhausted(message) => DataFusionError::ResourcesExhausted(
                format!("worker {}: {message}{deaths}", self.slot),
            ),
            other => DataFusionError::Execution(format!(
                "worker {}: {}{deaths}",
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
    stall_timeout: Option<Duration>,
    exchange_budget: usize,
    obituaries: Obituaries,
}

impl ShmChannelResolver {
    /// Channels whose rings hold `ring_bytes`, failing a call whose worker answers nothing for
    /// `stall_timeout` (`None`: wait for ever).
    pub(crate) fn new(ring_bytes: usize, stall_timeout: Option<Duration>) -> ShmChannelResolver {
        ShmChannelResolver {
            ring_bytes,
            stall_timeout,
            exchange_budget: super::credit::DEFAULT_EXCHANGE_BUDGET,
            obituaries: Obituaries::default(),
        }
    }

    /// Each query may lend `bytes` of credit to the partitions it reads in this process.
    pub(crate) fn with_exchange_budget(mut self, bytes: usize) -> Self {
        self.exchange_budget = bytes;
        self
    }

    /// Errors about lost workers also say how they ended, from `obituaries` (the coordinator's
    /// pool, which started them).
    pub(crate) fn with_obituaries(mut self, obituaries: Arc<dyn WorkerObituaries>) -> Self {
        self.obituaries = Obituaries(Some(obituaries));
        self
    }
}

#[async_trait]
impl ChannelResolver for ShmChannelResolver {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let mut address = WorkerAddress::from_url(url)?;
        address.obituaries = self.obituaries.clone();
        Ok(Box::new(ShmChannel {
            address,
            ring_bytes: self.ring_bytes,
            stall_timeout: self.stall_timeout,
            exchange_budget: self.exchange_budget,
        }))
    }
}

/// One call to one worker.
struct ShmChannel {
    address: WorkerAddress,
    ring_bytes: usize,
    stall_timeout: Option<Duration>,
    exchange_budget: usize,
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
            "lost worker {} ({detail}); it exited or was killed{}",
            address.slot,
            address.death_note()
        ))
    };
    match protocol::read_message(reader).await {
        Ok(Some(message)) => Ok(Reply::decode(&message)?),
        Ok(None) => Err(lost("its connection closed".into())),
        Err(error) => Err(lost(error.to_string())),
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
        let request =
            Request::CoordinatorChannel(PlanCall::of(&headers, set_plan_request, task_ctx)?);
        let address = self.address.clone();
        let socket = into_async(address.connection()?, &address)?;
        let (reader, mut writer) = socket.into_split();
        protocol::write_message(&mut writer, &request.encode())
            .await
            .map_err(|e| address.io_error("send a plan to", e))?;
        // The coordinator-to-worker stream ends when the query does; its end (`C2W_END`)
        // tells the worker to finish the task and report its metrics, and forget the task's
        // plan. So it is forwarded until then, even after the worker's `End` (without metrics
        // collection the worker ends its replies first, and a plan forgotten then would never
        // reach an `execute_task` still to come): the reply stream ends only once the
        // forwarding has, and then keeps the connection for another call. Owned by the reply
        // stream: dropping it (the query was dropped) aborts the forwarding, and closing the
        // connection ends the task at the worker. Returns the write side after `C2W_END`.
        let forwarding = SpawnedTask::spawn(async move {
            let mut c2w = c2w_stream;
            while let Some(message) = c2w.next().await {
                match message {
                    CoordinatorToWorkerMsg::WorkUnitEos => {
                        if protocol::write_message(&mut writer, &[protocol::C2W_WORK_UNIT_EOS])
                            .await
                            .is_err()
                        {
                            return None;
                        }
                    }
                    // No feeds were declared (checked above), so none can come.
                    CoordinatorToWorkerMsg::WorkUnitBatch(_) => return None,
                }
            }
            protocol::write_message(&mut writer, &[protocol::C2W_END])
                .await
                .ok()
                .map(|()| writer)
        });
        let stall = self.stall_timeout;
        let replies = futures::stream::unfold(
            Some((reader, address, forwarding)),
            move |state| async move {
                let (mut reader, address, forwarding) = state?;
                let reply = watched(&address, stall, next_reply(&mut reader, &address)).await;
                let message = match reply {
                    Ok(Reply::LoadInfo(info)) => Ok(WorkerToCoordinatorMsg::LoadInfo(info)),
                    Ok(Reply::LoadInfoEos) => Ok(WorkerToCoordinatorMsg::LoadInfoEos),
                    Ok(Reply::TaskMetrics(metrics)) => {
                        Ok(WorkerToCoordinatorMsg::TaskMetrics(metrics))
                    }
                    Ok(Reply::End) => {
                        // Done when the query ends (or the worker went away); a panic in it
                        // would be a bug of this function, not the query's.
                        if let Ok(Some(writer)) = forwarding.join().await
                            && let Ok(socket) = reader.reunite(writer)
                            && let Ok(socket) = socket.into_std()
                        {
                            KEPT.put(address.host(), socket);
                        }
                        return None;
                    }
                    Ok(Reply::Failed(error)) => Err(address.worker_error(error)),
                    Ok(other) => Err(DataFusionError::Internal(format!(
                        "worker {} answered a plan with {other:?}",
                        address.slot
                    ))),
                    Err(error) => Err(error),
                };
                let next = message.is_ok().then_some((reader, address, forwarding));
                Some((message, next))
            },
        );
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
        let partitions = request.target_partition_end.saturating_sub(start);
        if partitions > MAX_STREAMS as usize {
            return Err(DataFusionError::NotImplemented(format!(
                "{partitions} partitions in one request; dfshm's transport carries at most {}",
                MAX_STREAMS
            )));
        }
        if let Some(capture) = capture_of(request.task_key.query_id.as_bytes()) {
            // The query's parts are read by other processes: keep the call for them, and give
            // the head streams that never end (the query lives while its descriptors do).
            capture.add(PartitionTicket {
                worker: self.address.url().to_string(),
                call: TaskCall::of(request, 0, task_ctx)?,
            });
            return Ok((0..partitions)
                .map(|_| futures::stream::pending().boxed())
                .collect());
        }
        let budget = Budget::of_query(
            *request.task_key.query_id.as_bytes(),
            self.exchange_budget,
            task_ctx.memory_pool(),
        );
        let (credits, window) = budget.open(partitions);
        let call = TaskCall::of(request, window, task_ctx)?;
        self.call(Request::ExecuteTask(call), start, credits, &metrics)
            .await
    }

    async fn get_worker_info(
        &mut self,
        _request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        let address = self.address.clone();
        match ask(&address, &Request::Info).await? {
            Reply::Info { version } => Ok(GetWorkerInfoResponse { version }),
            Reply::Failed(error) => Err(address.worker_error(error)),
            other => Err(DataFusionError::Internal(format!(
                "worker {} answered an info request with {other:?}",
                address.slot
            ))),
        }
    }
}

/// Sends `request`, a call answered by one reply, to `address` and reads the reply, on a kept
/// connection where there is one; the connection is kept again after.
async fn ask(address: &WorkerAddress, request: &Request) -> Result<Reply> {
    ask_on(address, address.connection()?, request).await
}

/// [`ask`] on `socket`, a connection to `address`.
async fn ask_on(
    address: &WorkerAddress,
    socket: StdUnixStream,
    request: &Request,
) -> Result<Reply> {
    let mut socket = into_async(socket, address)?;
    protocol::write_message(&mut socket, &request.encode())
        .await
        .map_err(|e| address.io_error("ask", e))?;
    let reply = next_reply(&mut socket, address).await?;
    if let Ok(socket) = socket.into_std() {
        KEPT.put(address.host(), socket);
    }
    Ok(reply)
}

impl ShmChannel {
    /// Makes an execute-task or read-partition `request` whose partitions start at `start` and
    /// flow within `credits`: a ring goes with it, and the worker's partitions come out of it.
    async fn call(
        &self,
        request: Request,
        start: usize,
        credits: Vec<StreamCredit>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let message = request.encode();
        let address = self.address.clone();
        let ring = RingParts::create_pooled(&RING_POOL, self.ring_bytes)
            .map_err(|e| DataFusionError::ResourcesExhausted(format!("a shared ring: {e}")))?;
        let socket = address.connection()?;
        // Sent whole with a blocking write (a kept connection is non-blocking).
        socket
            .set_nonblocking(false)
            .map_err(|e| address.io_error("configure the socket of", e))?;
        ring.send(&socket, &message)
            .map_err(|e| address.io_error("send a ring to", e))?;
        let mut socket = into_async(socket, &address)?;
        let accepted = watched(
            &address,
            self.stall_timeout,
            next_reply(&mut socket, &address),
        );
        let pid = match accepted.await? {
            Reply::Accepted { pid } => pid,
            Reply::Failed(error) => return Err(address.worker_error(error)),
            Reply::Refused(reason) => {
                return Err(DataFusionError::External(Box::new(
                    protocol::PartitionUnavailable {
                        worker: address.slot,
                        reason,
                    },
                )));
            }
            other => {
                return Err(DataFusionError::Internal(format!(
                    "worker {} answered execute_task with {other:?}",
                    address.slot
                )));
            }
        };
        // Watching the producer is what turns its death into an error at once. (The socket's
        // peer credentials would name the coordinator, which created the listening socket.)
        let peer = PeerProcess::watch(pid).map(Arc::new).map_err(|error| {
            DataFusionError::Execution(format!(
                "lost worker {} (process {pid}) before its partitions arrived: {error}{}",
                address.slot,
                address.death_note()
            ))
        })?;
        let reader = RingReader::new(ring.consumer(Some(peer)), DecodeMode::CopyOut);
        drop(ring);
        let partitions = Partitions {
            reader,
            socket,
            address,
            start,
            credits,
        };
        let exchange = ExchangeMetrics::default();
        exchange.register(metrics);
        Ok(partitions.demultiplex(exchange, self.stall_timeout))
    }
}

/// One part of a partitioned result: the execute-task call that reads one task of the query's
/// last stage, and the worker to make it to. The coordinator sets it aside instead of making
/// the call; another process makes it ([`read_partition`]), once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionTicket {
    /// The worker's URL.
    pub(crate) worker: String,
    /// The call, its window left to the reader.
    pub(crate) call: TaskCall,
}

/// The tickets of a query whose parts are being handed out, as its `execute_task` calls come.
#[derive(Debug)]
pub(crate) struct Capture {
    query_id: [u8; 16],
    expected: usize,
    tickets: parking_lot::Mutex<Vec<PartitionTicket>>,
    arrived: tokio::sync::Notify,
}

/// The queries of this process whose last stage's calls are captured, by query id.
static CAPTURES: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<[u8; 16], Arc<Capture>>>,
> = std::sync::LazyLock::new(Default::default);

fn capture_of(query_id: &[u8; 16]) -> Option<Arc<Capture>> {
    CAPTURES.lock().get(query_id).cloned()
}

impl Capture {
    /// From now until the capture is dropped, the `execute_task` calls this process makes for
    /// `query_id` are set aside as tickets; `expected` of them make the whole result.
    pub(crate) fn start(query_id: [u8; 16], expected: usize) -> Arc<Capture> {
        let capture = Arc::new(Capture {
            query_id,
            expected,
            tickets: parking_lot::Mutex::default(),
            arrived: tokio::sync::Notify::new(),
        });
        CAPTURES.lock().insert(query_id, capture.clone());
        capture
    }

    fn add(&self, ticket: PartitionTicket) {
        self.tickets.lock().push(ticket);
        self.arrived.notify_waiters();
    }

    /// The tickets, once all `expected` have come, in task order.
    pub(crate) async fn tickets(&self) -> Vec<PartitionTicket> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let tickets = self.tickets.lock();
                if tickets.len() >= self.expected {
                    let mut tickets = tickets.clone();
                    tickets.sort_by_key(|ticket| ticket.call.task_key.task_number);
                    return tickets;
                }
            }
            arrived.await;
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let mut captures = CAPTURES.lock();
        if captures
            .get(&self.query_id)
            .is_some_and(|capture| std::ptr::eq(Arc::as_ptr(capture), self))
        {
            captures.remove(&self.query_id);
        }
    }
}

/// Reads the part `ticket` stands for in this process, straight from its worker: one stream
/// per partition of its task, within `exchange_budget` of credit charged to `pool`.
pub(crate) async fn read_partition(
    ticket: PartitionTicket,
    ring_bytes: usize,
    stall_timeout: Option<Duration>,
    exchange_budget: usize,
    pool: &Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
    let url = Url::parse(&ticket.worker)
        .map_err(|e| DataFusionError::Plan(format!("a partition names a bad worker URL: {e}")))?;
    let channel = ShmChannel {
        address: WorkerAddress::from_url(&url)?,
        ring_bytes,
        stall_timeout,
        exchange_budget,
    };
    let mut call = ticket.call;
    let partitions = call.end.saturating_sub(call.start);
    let budget = Budget::of_query(*call.task_key.query_id.as_bytes(), exchange_budget, pool);
    let (credits, window) = budget.open(partitions);
    call.window = window;
    let start = call.start;
    channel
        .call(
            Request::ReadPartition(call),
            start,
            credits,
            &ExecutionPlanMetricsSet::new(),
        )
        .await
}

/// Tells the worker at `worker` (a URL) that the parts of `tasks` may no longer be read, and
/// waits until it has recorded it, for at most `deadline`. A worker that is gone cannot serve
/// them anyway.
pub(crate) async fn end_tasks(worker: &str, tasks: Vec<TaskKey>, deadline: Duration) -> Result<()> {
    let url = Url::parse(worker)
        .map_err(|e| DataFusionError::Internal(format!("a bad worker URL {worker}: {e}")))?;
    let address = WorkerAddress::from_url(&url)?;
    let ask = async {
        let socket = match address.connection() {
            Ok(socket) => socket,
            // Not running: nothing there can serve the parts.
            Err(_) => return Ok(()),
        };
        match ask_on(&address, socket, &Request::EndTasks(tasks)).await? {
            Reply::End => Ok(()),
            other => Err(DataFusionError::Internal(format!(
                "worker {} answered end-tasks with {other:?}",
                address.slot
            ))),
        }
    };
    tokio::time::timeout(deadline, ask)
        .await
        .unwrap_or_else(|_| {
            Err(DataFusionError::Execution(format!(
                "worker {} did not confirm the end of a partitioned result within {deadline:?}",
                address.slot
            )))
        })
}

/// Awaits `work`, a wait on `address`, under a [`Watchdog`].
async fn watched<T>(
    address: &WorkerAddress,
    stall_timeout: Option<Duration>,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let mut watchdog = Watchdog::new(address.clone(), stall_timeout);
    tokio::select! {
        done = work => done,
        error = watchdog.silent_too_long() => Err(error),
    }
}

/// The stall watchdog of a wait on a worker: once the worker has been silent for half of
/// `stall_timeout`, it is asked whether it still answers, within the other half; no answer is
/// the error. Hearing from the worker ([`Watchdog::heard`]) starts the silence anew.
struct Watchdog {
    address: WorkerAddress,
    /// Half the stall timeout; `None`: wait for ever.
    check: Option<Duration>,
    silence: Pin<Box<tokio::time::Sleep>>,
    asking: Option<Pin<Box<dyn Future<Output = Result<()>> + Send>>>,
}

impl Watchdog {
    fn new(address: WorkerAddress, stall_timeout: Option<Duration>) -> Watchdog {
        let check = stall_timeout.map(|timeout| timeout / 2);
        let far = Duration::from_secs(365 * 24 * 3600);
        Watchdog {
            address,
            check,
            silence: Box::pin(tokio::time::sleep(check.unwrap_or(far))),
            asking: None,
        }
    }

    /// The worker was heard from: its silence starts now.
    fn heard(&mut self) {
        if let Some(check) = self.check {
            self.asking = None;
            self.silence.as_mut().reset(Instant::now() + check);
        }
    }

    /// Resolves only when the worker stayed silent and did not answer in time, with the error
    /// to report. Cancel-safe: a silence or a question under way goes on at the next call.
    async fn silent_too_long(&mut self) -> DataFusionError {
        let Some(check) = self.check else {
            return std::future::pending().await;
        };
        loop {
            match self.asking.as_mut() {
                None => {
                    self.silence.as_mut().await;
                    self.asking = Some(Box::pin(ping(self.address.clone(), check)));
                }
                Some(asking) => match asking.await {
                    Ok(()) => self.heard(),
                    Err(error) => return error,
                },
            }
        }
    }
}

/// Asks a worker whether it still answers, within `deadline`.
async fn ping(address: WorkerAddress, deadline: Duration) -> Result<()> {
    let unresponsive = || {
        DataFusionError::Execution(format!(
            "worker {} did not answer for {:.1} s (stopped with SIGSTOP, or hung); the query \
             was stopped (the worker timeout is an engine setting)",
            address.slot,
            deadline.as_secs_f64() * 2.0
        ))
    };
    match tokio::time::timeout(deadline, ask(&address, &Request::Info)).await {
        Ok(answer) => answer.map(drop),
        Err(_) => Err(unresponsive()),
    }
}

/// What EXPLAIN ANALYZE shows under a network boundary read through rings.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExchangeMetrics {
    /// Bytes that came through the rings.
    pub(crate) ring_bytes: BytesCounterMetric,
    /// Time the producers waited for this side's credit (summed over partitions).
    pub(crate) credit_wait: Time,
    /// The most bytes waiting in this process for the boundary's readers at once.
    pub(crate) peak_buffered: MaxGaugeMetric,
    /// Bytes waiting now.
    buffered: Arc<AtomicUsize>,
}

impl ExchangeMetrics {
    fn register(&self, metrics: &ExecutionPlanMetricsSet) {
        let custom =
            |name: &'static str,
             value: Arc<dyn datafusion::physical_plan::metrics::CustomMetricValue>| {
                Arc::new(Metric::new(
                    MetricValue::Custom {
                        name: name.into(),
                        value,
                    },
                    None,
                ))
            };
        metrics.register(custom("ring_bytes", Arc::new(self.ring_bytes.clone())));
        metrics.register(custom(
            "peak_buffered_bytes",
            Arc::new(self.peak_buffered.clone()),
        ));
        metrics.register(Arc::new(Metric::new(
            MetricValue::Time {
                name: "credit_wait".into(),
                time: self.credit_wait.clone(),
            },
            None,
        )));
    }

    fn buffer(&self, bytes: usize) {
        let now = self.buffered.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_buffered.set_max(now);
    }

    fn unbuffer(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The consuming end of one execute-task call: a ring the worker writes partitions into, the
/// connection the call was made on, and each partition's credit.
pub(crate) struct Partitions {
    pub(crate) reader: RingReader,
    /// The connection: closing it stops the producer; cancel and grant messages go to it.
    pub(crate) socket: UnixStream,
    pub(crate) address: WorkerAddress,
    /// The first partition's number (for messages).
    pub(crate) start: usize,
    /// One per partition, with the credit the request gave it.
    pub(crate) credits: Vec<StreamCredit>,
}

impl Partitions {
    /// Splits the ring into one stream per partition, read by a spawned task; the readers'
    /// grants and cancels are written to the connection by another. When `stall_timeout` is set
    /// and nothing arrives for half of it, the worker is asked whether it still answers; no
    /// answer within the other half fails every partition.
    pub(crate) fn demultiplex(
        self,
        metrics: ExchangeMetrics,
        stall_timeout: Option<Duration>,
    ) -> Vec<BoxStream<'static, Result<RecordBatch>>> {
        let count = self.credits.len();
        let (control, keep_alive) = spawn_control_writer(self.socket, self.address.host().into());
        let (dropped_tx, dropped_rx) = mpsc::unbounded_channel();
        let mut senders = Vec::with_capacity(count);
        let mut streams = Vec::with_capacity(count);
        for (slot, credit) in self.credits.into_iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(Some(tx));
            streams.push(
                PartitionStream {
                    receiver: rx,
                    pieces: Vec::new(),
                    credit,
                    control: control.clone(),
                    metrics: metrics.clone(),
                    slot,
                    dropped: dropped_tx.clone(),
                }
                .boxed(),
            );
        }
        drop(dropped_tx);
        let demux = Demux {
            held: vec![true; count],
            open: count,
            cancelled: false,
            senders,
            reader: self.reader,
            address: self.address,
            start: self.start,
            control,
            _keep_alive: keep_alive,
            metrics,
        };
        // It ends by itself once every partition's stream is dropped or the call ends.
        crate::spawn_detached(demux.run(dropped_rx, stall_timeout));
        streams
    }
}

/// Writes the consumer's messages (grants, cancels) to the call's connection in order. Ends,
/// closing the connection, when the returned keep-alive drops (the demultiplexer holds it: once
/// it stopped, the producer either finished or must stop) or every sender is gone; after a
/// `Done` (the call ended cleanly) it keeps the connection for the next call to `host` instead.
fn spawn_control_writer(
    socket: UnixStream,
    host: String,
) -> (
    mpsc::UnboundedSender<ConsumerMessage>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ConsumerMessage>();
    let (keep_alive, mut closed) = tokio::sync::oneshot::channel::<()>();
    crate::spawn_detached(async move {
        let mut socket = socket;
        loop {
            // Messages first: the demultiplexer sends `Done` just before it stops.
            let message = tokio::select! {
                biased;
                message = rx.recv() => message,
                _ = &mut closed => None,
            };
            let Some(message) = message else { return };
            let Ok(frame) = protocol::frame(&message.encode()) else {
                return;
            };
            if socket.write_all(&frame).await.is_err() {
                // The worker is gone; the ring tells the readers.
                return;
            }
            if message == ConsumerMessage::Done {
                if let Ok(socket) = socket.into_std() {
                    KEPT.put(&host, socket);
                }
                return;
            }
        }
    });
    (tx, keep_alive)
}

/// A batch (or the error ending a partition), the partition's bytes it accounts for, and
/// whether more pieces of the producer's batch follow.
type Item = (Result<RecordBatch>, u64, bool);

/// One partition of an execute-task call.
struct PartitionStream {
    receiver: mpsc::UnboundedReceiver<Item>,
    /// Pieces of a batch the producer sliced to fit the ring, until its last piece arrives.
    pieces: Vec<RecordBatch>,
    credit: StreamCredit,
    control: mpsc::UnboundedSender<ConsumerMessage>,
    metrics: ExchangeMetrics,
    slot: usize,
    dropped: mpsc::UnboundedSender<usize>,
}

impl Stream for PartitionStream {
    type Item = Result<RecordBatch>;

    /// The producer's batches as it made them: the pieces of a sliced batch are put back
    /// together. Each piece repays its credit as it is taken, so a batch larger than the
    /// partition's window still flows.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let (item, bytes, continues) = match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            self.metrics.unbuffer(bytes as usize);
            if let Some(total) = self.credit.took(bytes) {
                let slot = self.slot as u32;
                let _ = self.control.send(ConsumerMessage::Grant { slot, total });
            }
            let batch = match item {
                Ok(batch) => batch,
                Err(error) => {
                    self.pieces.clear();
                    return Poll::Ready(Some(Err(error)));
                }
            };
            if continues {
                self.pieces.push(batch);
                continue;
            }
            if self.pieces.is_empty() {
                return Poll::Ready(Some(Ok(batch)));
            }
            let mut pieces = std::mem::take(&mut self.pieces);
            pieces.push(batch);
            let whole = datafusion::arrow::compute::concat_batches(&pieces[0].schema(), &pieces)
                .map_err(|error| DataFusionError::ArrowError(Box::new(error), None));
            return Poll::Ready(Some(whole));
        }
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        // Tells the demultiplexer, which cancels this partition at the producer (a no-op when it
        // already ended).
        let _ = self.dropped.send(self.slot);
        self.receiver.close();
        while let Ok((_, bytes, _)) = self.receiver.try_recv() {
            self.metrics.unbuffer(bytes as usize);
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
    /// Whether a partition was cancelled at the producer (dropped before its end).
    cancelled: bool,
    address: WorkerAddress,
    start: usize,
    /// Messages to the worker on the call's connection.
    control: mpsc::UnboundedSender<ConsumerMessage>,
    /// Closes the connection when the demultiplexer stops: the worker then stops every
    /// partition, even one that is computing and would never see the ring's cancel.
    _keep_alive: tokio::sync::oneshot::Sender<()>,
    metrics: ExchangeMetrics,
}

impl Demux {
    async fn run(
        mut self,
        mut dropped: mpsc::UnboundedReceiver<usize>,
        stall_timeout: Option<Duration>,
    ) {
        let mut counted = 0;
        let mut watchdog = Watchdog::new(self.address.clone(), stall_timeout);
        loop {
            let event = tokio::select! {
                slot = dropped.recv(), if self.open > 0 => {
                    match slot {
                        Some(slot) => self.stream_dropped(slot),
                        None => self.open = 0,
                    }
                    if self.open == 0 && (self.cancelled || self.senders.iter().any(Option::is_some)) {
                        // Nobody reads a partition that goes on: stop the producer altogether.
                        self.reader.cancel();
                        return;
                    }
                    // (Every partition ended by itself: the ring's end follows, and the call ends
                    // cleanly.)
                    continue;
                }
                event = self.reader.next_async() => event,
                error = watchdog.silent_too_long() => {
                    let message = error.strip_backtrace();
                    self.fail_all(|| DataFusionError::Execution(message.clone()));
                    return;
                }
            };
            watchdog.heard();
            let read = self.reader.bytes_read();
            self.metrics.ring_bytes.add_bytes((read - counted) as usize);
            counted = read;
            match event {
                Ok(Some(StreamEvent::Batch {
                    stream,
                    batch,
                    bytes,
                    continues,
                })) => {
                    let slot = stream as usize;
                    let Some(Some(sender)) = self.senders.get(slot) else {
                        continue;
                    };
                    // Bounded by the partition's credit: the producer wrote it within its window.
                    self.metrics.buffer(bytes as usize);
                    if sender.send((Ok(batch), bytes, continues)).is_err() {
                        self.metrics.unbuffer(bytes as usize);
                        self.senders[slot] = None;
                        self.cancel_at_producer(slot);
                    }
                }
                Ok(Some(StreamEvent::End {
                    stream,
                    credit_wait,
                })) => {
                    self.metrics.credit_wait.add_duration(credit_wait);
                    if let Some(sender) = self.senders.get_mut(stream as usize) {
                        *sender = None;
                    }
                }
                Ok(Some(StreamEvent::Error { stream, message })) => {
                    if let Some(sender) =
                        self.senders.get_mut(stream as usize).and_then(Option::take)
                    {
                        let error = self
                            .address
                            .worker_error(protocol::error_from_text(&message));
                        let _ = sender.send((Err(error), 0, false));
                    }
                }
                Ok(None) => {
                    if let Some(slot) = self.senders.iter().position(Option::is_some) {
                        let message = format!(
                            "worker {} closed its ring before partition {} ended{}",
                            self.address.slot,
                            self.start + slot,
                            self.address.death_note()
                        );
                        self.fail_all(|| DataFusionError::Execution(message.clone()));
                    } else {
                        // The call ended cleanly: its connection is kept for another.
                        let _ = self.control.send(ConsumerMessage::Done);
                    }
                    return;
                }
                Err(error) => {
                    let message = format!(
                        "lost worker {} while reading partitions {}..{}: {error}{}",
                        self.address.slot,
                        self.start,
                        self.start + self.senders.len(),
                        self.address.death_note()
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
            self.cancel_at_producer(slot);
        }
    }

    /// Stops partition `slot` at the producer: the ring's flag makes its next write a no-op, and
    /// the message on the connection stops the producer at once, even while it is computing or
    /// waiting for credit.
    fn cancel_at_producer(&mut self, slot: usize) {
        self.cancelled = true;
        let _ = self.reader.cancel_stream(slot as u32);
        let _ = self.control.send(ConsumerMessage::Cancel(slot as u32));
    }

    /// Ends every unfinished partition with an error and cancels the ring.
    fn fail_all(&mut self, error: impl Fn() -> DataFusionError) {
        for sender in self.senders.iter_mut().filter_map(Option::take) {
            let _ = sender.send((Err(error()), 0, false));
        }
        self.reader.cancel();
    }
}

/// Whether this process is setting aside the `execute_task` calls of `query_id` (its result is
/// being handed out in partitions).
pub(crate) fn capturing(query_id: &uuid::Uuid) -> bool {
    capture_of(query_id.as_bytes()).is_some()
}
