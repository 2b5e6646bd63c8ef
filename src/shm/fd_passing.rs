//! Passing file descriptors between processes over a Unix socket (SCM_RIGHTS).
//!
//! Both functions work on blocking and non-blocking sockets alike (a non-blocking one reports
//! `WouldBlock`, so async callers can retry when the socket is ready). Received fds are marked
//! close-on-exec so that a worker spawning a child never leaks them into it.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most fds one message may carry.
pub const MAX_FDS_PER_MESSAGE: usize = 16;

/// Bytes of control buffer for [`MAX_FDS_PER_MESSAGE`] fds, as a u64 array for alignment.
const CONTROL_WORDS: usize = 64;
const _: () = assert!(
    CONTROL_WORDS * 8 >= 16 + MAX_FDS_PER_MESSAGE * std::mem::size_of::<RawFd>() + 8,
    "the control buffer must hold a cmsghdr and MAX_FDS_PER_MESSAGE fds"
);

/// Sends `data` with `fds` attached; returns the bytes of `data` sent (the fds go with the first).
pub fn send_with_fds(
    socket: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<usize> {
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("at most {MAX_FDS_PER_MESSAGE} fds per message"),
        ));
    }
    if data.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "fds must travel with at least one byte of data",
        ));
    }
    let iov = [IoSlice::new(data)];
    let mut control = [0u64; CONTROL_WORDS];
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = iov.as_ptr() as *mut libc::iovec;
    header.msg_iovlen = 1;
    if !fds.is_empty() {
        let payload = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` zeroed, 8-aligned bytes (checked by the const
        // assertion), so CMSG_FIRSTHDR returns a pointer to a cmsghdr inside them.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
            let target = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (index, fd) in fds.iter().enumerate() {
                target.add(index).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: `header` points at live buffers (iov, control) for the duration of the call.
        let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Receives into `buffer`; returns the bytes read (0 at end of stream) and any fds that came.
pub fn recv_with_fds(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buffer)];
    let mut control = [0u64; CONTROL_WORDS];
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = iov.as_mut_ptr().cast();
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of_val(&control) as _;
    let received = loop {
        // SAFETY: `header` points at live, writable buffers for the duration of the call.
        let received =
            unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        if received >= 0 {
            break received as usize;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed cmsghdrs;
    // the CMSG_* macros walk exactly those. Each SCM_RIGHTS fd is new to this process and owned
    // by nothing else, so wrapping it in OwnedFd is sound.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for index in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(index).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    if header.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(std::io::Error::other(
            "file descriptors were truncated in transit: the peer sent too many",
        ));
    }
    Ok((received, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::Segment;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_segment_fd_crosses_a_socket_and_maps_the_same_memory() {
        let (left, right) = UnixStream::pair().unwrap();
        let segment = Segment::create("pass", 4096).unwrap();
        // SAFETY: the mapping is at least 4096 bytes long and only this thread uses it.
        unsafe { segment.base().as_ptr().write(7) };
        let sent = send_with_fds(left.as_fd(), b"hello", &[segment.fd()]).unwrap();
        assert_eq!(sent, 5);
        let mut buffer = [0u8; 16];
        let (received, mut fds) = recv_with_fds(right.as_fd(), &mut buffer).unwrap();
        assert_eq!(&buffer[..received], b"hello");
        assert_eq!(fds.len(), 1);
        let other = Segment::open(fds.pop().unwrap()).unwrap();
        // SAFETY: as above, for the second mapping of the same memory.
        assert_eq!(unsafe { other.base().as_ptr().read() }, 7);
    }

    #[test]
    fn plain_data_arrives_without_fds_and_eof_reads_zero() {
        let (left, right) = UnixStream::pair().unwrap();
        send_with_fds(left.as_fd(), b"x", &[]).unwrap();
        drop(left);
        let mut buffer = [0u8; 4];
        let (received, fds) = recv_with_fds(right.as_fd(), &mut buffer).unwrap();
        assert_eq!((received, fds.len()), (1, 0));
        let (received, _) = recv_with_fds(right.as_fd(), &mut buffer).unwrap();
        assert_eq!(received, 0);
    }

    #[test]
    fn too_many_fds_or_no_data_are_refused() {
        let (left, _right) = UnixStream::pair().unwrap();
        let many: Vec<_> = (0..=MAX_FDS_PER_MESSAGE).map(|_| left.as_fd()).collect();
        assert!(send_with_fds(left.as_fd(), b"x", &many).is_err());
        assert!(send_with_fds(left.as_fd(), b"", &[left.as_fd()]).is_err());
    }
}
