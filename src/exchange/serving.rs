//! The serving side of a worker connection: a connection carries one call at a time, and the
//! next one when its caller kept it after a clean end (`protocol` has the messages), served by a
//! datafusion-distributed [`Worker`]:
//! - a coordinator channel: the task's plan goes to `Worker::coordinator_channel`; the
//!   coordinator's `C2W_END` (or the connection's end) is the end of the coordinator-to-worker
//!   stream, after which the worker's load info and metrics are sent back, then `End`;
//! - an execute-task call with a ring: `Worker::execute_task`, then one pump per partition writes
//!   its batches into the ring, each piece within the partition's credit (the request's first
//!   window, then the grants the consumer sends on the connection); a partition the consumer
//!   cancels stops alone, a closed connection or a cancelled ring stops them all; the ring's
//!   end, then the consumer's `Done`, end the call and leave the connection for another;
//! - a read-partition call: an execute-task call that another process of the coordinator's user
//!   makes for a part of a partitioned result; each task is read once, never after its query
//!   ended ([`PartitionReads`]); an end-tasks call, the coordinator releasing such a result;
//! - an info request.
//!
//! What a worker process is (its sessions, its lifeline, its accept loop) is `crate::worker`'s.

use super::credit::ProducerCredit;
use super::framing::{RingWriter, WriteOutcome};
use super::protocol::{self, ConsumerMessage, PartitionRefusal, Reply, Request};
use super::routing::{Crossing, place_partitions};
use crate::ring::RingParts;
use crate::shm::{PeerProcess, SegmentPool};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::metrics::{Gauge, Metric, MetricValue};
use datafusion_distributed::{
    CoordinatorToWorkerMsg, DistributedTaskContext, ExecuteTaskRequest, SetPlanRequest, TaskKey,
    Worker, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use http::HeaderMap;
use std::collections::{HashSet, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::LazyLock;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// Faults a worker can be told to inject, so that tests can reach the paths real faults take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Failpoint {
    /// Panic while starting to execute a task (as a bug in an operator would).
    PanicInExecuteTask,
}

/// The rings this process was sent, kept mapped for a while after their calls: a caller lends
/// a finished ring again once this process detached from it, and a ring received again is
/// mapped and faulted in no more (see `SegmentPool::open`). Their pages stay alive while mapped
/// here, also after the caller's pool let them go, so they are kept for a second only: long
/// enough for a stream of queries, short enough that an idle caller gets its memory back.
static RECEIVED_RINGS: LazyLock<SegmentPool> = LazyLock::new(|| {
    SegmentPool::new(
        "received-ring",
        super::calling::RING_POOL_IDLE_BYTES,
        RECEIVED_RING_IDLE_TIME,
        |_| true,
    )
});

/// How long a received ring stays mapped once its call ended.
const RECEIVED_RING_IDLE_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves the calls `socket` carries, one after the other, until the caller closes it or a call
/// does not end cleanly (a cancelled or failed call's connection is closed, as the caller
/// closes it too). `slot` names the worker in its metrics.
pub(crate) async fn connection(
    worker: Worker,
    mut socket: UnixStream,
    slot: usize,
    failpoint: Option<Failpoint>,
) -> std::io::Result<()> {
    let mut served = 0u64;
    loop {
        let (message, fds) = match protocol::read_request(&mut socket).await {
            Ok(request) => request,
            // The caller closed a kept connection between calls: its normal end.
            Err(error) if served > 0 && error.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let request = Request::decode(&message).map_err(std::io::Error::other)?;
        match call(worker.clone(), socket, request, fds, slot, failpoint).await? {
            Some(kept) => socket = kept,
            None => return Ok(()),
        }
        served += 1;
    }
}

/// Serves one call; returns its connection when the call ended cleanly, for the next call.
async fn call(
    worker: Worker,
    mut socket: UnixStream,
    request: Request,
    fds: Vec<OwnedFd>,
    slot: usize,
    failpoint: Option<Failpoint>,
) -> std::io::Result<Option<UnixStream>> {
    match request {
        Request::Info => {
            let reply = Reply::Info {
                version: worker.version().to_string(),
            };
            protocol::write_message(&mut socket, &reply.encode()).await?;
            Ok(Some(socket))
        }
        Request::CoordinatorChannel(call) => {
            let ends = QueryEnds(call.task_key);
            coordinator_channel(worker, socket, call.into_set_plan_request(), slot, ends).await
        }
        Request::EndTasks(tasks) => {
            {
                let mut reads = PARTITION_READS.lock();
                tasks.into_iter().for_each(|task| reads.ended(task));
            }
            protocol::write_message(&mut socket, &Reply::End.encode()).await?;
            Ok(Some(socket))
        }
        Request::ReadPartition(call) => {
            let claimed = PARTITION_READS.lock().claim(call.task_key);
            if let Err(refusal) = claimed {
                protocol::write_message(&mut socket, &Reply::Refused(refusal).encode()).await?;
                return Ok(None);
            }
            let (request, consumer, window) = call.into_execute_task_request();
            execute_task(worker, socket, request, consumer, window, fds).await
        }
        Request::ExecuteTask(call) => {
            if failpoint == Some(Failpoint::PanicInExecuteTask) {
                panic!("failpoint panic-in-execute-task");
            }
            let (request, consumer, window) = call.into_execute_task_request();
            execute_task(worker, socket, request, consumer, window, fds).await
        }
    }
}

/// The tasks of this worker read as parts of partitioned results, and the tasks whose query
/// ended (the last [`ENDED_KEPT`] of them): a part is read once, and never after its query ended.
#[derive(Debug, Default)]
pub(crate) struct PartitionReads {
    read: HashSet<TaskKey>,
    ended: HashSet<TaskKey>,
    ended_order: VecDeque<TaskKey>,
}

/// Ended tasks remembered, to tell a late reader why (about 1 MiB at most).
const ENDED_KEPT: usize = 16_384;

static PARTITION_READS: LazyLock<parking_lot::Mutex<PartitionReads>> =
    LazyLock::new(Default::default);

impl PartitionReads {
    /// Marks `task` read, unless it was already read or its query ended.
    pub(crate) fn claim(&mut self, task: TaskKey) -> Result<(), PartitionRefusal> {
        if self.ended.contains(&task) {
            return Err(PartitionRefusal::QueryEnded);
        }
        if !self.read.insert(task) {
            return Err(PartitionRefusal::AlreadyRead);
        }
        Ok(())
    }

    /// `task`'s query ended: forget it was read, remember it ended.
    pub(crate) fn ended(&mut self, task: TaskKey) {
        self.read.remove(&task);
        if self.ended.insert(task) {
            self.ended_order.push_back(task);
        }
        while self.ended_order.len() > ENDED_KEPT {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
    }
}

/// Marks its task's query ended in this process when dropped, with the coordinator-to-worker
/// stream (the coordinator ended the task): a part of the query handed out as a partition can
/// no longer be read. (The worker's replies may end before: without task metrics they do.)
struct QueryEnds(TaskKey);

impl Drop for QueryEnds {
    fn drop(&mut self) {
        PARTITION_READS.lock().ended(self.0);
    }
}

/// Serves a coordinator channel; returns its connection once both ends of the call ended
/// cleanly (the worker's `End` written, the coordinator's `C2W_END` read).
async fn coordinator_channel(
    worker: Worker,
    socket: UnixStream,
    request: Result<(HeaderMap, SetPlanRequest)>,
    slot: usize,
    ends: QueryEnds,
) -> std::io::Result<Option<UnixStream>> {
    let (mut reader, mut writer) = socket.into_split();
    let (replies, reading) = match request {
        Ok((headers, request)) => {
            // The coordinator-to-worker stream: work-unit EOS messages until the coordinator's
            // `C2W_END` (the reading hands the connection's read side back) or the connection's
            // end (the coordinator finished or dropped the task).
            let (c2w_tx, mut c2w_rx) = tokio::sync::mpsc::unbounded_channel();
            let reading = SpawnedTask::spawn(async move {
                let _ends = ends;
                loop {
                    match protocol::read_message(&mut reader).await {
                        Ok(Some(message)) if message == [protocol::C2W_WORK_UNIT_EOS] => {
                            let _ = c2w_tx.send(Ok(CoordinatorToWorkerMsg::WorkUnitEos));
                        }
                        Ok(Some(message)) if message == [protocol::C2W_END] => {
                            return Some(reader);
                        }
                        _ => return None,
                    }
                }
            });
            let c2w = futures::stream::poll_fn(move |cx| c2w_rx.poll_recv(cx));
            let replies = worker
                .coordinator_channel(headers, request, c2w.boxed())
                .await;
            (replies, Some(reading))
        }
        Err(error) => {
            drop(ends);
            // Drain the connection so the error is read before the socket closes.
            crate::spawn_detached(async move {
                let mut sink = [0u8; 64];
                while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            (Err(error), None)
        }
    };
    let mut replies = match replies {
        Ok(replies) => replies,
        Err(error) => {
            protocol::write_message(&mut writer, &Reply::Failed(error).encode()).await?;
            return Ok(None);
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
        protocol::write_message(&mut writer, &reply.encode()).await?;
        if failed {
            return Ok(None);
        }
    }
    drop(replies);
    protocol::write_message(&mut writer, &Reply::End.encode()).await?;
    let Some(reading) = reading else {
        return Ok(None);
    };
    // Until the coordinator ends the task (it may do so before or after the `End`).
    match reading.join().await {
        Ok(Some(reader)) => Ok(reader.reunite(writer).ok()),
        _ => Ok(None),
    }
}

/// Serves an execute-task call for consumer task `consumer`: each partition goes to the stream
/// `routing` places it at on the caller's ring. Returns the connection if the call ended cleanly.
async fn execute_task(
    worker: Worker,
    mut socket: UnixStream,
    request: ExecuteTaskRequest,
    consumer: DistributedTaskContext,
    window: u64,
    fds: Vec<OwnedFd>,
) -> std::io::Result<Option<UnixStream>> {
    let ring = RingParts::from_fds_pooled(fds, &RECEIVED_RINGS).map_err(std::io::Error::other)?;
    let peer = socket
        .peer_cred()
        .ok()
        .and_then(|cred| cred.pid())
        .and_then(|pid| PeerProcess::watch(pid as u32).ok())
        .map(Arc::new);
    let crossing = Crossing::of(&request.producer_head);
    let range = request.target_partition_start..request.target_partition_end;
    let placed = worker
        .execute_task(request)
        .await
        .and_then(|(streams, task_ctx)| {
            let producer = *DistributedTaskContext::from_ctx(&task_ctx);
            let places = place_partitions(crossing, producer, consumer, range)
                .map_err(DataFusionError::Internal)?;
            Ok(in_their_places(streams, &places))
        });
    let streams = match placed {
        Ok(streams) => streams,
        Err(error) => {
            protocol::write_message(&mut socket, &Reply::Failed(error).encode()).await?;
            return Ok(None);
        }
    };
    let accepted = Reply::Accepted {
        pid: std::process::id(),
    };
    protocol::write_message(&mut socket, &accepted.encode()).await?;
    let writer = RingWriter::new(ring.producer(peer));
    drop(ring);
    Ok(serve_partitions(socket, writer, streams, window).await)
}

/// `streams` in the order of their places on the ring (`places` is a permutation of `0..n`).
fn in_their_places(
    streams: Vec<SendableRecordBatchStream>,
    places: &[u32],
) -> Vec<SendableRecordBatchStream> {
    let mut placed: Vec<_> = places.iter().copied().zip(streams).collect();
    placed.sort_by_key(|(place, _)| *place);
    placed.into_iter().map(|(_, stream)| stream).collect()
}

/// Writes each partition of an execute-task call into the ring until every partition ended,
/// each within its credit: `window` bytes, then what the consumer grants on `socket`. A cancel
/// message for one partition stops that partition's pump at once (its stream is dropped, which
/// stops its inputs); the consumer closing `socket` stops them all. Once every partition ended
/// the ring is closed; the connection is returned when the consumer's `Done` follows (it read
/// the ring's end), as nothing of this call is left on it then.
pub(crate) async fn serve_partitions(
    socket: UnixStream,
    writer: RingWriter,
    streams: Vec<SendableRecordBatchStream>,
    window: u64,
) -> Option<UnixStream> {
    let writer = Arc::new(Mutex::new(writer));
    let credit = Arc::new(ProducerCredit::new(streams.len(), window));
    let mut pumps = JoinSet::new();
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(slot, stream)| pumps.spawn(pump(writer.clone(), credit.clone(), slot, stream)))
        .collect();
    // The consumer writes only cancel, grant and done messages after its request; reading them
    // through a stream keeps a half-read message safe across `select!` iterations. It ends at
    // the connection's end or garbage, and hands the connection back with `Done`.
    let messages = futures::stream::unfold(Some(socket), |socket| async move {
        let mut socket = socket?;
        let message = protocol::read_message(&mut socket).await.ok()??;
        match ConsumerMessage::decode(&message).ok()? {
            ConsumerMessage::Done => Some((FromConsumer::Done(socket), None)),
            ConsumerMessage::Grant { slot, total } => {
                Some((FromConsumer::Grant { slot, total }, Some(socket)))
            }
            ConsumerMessage::Cancel(slot) => Some((FromConsumer::Cancel(slot), Some(socket))),
        }
    });
    tokio::pin!(messages);
    // Until every partition ended.
    let mut pumping = Some(writer);
    loop {
        tokio::select! {
            joined = pumps.join_next(), if pumping.is_some() => {
                if joined.is_none() {
                    // The pumps are done with the writer: its end tells the consumer.
                    if let Some(Ok(writer)) = pumping.take().map(Arc::try_unwrap) {
                        writer.into_inner().close();
                    }
                }
            }
            message = messages.next() => {
                match message {
                    Some(FromConsumer::Grant { slot, total }) => {
                        credit.grant(slot as usize, total);
                    }
                    Some(FromConsumer::Cancel(slot)) => {
                        if let Some(pump) = handles.get(slot as usize) {
                            pump.abort();
                        }
                    }
                    Some(FromConsumer::Done(socket)) if pumping.is_none() => return Some(socket),
                    // The consumer closed the connection (its process exited or it dropped
                    // every partition), sent garbage, or `Done` before the ring's end: stop
                    // everything.
                    _ => {
                        if let Some(writer) = pumping {
                            pumps.abort_all();
                            writer.lock().await.cancel();
                        }
                        return None;
                    }
                }
            }
        }
    }
}

/// A message of an execute-task call's consumer, read by [`serve_partitions`].
enum FromConsumer {
    Grant {
        slot: u32,
        total: u64,
    },
    Cancel(u32),
    /// The call ended; its connection, for the next call.
    Done(UnixStream),
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
                        let text = protocol::error_text(&DataFusionError::from(error));
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
                let text = protocol::error_text(&error);
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
