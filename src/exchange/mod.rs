//! The exchange: how a stage's partitions move from the worker that computes them to the task
//! that reads them, through a datafusion-distributed `WorkerChannel` over Unix sockets and
//! shared-memory rings. Its parts, lowest first (each uses only the ones before it):
//! - `routing`: which consumer task, and which of its partitions, a produced partition goes to;
//! - `framing`: partition streams of Arrow IPC multiplexed on one ring;
//! - `protocol`: the control messages on a call's socket (`metrics`: how task metrics travel);
//! - `credit`: flow control per partition, within a per-query budget;
//! - `kept`: the idle connections of finished calls, kept for the next calls to their worker;
//! - `calling`: the side that makes calls (the coordinator, and workers reading other workers):
//!   the channel resolver, a ring per `execute_task`, the demultiplexer and its stall watchdog;
//! - `serving`: the side that answers them (a worker process): one call at a time per
//!   connection, a pump per partition into the caller's ring.
//!
//! Callers reach the exchange through what this module re-exports; `framing` is public for the
//! ring benchmarks and the cross-process tests.

mod calling;
mod credit;
pub mod framing;
mod kept;
mod protocol;
mod routing;
mod serving;

pub(crate) use calling::{
    Capture, DEFAULT_RING_BYTES, PartitionTicket, SCHEME, ShmChannelResolver, WorkerAddress,
    WorkerObituaries, capturing, clear_kept_connections, connection_stats, end_tasks,
    read_partition, ring_pool,
};
pub use credit::DEFAULT_EXCHANGE_BUDGET;
pub use kept::ConnectionStats;
pub(crate) use protocol::TaskCall;
pub use protocol::{PartitionRefusal, PartitionUnavailable};
pub use routing::{Boundary, route_partition};
pub use serving::Failpoint;
pub(crate) use serving::connection as serve_connection;

#[cfg(test)]
mod tests;
