//! The operating-system layer: shared-memory segments (memfd + mmap), a pool that lends them
//! again after use, fd passing over Unix sockets, eventfd wake-ups and pidfd peer watching.
//!
//! This is the only module that calls libc. It knows nothing of rings, Arrow or queries, and it
//! never creates a name in the file system, so nothing it makes can outlive its processes.

mod event;
mod fd_passing;
mod pool;
mod segment;

pub use event::{AsyncWakeups, EventFd, PeerProcess, Wakeup, wait};
pub use fd_passing::{MAX_FDS_PER_MESSAGE, recv_with_fds, send_with_fds};
pub use pool::{PoolStats, PooledSegment, SegmentPool};
pub use segment::{Segment, SegmentCreateError, SegmentOpenError, page_size};
