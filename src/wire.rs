//! The control protocol between dfshm processes: length-prefixed binary messages on a Unix
//! socket, one connection per datafusion-distributed call.
//!
//! datafusion-distributed 4 keeps its own message codecs private (and behind its `grpc` feature),
//! so this module encodes the `WorkerChannel` calls itself: the plan and repartition head travel
//! as the bytes datafusion-distributed's public `MaybeEncoded::encode` produces; task keys,
//! headers, load info, task metrics and errors are encoded here. Record batches never travel on
//! the socket: they go through a shared-memory ring (see `transport`).
//!
//! Every message is `u32 length (little endian) | kind byte | body`. Integers are little-endian
//! u64; strings and byte strings are a u64 length and their bytes. A connection's first message is
//! a [`Request`]; it may carry file descriptors (the ring of an execute-task call) with its first
//! byte.

use datafusion::arrow::temporal_conversions::timestamp_ns_to_datetime;
use datafusion::common::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{
    Count, Gauge, Label, Metric, MetricCategory, MetricType, MetricValue, MetricsSet,
    PruningMetrics, RatioMetrics, Time, Timestamp,
};
use datafusion_distributed::{
    AvgLatencyMetric, BytesCounterMetric, FirstLatencyMetric, LoadInfo, MaxGaugeMetric,
    MaxLatencyMetric, MaybeEncoded, MinLatencyMetric, ProducerHead, SetPlanRequest, TaskKey,
    TaskMetrics,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

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

const REPLY_ACCEPTED: u8 = 10;
const REPLY_FAILED: u8 = 11;
const REPLY_LOAD_INFO: u8 = 12;
const REPLY_LOAD_INFO_EOS: u8 = 13;
const REPLY_TASK_METRICS: u8 = 14;
const REPLY_END: u8 = 15;
const REPLY_INFO: u8 = 16;

/// The coordinator's "no more work units" on a coordinator channel.
pub(crate) const C2W_WORK_UNIT_EOS: u8 = 20;

/// The consumer's "stop producing partition N" on an execute-task connection.
const CANCEL_PARTITION: u8 = 21;

/// The consumer's "partition N may have written this many bytes in all" (flow control, see
/// `credit`) on an execute-task connection.
const GRANT_CREDIT: u8 = 22;

/// What the consumer of an execute-task call sends after its request (closing the connection
/// stops every partition).
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
            _ => Err(Malformed(format!(
                "an execute-task connection sent kind {:?} after its request",
                message.first()
            ))),
        }
    }
}

/// The first message of a connection.
#[derive(Debug)]
pub(crate) enum Request {
    /// `WorkerChannel::coordinator_channel`: set a task's plan; the connection then stays open
    /// until the query ends (its closing is the end of the coordinator-to-worker stream).
    CoordinatorChannel {
        headers: Vec<(String, Vec<u8>)>,
        task_key: TaskKey,
        task_count: usize,
        plan: Vec<u8>,
        target_worker_url: String,
        query_start_time_ns: usize,
    },
    /// `WorkerChannel::execute_task`: stream partitions `start..end` of a task into the ring
    /// that came with this message, each within `window` bytes of credit until granted more.
    ExecuteTask {
        task_key: TaskKey,
        start: usize,
        end: usize,
        head: Head,
        window: u64,
    },
    /// `WorkerChannel::get_worker_info`.
    Info,
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

impl Request {
    /// The request for datafusion-distributed's `coordinator_channel` call (its plan encoded).
    pub(crate) fn coordinator_channel(
        headers: &HeaderMap,
        request: SetPlanRequest,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Request, DataFusionError> {
        Ok(Request::CoordinatorChannel {
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
}

/// The headers and `SetPlanRequest` a [`Request::CoordinatorChannel`] stands for, as
/// datafusion-distributed's worker takes them (the plan still encoded).
pub(crate) fn set_plan_request(
    headers: Vec<(String, Vec<u8>)>,
    task_key: TaskKey,
    task_count: usize,
    plan: Vec<u8>,
    target_worker_url: &str,
    query_start_time_ns: usize,
) -> Result<(HeaderMap, SetPlanRequest), DataFusionError> {
    let bad =
        |error: String| DataFusionError::Internal(format!("a malformed plan request: {error}"));
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let value = HeaderValue::from_bytes(&value).map_err(|e| bad(e.to_string()))?;
        map.append(name, value);
    }
    let target_worker_url = Url::parse(target_worker_url).map_err(|e| bad(e.to_string()))?;
    let request = SetPlanRequest {
        task_key,
        task_count,
        plan: MaybeEncoded::Encoded(plan),
        work_unit_feed_declarations: Vec::new(),
        target_worker_url,
        query_start_time_ns,
    };
    Ok((map, request))
}

impl Head {
    /// The head of an execute-task call as it travels (its partitioning encoded).
    pub(crate) fn of_producer(
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
    pub(crate) fn into_producer_head(self) -> ProducerHead {
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
            Request::CoordinatorChannel {
                headers,
                task_key,
                task_count,
                plan,
                target_worker_url,
                query_start_time_ns,
            } => {
                let mut e = Encoder::new(REQUEST_COORDINATOR_CHANNEL);
                e.usize(headers.len());
                for (name, value) in headers {
                    e.str(name);
                    e.bytes(value);
                }
                e.task_key(task_key);
                e.usize(*task_count);
                e.bytes(plan);
                e.str(target_worker_url);
                e.usize(*query_start_time_ns);
                e.finish()
            }
            Request::ExecuteTask {
                task_key,
                start,
                end,
                head,
                window,
            } => {
                let mut e = Encoder::new(REQUEST_EXECUTE_TASK);
                e.task_key(task_key);
                e.usize(*start);
                e.usize(*end);
                e.u64(*window);
                match head {
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
                Request::CoordinatorChannel {
                    headers,
                    task_key: d.task_key()?,
                    task_count: d.usize()?,
                    plan: d.bytes()?.to_vec(),
                    target_worker_url: d.string()?,
                    query_start_time_ns: d.usize()?,
                }
            }
            REQUEST_EXECUTE_TASK => {
                let task_key = d.task_key()?;
                let start = d.usize()?;
                let end = d.usize()?;
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
                Request::ExecuteTask {
                    task_key,
                    start,
                    end,
                    head,
                    window,
                }
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
                    encode_metrics_set(&mut e, set);
                }
                encode_metrics_set(&mut e, &metrics.task_metrics);
                e.finish()
            }
            Reply::End => Encoder::new(REPLY_END).finish(),
            Reply::Info { version } => {
                let mut e = Encoder::new(REPLY_INFO);
                e.str(version);
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
                    .map(|_| decode_metrics_set(&mut d))
                    .collect::<Result<_, _>>()?;
                Reply::TaskMetrics(TaskMetrics {
                    pre_order_plan_metrics,
                    task_metrics: decode_metrics_set(&mut d)?,
                })
            }
            REPLY_END => Reply::End,
            REPLY_INFO => Reply::Info {
                version: d.string()?,
            },
            other => return Err(Malformed(format!("reply kind {other}"))),
        };
        d.end()?;
        Ok(reply)
    }
}

// Metric value tags.
const M_OUTPUT_ROWS: u8 = 1;
const M_ELAPSED_COMPUTE: u8 = 2;
const M_SPILL_COUNT: u8 = 3;
const M_SPILLED_BYTES: u8 = 4;
const M_OUTPUT_BYTES: u8 = 5;
const M_OUTPUT_BATCHES: u8 = 6;
const M_SPILLED_ROWS: u8 = 7;
const M_CURRENT_MEMORY: u8 = 8;
const M_COUNT: u8 = 9;
const M_GAUGE: u8 = 10;
const M_PEAK_MEMORY: u8 = 11;
const M_TIME: u8 = 12;
const M_START: u8 = 13;
const M_END: u8 = 14;
const M_PRUNING: u8 = 15;
const M_RATIO: u8 = 16;
const M_BYTES_COUNTER: u8 = 17;
const M_MAX_GAUGE: u8 = 18;
const M_MIN_LATENCY: u8 = 19;
const M_MAX_LATENCY: u8 = 20;
const M_AVG_LATENCY: u8 = 21;
const M_FIRST_LATENCY: u8 = 22;

/// Encodes the metrics a worker reports. Custom values dfshm does not know (datafusion-
/// distributed's latency percentile sketches) are left out, as its own gRPC codec does.
fn encode_metrics_set(e: &mut Encoder, set: &MetricsSet) {
    let mut encoded = Encoder::default();
    let mut count = 0;
    for metric in set.iter() {
        if encode_metric(&mut encoded, metric) {
            count += 1;
        }
    }
    e.usize(count);
    e.0.extend_from_slice(&encoded.0);
}

fn encode_metric(e: &mut Encoder, metric: &Metric) -> bool {
    let mut value = Encoder::default();
    let name = |e: &mut Encoder, name: &str| e.str(name);
    match metric.value() {
        MetricValue::OutputRows(c) => (value.u8(M_OUTPUT_ROWS), value.usize(c.value())).1,
        MetricValue::ElapsedCompute(t) => (value.u8(M_ELAPSED_COMPUTE), value.usize(t.value())).1,
        MetricValue::SpillCount(c) => (value.u8(M_SPILL_COUNT), value.usize(c.value())).1,
        MetricValue::SpilledBytes(c) => (value.u8(M_SPILLED_BYTES), value.usize(c.value())).1,
        MetricValue::OutputBytes(c) => (value.u8(M_OUTPUT_BYTES), value.usize(c.value())).1,
        MetricValue::OutputBatches(c) => (value.u8(M_OUTPUT_BATCHES), value.usize(c.value())).1,
        MetricValue::SpilledRows(c) => (value.u8(M_SPILLED_ROWS), value.usize(c.value())).1,
        MetricValue::CurrentMemoryUsage(g) => {
            (value.u8(M_CURRENT_MEMORY), value.usize(g.value())).1
        }
        MetricValue::Count { name: n, count } => {
            value.u8(M_COUNT);
            name(&mut value, n);
            value.usize(count.value());
        }
        MetricValue::Gauge { name: n, gauge } => {
            value.u8(M_GAUGE);
            name(&mut value, n);
            value.usize(gauge.value());
        }
        MetricValue::PeakMemoryUsage { name: n, gauge } => {
            value.u8(M_PEAK_MEMORY);
            name(&mut value, n);
            value.usize(gauge.value());
        }
        MetricValue::Time { name: n, time } => {
            value.u8(M_TIME);
            name(&mut value, n);
            value.usize(time.value());
        }
        MetricValue::StartTimestamp(t) | MetricValue::EndTimestamp(t) => {
            let tag = if matches!(metric.value(), MetricValue::StartTimestamp(_)) {
                M_START
            } else {
                M_END
            };
            value.u8(tag);
            match t.value().and_then(|t| t.timestamp_nanos_opt()) {
                Some(nanos) => {
                    value.u8(1);
                    value.u64(nanos as u64);
                }
                None => value.u8(0),
            }
        }
        MetricValue::PruningMetrics {
            name: n,
            pruning_metrics,
        } => {
            value.u8(M_PRUNING);
            name(&mut value, n);
            value.usize(pruning_metrics.pruned());
            value.usize(pruning_metrics.matched());
            value.usize(pruning_metrics.fully_matched());
        }
        MetricValue::Ratio {
            name: n,
            ratio_metrics,
        } => {
            value.u8(M_RATIO);
            name(&mut value, n);
            value.usize(ratio_metrics.part());
            value.usize(ratio_metrics.total());
        }
        MetricValue::Custom { name: n, value: v } => {
            let any = v.as_any();
            let (tag, a, b) = if let Some(m) = any.downcast_ref::<BytesCounterMetric>() {
                (M_BYTES_COUNTER, m.value(), 0)
            } else if let Some(m) = any.downcast_ref::<MaxGaugeMetric>() {
                (M_MAX_GAUGE, m.value(), 0)
            } else if let Some(m) = any.downcast_ref::<MinLatencyMetric>() {
                (M_MIN_LATENCY, m.value(), 0)
            } else if let Some(m) = any.downcast_ref::<MaxLatencyMetric>() {
                (M_MAX_LATENCY, m.value(), 0)
            } else if let Some(m) = any.downcast_ref::<AvgLatencyMetric>() {
                (M_AVG_LATENCY, m.nanos_sum(), m.count())
            } else if let Some(m) = any.downcast_ref::<FirstLatencyMetric>() {
                (M_FIRST_LATENCY, m.value(), 0)
            } else {
                return false;
            };
            value.u8(tag);
            name(&mut value, n);
            value.usize(a);
            value.usize(b);
        }
    }
    e.0.extend_from_slice(&value.0);
    match metric.partition() {
        Some(partition) => {
            e.u8(1);
            e.usize(partition);
        }
        None => e.u8(0),
    }
    e.usize(metric.labels().len());
    for label in metric.labels() {
        e.str(label.name());
        e.str(label.value());
    }
    e.u8(match metric.metric_type() {
        MetricType::Summary => 0,
        MetricType::Dev => 1,
    });
    e.u8(match metric.metric_category() {
        None => 0,
        Some(MetricCategory::Rows) => 1,
        Some(MetricCategory::Bytes) => 2,
        Some(MetricCategory::Timing) => 3,
        Some(_) => 0,
    });
    true
}

fn decode_metrics_set(d: &mut Decoder<'_>) -> Result<MetricsSet, Malformed> {
    let count = d.count(4)?;
    let mut set = MetricsSet::new();
    for _ in 0..count {
        set.push(Arc::new(decode_metric(d)?));
    }
    Ok(set)
}

fn count_of(n: usize) -> Count {
    let count = Count::new();
    count.add(n);
    count
}

fn gauge_of(n: usize) -> Gauge {
    let gauge = Gauge::new();
    gauge.set(n);
    gauge
}

fn time_of(nanos: usize) -> Time {
    let time = Time::new();
    time.add_duration(std::time::Duration::from_nanos(nanos as u64));
    time
}

fn decode_metric(d: &mut Decoder<'_>) -> Result<Metric, Malformed> {
    let tag = d.u8()?;
    let named = |d: &mut Decoder<'_>| -> Result<Cow<'static, str>, Malformed> {
        Ok(Cow::Owned(d.string()?))
    };
    let value = match tag {
        M_OUTPUT_ROWS => MetricValue::OutputRows(count_of(d.usize()?)),
        M_ELAPSED_COMPUTE => MetricValue::ElapsedCompute(time_of(d.usize()?)),
        M_SPILL_COUNT => MetricValue::SpillCount(count_of(d.usize()?)),
        M_SPILLED_BYTES => MetricValue::SpilledBytes(count_of(d.usize()?)),
        M_OUTPUT_BYTES => MetricValue::OutputBytes(count_of(d.usize()?)),
        M_OUTPUT_BATCHES => MetricValue::OutputBatches(count_of(d.usize()?)),
        M_SPILLED_ROWS => MetricValue::SpilledRows(count_of(d.usize()?)),
        M_CURRENT_MEMORY => MetricValue::CurrentMemoryUsage(gauge_of(d.usize()?)),
        M_COUNT => MetricValue::Count {
            name: named(d)?,
            count: count_of(d.usize()?),
        },
        M_GAUGE => MetricValue::Gauge {
            name: named(d)?,
            gauge: gauge_of(d.usize()?),
        },
        M_PEAK_MEMORY => MetricValue::PeakMemoryUsage {
            name: named(d)?,
            gauge: gauge_of(d.usize()?),
        },
        M_TIME => MetricValue::Time {
            name: named(d)?,
            time: time_of(d.usize()?),
        },
        M_START | M_END => {
            let timestamp = Timestamp::new();
            if d.u8()? == 1 {
                let nanos = d.u64()? as i64;
                if let Some(time) = timestamp_ns_to_datetime(nanos) {
                    timestamp.set(time.and_utc());
                }
            }
            if tag == M_START {
                MetricValue::StartTimestamp(timestamp)
            } else {
                MetricValue::EndTimestamp(timestamp)
            }
        }
        M_PRUNING => {
            let name = named(d)?;
            let pruning_metrics = PruningMetrics::new();
            pruning_metrics.add_pruned(d.usize()?);
            pruning_metrics.add_matched(d.usize()?);
            pruning_metrics.add_fully_matched(d.usize()?);
            MetricValue::PruningMetrics {
                name,
                pruning_metrics,
            }
        }
        M_RATIO => {
            let name = named(d)?;
            let ratio_metrics = RatioMetrics::new();
            ratio_metrics.add_part(d.usize()?);
            ratio_metrics.add_total(d.usize()?);
            MetricValue::Ratio {
                name,
                ratio_metrics,
            }
        }
        M_BYTES_COUNTER | M_MAX_GAUGE | M_MIN_LATENCY | M_MAX_LATENCY | M_AVG_LATENCY
        | M_FIRST_LATENCY => {
            let name = named(d)?;
            let (a, b) = (d.usize()?, d.usize()?);
            let value: Arc<dyn datafusion::physical_plan::metrics::CustomMetricValue> = match tag {
                M_BYTES_COUNTER => Arc::new(BytesCounterMetric::from_value(a)),
                M_MAX_GAUGE => Arc::new(MaxGaugeMetric::from_value(a)),
                M_MIN_LATENCY => Arc::new(MinLatencyMetric::from_nanos(a)),
                M_MAX_LATENCY => Arc::new(MaxLatencyMetric::from_nanos(a)),
                M_AVG_LATENCY => Arc::new(AvgLatencyMetric::from_raw(a, b)),
                _ => Arc::new(FirstLatencyMetric::from_nanos(a)),
            };
            MetricValue::Custom { name, value }
        }
        other => return Err(Malformed(format!("metric kind {other}"))),
    };
    let partition = match d.u8()? {
        0 => None,
        _ => Some(d.usize()?),
    };
    let labels = (0..d.count(16)?)
        .map(|_| Ok(Label::new(d.string()?, d.string()?)))
        .collect::<Result<Vec<_>, Malformed>>()?;
    let mut metric = Metric::new_with_labels(value, partition, labels);
    metric = metric.with_type(match d.u8()? {
        0 => MetricType::Summary,
        _ => MetricType::Dev,
    });
    metric = match d.u8()? {
        1 => metric.with_category(MetricCategory::Rows),
        2 => metric.with_category(MetricCategory::Bytes),
        3 => metric.with_category(MetricCategory::Timing),
        _ => metric,
    };
    Ok(metric)
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

/// Reads the `length` bytes of a message body.
pub(crate) async fn read_body(
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
