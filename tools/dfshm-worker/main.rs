//! `dfshm-worker`: one worker process of a dfshm engine. A coordinator (the `dfshm` CLI,
//! `dfshm-bench`, or a program using the `dfshm` library) starts it with a listening Unix socket
//! as standard input; it is not meant to be run by hand.

use clap::Parser;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;

/// A dfshm worker process, started by a dfshm coordinator (not by hand).
#[derive(Debug, Parser)]
#[command(name = "dfshm-worker", version)]
struct Args {
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    // SAFETY: fd 0 is this process's standard input, owned by nobody else in this process; the
    // coordinator makes it the listening socket. Taking ownership here is the only use of it.
    let stdin = unsafe { OwnedFd::from_raw_fd(0) };
    let listener = UnixListener::from(stdin);
    if listener.local_addr().is_err() {
        eprintln!(
            "dfshm-worker: standard input is not a listening Unix socket; dfshm-worker is \
             started by a dfshm coordinator (dfshm --workers N), not by hand"
        );
        return ExitCode::from(2);
    }
    let options = dfshm::worker::WorkerOptions {
        slot: args.slot,
        coordinator_pid: args.coordinator_pid,
        memory_limit_bytes: args.memory_limit,
        ring_bytes: args.ring_bytes,
        threads: args.threads,
    };
    match dfshm::worker::run(listener, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dfshm-worker {}: {error}", args.slot);
            ExitCode::FAILURE
        }
    }
}
