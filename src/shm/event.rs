//! Wake-ups between processes: eventfds to signal a sleeping peer, and a wait that returns on
//! the event, the exit of a watched peer process (`process::PeerProcess`) or a deadline,
//! whichever comes first, so no wait is unbounded.
//!
//! Both kinds of fd can be waited on by a blocked thread (`poll`) or by async code
//! (`tokio::io::unix::AsyncFd`), which is why eventfds are used rather than futexes.

use super::process::PeerProcess;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::EfdFlags;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A counter the kernel can wait on: `notify` makes it readable, `drain` resets it.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new, unsignalled, non-blocking eventfd.
    pub fn new() -> std::io::Result<EventFd> {
        let flags = EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK;
        let event = nix::sys::eventfd::EventFd::from_value_and_flags(0, flags)?;
        Ok(EventFd {
            fd: OwnedFd::from(event),
        })
    }

    /// Wraps an eventfd received from another process.
    pub fn from_fd(fd: OwnedFd) -> EventFd {
        EventFd { fd }
    }

    /// Makes the eventfd readable, waking whoever waits on it.
    pub fn notify(&self) {
        // EAGAIN (the counter is at its maximum) means it is signalled already, so the result
        // can be ignored.
        let _ = nix::unistd::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Resets the eventfd; returns whether it had been signalled.
    pub fn drain(&self) -> bool {
        let mut value = [0u8; 8];
        let read = nix::unistd::read(&self.fd, &mut value);
        read == Ok(8) && u64::from_ne_bytes(value) > 0
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
    let mut fds = vec![event.as_fd()];
    if let Some(peer) = peer {
        fds.push(peer.as_fd());
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
pub(super) fn poll_fds(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> std::io::Result<Option<usize>> {
    let mut polls: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let timeout = match timeout {
        None => PollTimeout::NONE,
        // Round up so that a short positive timeout does not become a busy loop.
        Some(timeout) => {
            let ms = timeout.as_nanos().div_ceil(1_000_000);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    };
    loop {
        match nix::poll::poll(&mut polls, timeout) {
            Ok(0) => return Ok(None),
            Ok(_) => {
                return Ok(polls
                    .iter()
                    .position(|poll| poll.revents().is_some_and(|events| !events.is_empty())));
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
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
