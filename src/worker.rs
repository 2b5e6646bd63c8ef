//! The worker process: a datafusion-distributed [`Worker`] served on a Unix socket the
//! coordinator created and handed over as the process's standard input.
//!
//! Each connection carries one call (`wire` has the messages):
//! - a coordinator channel: the task's plan goes to `Worker::coordinator_channel`; the
//!   connection's end is the end of the coordinator-to-worker stream, after which the worker's
//!   load info and metrics are sent back, then `End`;
//! - an execute-task call with a ring: `Worker::execute_task`, then one pump per partition writes
//!   its batches into the ring, each piece within the partition's credit (the request's first
//!   window, then the grants the consumer sends on the connection); a partition the consumer
//!   cancels stops alone, a closed connection or a cancelled ring stops them all;
//! - an info request.
//!
//! The worker exits when its coordinator process does (it watches it through a pidfd), so a
//! coordinator killed with SIGKILL leaves no worker behind.

use crate::channel::ShmChannelResolver;
use crate::credit::ProducerCredit;
use crate::ring::RingParts;
use crate::shm::{PeerProcess, Segment};
use crate::transport::{RingWriter, WriteOutcome};
use crate::wire::{self, ConsumerMessage, Reply, Request};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::metrics::{Gauge, Metric, MetricValue};
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{
    CoordinatorToWorkerMsg, DistributedExt, ExecuteTaskRequest, SetPlanRequest, Worker,
    WorkerQueryContext, WorkerSessionBuilder, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use http::HeaderMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// The environment variable that turns an executable calling [`serve_if_requested`] into a
/// worker process (set by the coordinator when it starts its own executable as a worker).
pub const WORKER_MODE_ENV: &str = "DFSHM_WORKER_MODE";

/// The command line of a worker process (given by the coordinator).
#[derive(Debug, clap::Parser)]
#[command(name = "dfshm-worker", version)]
struct WorkerArgs {
    /// This worker's slot in its coordinator's pool.
    #[arg(long, default_value_t = 0)]
    slot: usize,
    /// Exit when this process (the coordinator) exits.
    #[arg(long)]
    coordinator_pid: Option<u32>,
    /// Memory limit of this worker's queries, in bytes.
    #[arg(long)]
    memory_limit: Option<usize>,
    /// Data bytes of the rings this worker creates to fetch from other workers.
    #[arg(long)]
    ring_bytes: Option<usize>,
    /// Threads running this worker's tasks (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Fail a fetch from another worker that answers nothing for this many milliseconds.
    #[arg(long)]
    stall_timeout_ms: Option<u64>,
    /// Bytes of credit one query may lend to the partitions it reads in this worker.
    #[arg(long)]
    exchange_budget: Option<usize>,
    /// A fault to inject, for tests (see `Failpoint`).
    #[arg(long, hide = true)]
    failpoint: Option<Failpoint>,
}

/// Faults a worker can be told to inject, so that tests can reach the paths real faults take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Failpoint {
    /// Panic while starting to execute a task (as a bug in an operator would).
    PanicInExecuteTask,
}

/// The `main` of a worker process: parses the command line the coordinator gave, takes the
/// listening socket from standard input and serves until the coordinator exits.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let args = WorkerArgs::parse();
    // The coordinator makes standard input the listening socket. A duplicate of fd 0 owns it
    // here (fd 0 itself stays open, unused, for the life of the process).
    let stdin = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("dfshm worker: cannot take standard input: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = StdUnixListener::from(stdin);
    if listener.local_addr().is_err() {
        eprintln!(
            "dfshm worker: standard input is not a listening Unix socket; workers are started by \
             a dfshm coordinator (dfshm --workers N), not by hand"
        );
        return std::process::ExitCode::from(2);
    }
    let options = WorkerOptions {
        slot: args.slot,
        coordinator_pid: args.coordinator_pid,
        memory_limit_bytes: args.memory_limit,
        ring_bytes: args.ring_bytes,
        threads: args.threads,
        stall_timeout: args.stall_timeout_ms.map(std::time::Duration::from_millis),
        exchange_budget: args.exchange_budget,
        failpoint: args.failpoint,
    };
    match run(listener, options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dfshm worker {}: {error}", args.slot);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs this process as a worker if its coordinator started it as one ([`WORKER_MODE_ENV`] is
/// set), returning its exit code; `None` otherwise. Executables that want to be their own
/// workers (see `EngineBuilder::workers_from_this_executable`) call it first thing in `main`.
pub fn serve_if_requested() -> Option<std::process::ExitCode> {
    std::env::var_os(WORKER_MODE_ENV).map(|_| main())
}

/// How a worker process runs.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// The worker's slot in its coordinator's pool (for messages).
    pub slot: usize,
    /// The coordinator process: the worker exits when it does.
    pub coordinator_pid: Option<u32>,
    /// The memory limit of this worker's queries, in bytes.
    pub memory_limit_bytes: Option<usize>,
    /// Data bytes of the rings this worker creates to fetch from other workers.
    pub ring_bytes: Option<usize>,
    /// Tokio worker threads (default: the number of cores).
    pub threads: Option<usize>,
    /// Fail a fetch from another worker that answers nothing for this long (`None`: wait).
    pub stall_timeout: Option<std::time::Duration>,
    /// Bytes of credit one query may lend to the partitions it reads in this worker (default
    /// `DEFAULT_EXCHANGE_BUDGET`).
    pub exchange_budget: Option<usize>,
    /// A fault to inject, for tests.
    pub failpoint: Option<Failpoint>,
}

/// The sessions of every datafusion-distributed worker dfshm runs (worker processes, in-process
/// and gRPC workers): each task's config, with the result cache's codec and what `extend` adds
/// (a channel resolver), over one session state built once per worker.
///
/// datafusion-distributed builds a session per task from scratch: every built-in function is
/// registered into fresh maps (and `DefaultSessionBuilder.map` does it twice). A worker's tasks
/// differ only in their config (task index, distributed options, headers), so a session state
/// is built once, with DataFusion's default config, and each task gets a clone of it with the
/// task's config. The functions' config-dependent state is the template's: a worker's task
/// config starts from DataFusion's defaults too, so it is the same.
#[derive(Clone)]
pub(crate) struct WorkerSessions {
    extend: Arc<dyn Fn(SessionConfig) -> SessionConfig + Send + Sync>,
    template: Arc<std::sync::OnceLock<SessionState>>,
}

impl WorkerSessions {
    /// Sessions whose configs also get what `extend` adds.
    pub(crate) fn new(
        extend: impl Fn(SessionConfig) -> SessionConfig + Send + Sync + 'static,
    ) -> WorkerSessions {
        WorkerSessions {
            extend: Arc::new(extend),
            template: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl WorkerSessionBuilder for WorkerSessions {
    async fn build_session_state(&self, mut context: WorkerQueryContext) -> Result<SessionState> {
        let config = context.builder.config().take().unwrap_or_default();
        let config = (self.extend)(config).with_distributed_user_codec(crate::cache::CacheCodec);
        let runtime = context.builder.runtime_env().clone();
        let mut state = match self.template.get() {
            Some(template)
                if runtime.is_none_or(|runtime| Arc::ptr_eq(&runtime, template.runtime_env())) =>
            {
                template.clone()
            }
            // The template is built with DataFusion's default config, not the task's: a task's
            // config holds its own extensions (its worker, its work-unit feeds), which a kept
            // template would keep alive for ever (a worker holding itself). A worker whose
            // runtime changed keeps its first template and builds the other sessions anew.
            _ => {
                let built = context
                    .builder
                    .with_config(SessionConfig::default())
                    .build();
                let _ = self.template.set(built.clone());
                built
            }
        };
        *state.config_mut() = config;
        Ok(state)
    }
}

/// Runs a worker on `listener` until its coordinator exits (or the listener fails).
///
/// A panic anywhere in the worker aborts the process: its tasks' state (task maps, locks,
/// half-written rings) cannot be trusted afterwards. Its consumers see it die, so the query fails
/// naming the worker, and the coordinator's pool starts a fresh one for the next query.
pub fn run(listener: StdUnixListener, options: WorkerOptions) -> std::io::Result<()> {
    let report = std::panic::take_hook();
    let slot = options.slot;
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        // Last, so that it ends the stderr lines the coordinator quotes in its error.
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|at| format!(" at {}:{}", at.file(), at.line()))
            .unwrap_or_default();
        eprintln!(
            "dfshm worker {slot} panicked{place}: {message}; it exits and the coordinator \
             starts a new one"
        );
        std::process::abort();
    }));
    if let Some(pid) = options.coordinator_pid {
        watch_coordinator(pid)?;
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("dfshm-worker");
    if let Some(threads) = options.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.build()?;
    runtime.block_on(serve(listener, options))
}

/// Exits the process as soon as `pid` does.
fn watch_coordinator(pid: u32) -> std::io::Result<()> {
    let coordinator = PeerProcess::watch(pid)?;
    // If the coordinator died before the pidfd was opened, this process was re-parented.
    if std::os::unix::process::parent_id() != pid {
        std::process::exit(0);
    }
    std::thread::Builder::new()
        .name("dfshm-lifeline".into())
        .spawn(move || {
            // Once the coordinator is gone nobody can use this worker's results. Exiting unmaps
            // every ring and closes every fd of this process. (An error here means the pidfd
            // cannot be polled, which only happens once it is unusable: exit then too.)
            let _ = coordinator.wait_for_exit();
            std::process::exit(0);
        })?;
    Ok(())
}

async fn serve(listener: StdUnixListener, options: WorkerOptions) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(bytes) = options.memory_limit_bytes {
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let resolver = ShmChannelResolver::new(
        options
            .ring_bytes
            .unwrap_or(crate::channel::DEFAULT_RING_BYTES),
        options.stall_timeout,
    )
    .with_exchange_budget(
        options
            .exchange_budget
            .unwrap_or(crate::credit::DEFAULT_EXCHANGE_BUDGET),
    );
    let worker = Worker::from_session_builder(WorkerSessions::new(move |config| {
        config.with_distributed_channel_resolver(resolver.clone())
    }))
    .with_runtime_env(runtime)
    .with_version(crate::version());
    let uid = crate::shm::effective_uid();
    loop {
        let (socket, _) = listener.accept().await?;
        // Abstract sockets are reachable by any local user: serve only our own.
        let same_user = socket.peer_cred().map(|cred| cred.uid() == uid);
        if !matches!(same_user, Ok(true)) {
            continue;
        }
        let worker = worker.clone();
        let slot = options.slot;
        let failpoint = options.failpoint;
        // A connection's task ends with its connection (the peer closing it ends every call).
        crate::spawn_detached(async move {
            if let Err(error) = connection(worker, socket, slot, failpoint).await {
                log::debug!("worker {slot}: a connection ended with: {error}");
            }
        });
    }
}

/// Reads the first message of a connection and any fds that came with it.
async fn first_message(socket: &mut UnixStream) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let shared = &*socket;
    let mut length = [0u8; 4];
    let mut filled = 0;
    let mut fds = Vec::new();
    while filled < length.len() {
        shared.readable().await?;
        let received = shared.try_io(tokio::io::Interest::READABLE, || {
            crate::shm::recv_with_fds(shared.as_fd(), &mut length[filled..])
        });
        match received {
            Ok((0, _)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before its request",
                ));
            }
            Ok((read, more)) => {
                filled += read;
                fds.extend(more);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        }
    }
    let body = wire::read_body(socket, u32::from_le_bytes(length) as usize).await?;
    Ok((body, fds))
}

async fn connection(
    worker: Worker,
    mut socket: UnixStream,
    slot: usize,
    failpoint: Option<Failpoint>,
) -> std::io::Result<()> {
    let (message, fds) = first_message(&mut socket).await?;
    let request = Request::decode(&message).map_err(std::io::Error::other)?;
    match request {
        Request::Info => {
            let reply = Reply::Info {
                version: worker.version().to_string(),
            };
            wire::write_message(&mut socket, &reply.encode()).await
        }
        Request::CoordinatorChannel {
            headers,
            task_key,
            task_count,
            plan,
            target_worker_url,
            query_start_time_ns,
        } => {
            let request = wire::set_plan_request(
                headers,
                task_key,
                task_count,
                plan,
                &target_worker_url,
                query_start_time_ns,
            );
            coordinator_channel(worker, socket, request, slot).await
        }
        Request::ExecuteTask {
            task_key,
            start,
            end,
            head,
            window,
        } => {
            let producer_head = head.into_producer_head();
            if failpoint == Some(Failpoint::PanicInExecuteTask) {
                panic!("failpoint panic-in-execute-task");
            }
            let request = ExecuteTaskRequest {
                task_key,
                target_partition_start: start,
                target_partition_end: end,
                producer_head,
            };
            execute_task(worker, socket, request, window, fds).await
        }
    }
}

async fn coordinator_channel(
    worker: Worker,
    socket: UnixStream,
    request: Result<(HeaderMap, SetPlanRequest)>,
    slot: usize,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = socket.into_split();
    let replies = match request {
        Ok((headers, request)) => {
            // The coordinator-to-worker stream: work-unit EOS messages until the connection's
            // read side ends (the coordinator finished or dropped the task).
            let c2w = futures::stream::unfold(reader, |mut reader| async move {
                let message = wire::read_message(&mut reader).await.ok()??;
                (message == [wire::C2W_WORK_UNIT_EOS])
                    .then_some((Ok(CoordinatorToWorkerMsg::WorkUnitEos), reader))
            });
            worker
                .coordinator_channel(headers, request, c2w.boxed())
                .await
        }
        Err(error) => {
            // Drain the connection so the error is read before the socket closes.
            crate::spawn_detached(async move {
                let mut sink = [0u8; 64];
                while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            Err(error)
        }
    };
    let mut replies = match replies {
        Ok(replies) => replies,
        Err(error) => {
            return wire::write_message(&mut writer, &Reply::Failed(error).encode()).await;
        }
    };
    while let Some(message) = replies.next().await {
        let reply = match message {
            Ok(WorkerToCoordinatorMsg::LoadInfo(info)) => Reply::LoadInfo(info),
            Ok(WorkerToCoordinatorMsg::LoadInfoEos) => Reply::LoadInfoEos,
            Ok(WorkerToCoordinatorMsg::TaskMetrics(mut metrics)) => {
                // Which worker ran the task: EXPLAIN ANALYZE shows it per task in the stage
                // header (`worker={0:1, 1:0}`).
                let gauge = Gauge::new();
                gauge.set(slot);
                metrics.task_metrics.push(Arc::new(Metric::new(
                    MetricValue::Gauge {
                        name: "worker".into(),
                        gauge,
                    },
                    None,
                )));
                Reply::TaskMetrics(metrics)
            }
            Err(error) => Reply::Failed(error),
        };
        let failed = matches!(reply, Reply::Failed(_));
        wire::write_message(&mut writer, &reply.encode()).await?;
        if failed {
            return Ok(());
        }
    }
    wire::write_message(&mut writer, &Reply::End.encode()).await
}

async fn execute_task(
    worker: Worker,
    mut socket: UnixStream,
    request: ExecuteTaskRequest,
    window: u64,
    fds: Vec<OwnedFd>,
) -> std::io::Result<()> {
    let ring = open_ring(fds)?;
    let peer = socket
        .peer_cred()
        .ok()
        .and_then(|cred| cred.pid())
        .and_then(|pid| PeerProcess::watch(pid as u32).ok())
        .map(Arc::new);
    let streams = match worker.execute_task(request).await {
        Ok((streams, _)) => streams,
        Err(error) => {
            return wire::write_message(&mut socket, &Reply::Failed(error).encode()).await;
        }
    };
    let accepted = Reply::Accepted {
        pid: std::process::id(),
    };
    wire::write_message(&mut socket, &accepted.encode()).await?;
    let writer = RingWriter::new(ring.producer(peer));
    drop(ring);
    serve_partitions(socket, writer, streams, window).await;
    Ok(())
}

/// Writes each partition of an execute-task call into the ring until every partition ended,
/// each within its credit: `window` bytes, then what the consumer grants on `socket`. A cancel
/// message for one partition stops that partition's pump at once (its stream is dropped, which
/// stops its inputs); the consumer closing `socket` stops them all.
pub(crate) async fn serve_partitions(
    socket: UnixStream,
    writer: RingWriter,
    streams: Vec<SendableRecordBatchStream>,
    window: u64,
) {
    let writer = Arc::new(Mutex::new(writer));
    let credit = Arc::new(ProducerCredit::new(streams.len(), window));
    let mut pumps = JoinSet::new();
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(slot, stream)| pumps.spawn(pump(writer.clone(), credit.clone(), slot, stream)))
        .collect();
    // The consumer writes only cancel and grant messages after its request; reading them
    // through a stream keeps a half-read message safe across `select!` iterations.
    let messages = futures::stream::unfold(socket, |mut socket| async move {
        let message = wire::read_message(&mut socket).await.ok()??;
        Some((message, socket))
    });
    tokio::pin!(messages);
    loop {
        tokio::select! {
            joined = pumps.join_next() => {
                if joined.is_none() {
                    break;
                }
            }
            message = messages.next() => {
                match message.map(|m| ConsumerMessage::decode(&m)) {
                    Some(Ok(ConsumerMessage::Grant { slot, total })) => {
                        credit.grant(slot as usize, total);
                    }
                    Some(Ok(ConsumerMessage::Cancel(slot))) => {
                        if let Some(pump) = handles.get(slot as usize) {
                            pump.abort();
                        }
                    }
                    // The consumer closed the connection (its process exited or it dropped
                    // every partition), or sent garbage: stop everything.
                    None | Some(Err(_)) => {
                        pumps.abort_all();
                        writer.lock().await.cancel();
                        return;
                    }
                }
            }
        }
    }
    if let Ok(writer) = Arc::try_unwrap(writer) {
        writer.into_inner().close();
    }
}

fn open_ring(fds: Vec<OwnedFd>) -> std::io::Result<RingParts> {
    let Ok::<[OwnedFd; 3], _>([segment, data_ready, space_ready]) = fds.try_into() else {
        return Err(std::io::Error::other(
            "an execute-task request came without its ring",
        ));
    };
    let segment = Segment::open(segment).map_err(std::io::Error::other)?;
    RingParts::open(segment, data_ready, space_ready).map_err(std::io::Error::other)
}

/// Moves one partition's batches into the ring until it ends, fails or is cancelled, asking
/// credit for every piece (never while holding the ring, so that a partition out of credit
/// never stops its siblings).
async fn pump(
    writer: Arc<Mutex<RingWriter>>,
    credit: Arc<ProducerCredit>,
    slot: usize,
    mut stream: SendableRecordBatchStream,
) {
    let stream_id = slot as u32;
    let mut waited = std::time::Duration::ZERO;
    loop {
        if writer.lock().await.is_cancelled(stream_id) {
            return;
        }
        match stream.next().await {
            Some(Ok(batch)) => {
                if batch.num_rows() == 0 {
                    continue;
                }
                let pieces = match writer.lock().await.pieces(&batch) {
                    Ok(pieces) => pieces,
                    Err(error) => {
                        let text = wire::error_text(&DataFusionError::from(error));
                        let _ = writer.lock().await.fail_stream(stream_id, &text).await;
                        return;
                    }
                };
                let last = pieces.len().saturating_sub(1);
                for (index, piece) in pieces.iter().enumerate() {
                    let written = writer.lock().await.stream_bytes(stream_id);
                    waited += credit.wait(slot, written).await;
                    let continues = index < last;
                    match writer
                        .lock()
                        .await
                        .write_piece(stream_id, piece, continues)
                        .await
                    {
                        Ok(WriteOutcome::Written) => {}
                        // Cancelled by the consumer, or the ring broke (the consumer is gone).
                        Ok(WriteOutcome::Cancelled) | Err(_) => return,
                    }
                }
            }
            Some(Err(error)) => {
                let text = wire::error_text(&error);
                let _ = writer.lock().await.fail_stream(stream_id, &text).await;
                return;
            }
            None => {
                let _ = writer
                    .lock()
                    .await
                    .finish_stream_after(stream_id, waited)
                    .await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
