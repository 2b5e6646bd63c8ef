//! The control protocol between dfshm processes: length-prefixed binary messages on a Unix
//! socket, one connection per datafusion-distributed call.
//!
//! datafusion-distributed 4 keeps its own message codecs private (and behind its `grpc` feature),
//! so this module encodes the `WorkerChannel` calls itself: the plan and repartition head travel
//! as the bytes datafusion-distributed's public `MaybeEncoded::encode` produces; task keys,
//! headers, load info, task metrics and errors are encoded here. Record batches never travel on
//! the socket: they go through a shared-memory ring (see `framing`).
//!
//! Every message is `u32 length (little endian) | kind byte | body`. Integers are little-endian
//! u64; strings and byte strings are a u64 length and their bytes. A connection's first message is
//! a [`Request`]; it may carry file descriptors (the ring of an execute-task call) with its first
//! byte.

use datafusion::common::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion_distributed::{
    DistributedTaskContext, ExecuteTaskRequest, LoadInfo, MaybeEncoded, ProducerHead,
    SetPlanRequest, TaskKey, TaskMetrics,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use url::Url;

mod metrics;

/// The largest message accepted (plans of very wide queries can be tens of MiB).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// A malformed message: a bug or a foreign process on the socket.
#[derive(Debug, thiserror::Error)]
#[error("malformed dfshm control message: {0}")]
pub(crate) struct Malformed(pub(crate) String);

impl From<Malformed> for DataFusionError {
    fn from(error: Malformed) -> DataFusionError {
        DataFusionError::Internal(error.to_string())
    }
}

const REQUEST_COORDINATOR_CHANNEL: u8 = 1;
const REQUEST_EXECUTE_TASK: u8 = 2;
const REQUEST_INFO: u8 = 3;
const REQUEST_READ_PARTITION: u8 = 4;
const REQUEST_END_TASKS: u8 = 5;

const REPLY_ACCEPTED: u8 = 10;
const REPLY_FAILED: u8 = 11;
const REPLY_LOAD_INFO: u8 = 12;
const REPLY_LOAD_INFO_EOS: u8 = 13;
const REPLY_TASK_METRICS: u8 = 14;
const REPLY_END: u8 = 15;
const REPLY_INFO: u8 = 16;
const REPLY_REFUSED: u8 = 17;

/// The coordinator's "no more work units" on a coordinator channel.
pub(crate) const C2W_WORK_UNIT_EOS: u8 = 20;

/// The coordinator's last message on a coordinator channel: it ended the task (the end of the
/// coordinator-to-worker stream), and keeps the connection for another call. Closing the
/// connection ends the stream too, and the connection with it.
pub(crate) const C2W_END: u8 = 24;

/// The consumer's "stop producing partition N" on an execute-task connection.
const CANCEL_PARTITION: u8 = 21;

/// The consumer's "partition N may have written this many bytes in all" (flow control, see
/// `credit`) on an execute-task connection.
const GRANT_CREDIT: u8 = 22;

/// The consumer's last message of an execute-task call that ended cleanly (it read the end of
/// every partition and of the ring): the connection carries the next call after it.
const CALL_DONE: u8 = 23;

/// What the consumer of an execute-task call sends after its request (closing the connection
/// stops every partition; `Done` ends a call whose connection is kept for another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerMessage {
    /// Stop producing the partition in this slot of the request's range.
    Cancel(u32),
    /// The partition in `slot` may have written `total` data bytes in all.
    Grant {
        /// The partition's slot in the request's range.
        slot: u32,
        /// The running total of bytes granted.
        total: u64,
    },
    /// Every partition and the ring ended; nothing more of this call follows.
    Done,
}

impl ConsumerMessage {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match *self {
            ConsumerMessage::Cancel(slot) => {
                let mut message = vec![CANCEL_PARTITION];
                message.extend_from_slice(&slot.to_le_bytes());
                message
            }
            ConsumerMessage::Grant { slot, total } => {
                let mut message = vec![GRANT_CREDIT];
                message.extend_from_slice(&slot.to_le_bytes());
                message.extend_from_slice(&total.to_le_bytes());
                message
            }
            ConsumerMessage::Done => vec![CALL_DONE],
        }
    }

    pub(crate) fn decode(message: &[u8]) -> Result<ConsumerMessage, Malformed> {
        let size = || Malformed(format!("a consumer message of {} bytes", message.len()));
        match message {
            [CANCEL_PARTITION, slot @ ..] => Ok(ConsumerMessage::Cancel(u32::from_le_bytes(
                slot.try_into().map_err(|_| size())?,
            ))),
            [GRANT_CREDIT, rest @ ..] if rest.len() == 12 => Ok(ConsumerMessage::Grant {
                slot: u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")),
                total: u64::from_le_bytes(rest[4..].try_into().expect("8 bytes")),
            }),
            [GRANT_CREDIT, ..] => Err(size()),
            [CALL_DONE] => Ok(ConsumerMessage::Done),
            _ => Err(Malformed(format!(
                "an execute-task connection sent kind {:?} after its request",
                message.first()
            ))),
        }
    }
}

/// The first message of a call: of a connection, or of a kept connection's next call (a call
/// that ended cleanly leaves nothing on its connection; see `kept`).
#[derive(Debug)]
pub(crate) enum Request {
    /// `WorkerChannel::coordinator_channel`: set a task's plan; the connection then stays open
    /// until the query ends (its closing is the end of the coordinator-to-worker stream).
    CoordinatorChannel(PlanCall),
    /// `WorkerChannel::execute_task`: stream a task's partitions into the ring that came with
    /// this message.
    ExecuteTask(TaskCall),
    /// `WorkerChannel::get_worker_info`.
    Info,
    /// Another process reads one part of a partitioned result (an `execute_task` call its
    /// coordinator set up and handed out as a descriptor): like `ExecuteTask`, but each task may
    /// be read so only once, and not after its query ended.
    ReadPartition(TaskCall),
    /// The coordinator released a partitioned result: these tasks' parts may no longer be
    /// read. Answered with `End` once recorded.
    EndTasks(Vec<TaskKey>),
}

/// A `coordinator_channel` call: datafusion-distributed's `SetPlanRequest` and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanCall {
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) task_key: TaskKey,
    pub(crate) task_count: usize,
    /// The plan as datafusion-distributed's `MaybeEncoded::encode` writes it.
    pub(crate) plan: Vec<u8>,
    pub(crate) target_worker_url: String,
    pub(crate) query_start_time_ns: usize,
}

/// An `execute_task` call: partitions `start..end` of a task for the consumer task `consumer`,
/// each within `window` bytes of credit until the consumer grants more.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskCall {
    pub(crate) task_key: TaskKey,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) head: Head,
    pub(crate) consumer: DistributedTaskContext,
    pub(crate) window: u64,
}

/// The producer head of an execute-task request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    None,
    Broadcast {
        output_partitions: usize,
    },
    /// A `Partitioning` encoded by datafusion-distributed.
    Repartition(Vec<u8>),
}

impl PlanCall {
    /// The call for datafusion-distributed's `coordinator_channel` (its plan encoded).
    pub(crate) fn of(
        headers: &HeaderMap,
        request: SetPlanRequest,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<PlanCall, DataFusionError> {
        Ok(PlanCall {
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
                .collect(),
            task_key: request.task_key,
            task_count: request.task_count,
            plan: request.plan.encode(task_ctx)?,
            target_worker_url: request.target_worker_url.to_string(),
            query_start_time_ns: request.query_start_time_ns,
        })
    }

    /// The headers and `SetPlanRequest` this call stands for, as datafusion-distributed's worker
    /// takes them (the plan still encoded).
    pub(crate) fn into_set_plan_request(
        self,
    ) -> Result<(HeaderMap, SetPlanRequest), DataFusionError> {
        let bad =
            |error: String| DataFusionError::Internal(format!("a malformed plan request: {error}"));
        let mut map = HeaderMap::new();
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let value = HeaderValue::from_bytes(&value).map_err(|e| bad(e.to_string()))?;
            map.append(name, value);
        }
        let target_worker_url =
            Url::parse(&self.target_worker_url).map_err(|e| bad(e.to_string()))?;
        let request = SetPlanRequest {
            task_key: self.task_key,
            task_count: self.task_count,
            plan: MaybeEncoded::Encoded(self.plan),
            work_unit_feed_declarations: Vec::new(),
            target_worker_url,
            query_start_time_ns: self.query_start_time_ns,
        };
        Ok((map, request))
    }
}

impl TaskCall {
    /// The call for datafusion-distributed's `execute_task`, with each partition's first window.
    pub(crate) fn of(
        request: ExecuteTaskRequest,
        window: u64,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<TaskCall, DataFusionError> {
        let consumer = *DistributedTaskContext::from_ctx(task_ctx);
        Ok(TaskCall {
            task_key: request.task_key,
            start: request.target_partition_start,
            end: request.target_partition_end,
            head: Head::of_producer(request.producer_head, task_ctx)?,
            consumer,
            window,
        })
    }

    /// The request this call stands for, as datafusion-distributed's worker takes it (the
    /// partitioning still encoded), the consumer task, and each partition's first window.
    pub(crate) fn into_execute_task_request(
        self,
    ) -> (ExecuteTaskRequest, DistributedTaskContext, u64) {
        let request = ExecuteTaskRequest {
            task_key: self.task_key,
            target_partition_start: self.start,
            target_partition_end: self.end,
            producer_head: self.head.into_producer_head(),
        };
        (request, self.consumer, self.window)
    }
}

impl TaskCall {
    /// The call as a message of `kind` (an execute-task or a read-partition request).
    fn encode(&self, kind: u8) -> Vec<u8> {
        let mut e = Encoder::new(kind);
        e.task_key(&self.task_key);
        e.usize(self.start);
        e.usize(self.end);
        e.usize(self.consumer.task_index);
        e.usize(self.consumer.task_count);
        e.u64(self.window);
        match &self.head {
            Head::None => e.u8(0),
            Head::Broadcast { output_partitions } => {
                e.u8(1);
                e.usize(*output_partitions);
            }
            Head::Repartition(bytes) => {
                e.u8(2);
                e.bytes(bytes);
            }
        }
        e.finish()
    }

    /// The call after its kind byte.
    fn decode(d: &mut Decoder) -> Result<TaskCall, Malformed> {
        let task_key = d.task_key()?;
        let start = d.usize()?;
        let end = d.usize()?;
        let consumer = DistributedTaskContext {
            task_index: d.usize()?,
            task_count: d.usize()?,
        };
        let window = d.u64()?;
        let head = match d.u8()? {
            0 => Head::None,
            1 => Head::Broadcast {
                output_partitions: d.usize()?,
            },
            2 => Head::Repartition(d.bytes()?.to_vec()),
            other => return Err(Malformed(format!("producer head {other}"))),
        };
        if start > end {
            return Err(Malformed(format!("partition range {start}..{end}")));
        }
        Ok(TaskCall {
            task_key,
            start,
            end,
            head,
            consumer,
            window,
        })
    }

    /// The call as a partition descriptor carries it (see `calling::PartitionTicket`).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.encode(REQUEST_READ_PARTITION)
    }

    /// A call from [`TaskCall::to_bytes`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<TaskCall, Malformed> {
        match Request::decode(bytes)? {
            Request::ReadPartition(call) => Ok(call),
            _ => Err(Malformed("not a read-partition call".into())),
        }
    }
}

impl Head {
    /// The head of an execute-task call as it travels (its partitioning encoded).
    fn of_producer(
        head: ProducerHead,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Head, DataFusionError> {
        Ok(match head {
            ProducerHead::None => Head::None,
            ProducerHead::BroadcastExec { output_partitions } => {
                Head::Broadcast { output_partitions }
            }
            ProducerHead::RepartitionExec { partitioning } => {
                Head::Repartition(partitioning.encode(task_ctx)?)
            }
        })
    }

    /// The head as datafusion-distributed's worker takes it (the partitioning still encoded).
    fn into_producer_head(self) -> ProducerHead {
        match self {
            Head::None => ProducerHead::None,
            Head::Broadcast { output_partitions } => {
                ProducerHead::BroadcastExec { output_partitions }
            }
            Head::Repartition(bytes) => ProducerHead::RepartitionExec {
                partitioning: MaybeEncoded::Encoded(bytes),
            },
        }
    }
}

/// A worker's answer on a connection.
pub(crate) enum Reply {
    /// The execute-task call succeeded: the partitions follow in the ring, written by process
    /// `pid` (which the consumer watches: the socket's peer credentials name the process that
    /// created the listening socket, the coordinator, not the worker).
    Accepted {
        pid: u32,
    },
    /// The call failed.
    Failed(DataFusionError),
    LoadInfo(LoadInfo),
    LoadInfoEos,
    TaskMetrics(TaskMetrics),
    /// The worker-to-coordinator stream ended normally (a connection that closes without it
    /// lost its worker).
    End,
    Info {
        version: String,
    },
    /// A read-partition call the worker will not serve.
    Refused(PartitionRefusal),
}

/// Why a worker will not serve a part of a partitioned result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(u8)]
pub enum PartitionRefusal {
    /// The part was read before.
    #[error(
        "this partition was already read (each partition descriptor of a result can be read \
         once); execute the statement again for a new set"
    )]
    AlreadyRead = 0,
    /// The statement that made it was released or executed again.
    #[error(
        "the statement that made this partition was released or executed again, which ended \
         its query; execute it again for new partitions"
    )]
    QueryEnded = 1,
}

/// A part of a partitioned result its worker would not serve (see [`PartitionRefusal`]): the
/// caller's mistake, not a failure of the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker {worker} cannot serve this partition: {reason}")]
pub struct PartitionUnavailable {
    /// The worker's slot.
    pub worker: usize,
    /// Why.
    pub reason: PartitionRefusal,
}

/// Builds a message body.
#[derive(Default)]
struct Encoder(Vec<u8>);

impl Encoder {
    fn new(kind: u8) -> Encoder {
        Encoder(vec![kind])
    }
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn usize(&mut self, value: usize) {
        self.u64(value as u64);
    }
    fn f32(&mut self, value: f32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, value: &[u8]) {
        self.usize(value.len());
        self.0.extend_from_slice(value);
    }
    fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }
    fn task_key(&mut self, key: &TaskKey) {
        self.0.extend_from_slice(key.query_id.as_bytes());
        self.usize(key.stage_id);
        self.usize(key.task_number);
    }
    fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads a message body.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed(format!(
                "{n} bytes wanted, {} left",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn usize(&mut self) -> Result<usize, Malformed> {
        usize::try_from(self.u64()?).map_err(|_| Malformed("integer out of range".into()))
    }
    fn f32(&mut self) -> Result<f32, Malformed> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.usize()?;
        self.take(len)
    }
    fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Malformed("string not UTF-8".into()))
    }
    fn task_key(&mut self) -> Result<TaskKey, Malformed> {
        let id: [u8; 16] = self.take(16)?.try_into().expect("16");
        Ok(TaskKey {
            query_id: uuid::Uuid::from_bytes(id),
            stage_id: self.usize()?,
            task_number: self.usize()?,
        })
    }
    fn count(&mut self, each_at_least: usize) -> Result<usize, Malformed> {
        let count = self.usize()?;
        if count.saturating_mul(each_at_least) > self.0.len() {
            return Err(Malformed(format!("a list of {count} cannot fit")));
        }
        Ok(count)
    }
    fn end(self) -> Result<(), Malformed> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Malformed(format!("{} trailing bytes", self.0.len())))
        }
    }
}

impl Request {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Request::CoordinatorChannel(call) => {
                let mut e = Encoder::new(REQUEST_COORDINATOR_CHANNEL);
                e.usize(call.headers.len());
                for (name, value) in &call.headers {
                    e.str(name);
                    e.bytes(value);
                }
                e.task_key(&call.task_key);
                e.usize(call.task_count);
                e.bytes(&call.plan);
                e.str(&call.target_worker_url);
                e.usize(call.query_start_time_ns);
                e.finish()
            }
            Request::ExecuteTask(call) => call.encode(REQUEST_EXECUTE_TASK),
            Request::ReadPartition(call) => call.encode(REQUEST_READ_PARTITION),
            Request::EndTasks(tasks) => {
                let mut e = Encoder::new(REQUEST_END_TASKS);
                e.usize(tasks.len());
                tasks.iter().for_each(|task| e.task_key(task));
                e.finish()
            }
            Request::Info => Encoder::new(REQUEST_INFO).finish(),
        }
    }

    pub(crate) fn decode(message: &[u8]) -> Result<Request, Malformed> {
        let mut d = Decoder(message);
        let request = match d.u8()? {
            REQUEST_COORDINATOR_CHANNEL => {
                let count = d.count(16)?;
                let mut headers = Vec::with_capacity(count);
                for _ in 0..count {
                    headers.push((d.string()?, d.bytes()?.to_vec()));
                }
                Request::CoordinatorChannel(PlanCall {
                    headers,
                    task_key: d.task_key()?,
                    task_count: d.usize()?,
                    plan: d.bytes()?.to_vec(),
                    target_worker_url: d.string()?,
                    query_start_time_ns: d.usize()?,
                })
            }
            REQUEST_EXECUTE_TASK => Request::ExecuteTask(TaskCall::decode(&mut d)?),
            REQUEST_READ_PARTITION => Request::ReadPartition(TaskCall::decode(&mut d)?),
            REQUEST_END_TASKS => {
                let count = d.count(32)?;
                let tasks = (0..count)
                    .map(|_| d.task_key())
                    .collect::<Result<Vec<_>, _>>()?;
                Request::EndTasks(tasks)
            }
            REQUEST_INFO => Request::Info,
            other => return Err(Malformed(format!("request kind {other}"))),
        };
        d.end()?;
        Ok(request)
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Accepted { pid } => write!(f, "Accepted(pid {pid})"),
            Reply::Failed(error) => write!(f, "Failed({error})"),
            Reply::LoadInfo(info) => write!(f, "LoadInfo(partition {})", info.partition),
            Reply::LoadInfoEos => f.write_str("LoadInfoEos"),
            Reply::TaskMetrics(metrics) => write!(
                f,
                "TaskMetrics({} nodes)",
                metrics.pre_order_plan_metrics.len()
            ),
            Reply::End => f.write_str("End"),
            Reply::Info { version } => write!(f, "Info({version})"),
            Reply::Refused(refusal) => write!(f, "Refused({refusal:?})"),
        }
    }
}

impl Reply {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Accepted { pid } => {
                let mut e = Encoder::new(REPLY_ACCEPTED);
                e.u64(u64::from(*pid));
                e.finish()
            }
            Reply::Failed(error) => {
                let mut e = Encoder::new(REPLY_FAILED);
                e.str(&error_text(error));
                e.finish()
            }
            Reply::LoadInfo(info) => {
                let mut e = Encoder::new(REPLY_LOAD_INFO);
                e.usize(info.partition);
                e.usize(info.rows_ready);
                e.usize(info.per_column_bytes_ready.len());
                info.per_column_bytes_ready.iter().for_each(|v| e.usize(*v));
                e.usize(info.per_column_ndv_percentage.len());
                info.per_column_ndv_percentage
                    .iter()
                    .for_each(|v| e.f32(*v));
                e.usize(info.per_column_null_percentage.len());
                info.per_column_null_percentage
                    .iter()
                    .for_each(|v| e.f32(*v));
                e.usize(info.rows_pulled_from_leaf);
                e.u8(info.reached_eos as u8);
                e.finish()
            }
            Reply::LoadInfoEos => Encoder::new(REPLY_LOAD_INFO_EOS).finish(),
            Reply::TaskMetrics(metrics) => {
                let mut e = Encoder::new(REPLY_TASK_METRICS);
                e.usize(metrics.pre_order_plan_metrics.len());
                for set in &metrics.pre_order_plan_metrics {
                    metrics::encode_set(&mut e, set);
                }
                metrics::encode_set(&mut e, &metrics.task_metrics);
                e.finish()
            }
            Reply::End => Encoder::new(REPLY_END).finish(),
            Reply::Info { version } => {
                let mut e = Encoder::new(REPLY_INFO);
                e.str(version);
                e.finish()
            }
            Reply::Refused(refusal) => {
                let mut e = Encoder::new(REPLY_REFUSED);
                e.u8(*refusal as u8);
                e.finish()
            }
        }
    }

    pub(crate) fn decode(message: &[u8]) -> Result<Reply, Malformed> {
        let mut d = Decoder(message);
        let reply = match d.u8()? {
            REPLY_ACCEPTED => Reply::Accepted {
                pid: u32::try_from(d.u64()?)
                    .map_err(|_| Malformed("a process id out of range".into()))?,
            },
            REPLY_FAILED => Reply::Failed(error_from_text(&d.string()?)),
            REPLY_LOAD_INFO => {
                let partition = d.usize()?;
                let rows_ready = d.usize()?;
                let n = d.count(8)?;
                let per_column_bytes_ready = (0..n).map(|_| d.usize()).collect::<Result<_, _>>()?;
                let n = d.count(4)?;
                let per_column_ndv_percentage =
                    (0..n).map(|_| d.f32()).collect::<Result<_, _>>()?;
                let n = d.count(4)?;
                let per_column_null_percentage =
                    (0..n).map(|_| d.f32()).collect::<Result<_, _>>()?;
                Reply::LoadInfo(LoadInfo {
                    partition,
                    rows_ready,
                    per_column_bytes_ready,
                    per_column_ndv_percentage,
                    per_column_null_percentage,
                    rows_pulled_from_leaf: d.usize()?,
                    reached_eos: d.u8()? != 0,
                })
            }
            REPLY_LOAD_INFO_EOS => Reply::LoadInfoEos,
            REPLY_TASK_METRICS => {
                let n = d.count(8)?;
                let pre_order_plan_metrics = (0..n)
                    .map(|_| metrics::decode_set(&mut d))
                    .collect::<Result<_, _>>()?;
                Reply::TaskMetrics(TaskMetrics {
                    pre_order_plan_metrics,
                    task_metrics: metrics::decode_set(&mut d)?,
                })
            }
            REPLY_END => Reply::End,
            REPLY_INFO => Reply::Info {
                version: d.string()?,
            },
            REPLY_REFUSED => Reply::Refused(match d.u8()? {
                0 => PartitionRefusal::AlreadyRead,
                1 => PartitionRefusal::QueryEnded,
                other => return Err(Malformed(format!("partition refusal {other}"))),
            }),
            other => return Err(Malformed(format!("reply kind {other}"))),
        };
        d.end()?;
        Ok(reply)
    }
}

// Error text: one kind letter, then the message. Resources-exhausted errors keep their kind
// across the process boundary so that callers can still tell them apart.
const ERROR_RESOURCES: char = 'R';
const ERROR_OTHER: char = 'E';

/// An error as text for the wire (a `Failed` reply or a failed ring stream).
pub(crate) fn error_text(error: &DataFusionError) -> String {
    match error.find_root() {
        DataFusionError::ResourcesExhausted(message) => format!("{ERROR_RESOURCES}{message}"),
        _ => format!("{ERROR_OTHER}{error}"),
    }
}

/// The error [`error_text`] encoded.
pub(crate) fn error_from_text(text: &str) -> DataFusionError {
    let mut chars = text.chars();
    match chars.next() {
        Some(ERROR_RESOURCES) => DataFusionError::ResourcesExhausted(chars.as_str().to_string()),
        Some(ERROR_OTHER) => DataFusionError::Execution(chars.as_str().to_string()),
        _ => DataFusionError::Execution(text.to_string()),
    }
}

/// Reads one message; `None` at a clean end of stream before its first byte.
pub(crate) async fn read_message(
    reader: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match reader.read(&mut length[..1]).await? {
        0 => return Ok(None),
        _ => reader.read_exact(&mut length[1..]).await?,
    };
    read_body(reader, u32::from_le_bytes(length) as usize)
        .await
        .map(Some)
}

/// Reads the first message of a connection and the fds that came with its first bytes (the
/// ring of an execute-task call).
pub(crate) async fn read_request(
    socket: &mut UnixStream,
) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
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
    let body = read_body(socket, u32::from_le_bytes(length) as usize).await?;
    Ok((body, fds))
}

/// Reads the `length` bytes of a message body.
async fn read_body(
    reader: &mut (impl AsyncRead + Unpin),
    length: usize,
) -> std::io::Result<Vec<u8>> {
    if length == 0 || length > MAX_MESSAGE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a control message of {length} bytes"),
        ));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(body)
}

/// The bytes of `message` framed for the socket.
pub(crate) fn frame(message: &[u8]) -> std::io::Result<Vec<u8>> {
    let length = u32::try_from(message.len())
        .ok()
        .filter(|length| *length as usize <= MAX_MESSAGE_BYTES)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a control message of {} bytes is too long", message.len()),
            )
        })?;
    let mut bytes = Vec::with_capacity(4 + message.len());
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(message);
    Ok(bytes)
}

/// Writes one message.
pub(crate) async fn write_message(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &[u8],
) -> std::io::Result<()> {
    writer.write_all(&frame(message)?).await
}

#[cfg(test)]
mod tests;
