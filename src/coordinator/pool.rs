//! The worker pool: N `dfshm-worker` processes started once and reused by every query of an
//! engine, checked before each query and restarted when one has died.
//!
//! Each worker gets a fresh abstract Unix socket, created here and handed to it as its standard
//! input, so it is reachable the moment it is spawned (connections wait in the backlog while it
//! starts) and nothing is ever left in the file system. The coordinator closes its copy of the
//! listening socket right after the spawn: once the worker dies, connecting fails at once instead
//! of waiting in a backlog nobody reads. A restarted worker gets a new generation, hence a new
//! URL, so a query planned against the dead one fails cleanly instead of reaching a stranger.

use crate::exchange::WorkerAddress;
use crate::worker::Failpoint;
use datafusion::common::{DataFusionError, Result};
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
    /// Credit one query may lend to the partitions it reads in one process.
    pub(crate) exchange_budget: usize,
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
    /// The last lines the worker wrote to stderr (forwarded to ours as they come).
    last_words: Arc<LastWords>,
}

/// The tail of a worker's stderr, kept for its obituary, and the summary of its first panic.
#[derive(Debug, Default)]
struct LastWords {
    lines: Mutex<std::collections::VecDeque<String>>,
    /// Kept apart from the tail: a backtrace, or a second thread panicking meanwhile, would push
    /// it out of the last lines.
    panic: Mutex<Option<String>>,
    /// Set once the worker's stderr reached its end (it exited).
    ended: std::sync::atomic::AtomicBool,
}

/// Lines of stderr an obituary quotes besides a panic's summary.
const LAST_WORDS: usize = 3;

impl LastWords {
    /// Forwards `stderr` to this process's stderr line by line, keeping the last lines.
    fn listen(self: Arc<Self>, stderr: std::process::ChildStderr, slot: usize) {
        let spawned = std::thread::Builder::new()
            .name(format!("dfshm-worker-{slot}-stderr"))
            .spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("{line}");
                    if crate::worker::is_panic_summary(&line) {
                        self.panic.lock().get_or_insert_with(|| line.clone());
                    }
                    let mut lines = self.lines.lock();
                    if lines.len() == LAST_WORDS {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
                self.ended.store(true, std::sync::atomic::Ordering::Release);
            });
        if let Err(error) = spawned {
            log::warn!("cannot watch worker {slot}'s stderr: {error}");
        }
    }

    /// The panic summary, if any, then the other kept lines, once the stream ended or
    /// `patience` passed.
    fn quote(&self, patience: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + patience;
        // Acquire pairs with the Release store at the end of `listen`: every line is in.
        while !self.ended.load(std::sync::atomic::Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let panic = self.panic.lock().clone();
        let rest = self.lines.lock();
        let rest = rest.iter().filter(|line| Some(*line) != panic.as_ref());
        panic.iter().chain(rest).cloned().collect()
    }
}

/// How a worker ended, in words: `process 123 was killed by signal 6 (SIGABRT)`, plus its last
/// lines on stderr.
fn obituary(
    slot: usize,
    pid: u32,
    status: std::process::ExitStatus,
    last_words: &LastWords,
) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        (None, None) => status.to_string(),
    };
    let mut text = format!("worker {slot} (process {pid}) {how}");
    let words = last_words.quote(Duration::from_millis(200));
    if !words.is_empty() {
        text.push_str("; its last words on stderr: ");
        text.push_str(&words.join(" | "));
    }
    text
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL, e.g. the out-of-memory killer",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        19 => "SIGSTOP",
        _ => "see `kill -l`",
    }
}

/// Worker processes owned by one engine; dropping the pool kills and reaps them.
pub(crate) struct WorkerPool {
    settings: WorkerSettings,
    nonce: String,
    slots: Mutex<Vec<Slot>>,
    /// Obituaries of workers already replaced, newest last, by socket host.
    departed: Mutex<std::collections::VecDeque<(String, String)>>,
}

/// Obituaries of replaced workers kept for errors that arrive late.
const DEPARTED: usize = 32;

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
            departed: Mutex::new(std::collections::VecDeque::new()),
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
            .arg(settings.ring_bytes.to_string())
            .arg("--exchange-budget")
            .arg(settings.exchange_budget.to_string());
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
            .stderr(Stdio::piped())
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
        let mut child = child;
        let last_words = Arc::new(LastWords::default());
        if let Some(stderr) = child.stderr.take() {
            last_words.clone().listen(stderr, slot);
        }
        Ok(Slot {
            child,
            address,
            generation,
            last_words,
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
                Ok(Some(status)) => {
                    let slot = &slots[index];
                    Some(obituary(index, slot.child.id(), status, &slot.last_words))
                }
                Err(error) => Some(error.to_string()),
            };
            if let Some(how) = exited {
                let generation = slots[index].generation + 1;
                log::warn!("{how}; starting a new worker {index}");
                let mut departed = self.departed.lock();
                if departed.len() == DEPARTED {
                    departed.pop_front();
                }
                departed.push_back((slots[index].address.host().to_string(), how));
                drop(departed);
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

impl crate::exchange::WorkerObituaries for WorkerPool {
    fn obituary(&self, host: &str) -> Option<String> {
        {
            let mut slots = self.slots.lock();
            let found = slots
                .iter_mut()
                .enumerate()
                .find(|(_, slot)| slot.address.host() == host);
            if let Some((index, slot)) = found {
                // The caller saw the worker go: give it a moment to be reaped and its stderr to end.
                let deadline = std::time::Instant::now() + Duration::from_millis(200);
                loop {
                    match slot.child.try_wait() {
                        Ok(Some(status)) => {
                            return Some(obituary(
                                index,
                                slot.child.id(),
                                status,
                                &slot.last_words,
                            ));
                        }
                        Ok(None) if std::time::Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Ok(None) => {
                            return Some(format!(
                                "worker {index} (process {}) is still running: its stream broke, \
                                 not the process",
                                slot.child.id()
                            ));
                        }
                        Err(_) => return None,
                    }
                }
            }
        }
        self.departed
            .lock()
            .iter()
            .rev()
            .find(|(departed, _)| departed == host)
            .map(|(_, obituary)| obituary.clone())
    }

    fn deaths(&self) -> Vec<String> {
        let mut slots = self.slots.lock();
        // A dying process closes its sockets and stderr before it can be reaped: give one whose
        // stderr has ended (or may be about to be seen ending) a moment to become reapable.
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        let mut grace = true;
        loop {
            let mut pending = false;
            let mut deaths = vec![];
            for (index, slot) in slots.iter_mut().enumerate() {
                match slot.child.try_wait() {
                    Ok(Some(status)) => {
                        deaths.push(obituary(index, slot.child.id(), status, &slot.last_words));
                    }
                    Ok(None) => {
                        pending |= slot
                            .last_words
                            .ended
                            .load(std::sync::atomic::Ordering::Acquire)
                    }
                    Err(_) => {}
                }
            }
            if !deaths.is_empty() || std::time::Instant::now() > deadline || !(pending || grace) {
                return deaths;
            }
            grace = false;
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// Finds the worker executable: `DFSHM_WORKER` if set, else next to `near` (default: the running
/// executable) or one folder up, where cargo puts binaries beside the `deps` folder of test
/// executables and libraries.
pub fn find_worker_program(near: Option<&Path>) -> std::result::Result<PathBuf, String> {
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
