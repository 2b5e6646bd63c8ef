//! Other processes: watching one through a pidfd (readable once it has exited, so a wait can
//! include it), asking whether one still runs, killing one, and which user this process runs as.
//!
//! A pidfd names one process for good: unlike a pid, it cannot come to mean another process that
//! reused the number. It is the one way dfshm asks whether a process is alive.

use super::event::poll_fds;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Another process, watched through a pidfd: readable once the process has exited.
#[derive(Debug)]
pub struct PeerProcess {
    pid: u32,
    fd: OwnedFd,
}

impl PeerProcess {
    /// Starts watching process `pid`. Fails if it does not exist (any more).
    pub fn watch(pid: u32) -> std::io::Result<PeerProcess> {
        let pid_t = libc::pid_t::try_from(pid)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
        // nix has no pidfd_open, so this is libc's raw system call.
        // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid_t, 0) };
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
            poll_fds(&[self.fd.as_fd()], Some(Duration::ZERO)),
            Ok(Some(_))
        )
    }

    /// Blocks the calling thread until the process has exited.
    pub fn wait_for_exit(&self) -> std::io::Result<()> {
        loop {
            if poll_fds(&[self.fd.as_fd()], None)?.is_some() {
                return Ok(());
            }
        }
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

/// Whether process `pid` exists and has not exited. A process that cannot be asked about for a
/// reason other than not existing counts as running (the safe answer for callers that would
/// clean up after a dead one).
pub fn process_is_running(pid: u32) -> bool {
    match PeerProcess::watch(pid) {
        Ok(process) => process.is_alive(),
        Err(error) => error.raw_os_error() != Some(libc::ESRCH),
    }
}

/// Kills process `pid` with SIGKILL.
pub fn kill(pid: u32) -> std::io::Result<()> {
    send_signal(pid, nix::sys::signal::Signal::SIGKILL)
}

/// Asks process `pid` to stop with SIGTERM.
pub fn terminate(pid: u32) -> std::io::Result<()> {
    send_signal(pid, nix::sys::signal::Signal::SIGTERM)
}

fn send_signal(pid: u32, signal: nix::sys::signal::Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)?;
    Ok(())
}

/// The effective user id this process runs as.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_process_stops_running_and_its_watcher_sees_the_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let watched = PeerProcess::watch(child.id()).unwrap();
        assert!(process_is_running(child.id()));
        kill(child.id()).unwrap();
        watched.wait_for_exit().unwrap();
        assert!(!watched.is_alive());
        // A zombie has exited: it is not running, though its pid is still taken.
        assert!(!process_is_running(child.id()));
        child.wait().unwrap();
        assert!(process_is_running(std::process::id()));
    }

    #[test]
    fn this_process_runs_as_the_owner_of_its_proc_entry() {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata("/proc/self").unwrap().uid();
        assert_eq!(effective_uid(), owner);
    }
}
