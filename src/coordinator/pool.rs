//! The worker pool: N `dfshm-worker` processes started once and reused by every query of an
//! engine, checked before each query and restarted when one has died.
//!
//! Each worker gets a fresh abstract Unix socket, created here and handed to it as its standard
//! input, so it is reachable the moment it is spawned (connections wait in the backlog while it
//! starts) and nothing is ever left in the file system. The coordinator closes its copy of the
//! listening socket right after the spawn: once the worker dies, connecting fails at once instead
//! of waiting in a backlog nobody reads. A restarted worker gets a new generation, hence a new
//! URL, so a query planned against the dead one fails cleanly instead of reaching a stranger.

use crate::channel::WorkerAddress;
use crate::worker::Failpoint;
use datafusion::common::{DataFusionError, Result};
use datafusion_distributed::WorkerResolver;
use parking_lot::Mutex;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The environment variable naming the worker executable.
pub(crate) const WORKER_ENV: &str = "DFSHM_WORKER";

/// The name of the worker executable.
pub(crate) const WORKER_PROGRAM: &str = "dfshm-worker";

/// What every worker of a pool is started with.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    pub(crate) program: PathBuf,
    /// The program is a coordinator executable that serves as a worker when started with
    /// `WORKER_MODE_ENV` set (it calls `worker::serve_if_requested`).
    pub(crate) self_exec: bool,
    pub(crate) memory_limit_bytes: Option<usize>,
    pub(crate) ring_bytes: usize,
    pub(crate) threads: Option<usize>,
    /// Fail a fetch from a worker that answers nothing for this long (`None`: wait for ever).
    pub(crate) stall_timeout: Option<Duration>,
    /// A fault the first generation of worker 0 injects (tests only; the other workers and
    /// restarted ones are healthy, so that tests can check recovery).
    pub(crate) failpoint: Option<Failpoint>,
}

struct Slot {
    child: Child,
    address: WorkerAddress,
    generation: u64,
}

/// Worker processes owned by one engine; dropping the pool kills and reaps them.
pub(crate) struct WorkerPool {
    settings: WorkerSettings,
    nonce: String,
    slots: Mutex<Vec<Slot>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("program", &self.settings.program)
            .field("pids", &self.pids())
            .finish()
    }
}

impl WorkerPool {
    /// Starts `count` workers.
    pub(crate) fn start(count: usize, settings: WorkerSettings) -> std::io::Result<WorkerPool> {
        let mut nonce = [0u8; 6];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        let pool = WorkerPool {
            settings,
            nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
            slots: Mutex::new(Vec::with_capacity(count)),
        };
        for slot in 0..count {
            let started = pool.spawn(slot, 0)?;
            pool.slots.lock().push(started);
        }
        Ok(pool)
    }

    fn spawn(&self, slot: usize, generation: u64) -> std::io::Result<Slot> {
        let address = WorkerAddress::new(slot, generation, std::process::id(), &self.nonce);
        let listener = UnixListener::bind_addr(&address.socket_address()?)?;
        let settings = &self.settings;
        let mut command = Command::new(&settings.program);
        command
            .arg("--slot")
            .arg(slot.to_string())
            .arg("--coordinator-pid")
            .arg(std::process::id().to_string())
            .arg("--ring-bytes")
            .arg(settings.ring_bytes.to_string());
        if let Some(bytes) = settings.memory_limit_bytes {
            command.arg("--memory-limit").arg(bytes.to_string());
        }
        if let Some(threads) = settings.threads {
            command.arg("--threads").arg(threads.to_string());
        }
        if let Some(timeout) = settings.stall_timeout {
            command
                .arg("--stall-timeout-ms")
                .arg(timeout.as_millis().max(1).to_string());
        }
        if let (Some(failpoint), 0, 0) = (settings.failpoint, slot, generation) {
            use clap::ValueEnum;
            if let Some(value) = failpoint.to_possible_value() {
                command.arg("--failpoint").arg(value.get_name());
            }
        }
        if settings.self_exec {
            command.env(crate::worker::WORKER_MODE_ENV, "1");
        }
        let child = command
            .stdin(Stdio::from(OwnedFd::from(listener)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!(
                        "cannot start worker {}: {error}",
                        settings.program.display()
                    ),
                )
            })?;
        Ok(Slot {
            child,
            address,
            generation,
        })
    }

    /// What every worker is started with.
    pub(crate) fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// The URLs of the workers, restarting any that died since the last call.
    pub(crate) fn urls(&self) -> Result<Vec<Url>> {
        let mut slots = self.slots.lock();
        for index in 0..slots.len() {
            let exited = match slots[index].child.try_wait() {
                Ok(None) => None,
                Ok(Some(status)) => Some(status.to_string()),
                Err(error) => Some(error.to_string()),
            };
            if let Some(how) = exited {
                let generation = slots[index].generation + 1;
                log::warn!("worker {index} exited ({how}); starting a new one");
                let fresh = self.spawn(index, generation).map_err(|error| {
                    DataFusionError::Execution(format!("cannot restart worker {index}: {error}"))
                })?;
                slots[index] = fresh;
            }
        }
        Ok(slots.iter().map(|slot| slot.address.url()).collect())
    }

    /// The process ids of the workers now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.slots
            .lock()
            .iter()
            .map(|slot| slot.child.id())
            .collect()
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for slot in self.slots.get_mut().iter_mut() {
            let _ = slot.child.kill();
            let _ = slot.child.wait();
        }
    }
}

/// The pool as the coordinator's worker resolver.
#[derive(Debug, Clone)]
pub(crate) struct PoolResolver(pub(crate) Arc<WorkerPool>);

impl WorkerResolver for PoolResolver {
    fn get_urls(&self) -> Result<Vec<Url>> {
        self.0.urls()
    }
}

/// Finds the worker executable: `DFSHM_WORKER` if set, else next to `near` (default: the running
/// executable) or one folder up, where cargo puts binaries beside the `deps` folder of test
/// executables and libraries.
pub(crate) fn find_worker_program(near: Option<&Path>) -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(WORKER_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "DFSHM_WORKER is {}, which is not a file; point it at the dfshm-worker executable",
                path.display()
            ))
        };
    }
    let anchor = match near {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?,
    };
    let folder = anchor.parent().unwrap_or(Path::new("."));
    let candidates = [
        Some(folder.join(WORKER_PROGRAM)),
        folder.parent().map(|up| up.join(WORKER_PROGRAM)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!(
                "cannot find the {WORKER_PROGRAM} executable next to {} or one folder up; build \
                 it (`cargo build --release --bin {WORKER_PROGRAM}`), or set DFSHM_WORKER or \
                 EngineBuilder::worker_program to its path",
                anchor.display()
            )
        })
}
