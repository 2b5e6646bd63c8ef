//! dfshm runs Apache DataFusion plans across worker processes on one host; stages exchange Arrow
//! record batches through shared-memory rings.
//!
//! The crate re-exports a chosen surface: [`Engine`] and its builder, SQL script splitting, and
//! the TPC-H helpers the benchmarks and tests share. The modules a tool, a benchmark or the ADBC
//! driver reaches into are public too: the low layers `shm` (segments, fd passing, wake-ups,
//! processes) and `ring` (the byte ring), `exchange` (its `framing`), `cache`, `worker`, `tpch`. Modules are
//! layered lowest first; a module only uses modules below it (see ARCHITECTURE.md's code map,
//! which the tidy test checks).

// Unit tests may spawn and detach tasks freely; the product goes through `spawn_detached`.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod byte_size;
pub mod cache;
mod cancel;
mod channels;
mod coordinator;
mod engine;
pub mod exchange;
pub mod ring;
mod script;
pub mod shm;
#[doc(hidden)]
pub mod testing;
pub mod tpch;
pub mod worker;

pub use byte_size::{ByteSizeError, parse_byte_size};
pub use cancel::{CancelToken, Cancelled, cancellable, is_cancelled};
pub use coordinator::partitions::PartitionedQuery;
pub use coordinator::{DEFAULT_SCAN_BYTES_PER_TASK, find_worker_program, stages_on_workers};
pub use engine::{Engine, EngineBuildError, EngineBuilder, StatementOutcome, Transport};
pub use exchange::{
    Boundary, DEFAULT_EXCHANGE_BUDGET, PartitionRefusal, PartitionUnavailable, route_partition,
};
pub use script::SqlStatement;
pub use worker::{DEFAULT_WORKER_TIMEOUT, remote};

/// DataFusion, re-exported so that users get exactly the version (and arrow major) dfshm uses.
pub use datafusion;

/// The rings this process keeps for its next calls to workers, and those it has lent: every
/// engine in a process shares one pool, whose idle rings are unmapped after a few idle seconds.
pub fn ring_pool_stats() -> shm::PoolStats {
    exchange::ring_pool().stats()
}

/// How many calls to workers this process made on new connections and on kept ones, and how
/// many idle connections it keeps (a connection is kept after a call that ended cleanly, for a
/// couple of idle seconds).
pub fn connection_stats() -> exchange::ConnectionStats {
    exchange::connection_stats()
}

/// Unmaps the rings this process keeps for reuse now, instead of after their idle time (a host
/// that wants the memory back at once; rings in use are not touched), and closes the idle
/// connections to workers it keeps for its next calls.
pub fn clear_ring_pool() {
    exchange::ring_pool().clear();
    exchange::clear_kept_connections();
}

/// Runs `future` on the current tokio runtime with no handle to it: for a task that ends by itself
/// once what it serves is gone (a connection's task, a demultiplexer whose streams were dropped).
/// Any other task is a DataFusion `SpawnedTask`, aborted when its owner drops it. This is the one
/// call of `tokio::spawn` in the crate: `clippy.toml` disallows it everywhere else.
#[allow(clippy::disallowed_methods)]
pub(crate) fn spawn_detached<F>(future: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    drop(tokio::spawn(future));
}

/// The version of dfshm.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
