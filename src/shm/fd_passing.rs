//! Passing file descriptors between processes over a Unix socket (SCM_RIGHTS, through nix).
//!
//! Both functions work on blocking and non-blocking sockets alike (a non-blocking one reports
//! `WouldBlock`, so async callers can retry when the socket is ready). Received fds are marked
//! close-on-exec so that a worker spawning a child never leaks them into it.

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most fds one message may carry.
pub const MAX_FDS_PER_MESSAGE: usize = 16;

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
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let control: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(sent) => return Ok(sent),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Receives into `buffer`; returns the bytes read (0 at end of stream) and any fds that came.
pub fn recv_with_fds(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buffer)];
    let mut control = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    let (received, raw, truncated) = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => {
                let mut raw = Vec::new();
                for cmsg in message.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(fds) = cmsg {
                        raw.extend(fds);
                    }
                }
                let truncated = message.flags.contains(MsgFlags::MSG_CTRUNC);
                break (message.bytes, raw, truncated);
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    };
    let fds: Vec<OwnedFd> = raw
        .into_iter()
        // SAFETY: each SCM_RIGHTS fd was just installed in this process by the kernel and is
        // owned by nothing else, so wrapping it in OwnedFd (which closes it once) is sound.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if truncated {
        return Err(std::io::Error::other(
            "file descriptors were truncated in transit: the peer sent too many",
        ));
    }
    Ok((received, fds))
}

/// Whether `socket` is open with nothing waiting to be read: a peek that neither blocks nor
/// consumes. An ended connection (0 bytes), waiting bytes or any error answer `false`.
pub fn is_quiet(socket: BorrowedFd<'_>) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match nix::sys::socket::recv(
            socket.as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return errno == Errno::EAGAIN,
            Ok(_) => return false,
        }
    }
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
