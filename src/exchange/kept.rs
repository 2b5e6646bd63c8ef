//! Kept connections: the Unix connections of this process's finished calls, idle and ready for
//! its next calls to the same worker, so that a call costs no connect, accept and close.
//!
//! A connection is kept only after a call that ended cleanly on both sides (the protocol's
//! last message of the call was written and the peer's was read), so the next call finds
//! nothing of the last one on it. A call that was cancelled, failed or lost its peer closes its
//! connection as before: the kernel still tells the worker that the call ended. The pool is
//! bounded ([`PER_WORKER`] per worker, [`TOTAL`] in all, oldest dropped first), and a connection
//! idle for longer than [`IDLE_FOR`] is closed by a sweeper thread that runs only while something
//! idles, so an idle process holds none (nor do its workers, whose ends then close). One that the
//! worker closed meanwhile (it exited) is noticed when taken: it reads as ended, not as idle.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Idle connections kept per worker: a query's calls to one worker overlap a few at a time.
pub(crate) const PER_WORKER: usize = 8;

/// Idle connections kept in all.
pub(crate) const TOTAL: usize = 64;

/// How long an idle connection is kept: long enough for a stream of queries.
pub(crate) const IDLE_FOR: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Kept {
    /// The worker's host (its URL host, which names one process: a restarted worker has another).
    host: String,
    socket: UnixStream,
    since: Instant,
}

/// A process's kept connections, oldest first, whether a sweeper runs, and counters.
#[derive(Debug, Default)]
pub(crate) struct KeptConnections {
    idle: Mutex<VecDeque<Kept>>,
    sweeping: Mutex<bool>,
    made: AtomicU64,
    reused: AtomicU64,
}

/// Counters of a process's connections to its workers, for tests and observability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Idle connections kept for the next calls.
    pub idle: usize,
    /// Calls that made a new connection.
    pub made: u64,
    /// Calls that took a kept one.
    pub reused: u64,
}

impl KeptConnections {
    pub(crate) const fn new() -> KeptConnections {
        KeptConnections {
            idle: Mutex::new(VecDeque::new()),
            sweeping: Mutex::new(false),
            made: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    /// Counts a call that made a new connection (none was kept).
    pub(crate) fn made_one(&self) {
        self.made.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            idle: self.idle.lock().len(),
            made: self.made.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }

    /// The most recently kept connection to `host` that is still open and idle, if any.
    pub(crate) fn take(&self, host: &str) -> Option<UnixStream> {
        let mut closed = Vec::new();
        let found = {
            let mut idle = self.idle.lock();
            closed.extend(expire(&mut idle, Instant::now()));
            let mut found = None;
            while let Some(index) = idle.iter().rposition(|kept| kept.host == host) {
                let kept = idle.remove(index).expect("just found");
                if is_idle(&kept.socket) {
                    found = Some(kept.socket);
                    break;
                }
                closed.push(kept);
            }
            found
        };
        // Closed outside the lock.
        drop(closed);
        if found.is_some() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Keeps `socket`, a connection to `host` whose call ended cleanly, for a next call.
    pub(crate) fn put(&'static self, host: &str, socket: UnixStream) {
        let mut closed = Vec::new();
        {
            let mut idle = self.idle.lock();
            closed.extend(expire(&mut idle, Instant::now()));
            if let Some(index) = idle.iter().position(|kept| kept.host == host)
                && idle.iter().filter(|kept| kept.host == host).count() >= PER_WORKER
            {
                closed.extend(idle.remove(index));
            }
            if idle.len() >= TOTAL {
                closed.extend(idle.pop_front());
            }
            idle.push_back(Kept {
                host: host.to_string(),
                socket,
                since: Instant::now(),
            });
        }
        drop(closed);
        let mut sweeping = self.sweeping.lock();
        if !*sweeping {
            let started = std::thread::Builder::new()
                .name("dfshm-kept-sweep".into())
                .spawn(move || self.sweep());
            // Without a sweeper (no thread to be had) idle connections still go when the pool
            // is next used, and at its bounds.
            *sweeping = started.is_ok();
        }
    }

    /// Closes what idles too long, every half idle time, until nothing idles.
    fn sweep(&self) {
        loop {
            std::thread::sleep(IDLE_FOR / 2);
            let (expired, more) = {
                let mut idle = self.idle.lock();
                let expired = expire(&mut idle, Instant::now());
                let more = !idle.is_empty();
                if !more {
                    // Under the pool's lock, so that a `put` now starts a new sweeper.
                    *self.sweeping.lock() = false;
                }
                (expired, more)
            };
            drop(expired);
            if !more {
                return;
            }
        }
    }

    /// Closes every kept connection now.
    pub(crate) fn clear(&self) {
        let closed = std::mem::take(&mut *self.idle.lock());
        drop(closed);
    }

    /// How many connections are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.idle.lock().len()
    }
}

/// Takes the connections idle for longer than [`IDLE_FOR`] out of `idle`.
fn expire(idle: &mut VecDeque<Kept>, now: Instant) -> Vec<Kept> {
    let mut expired = Vec::new();
    while idle
        .front()
        .is_some_and(|oldest| now.duration_since(oldest.since) >= IDLE_FOR)
    {
        expired.extend(idle.pop_front());
    }
    expired
}

/// Whether `socket` is open with nothing to read: a worker sends nothing between calls, so
/// anything there (its end, an error) means the connection is not fit for another call.
fn is_idle(socket: &UnixStream) -> bool {
    crate::shm::is_quiet(socket.as_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_kept_connection_is_taken_again_for_its_worker_only() {
        let kept = leaked();
        let (ours, _theirs) = UnixStream::pair().unwrap();
        kept.put("w0", ours);
        assert!(kept.take("w1").is_none());
        assert_eq!(kept.len(), 1);
        assert!(kept.take("w0").is_some());
        assert_eq!(kept.len(), 0);
        assert_eq!(kept.stats().reused, 1);
        assert!(kept.take("w0").is_none());
    }

    #[test]
    fn a_connection_its_worker_closed_or_wrote_to_is_not_taken() {
        let kept = leaked();
        let (closed, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        kept.put("w0", closed);
        let (written, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(b"x").unwrap();
        kept.put("w0", written);
        assert!(kept.take("w0").is_none());
        assert_eq!(kept.len(), 0, "both were closed");
    }

    #[test]
    fn kept_connections_are_bounded_per_worker_and_in_all() {
        let kept = leaked();
        let mut peers = Vec::new();
        for _ in 0..PER_WORKER + 3 {
            let (ours, theirs) = UnixStream::pair().unwrap();
            peers.push(theirs);
            kept.put("w0", ours);
        }
        assert_eq!(kept.len(), PER_WORKER);
        for worker in 0..TOTAL {
            let (ours, theirs) = UnixStream::pair().unwrap();
            peers.push(theirs);
            kept.put(&format!("x{worker}"), ours);
        }
        assert_eq!(kept.len(), TOTAL);
        assert!(kept.take("w0").is_none(), "the oldest went first");
        kept.clear();
        assert_eq!(kept.len(), 0);
    }

    fn leaked() -> &'static KeptConnections {
        Box::leak(Box::new(KeptConnections::new()))
    }

    #[test]
    fn the_sweeper_closes_idle_connections_and_stops() {
        let kept = leaked();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        kept.put("w0", ours);
        assert_eq!(kept.len(), 1);
        let deadline = Instant::now() + 10 * IDLE_FOR;
        while kept.len() > 0 {
            assert!(
                Instant::now() < deadline,
                "still kept after {:?}",
                10 * IDLE_FOR
            );
            std::thread::sleep(IDLE_FOR / 10);
        }
        // Our end is closed: the worker's end reads its end.
        let mut byte = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut theirs, &mut byte).unwrap(), 0);
        while *kept.sweeping.lock() {
            assert!(Instant::now() < deadline, "the sweeper did not stop");
            std::thread::sleep(IDLE_FOR / 10);
        }
    }

    #[test]
    fn an_idle_connection_expires() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let mut idle = VecDeque::from([Kept {
            host: "w0".into(),
            socket: ours,
            since: Instant::now(),
        }]);
        assert!(expire(&mut idle, Instant::now()).is_empty());
        assert_eq!(expire(&mut idle, Instant::now() + IDLE_FOR).len(), 1);
        assert!(idle.is_empty());
    }
}
