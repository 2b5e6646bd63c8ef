//! Anonymous shared-memory segments: a memfd, sized, sealed against resizing and mapped shared,
//! its pages pre-faulted or faulted in as first touched.
//!
//! A segment has no name anywhere in the file system: it lives as long as some process holds its
//! fd or a mapping, so a killed process can never leak it. Another process gets access only by
//! receiving the fd over a Unix socket (see `fd_passing`). The calls are nix's; the mapping is
//! memmap2's raw mapping, which hands out addresses and never references, since the memory is
//! written by two processes at once.

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::{SFlag, fstat};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

/// Why a segment could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SegmentCreateError {
    /// A zero-sized segment was asked for.
    #[error("a shared-memory segment must have at least one byte")]
    Empty,
    /// The kernel refused the memfd, its size or its mapping.
    #[error(
        "cannot create a {bytes}-byte shared-memory segment ({step}): {source}; check free memory and the memlock/fd limits"
    )]
    Os {
        /// The size asked for.
        bytes: usize,
        /// The system call that failed.
        step: &'static str,
        /// What the kernel said.
        source: std::io::Error,
    },
}

/// Why a received segment fd could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum SegmentOpenError {
    /// The fd does not refer to a non-empty regular file (memfd).
    #[error("the received fd is not a shared-memory segment (size {bytes})")]
    NotASegment {
        /// The size fstat reported.
        bytes: u64,
    },
    /// The kernel refused the mapping.
    #[error("cannot map a received shared-memory segment ({step}): {source}")]
    Os {
        /// The system call that failed.
        step: &'static str,
        /// What the kernel said.
        source: std::io::Error,
    },
}

/// Which file a received segment fd refers to: two fds of one memfd, received at different
/// times, name the same file. While a mapping of the file lives, no other file takes its inode
/// number, so a pool holding the mapping can match later fds against it safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegmentIdentity {
    device: u64,
    inode: u64,
}

/// A shared mapping of a memfd. Dropping it unmaps the memory and closes the fd.
#[derive(Debug)]
pub struct Segment {
    fd: OwnedFd,
    map: memmap2::MmapRaw,
}

impl Segment {
    /// Creates a segment of `len` bytes (rounded up to whole pages), every page touched once.
    ///
    /// `name` only labels the memfd in `/proc/PID/fd` for debugging; it is not a file name.
    pub fn create(name: &str, len: usize) -> Result<Segment, SegmentCreateError> {
        Self::create_with(name, len, true)
    }

    /// Like [`Segment::create`], but pages are only allocated when first touched: for segments
    /// of which a short-lived user may touch only a little (a ring carrying a small result).
    pub fn create_lazy(name: &str, len: usize) -> Result<Segment, SegmentCreateError> {
        Self::create_with(name, len, false)
    }

    fn create_with(name: &str, len: usize, populate: bool) -> Result<Segment, SegmentCreateError> {
        if len == 0 {
            return Err(SegmentCreateError::Empty);
        }
        let len = len.next_multiple_of(page_size());
        let os = |step, source: std::io::Error| SegmentCreateError::Os {
            bytes: len,
            step,
            source,
        };
        let label = format!("dfshm-{name}").replace('\0', "?");
        let fd = memfd_create(
            label.as_str(),
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(|errno| os("memfd_create", errno.into()))?;
        let size =
            i64::try_from(len).map_err(|_| os("size", std::io::ErrorKind::InvalidInput.into()))?;
        nix::unistd::ftruncate(&fd, size).map_err(|errno| os("ftruncate", errno.into()))?;
        // A peer that receives the fd must not be able to shrink it under our mapping (SIGBUS).
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals))
            .map_err(|errno| os("F_ADD_SEALS", errno.into()))?;
        let map = map_shared(&fd, len, populate).map_err(|source| os("mmap", source))?;
        Ok(Segment { fd, map })
    }

    /// Maps a segment received from another process. Pages are mapped as they are touched (the
    /// creator decides whether they were allocated up front).
    pub fn open(fd: OwnedFd) -> Result<Segment, SegmentOpenError> {
        let (_, len) = Segment::identify(&fd)?;
        Segment::map_received(fd, len)
    }

    /// Which file `fd` is, and its length, once checked to be a segment: a non-empty regular
    /// file sealed against shrinking (else its sender could truncate it and fault us with SIGBUS).
    pub(super) fn identify(fd: &OwnedFd) -> Result<(SegmentIdentity, usize), SegmentOpenError> {
        let stat = fstat(fd).map_err(|errno| SegmentOpenError::Os {
            step: "fstat",
            source: errno.into(),
        })?;
        let bytes = stat.st_size as u64;
        let is_file = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
        let len = usize::try_from(bytes).unwrap_or(0);
        if !is_file || len == 0 {
            return Err(SegmentOpenError::NotASegment { bytes });
        }
        let sealed = fcntl(fd, FcntlArg::F_GET_SEALS).is_ok_and(|seals| {
            SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK)
        });
        if !sealed {
            return Err(SegmentOpenError::NotASegment { bytes });
        }
        let identity = SegmentIdentity {
            device: stat.st_dev,
            inode: stat.st_ino,
        };
        Ok((identity, len))
    }

    /// Maps the `len` bytes of `fd`, a segment [`Segment::identify`] checked.
    pub(super) fn map_received(fd: OwnedFd, len: usize) -> Result<Segment, SegmentOpenError> {
        let map = map_shared(&fd, len, false).map_err(|source| SegmentOpenError::Os {
            step: "mmap",
            source,
        })?;
        Ok(Segment { fd, map })
    }

    /// The first byte of the mapping; page aligned.
    pub fn base(&self) -> NonNull<u8> {
        NonNull::new(self.map.as_mut_ptr()).expect("a mapping is never at address 0")
    }

    /// The mapped length in bytes (a whole number of pages).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: segments have at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The memfd, to send to another process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A shared read-write mapping of the first `len` bytes of `fd` (a file at least that long),
/// pre-faulted with `MAP_POPULATE` when `populate`, so the first use costs nothing.
fn map_shared(fd: &OwnedFd, len: usize, populate: bool) -> std::io::Result<memmap2::MmapRaw> {
    let mut options = memmap2::MmapOptions::new();
    options.len(len);
    if populate {
        options.populate();
    }
    options.map_raw(fd)
}

/// The system page size.
pub fn page_size() -> usize {
    let size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE);
    size.ok()
        .flatten()
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or(4096)
        .max(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_rounds_up_to_pages_and_is_shared_between_mappings() {
        let segment = Segment::create("test", 100).unwrap();
        assert_eq!(segment.len(), page_size());
        let duplicate = segment.fd().try_clone_to_owned().unwrap();
        let other = Segment::open(duplicate).unwrap();
        // SAFETY: both mappings are at least one page long and only this thread uses them.
        unsafe {
            segment.base().as_ptr().add(10).write(42);
            assert_eq!(other.base().as_ptr().add(10).read(), 42);
        }
    }

    #[test]
    fn zero_bytes_and_foreign_fds_are_refused() {
        assert!(matches!(
            Segment::create("x", 0),
            Err(SegmentCreateError::Empty)
        ));
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let error = Segment::open(OwnedFd::from(file)).unwrap_err();
        assert!(
            matches!(error, SegmentOpenError::NotASegment { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_sealed_segment_cannot_be_shrunk_by_a_peer() {
        let segment = Segment::create("sealed", 8192).unwrap();
        assert!(nix::unistd::ftruncate(segment.fd(), 0).is_err());
    }
}
