//! Partitioned results: a distributed query's result as one part per task of its last stage,
//! each read by another process (of the same user, on the same host) straight from the worker
//! that computes it, as ADBC's `ExecutePartitions`/`ReadPartition` hand them out.
//!
//! The coordinator plans the query as usual and starts it; its head's network boundary then
//! asks each task of the last stage for its partitions, and those `execute_task` calls are set
//! aside ([`exchange::Capture`]) instead of being made: each becomes a descriptor. The query stays
//! set up on the workers while the [`PartitionedQuery`] lives (its head never reads); a reader
//! makes the set-aside call itself ([`read_partition`]), with a ring of its own. Each worker lets a
//! task be read once, and not after its query ended, so a second read or a read after release
//! is a clear error; [`PartitionedQuery::end`] returns once every worker knows the query ended.
//!
//! Only a query whose head merely gathers the last stage's partitions
//! (`CoalescePartitionsExec` over one `NetworkCoalesceExec`) is split: anything more in the head
//! (a sort, a limit, a final aggregate over every row) must run over the whole result in one
//! place, and such a query is refused with the reason.
//!
//! A descriptor is `DFSHMPT1 | worker URL | call | schema`, each part a u32 length (little
//! endian) and its bytes: the call as `protocol` encodes a read-partition request, the schema as
//! an Arrow IPC stream with no batches.

use crate::exchange::{self, Capture, PartitionTicket, PartitionUnavailable};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_distributed::{DistributedExec, NetworkBoundaryExt, NetworkCoalesceExec, TaskKey};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

const MAGIC: &[u8; 8] = b"DFSHMPT1";

/// How long the last stage's tasks may take to be set up on the workers.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A started query whose result is handed out in parts: it stays set up on the workers until
/// this is dropped.
pub struct PartitionedQuery {
    /// The query's result schema (every part's).
    pub schema: SchemaRef,
    /// One descriptor per task of the last stage, in task order.
    pub partitions: Vec<Vec<u8>>,
    /// Each task's worker (its URL) and key, for [`PartitionedQuery::end`].
    tasks: Vec<(String, TaskKey)>,
    /// The query's head, which never reads: dropping it ends the query on every worker.
    _query: SendableRecordBatchStream,
    _capture: Arc<Capture>,
}

/// How long [`PartitionedQuery::end`] waits for each worker to confirm.
const END_TIMEOUT: Duration = Duration::from_secs(2);

impl PartitionedQuery {
    /// Ends the query, and returns once every worker has recorded that its parts may no longer
    /// be read: a read that comes after this is refused. (Dropping the query ends it too, but
    /// the workers learn it a moment later, as its connections close.) A worker that does not
    /// confirm within a couple of seconds (hung, or gone) is not waited for further.
    pub async fn end(self) {
        let mut by_worker: Vec<(String, Vec<TaskKey>)> = Vec::new();
        for (worker, task) in &self.tasks {
            match by_worker.iter_mut().find(|(url, _)| url == worker) {
                Some((_, tasks)) => tasks.push(*task),
                None => by_worker.push((worker.clone(), vec![*task])),
            }
        }
        let ends = by_worker.into_iter().map(|(worker, tasks)| async move {
            if let Err(error) = exchange::end_tasks(&worker, tasks, END_TIMEOUT).await {
                log::warn!("ending a partitioned result: {error}");
            }
        });
        futures::future::join_all(ends).await;
    }
}

impl std::fmt::Debug for PartitionedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedQuery")
            .field("schema", &self.schema)
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

/// What a query's head gathers, if it only gathers: the network boundary under
/// `DistributedExec` (and a `CoalescePartitionsExec` without a limit).
fn gathered_stage(plan: &Arc<dyn ExecutionPlan>) -> Result<&Arc<dyn ExecutionPlan>> {
    let refuse = |what: String| {
        DataFusionError::NotImplemented(format!(
            "this query's result cannot be split into partitions: {what}; read it with \
             AdbcStatementExecuteQuery (or Engine::execute_stream)"
        ))
    };
    let Some(distributed) = plan.downcast_ref::<DistributedExec>() else {
        return Err(refuse(format!(
            "it runs whole in this process (its plan is {}, not distributed over workers)",
            plan.name()
        )));
    };
    let [mut head] = distributed.children()[..] else {
        return Err(refuse("its distributed plan has no single head".into()));
    };
    if let Some(coalesce) = head.downcast_ref::<CoalescePartitionsExec>() {
        if coalesce.fetch().is_some() {
            return Err(refuse("its last step is a LIMIT over all rows".into()));
        }
        head = coalesce.input();
    }
    if head.downcast_ref::<NetworkCoalesceExec>().is_none() || !head.is_network_boundary() {
        return Err(refuse(format!(
            "its last step ({}) runs in this process over every row",
            head.name()
        )));
    }
    Ok(head)
}

/// Starts `plan` (planned by a distributed session with the result cache bypassed) and hands
/// out its result in parts, one per task of its last stage.
pub(crate) async fn start(
    plan: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
) -> Result<PartitionedQuery> {
    let stage = gathered_stage(&plan)?
        .as_network_boundary()
        .expect("checked above")
        .input_stage();
    let capture = Capture::start(*stage.query_id().as_bytes(), stage.task_count());
    let schema = plan.schema();
    let mut query = datafusion::physical_plan::execute_stream(plan, task_ctx)?;
    let tickets = tokio::time::timeout(SETUP_TIMEOUT, async {
        tokio::select! {
            tickets = capture.tickets() => Ok(tickets),
            // The head never reads a batch; it only ends early by failing (a lost worker).
            next = query.next() => Err(match next {
                Some(Err(error)) => error,
                _ => DataFusionError::Internal(
                    "the query ended before its partitions were set up".into(),
                ),
            }),
        }
    })
    .await
    .map_err(|_| {
        DataFusionError::Execution(format!(
            "the workers did not set up the query's partitions within {} s",
            SETUP_TIMEOUT.as_secs()
        ))
    })??;
    let schema_bytes = encode_schema(&schema)?;
    let partitions = tickets
        .iter()
        .map(|ticket| encode(ticket, &schema_bytes))
        .collect();
    let tasks = tickets
        .iter()
        .map(|ticket| (ticket.worker.clone(), ticket.call.task_key))
        .collect();
    Ok(PartitionedQuery {
        schema,
        partitions,
        tasks,
        _query: query,
        _capture: capture,
    })
}

/// Reads the part `descriptor` stands for, straight from its worker: its partitions merged into
/// one stream. Rings hold `ring_bytes`; the credit comes from `exchange_budget` charged to
/// `pool`; a worker silent for `stall_timeout` fails the read.
pub(crate) async fn read_partition(
    descriptor: &[u8],
    ring_bytes: usize,
    stall_timeout: Option<Duration>,
    exchange_budget: usize,
    pool: &Arc<dyn MemoryPool>,
) -> Result<SendableRecordBatchStream> {
    let (ticket, schema) = decode(descriptor)?;
    let streams =
        exchange::read_partition(ticket, ring_bytes, stall_timeout, exchange_budget, pool)
            .await
            .map_err(|error| match error {
                // The caller's mistake, kept as it is for callers to tell apart.
                DataFusionError::External(refusal) if refusal.is::<PartitionUnavailable>() => {
                    DataFusionError::External(refusal)
                }
                other => DataFusionError::Execution(format!(
                    "cannot read the partition: {}",
                    other.strip_backtrace()
                )),
            })?;
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::select_all(streams),
    )))
}

fn encode_schema(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn encode(ticket: &PartitionTicket, schema: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    for part in [ticket.worker.as_bytes(), &ticket.call.to_bytes(), schema] {
        bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    bytes
}

fn decode(descriptor: &[u8]) -> Result<(PartitionTicket, SchemaRef)> {
    let bad = |what: &str| {
        DataFusionError::Plan(format!(
            "not a dfshm partition descriptor ({what}): pass the bytes AdbcStatementExecutePartitions \
             returned, unchanged"
        ))
    };
    let mut rest = descriptor
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("no dfshm header"))?;
    let mut parts = Vec::with_capacity(3);
    for _ in 0..3 {
        let (length, tail) = rest.split_at_checked(4).ok_or_else(|| bad("cut short"))?;
        let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
        let (part, tail) = tail
            .split_at_checked(length)
            .ok_or_else(|| bad("cut short"))?;
        parts.push(part);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad("bytes after its end"));
    }
    let worker = std::str::from_utf8(parts[0])
        .map_err(|_| bad("its worker is not text"))?
        .to_string();
    let call = crate::exchange::TaskCall::from_bytes(parts[1]).map_err(|_| bad("its call"))?;
    let schema = StreamReader::try_new(parts[2], None)
        .map_err(|_| bad("its schema"))?
        .schema();
    Ok((PartitionTicket { worker, call }, schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_that_were_not_handed_out_are_refused() {
        for bytes in [
            &b""[..],
            b"DFSHMPT1",
            b"DFSHMPT1\xff\xff\xff\xff",
            b"garbage bytes",
        ] {
            let error = decode(bytes).unwrap_err().to_string();
            assert!(
                error.contains("not a dfshm partition descriptor"),
                "{error}"
            );
        }
    }
}
