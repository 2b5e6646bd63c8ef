//! Anonymous shared-memory segments: a memfd, sized, sealed against resizing, mapped shared and
//! pre-faulted.
//!
//! A segment has no name anywhere in the file system: it lives as long as some process holds its
//! fd or a mapping, so a killed process can never leak it. Another process gets access only by
//! receiving the fd over a Unix socket (see `fd_passing`).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// A shared mapping of a memfd. Dropping it unmaps the memory and closes the fd.
#[derive(Debug)]
pub struct Segment {
    fd: OwnedFd,
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a Segment owns its fd and mapping; the raw pointer is only an address of shared memory
// whose concurrent use is governed by the layers above (ring positions, atomics), never by
// thread identity.
unsafe impl Send for Segment {}
// SAFETY: as for Send: &Segment only hands out the address; all access through it is via atomics
// or by the single owner of a ring side.
unsafe impl Sync for Segment {}

fn last_os_error() -> std::io::Error {
    std::io::Error::last_os_error()
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
        let os = |step| SegmentCreateError::Os {
            bytes: len,
            step,
            source: last_os_error(),
        };
        let label = CString::new(format!("dfshm-{name}").replace('\0', "?"))
            .expect("NUL bytes were replaced");
        // SAFETY: memfd_create reads a valid NUL-terminated string and returns a new fd or -1.
        let raw = unsafe {
            libc::memfd_create(label.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(os("memfd_create"));
        }
        // SAFETY: `raw` is a freshly created fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(|_| SegmentCreateError::Os {
            bytes: len,
            step: "size",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: ftruncate on an fd we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(os("ftruncate"));
        }
        // A peer that receives the fd must not be able to shrink it under our mapping (SIGBUS).
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl(F_ADD_SEALS) on an fd we own, with a plain integer argument.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(os("F_ADD_SEALS"));
        }
        let base = map_shared(&fd, len, populate).map_err(|source| SegmentCreateError::Os {
            bytes: len,
            step: "mmap",
            source,
        })?;
        Ok(Segment { fd, base, len })
    }

    /// Maps a segment received from another process. Pages are mapped as they are touched (the
    /// creator decides whether they were allocated up front).
    pub fn open(fd: OwnedFd) -> Result<Segment, SegmentOpenError> {
        // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes into the struct we own.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(SegmentOpenError::Os {
                step: "fstat",
                source: last_os_error(),
            });
        }
        let bytes = stat.st_size as u64;
        let is_file = stat.st_mode & libc::S_IFMT == libc::S_IFREG;
        let len = usize::try_from(bytes).unwrap_or(0);
        if !is_file || len == 0 {
            return Err(SegmentOpenError::NotASegment { bytes });
        }
        // Without the shrink seal the sender could truncate the file and fault us with SIGBUS.
        // SAFETY: fcntl(F_GET_SEALS) on an fd we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(SegmentOpenError::NotASegment { bytes });
        }
        let base = map_shared(&fd, len, false).map_err(|source| SegmentOpenError::Os {
            step: "mmap",
            source,
        })?;
        Ok(Segment { fd, base, len })
    }

    /// The first byte of the mapping; page aligned.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The mapped length in bytes (a whole number of pages).
    pub fn len(&self) -> usize {
        self.len
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

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `map_shared`, unmapped only here.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn map_shared(fd: &OwnedFd, len: usize, populate: bool) -> std::io::Result<NonNull<u8>> {
    let flags = if populate {
        libc::MAP_SHARED | libc::MAP_POPULATE
    } else {
        libc::MAP_SHARED
    };
    // SAFETY: a fresh shared mapping of `len` bytes of a file at least that long; the kernel
    // chooses the address. MAP_POPULATE pre-faults every page so the first use costs nothing.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd.as_raw_fd(),
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(last_os_error());
    }
    NonNull::new(address.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
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
        // SAFETY: ftruncate on an fd we own; it must fail because of the seal.
        let result = unsafe { libc::ftruncate(segment.fd().as_raw_fd(), 0) };
        assert_eq!(result, -1);
    }
}
