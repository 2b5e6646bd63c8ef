//! Wake-ups between processes: eventfds to signal a sleeping peer, pidfds to notice a dead one,
//! and a wait that returns on whichever comes first, or a deadline, so no wait is unbounded.
//!
//! Both kinds of fd can be waited on by a blocked thread (`poll`) or by async code
//! (`tokio::io::unix::AsyncFd`), which is why eventfds are used rather than futexes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A counter the kernel can wait on: `notify` makes it readable, `drain` resets it.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new, unsignalled, non-blocking eventfd.
    pub fn new() -> std::io::Result<EventFd> {
        // SAFETY: eventfd has no memory preconditions; it returns a new fd or -1.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(EventFd { fd })
    }

    /// Wraps an eventfd received from another process.
    pub fn from_fd(fd: OwnedFd) -> EventFd {
        EventFd { fd }
    }

    /// Makes the eventfd readable, waking whoever waits on it.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an fd we own. EAGAIN (the counter is at its
        // maximum) means it is signalled already, so the result can be ignored.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the eventfd; returns whether it had been signalled.
    pub fn drain(&self) -> bool {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from a non-blocking fd we own.
        let read = unsafe { libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
        read == 8 && value > 0
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Another process, watched through a pidfd: readable once the process has exited.
#[derive(Debug)]
pub struct PeerProcess {
    pid: u32,
    fd: OwnedFd,
}

impl PeerProcess {
    /// Starts watching process `pid`. Fails if it does not exist (any more).
    pub fn watch(pid: u32) -> std::io::Result<PeerProcess> {
        // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd owned by nothing else; it fits an i32 as every fd does.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        Ok(PeerProcess { pid, fd })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is still running (not yet exited).
    pub fn is_alive(&self) -> bool {
        !matches!(
            poll_fds(&[self.fd.as_raw_fd()], Some(Duration::ZERO)),
            Ok(Some(_))
        )
    }
}

impl AsFd for PeerProcess {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PeerProcess {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What ended a [`wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// The event was signalled (and has been drained).
    Event,
    /// The peer process exited.
    PeerExited,
    /// The deadline passed.
    TimedOut,
}

/// Blocks until `event` is signalled, `peer` exits or `deadline` passes (never, if `None`).
pub fn wait(
    event: &EventFd,
    peer: Option<&PeerProcess>,
    deadline: Option<Instant>,
) -> std::io::Result<Wakeup> {
    let mut fds = vec![event.as_raw_fd()];
    if let Some(peer) = peer {
        fds.push(peer.as_raw_fd());
    }
    loop {
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        match poll_fds(&fds, timeout)? {
            None => return Ok(Wakeup::TimedOut),
            Some(1) => return Ok(Wakeup::PeerExited),
            Some(_) => {
                if event.drain() {
                    return Ok(Wakeup::Event);
                }
                // Someone else drained it first: wait again.
            }
        }
    }
}

/// Polls `fds` for readability; returns the index of the first readable one, or None on timeout.
fn poll_fds(fds: &[RawFd], timeout: Option<Duration>) -> std::io::Result<Option<usize>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout_ms = match timeout {
        None => -1,
        // Round up so that a short positive timeout does not become a busy loop.
        Some(timeout) => timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    loop {
        // SAFETY: `polls` is a live array of `polls.len()` pollfd structs.
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as _, timeout_ms) };
        if ready == 0 {
            return Ok(None);
        }
        if ready > 0 {
            return Ok(polls.iter().position(|poll| poll.revents != 0));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The async form of [`wait`]: an eventfd and an optional peer registered with tokio's reactor.
#[derive(Debug)]
pub struct AsyncWakeups {
    event: tokio::io::unix::AsyncFd<std::sync::Arc<EventFd>>,
    peer: Option<tokio::io::unix::AsyncFd<std::sync::Arc<PeerProcess>>>,
}

impl AsyncWakeups {
    /// Registers the fds; must be called inside a tokio runtime.
    pub fn new(
        event: std::sync::Arc<EventFd>,
        peer: Option<std::sync::Arc<PeerProcess>>,
    ) -> std::io::Result<AsyncWakeups> {
        use tokio::io::Interest;
        use tokio::io::unix::AsyncFd;
        // SAFETY: each AsyncFd owns an Arc of the EventFd/PeerProcess, whose OwnedFd therefore
        // stays open, and always returns the same fd, for the AsyncFd's whole lifetime.
        let event = unsafe { AsyncFd::register_with_interest(event, Interest::READABLE)? };
        let peer = match peer {
            Some(peer) => {
                // SAFETY: as above, for the pidfd.
                let registered =
                    unsafe { AsyncFd::register_with_interest(peer, Interest::READABLE) };
                Some(registered?)
            }
            None => None,
        };
        Ok(AsyncWakeups { event, peer })
    }

    /// Waits until the event is signalled (and drains it) or the peer exits.
    pub async fn wait(&self) -> std::io::Result<Wakeup> {
        loop {
            let peer_exited = async {
                match &self.peer {
                    Some(peer) => peer.readable().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                guard = self.event.readable() => {
                    let mut guard = guard?;
                    if guard.get_inner().drain() {
                        return Ok(Wakeup::Event);
                    }
                    guard.clear_ready();
                }
                exited = peer_exited => {
                    exited?;
                    return Ok(Wakeup::PeerExited);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notified_event_wakes_a_waiter_once() {
        let event = EventFd::new().unwrap();
        assert!(!event.drain());
        event.notify();
        event.notify();
        assert_eq!(wait(&event, None, None).unwrap(), Wakeup::Event);
        let soon = Some(Instant::now() + Duration::from_millis(5));
        assert_eq!(wait(&event, None, soon).unwrap(), Wakeup::TimedOut);
    }

    #[test]
    fn a_notification_from_another_thread_ends_the_wait() {
        let event = std::sync::Arc::new(EventFd::new().unwrap());
        let remote = event.clone();
        let thread = std::thread::spawn(move || remote.notify());
        let deadline = Some(Instant::now() + Duration::from_secs(30));
        assert_eq!(wait(&event, None, deadline).unwrap(), Wakeup::Event);
        thread.join().unwrap();
    }

    #[test]
    fn the_exit_of_a_watched_process_ends_the_wait() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let peer = PeerProcess::watch(child.id()).unwrap();
        assert!(peer.is_alive());
        child.kill().unwrap();
        let event = EventFd::new().unwrap();
        let deadline = Some(Instant::now() + Duration::from_secs(30));
        assert_eq!(
            wait(&event, Some(&peer), deadline).unwrap(),
            Wakeup::PeerExited
        );
        assert!(!peer.is_alive());
        child.wait().unwrap();
    }

    #[tokio::test]
    async fn async_waits_see_notifications_and_peer_exits() {
        let event = std::sync::Arc::new(EventFd::new().unwrap());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let peer = std::sync::Arc::new(PeerProcess::watch(child.id()).unwrap());
        let wakeups = AsyncWakeups::new(event.clone(), Some(peer)).unwrap();
        event.notify();
        assert_eq!(wakeups.wait().await.unwrap(), Wakeup::Event);
        child.kill().unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(30), wakeups.wait()).await;
        assert_eq!(waited.unwrap().unwrap(), Wakeup::PeerExited);
        child.wait().unwrap();
    }
}
