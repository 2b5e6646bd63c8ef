//! A worker process: the datafusion-distributed [`Worker`] dfshm runs, served on a Unix socket
//! the coordinator created and handed over as the process's standard input. Each connection's
//! call is served by `exchange::serving`; this module is the process around it: its command
//! line, its sessions ([`WorkerSessions`], also used by in-process and gRPC workers), its accept
//! loop and its lifeline.
//!
//! The worker exits when its coordinator process does (it watches it through a pidfd), so a
//! coordinator killed with SIGKILL leaves no worker behind.

use crate::channels::{Channels, GrpcChannels};
use crate::exchange::{self, ShmChannelResolver};
use crate::shm::PeerProcess;
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext, WorkerSessionBuilder};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::sync::Arc;

pub use crate::exchange::Failpoint;

pub mod remote;

/// How long a worker may answer nothing before the query that waits on it fails, unless
/// [`EngineBuilder::worker_timeout`](crate::EngineBuilder::worker_timeout) says otherwise.
pub const DEFAULT_WORKER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// Run as a remote worker instead: datafusion-distributed's gRPC worker on ADDR:PORT (port 0:
    /// any free port), until SIGTERM or Ctrl-C. Coordinators name it with --remote-workers
    /// http://HOST:PORT. Takes --threads, --memory-limit and --stall-timeout-ms.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<std::net::SocketAddr>,
}

/// The `main` of a worker process: parses the command line the coordinator gave, takes the
/// listening socket from standard input and serves until the coordinator exits.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(main_status())
}

/// [`main`]'s exit status as a number (0, 1: the worker failed, 2: it was started wrongly), for
/// a worker run from a library (the ADBC driver's `DfshmWorkerMain`).
pub fn main_status() -> u8 {
    use clap::Parser;
    let args = WorkerArgs::parse();
    if let Some(listen) = args.listen {
        let options = remote::ListenOptions {
            listen,
            memory_limit_bytes: args.memory_limit,
            threads: args.threads,
            worker_timeout: Some(
                args.stall_timeout_ms
                    .map(std::time::Duration::from_millis)
                    .unwrap_or(DEFAULT_WORKER_TIMEOUT),
            ),
        };
        return match remote::serve(options) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("dfshm worker: {error}");
                1
            }
        };
    }
    // The coordinator makes standard input the listening socket. A duplicate of fd 0 owns it
    // here (fd 0 itself stays open, unused, for the life of the process).
    let stdin = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("dfshm worker: cannot take standard input: {error}");
            return 2;
        }
    };
    let listener = StdUnixListener::from(stdin);
    if listener.local_addr().is_err() {
        eprintln!(
            "dfshm worker: standard input is not a listening Unix socket; workers are started by \
             a dfshm coordinator (dfshm --workers N), or run by hand as remote workers with \
             --listen ADDR:PORT"
        );
        return 2;
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
        Ok(()) => 0,
        Err(error) => {
            eprintln!("dfshm worker {}: {error}", args.slot);
            1
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

/// How the line a panicking worker writes first on stderr starts (then its slot, "panicked",
/// where and the message).
const PANIC_SUMMARY: &str = "dfshm worker ";

/// Whether a line of a worker's stderr is its panic summary.
pub(crate) fn is_panic_summary(line: &str) -> bool {
    line.strip_prefix(PANIC_SUMMARY).is_some_and(|rest| {
        rest.split_once(' ').is_some_and(|(slot, after)| {
            slot.parse::<usize>().is_ok() && after.starts_with("panicked")
        })
    })
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
        // First, before a backtrace that may take long to print: the coordinator keeps this
        // line (see `is_panic_summary`) and quotes it in its error.
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
            "{PANIC_SUMMARY}{slot} panicked{place}: {message}; it exits and the coordinator \
             starts a new one"
        );
        report(info);
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
    let shm = ShmChannelResolver::new(
        options.ring_bytes.unwrap_or(exchange::DEFAULT_RING_BYTES),
        options.stall_timeout,
    )
    .with_exchange_budget(
        options
            .exchange_budget
            .unwrap_or(exchange::DEFAULT_EXCHANGE_BUDGET),
    );
    // A stage here may read remote workers' tasks too.
    let resolver = Channels::new(shm, GrpcChannels::new(options.stall_timeout));
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
            if let Err(error) = exchange::serve_connection(worker, socket, slot, failpoint).await {
                log::debug!("worker {slot}: a connection ended with: {error}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panic_summary_is_told_from_other_stderr_lines() {
        assert!(is_panic_summary(
            "dfshm worker 3 panicked at src/x.rs:5: boom; it exits and the coordinator starts a \
             new one"
        ));
        assert!(!is_panic_summary(
            "thread 'dfshm-worker' (17) panicked at src/x.rs:5:17:"
        ));
        assert!(!is_panic_summary("dfshm worker x panicked"));
        assert!(!is_panic_summary("dfshm worker 3 started"));
    }
}
