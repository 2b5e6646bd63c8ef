//! `tpch --peers`: the engines a user would pick instead of dfshm (DuckDB, Polars, DataFusion's
//! Python bindings), each a long-lived Python process serving timed queries over the same files.
//!
//! The process runs `peers.py` (compiled into this binary, run with `python -c`) in the Python
//! environment of `tools/python-env.sh`; its protocol is one JSON object per line, described in
//! that script. One process per engine lives for the whole run, so its timings leave out Python's
//! start-up and the engine's table registration, as dfshm's modes leave out worker start-up.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The helper script every peer process runs.
const SCRIPT: &str = include_str!("peers.py");

/// A peer engine `--peers` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PeerEngine {
    Duckdb,
    Polars,
    #[value(name = "datafusion-python")]
    DatafusionPython,
}

impl PeerEngine {
    /// The name of its mode in reports, as `--peers` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PeerEngine::Duckdb => "duckdb",
            PeerEngine::Polars => "polars",
            PeerEngine::DatafusionPython => "datafusion-python",
        }
    }
}

/// The Python that runs the peers when `--python` is not given: the environment
/// `tools/python-env.sh` creates (`$DFSHM_VENV`, else `~/.cache/dfshm/venv`) if it exists, else
/// `python3` from `PATH`.
pub(crate) fn default_python() -> PathBuf {
    let venv = std::env::var_os("DFSHM_VENV")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|cache| cache.join("dfshm").join("venv")));
    venv.map(|venv| venv.join("bin").join("python"))
        .filter(|python| python.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// A running peer process, ready for queries. Dropping it ends the process.
pub(crate) struct Peer {
    engine: PeerEngine,
    version: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Where the process's standard error goes, quoted when it dies.
    log: PathBuf,
}

/// Why a query gave no timing on a peer.
#[derive(Debug)]
pub(crate) enum PeerError {
    /// The engine could not run this query (its message); the others may still run.
    Query(String),
    /// The process is gone; no more queries run on it.
    Gone(String),
}

impl Peer {
    /// Starts `engine` with `python` over the TPC-H tables in `data`. An `Err` says why the peer
    /// is skipped: the interpreter cannot start, the engine is not installed in it, or it cannot
    /// read the tables.
    pub(crate) fn start(engine: PeerEngine, python: &Path, data: &Path) -> Result<Peer, String> {
        let log = std::env::temp_dir().join(format!(
            "dfshm-bench-{}-{}.log",
            engine.name(),
            std::process::id()
        ));
        let stderr = std::fs::File::create(&log)
            .map_err(|error| format!("cannot create {}: {error}", log.display()))?;
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(engine.name())
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|error| {
                let _ = std::fs::remove_file(&log);
                format!(
                    "cannot start {}: {error}; `bash tools/python-env.sh` creates the Python \
                     environment with the peers, or pass --python",
                    python.display()
                )
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut peer = Peer {
            engine,
            version: String::new(),
            child,
            stdin: Some(stdin),
            stdout,
            log,
        };
        let first = peer.read().map_err(|gone| match gone {
            PeerError::Query(message) | PeerError::Gone(message) => message,
        })?;
        match (first.get("ready"), first.get("missing"), first.get("error")) {
            (Some(Value::String(version)), _, _) => {
                peer.version = version.clone();
                Ok(peer)
            }
            (_, Some(Value::String(why)), _) => Err(why.clone()),
            (_, _, Some(Value::String(why))) => Err(why.clone()),
            _ => Err(format!("unexpected first answer {first}")),
        }
    }

    /// The engine and its version, as the process reported them (`duckdb 1.4.0`).
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// Runs `sql` (one or more statements) and returns the time the engine took and the rows of
    /// its last query.
    pub(crate) fn run(&mut self, sql: &str) -> Result<(Duration, usize), PeerError> {
        let request = serde_json::json!({ "sql": sql }).to_string() + "\n";
        let sent = self
            .stdin
            .as_mut()
            .expect("stdin lives until drop")
            .write_all(request.as_bytes())
            .and_then(|()| self.stdin.as_mut().expect("stdin lives").flush());
        if let Err(error) = sent {
            return Err(self.gone(&format!("cannot send it a query: {error}")));
        }
        let answer = self.read()?;
        if let Some(Value::String(message)) = answer.get("error") {
            return Err(PeerError::Query(message.clone()));
        }
        match (
            answer.get("ms").and_then(Value::as_f64),
            answer.get("rows").and_then(Value::as_u64),
        ) {
            (Some(ms), Some(rows)) => Ok((Duration::from_secs_f64(ms / 1000.0), rows as usize)),
            _ => Err(self.gone(&format!("unexpected answer {answer}"))),
        }
    }

    /// Reads one answer line; the end of output means the process died.
    fn read(&mut self) -> Result<Value, PeerError> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(self.gone("it exited")),
            Ok(_) => serde_json::from_str(&line)
                .map_err(|error| self.gone(&format!("it wrote {line:?}, not JSON ({error})"))),
            Err(error) => Err(self.gone(&format!("cannot read its answer: {error}"))),
        }
    }

    /// The process is unusable for `why`: the error names it, its exit status and the end of
    /// what it wrote on standard error.
    fn gone(&mut self, why: &str) -> PeerError {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map_or_else(|error| error.to_string(), |status| status.to_string());
        let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        PeerError::Gone(format!(
            "the {} process: {why} ({status}){}{}",
            self.engine.name(),
            if tail.is_empty() { "" } else { ": " },
            tail.join(" / ")
        ))
    }
}

impl Drop for Peer {
    /// Closes the process's input (it then exits) and waits a moment for it, killing it after.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
