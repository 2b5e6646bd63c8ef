//! The tokio runtime every ADBC call runs its async work on: one per process, built at the first
//! call that needs it (never at library load), and built again in a child after a `fork`, whose
//! copy of the parent's runtime has no threads.
//!
//! [`SharedEngine`] guards the other half of a fork: an engine (and its worker processes) belongs
//! to the process that opened it, and a child's copy is neither used nor dropped.
//!
//! Calls block the host's thread on the runtime. A host that is itself inside a tokio runtime
//! (a Rust program using the driver through a driver manager) cannot block its runtime thread on
//! another runtime, so such calls run on a short-lived helper thread instead.

use datafusion::error::{DataFusionError, Result};
use dfshm::{Engine, datafusion};
use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Runtime;

/// The runtime, with the process it was built in.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The process's runtime, built now if this process has none yet.
pub(crate) fn runtime() -> Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock();
    if let Some((built_in, runtime)) = slot.as_ref()
        && *built_in == pid
    {
        return Ok(runtime.clone());
    }
    if let Some((_, inherited)) = slot.take() {
        // A copy from the parent of a fork: its worker threads exist only in the parent, so
        // dropping it would wait for threads that never finish. Leak it instead.
        std::mem::forget(inherited);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("dfshm-adbc")
        .enable_all()
        .build()
        .map_err(|error| {
            DataFusionError::Execution(format!("cannot start the dfshm runtime: {error}"))
        })?;
    let runtime = Arc::new(runtime);
    *slot = Some((pid, runtime.clone()));
    Ok(runtime)
}

/// Runs `future` to completion on the runtime, blocking the calling thread.
pub(crate) fn block_on<F>(future: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(runtime.block_on(future));
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime.block_on(future))
            .join()
            .map_err(|_| DataFusionError::Internal("a dfshm helper thread panicked".into()))
    })
}

/// A database's engine, shared by its connections, statements and result streams; the engine
/// and its workers stop when the last handle is dropped in the process that opened it.
#[derive(Debug)]
pub(crate) struct SharedEngine {
    engine: Option<Arc<Engine>>,
    opened_in: u32,
}

impl SharedEngine {
    pub(crate) fn new(engine: Engine) -> SharedEngine {
        SharedEngine {
            engine: Some(Arc::new(engine)),
            opened_in: std::process::id(),
        }
    }

    /// Whether this is the process that opened the engine (not the child of a fork).
    pub(crate) fn in_owner_process(&self) -> bool {
        self.opened_in == std::process::id()
    }

    /// A new session on the engine ([`Engine::new_session`]): settings of its own, the same
    /// catalog and workers. Refused in the child of a fork, like [`SharedEngine::get`].
    pub(crate) fn new_session(&self) -> adbc_core::error::Result<SharedEngine> {
        Ok(SharedEngine {
            engine: Some(Arc::new(self.get()?.new_session())),
            opened_in: self.opened_in,
        })
    }

    /// The engine, unless this is the child of a fork: the workers belong to the parent.
    pub(crate) fn get(&self) -> adbc_core::error::Result<Arc<Engine>> {
        match &self.engine {
            Some(engine) if self.in_owner_process() => Ok(engine.clone()),
            _ => Err(crate::errors::invalid_state(format!(
                "this dfshm database was opened in process {} and this is process {} (a fork); \
                 open a new database in this process",
                self.opened_in,
                std::process::id()
            ))),
        }
    }
}

impl Clone for SharedEngine {
    fn clone(&self) -> SharedEngine {
        SharedEngine {
            engine: self.engine.clone(),
            opened_in: self.opened_in,
        }
    }
}

impl Drop for SharedEngine {
    fn drop(&mut self) {
        if !self.in_owner_process() {
            // Dropping the last copy would kill the parent's workers from the child.
            std::mem::forget(self.engine.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_serves_every_call_and_nested_calls_work() {
        let first = runtime().unwrap();
        let second = runtime().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(block_on(async { 6 * 7 }).unwrap(), 42);
        // From inside a runtime (a Rust host), the call moves to a helper thread.
        let nested = first.block_on(async { block_on(async { 7 }).unwrap() });
        assert_eq!(nested, 7);
    }
}
