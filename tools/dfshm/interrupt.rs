//! Ctrl-C: the first one cancels the running query; one when no query runs, or while the
//! cancelled query is still stopping, exits the shell.
//!
//! At an interactive prompt the line editor reads Ctrl-C as a key (see `repl`); this handler
//! sees the SIGINTs that arrive while a statement runs, or while piped input is read.

use dfshm::CancelToken;
use dfshm::datafusion::common::runtime::SpawnedTask;
use parking_lot::Mutex;
use std::sync::Arc;

/// The exit status of a shell stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The query Ctrl-C would cancel; cheap to clone.
#[derive(Debug, Clone)]
pub struct Interrupt {
    running: Arc<Mutex<Option<CancelToken>>>,
    /// The SIGINT listener, which stops when the last clone is dropped.
    _listener: Arc<SpawnedTask<()>>,
}

impl Interrupt {
    /// Takes over SIGINT while the returned value (or a clone) lives.
    pub fn listen() -> Interrupt {
        let running: Arc<Mutex<Option<CancelToken>>> = Arc::default();
        let listening = running.clone();
        let listener = SpawnedTask::spawn(async move {
            let running = listening;
            while tokio::signal::ctrl_c().await.is_ok() {
                let query = running.lock().clone();
                match query {
                    Some(token) if !token.is_cancelled() => {
                        token.cancel();
                        eprintln!("^C cancelling the query (Ctrl-C again exits)");
                    }
                    _ => {
                        eprintln!("^C");
                        // Worker processes exit on their own when this process does.
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                }
            }
        });
        Interrupt {
            running,
            _listener: Arc::new(listener),
        }
    }

    /// A statement starts: Ctrl-C now fires the returned token.
    pub fn start_query(&self) -> CancelToken {
        let token = CancelToken::new();
        *self.running.lock() = Some(token.clone());
        token
    }

    /// The statement ended: Ctrl-C exits again.
    pub fn end_query(&self) {
        *self.running.lock() = None;
    }
}
