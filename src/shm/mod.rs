//! The operating-system layer: shared-memory segments (memfd + mmap), a pool that lends them
//! again after use, fd passing over Unix sockets, eventfd wake-ups, and other processes (pidfd
//! watching, liveness, kill, terminate).
//!
//! This is the only module that calls the operating system (nix, and libc where nix lacks the
//! call; the tidy test checks it). It knows nothing of rings, Arrow or queries, and it
//! never creates a name in the file system, so nothing it makes can outlive its processes.

mod event;
mod fd_passing;
mod pool;
mod process;
mod segment;

pub use event::{AsyncWakeups, EventFd, Wakeup, wait};
pub use fd_passing::{MAX_FDS_PER_MESSAGE, is_quiet, recv_with_fds, send_with_fds};
pub use pool::{PoolStats, PooledSegment, SegmentPool};
pub use process::{PeerProcess, effective_uid, kill, process_is_running, terminate};
pub use segment::{Segment, SegmentCreateError, SegmentOpenError, page_size};
