//! dfshm runs Apache DataFusion plans across worker processes on one host; stages exchange Arrow
//! record batches through shared-memory rings.
//!
//! The crate keeps its modules private and re-exports a chosen surface: [`Engine`] and its
//! builder, SQL script splitting, and the TPC-H helpers the benchmarks and tests share. The low
//! layers `shm` (segments, fd passing, wake-ups) and `ring` (the byte ring) are public for
//! benchmarks and for embedders that move bytes between their own processes. Modules are
//! layered lowest first; a module only uses modules below it (see ARCHITECTURE.md).

mod byte_size;
pub mod cache;
mod cancel;
mod channel;
mod coordinator;
mod credit;
mod engine;
pub mod ring;
mod script;
pub mod shm;
#[doc(hidden)]
pub mod testing;
pub mod tpch;
pub mod transport;
mod wire;
pub mod worker;

pub use byte_size::{ByteSizeError, parse_byte_size};
pub use cancel::{CancelToken, Cancelled, cancellable, is_cancelled};
pub use coordinator::{
    Boundary, DEFAULT_SCAN_BYTES_PER_TASK, find_worker_program, route_partition, stages_on_workers,
};
pub use credit::DEFAULT_EXCHANGE_BUDGET;
pub use engine::{
    DEFAULT_WORKER_TIMEOUT, Engine, EngineBuildError, EngineBuilder, StatementOutcome, Transport,
};
pub use script::SqlStatement;

/// DataFusion, re-exported so that users get exactly the version (and arrow major) dfshm uses.
pub use datafusion;

/// The rings this process keeps for its next calls to workers, and those it has lent: every
/// engine in a process shares one pool, whose idle rings are unmapped after a few idle seconds.
pub fn ring_pool_stats() -> shm::PoolStats {
    channel::ring_pool().stats()
}

/// Unmaps the rings this process keeps for reuse now, instead of after their idle time (a host
/// that wants the memory back at once; rings in use are not touched).
pub fn clear_ring_pool() {
    channel::ring_pool().clear()
}

/// The version of dfshm.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
