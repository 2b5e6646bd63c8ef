//! A bounded single-producer single-consumer byte ring in a shared-memory segment.
//!
//! The ring carries variable-length frames, each a 64-byte header followed by its payload padded
//! to 64 bytes, so every payload starts 64-byte aligned and a frame never splits at the wrap (the
//! producer pads to the end instead). Positions are 64-bit byte counts that never wrap, each on
//! its own cache line. A blocked side first spins briefly (20 µs), then announces in a flag that
//! it sleeps and sleeps on an eventfd; the other side signals the eventfd only when the flag says
//! someone sleeps. Every wait also watches the peer process (pidfd) and an optional deadline, so
//! no wait is unbounded.
//!
//! Frames are read in place: a [`Frame`] borrows its bytes from the ring and the producer cannot
//! reuse them until the frame is dropped (released). Frames may be released in any order and from
//! any thread; the read position advances over the released prefix.
//!
//! A ring's segment may come from a [`SegmentPool`]: the receiving process marks the header when
//! it unmaps the ring for good, and only then may the creator lay a new ring out in it.
//!
//! `ring` knows nothing of Arrow; it never allocates after a ring is opened except for the
//! bookkeeping of frames in flight (bounded by the ring's capacity / 64).

mod header;

use crate::shm::{AsyncWakeups, EventFd, PeerProcess, PooledSegment, Segment, SegmentPool, Wakeup};
use header::{FRAME_HEADER_BYTES, FrameHeader, FrameKind, RING_HEADER_BYTES, RingHeader, state};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub use header::{CONTROL_WORDS, FRAME_ALIGN, MIN_CAPACITY_BYTES};

/// Why a ring could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum RingOpenError {
    /// The capacity is not a power of two of at least [`MIN_CAPACITY_BYTES`].
    #[error("ring capacity {0} must be a power of two of at least {MIN_CAPACITY_BYTES} bytes")]
    BadCapacity(usize),
    /// The segment is smaller than the ring header plus the capacity.
    #[error(
        "a segment of {segment_bytes} bytes cannot hold a ring of {capacity} bytes plus its header"
    )]
    SegmentTooSmall {
        /// The segment's size.
        segment_bytes: usize,
        /// The ring capacity asked for or found.
        capacity: usize,
    },
    /// The segment does not start with a ring header of this version.
    #[error("the segment holds no dfshm ring of version {version}: {0}", version = header::RING_VERSION)]
    NotARing(&'static str),
    /// An eventfd could not be created.
    #[error("cannot create the ring's wake-up eventfd: {0}")]
    Event(#[source] std::io::Error),
    /// The ring's segment could not be created.
    #[error(transparent)]
    Segment(#[from] crate::shm::SegmentCreateError),
}

/// Why a ring could not be received from another process.
#[derive(Debug, thiserror::Error)]
pub enum RingReceiveError {
    /// The socket failed.
    #[error("receiving a ring: {0}")]
    Io(#[from] std::io::Error),
    /// The peer did not follow the hand-over protocol.
    #[error("receiving a ring: {0}")]
    Protocol(&'static str),
    /// The segment fd could not be mapped.
    #[error(transparent)]
    Segment(#[from] crate::shm::SegmentOpenError),
    /// The segment holds no valid ring.
    #[error(transparent)]
    Open(#[from] RingOpenError),
}

/// Why a ring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// A frame larger than the ring can ever hold was asked for; split it.
    #[error(
        "a frame of {payload_bytes} bytes does not fit in the ring (at most {max_payload_bytes})"
    )]
    FrameTooLarge {
        /// The payload size asked for.
        payload_bytes: usize,
        /// The largest payload this ring can carry.
        max_payload_bytes: usize,
    },
    /// The consumer closed its end: nobody will read what is written.
    #[error("the ring's consumer has gone away")]
    ConsumerClosed,
    /// The producer went away without closing its end: the stream is incomplete.
    #[error("the ring's producer stopped before the end of its stream")]
    ProducerAborted,
    /// One side cancelled the stream.
    #[error("the ring was cancelled")]
    Cancelled,
    /// The peer process exited while this side waited.
    #[error("the process (pid {pid}) at the other end of the ring exited")]
    PeerExited {
        /// The peer's process id.
        pid: u32,
    },
    /// The deadline passed while waiting.
    #[error("timed out waiting on the ring")]
    TimedOut,
    /// The ring's bytes do not follow the protocol (a buggy or hostile peer).
    #[error("the ring is corrupt: {0}")]
    Corrupt(&'static str),
    /// Waiting failed in the kernel.
    #[error("waiting on the ring failed: {0}")]
    Wait(#[source] std::io::Error),
}

/// The memory a ring lives in.
#[derive(Debug)]
pub enum RingMemory {
    /// A segment owned by the ring alone.
    Owned(Segment),
    /// A segment on loan from a pool; it returns to the pool when the ring and its frames drop.
    Pooled(PooledSegment),
}

impl RingMemory {
    fn segment(&self) -> &Segment {
        match self {
            RingMemory::Owned(segment) => segment,
            RingMemory::Pooled(segment) => segment,
        }
    }
}

/// What both ends share: the mapping and the two eventfds.
#[derive(Debug)]
struct Shared {
    memory: RingMemory,
    /// The ring came from another process ([`RingParts::open`]): dropping it tells the creator
    /// that this process no longer touches the segment.
    received: bool,
    header: NonNull<RingHeader>,
    data: NonNull<u8>,
    capacity: u64,
    /// Signalled by the producer when the consumer sleeps waiting for data.
    data_ready: Arc<EventFd>,
    /// Signalled by the consumer when the producer sleeps waiting for space.
    space_ready: Arc<EventFd>,
}

// SAFETY: `header` and `data` point into `memory`, which lives as long as `Shared`. All shared
// header fields are atomics; data bytes are accessed only in regions the SPSC protocol gives to
// one side at a time (see Producer and Consumer).
unsafe impl Send for Shared {}
// SAFETY: as for Send.
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.received {
            // The last use of the mapping in this process: the segment is unmapped right after
            // (when `memory` drops), and the creator may reuse it once it sees this bit.
            self.header()
                .state
                .fetch_or(state::RECEIVER_DETACHED, Ordering::SeqCst);
        }
    }
}

impl Shared {
    fn header(&self) -> &RingHeader {
        // SAFETY: the header was initialized (create) or validated (open) before `Shared` was
        // built and stays mapped for the lifetime of `memory`.
        unsafe { self.header.as_ref() }
    }

    fn set_state(&self, bits: u32) {
        self.header().state.fetch_or(bits, Ordering::SeqCst);
        // Wake both sides so that a sleeper sees the new state.
        self.data_ready.notify();
        self.space_ready.notify();
    }

    fn state(&self) -> u32 {
        self.header().state.load(Ordering::SeqCst)
    }
}

/// A ring's memory and wake-up fds: what one process creates and sends to the other.
#[derive(Debug)]
pub struct RingParts {
    shared: Arc<Shared>,
}

impl RingParts {
    /// Lays out a fresh ring of `capacity` data bytes in `memory`.
    pub fn create(memory: RingMemory, capacity: usize) -> Result<RingParts, RingOpenError> {
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY_BYTES {
            return Err(RingOpenError::BadCapacity(capacity));
        }
        let segment_bytes = memory.segment().len();
        if segment_bytes < RING_HEADER_BYTES + capacity {
            return Err(RingOpenError::SegmentTooSmall {
                segment_bytes,
                capacity,
            });
        }
        let header = memory.segment().base().cast::<RingHeader>();
        // SAFETY: the segment is page aligned and longer than the header; no other process has
        // the segment yet (or, for a pooled segment, every user of its previous ring in this
        // process has dropped it and the process it was sent to has detached, which the pool
        // checks with `receiver_detached`), so this thread alone accesses it while writing.
        unsafe { header.as_ptr().write(RingHeader::new(capacity as u64)) };
        let data_ready = Arc::new(EventFd::new().map_err(RingOpenError::Event)?);
        let space_ready = Arc::new(EventFd::new().map_err(RingOpenError::Event)?);
        Ok(Self::assemble(
            memory,
            false,
            capacity as u64,
            data_ready,
            space_ready,
        ))
    }

    /// A fresh ring of `capacity` data bytes in a segment lent by `pool`: one a finished ring
    /// left (its pages already allocated and mapped here) once [`receiver_detached`] holds for
    /// it, else a new one. The segment returns to the pool when the ring and its frames drop.
    pub fn create_pooled(pool: &SegmentPool, capacity: usize) -> Result<RingParts, RingOpenError> {
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY_BYTES {
            return Err(RingOpenError::BadCapacity(capacity));
        }
        let segment = pool.acquire(RING_HEADER_BYTES + capacity)?;
        Self::create(RingMemory::Pooled(segment), capacity)
    }

    /// A fresh ring of `capacity` data bytes in a new segment of its own named `name`, whose
    /// pages are allocated as the producer first writes them (a ring that carries a small result
    /// costs a few pages, not its capacity).
    pub fn create_owned(name: &str, capacity: usize) -> Result<RingParts, RingOpenError> {
        let segment = Segment::create_lazy(name, RING_HEADER_BYTES + capacity)?;
        Self::create(RingMemory::Owned(segment), capacity)
    }

    /// Opens a ring received from another process: its segment and its two eventfds, in the
    /// order of [`RingParts::fds`].
    pub fn open(
        segment: Segment,
        data_ready: OwnedFd,
        space_ready: OwnedFd,
    ) -> Result<RingParts, RingOpenError> {
        Self::open_in(RingMemory::Owned(segment), data_ready, space_ready)
    }

    /// [`RingParts::open`] in `memory`, a received segment (maybe a mapping kept by a pool of
    /// received segments, which gets it back when the ring and its frames drop).
    fn open_in(
        memory: RingMemory,
        data_ready: OwnedFd,
        space_ready: OwnedFd,
    ) -> Result<RingParts, RingOpenError> {
        let segment = memory.segment();
        if segment.len() < RING_HEADER_BYTES + MIN_CAPACITY_BYTES {
            return Err(RingOpenError::SegmentTooSmall {
                segment_bytes: segment.len(),
                capacity: MIN_CAPACITY_BYTES,
            });
        }
        // SAFETY: the segment is at least header-sized and page aligned; the header's fields are
        // plain integers and atomics, valid for any bit pattern, so reading them is sound.
        let header = unsafe { segment.base().cast::<RingHeader>().as_ref() };
        let capacity = header.validate()?;
        if segment.len() < RING_HEADER_BYTES + capacity as usize {
            return Err(RingOpenError::SegmentTooSmall {
                segment_bytes: segment.len(),
                capacity: capacity as usize,
            });
        }
        Ok(Self::assemble(
            memory,
            true,
            capacity,
            Arc::new(EventFd::from_fd(data_ready)),
            Arc::new(EventFd::from_fd(space_ready)),
        ))
    }

    fn assemble(
        memory: RingMemory,
        received: bool,
        capacity: u64,
        data_ready: Arc<EventFd>,
        space_ready: Arc<EventFd>,
    ) -> RingParts {
        let base = memory.segment().base();
        // SAFETY: RING_HEADER_BYTES is within the segment (checked by the callers).
        let data = unsafe { base.add(RING_HEADER_BYTES) };
        RingParts {
            shared: Arc::new(Shared {
                header: base.cast(),
                data,
                capacity,
                memory,
                received,
                data_ready,
                space_ready,
            }),
        }
    }

    /// The fds to send to the peer: segment, data-ready eventfd, space-ready eventfd.
    pub fn fds(&self) -> [BorrowedFd<'_>; 3] {
        [
            self.shared.memory.segment().fd(),
            self.shared.data_ready.as_fd(),
            self.shared.space_ready.as_fd(),
        ]
    }

    /// The ring's data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// This process's producer end; `peer` is the consumer's process when it is another one.
    pub fn producer(&self, peer: Option<Arc<PeerProcess>>) -> Producer {
        let write = self.shared.header().write_position.load(Ordering::SeqCst);
        Producer {
            shared: self.shared.clone(),
            peer,
            write,
            cached_read: self.shared.header().read_position.load(Ordering::SeqCst),
            closed: false,
            wakeups: None,
        }
    }

    /// This process's consumer end; `peer` is the producer's process when it is another one.
    pub fn consumer(&self, peer: Option<Arc<PeerProcess>>) -> Consumer {
        let read = self.shared.header().read_position.load(Ordering::SeqCst);
        Consumer {
            tracker: Arc::new(ReleaseTracker {
                shared: self.shared.clone(),
                in_flight: Mutex::new(VecDeque::new()),
            }),
            peer,
            consumed: read,
            wakeups: None,
            peer_exited: None,
        }
    }

    /// Sends the ring (its three fds) and a short `message` to the process at the other end of
    /// a connected Unix socket, which takes it with [`RingParts::receive`].
    pub fn send(&self, socket: &UnixStream, message: &[u8]) -> std::io::Result<()> {
        let length = u32::try_from(message.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "message too long")
        })?;
        let mut bytes = length.to_le_bytes().to_vec();
        bytes.extend_from_slice(message);
        let sent = crate::shm::send_with_fds(socket.as_fd(), &bytes, &self.fds())?;
        // The fds went with the first byte; the rest of the message is plain data.
        (&*socket).write_all(&bytes[sent..])
    }

    /// Receives a ring sent with [`RingParts::send`]; returns it and the message.
    pub fn receive(socket: &UnixStream) -> Result<(RingParts, Vec<u8>), RingReceiveError> {
        let mut first = [0u8; 4096];
        let (read, fds) = crate::shm::recv_with_fds(socket.as_fd(), &mut first)?;
        if read < 4 {
            return Err(RingReceiveError::Protocol(
                "the sender closed before the ring arrived",
            ));
        }
        let length = u32::from_le_bytes(first[..4].try_into().expect("4 bytes")) as usize;
        let mut message = first[4..read].to_vec();
        if message.len() > length {
            return Err(RingReceiveError::Protocol(
                "more bytes than the message length",
            ));
        }
        let mut rest = vec![0u8; length - message.len()];
        (&*socket).read_exact(&mut rest)?;
        message.extend_from_slice(&rest);
        Ok((RingParts::from_fds(fds)?, message))
    }

    /// Opens the ring whose fds arrived with a message sent by [`RingParts::send`] (in the order
    /// [`RingParts::fds`] gives them).
    pub fn from_fds(fds: Vec<OwnedFd>) -> Result<RingParts, RingReceiveError> {
        let [segment, data_ready, space_ready] = Self::three(fds)?;
        let segment = Segment::open(segment)?;
        Ok(RingParts::open(segment, data_ready, space_ready)?)
    }

    /// [`RingParts::from_fds`], mapping the segment through `received`, a pool of received
    /// segments ([`SegmentPool::open`]): a peer that sends the ring of one pooled segment again
    /// (it does once this process detached from it) costs no new mapping and no page faults.
    pub fn from_fds_pooled(
        fds: Vec<OwnedFd>,
        received: &SegmentPool,
    ) -> Result<RingParts, RingReceiveError> {
        let [segment, data_ready, space_ready] = Self::three(fds)?;
        let segment = received.open(segment)?;
        Ok(RingParts::open_in(
            RingMemory::Pooled(segment),
            data_ready,
            space_ready,
        )?)
    }

    fn three(fds: Vec<OwnedFd>) -> Result<[OwnedFd; 3], RingReceiveError> {
        fds.try_into().map_err(|_| {
            RingReceiveError::Protocol(
                "a message that should carry a ring came without its three fds",
            )
        })
    }

    /// Largest payload one frame can carry in a ring of `capacity` bytes.
    pub fn max_payload_bytes(capacity: usize) -> usize {
        capacity - FRAME_HEADER_BYTES
    }
}

/// Whether the ring last laid out in `segment` (a segment of a [`SegmentPool`] that
/// [`RingParts::create_pooled`] uses) may be replaced: the process it was sent to has dropped it.
/// A ring that was never received stays unusable; the pool unmaps it after its idle time.
pub fn receiver_detached(segment: &Segment) -> bool {
    if segment.len() < RING_HEADER_BYTES {
        return false;
    }
    // SAFETY: the segment is page aligned and at least header-sized; `state` is an atomic, valid
    // for any bit pattern, and only read here.
    let header = unsafe { segment.base().cast::<RingHeader>().as_ref() };
    header.state.load(Ordering::SeqCst) & state::RECEIVER_DETACHED != 0
}

/// How long a blocked thread polls the ring before it sleeps. A peer that answers within this
/// time costs no system call on either side; one that does not costs at most this much CPU.
const SPIN_BUDGET: std::time::Duration = std::time::Duration::from_micros(20);

/// A bounded busy-wait before sleeping (blocking waits only: async waits never spin, so that a
/// tokio worker thread is never held by an idle ring).
struct Spin {
    started: Option<Instant>,
}

impl Spin {
    fn new() -> Spin {
        Spin { started: None }
    }

    /// True while the budget lasts (after a pause); false once the caller should sleep.
    fn again(&mut self) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        if started.elapsed() >= SPIN_BUDGET {
            return false;
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
        true
    }
}

/// Waits for `event` (or peer death or the deadline), blocking the thread.
fn wait_blocking(
    event: &EventFd,
    peer: Option<&PeerProcess>,
    deadline: Option<Instant>,
) -> Result<(), RingError> {
    match crate::shm::wait(event, peer, deadline).map_err(RingError::Wait)? {
        Wakeup::Event => Ok(()),
        Wakeup::PeerExited => Err(RingError::PeerExited {
            pid: peer.map_or(0, |peer| peer.pid()),
        }),
        Wakeup::TimedOut => Err(RingError::TimedOut),
    }
}

async fn wait_async(
    slot: &mut Option<AsyncWakeups>,
    event: &Arc<EventFd>,
    peer: Option<&Arc<PeerProcess>>,
) -> Result<(), RingError> {
    if slot.is_none() {
        *slot = Some(AsyncWakeups::new(event.clone(), peer.cloned()).map_err(RingError::Wait)?);
    }
    let wakeups = slot.as_ref().expect("set above");
    match wakeups.wait().await.map_err(RingError::Wait)? {
        Wakeup::PeerExited => Err(RingError::PeerExited {
            pid: peer.map_or(0, |peer| peer.pid()),
        }),
        Wakeup::Event | Wakeup::TimedOut => Ok(()),
    }
}

/// The writing end of a ring. Dropping it without [`Producer::close`] tells the consumer the
/// stream was aborted.
#[derive(Debug)]
pub struct Producer {
    shared: Arc<Shared>,
    peer: Option<Arc<PeerProcess>>,
    /// Our write position; only this side stores to the shared one.
    write: u64,
    /// The last read position seen, to avoid touching the consumer's cache line.
    cached_read: u64,
    closed: bool,
    wakeups: Option<AsyncWakeups>,
}

impl Producer {
    /// The largest payload one frame may carry.
    pub fn max_payload_bytes(&self) -> usize {
        RingParts::max_payload_bytes(self.shared.capacity as usize)
    }

    /// Bytes a frame of `payload_bytes` occupies in the ring.
    fn frame_bytes(&self, payload_bytes: usize) -> Result<u64, RingError> {
        if payload_bytes > self.max_payload_bytes() {
            return Err(RingError::FrameTooLarge {
                payload_bytes,
                max_payload_bytes: self.max_payload_bytes(),
            });
        }
        Ok((FRAME_HEADER_BYTES + payload_bytes.next_multiple_of(FRAME_ALIGN)) as u64)
    }

    fn check_open(&self) -> Result<(), RingError> {
        let state = self.shared.state();
        if state & state::CANCELLED != 0 {
            Err(RingError::Cancelled)
        } else if state & state::CONSUMER_CLOSED != 0 {
            Err(RingError::ConsumerClosed)
        } else {
            Ok(())
        }
    }

    fn has_room(&mut self, needed: u64) -> bool {
        if self.shared.capacity - (self.write - self.cached_read) >= needed {
            return true;
        }
        // Pairs with the consumer's SeqCst store of read_position in `ReleaseTracker::advance`.
        self.cached_read = self.shared.header().read_position.load(Ordering::SeqCst);
        self.shared.capacity - (self.write - self.cached_read) >= needed
    }

    /// Tries to make room for a frame of `frame_bytes` at the write position. A frame that does
    /// not fit before the end of the ring is preceded by a padding frame, published on its own
    /// so that the frame can later reuse the bytes the padding header occupied. Returns the room
    /// still missing (to wait for), or 0 when the frame can be written now.
    fn place(&mut self, frame_bytes: u64) -> Result<u64, RingError> {
        self.check_open()?;
        let capacity = self.shared.capacity;
        let room_to_end = capacity - (self.write & (capacity - 1));
        if frame_bytes > room_to_end {
            if !self.has_room(room_to_end) {
                return Ok(room_to_end);
            }
            let offset = (self.write & (capacity - 1)) as usize;
            // SAFETY: the padding region [write, write + room_to_end) ends at the end of the
            // data area, starts 64-aligned with at least 64 bytes, and has been released by the
            // consumer (has_room), so only this producer touches it until it is published.
            unsafe {
                self.shared
                    .data
                    .as_ptr()
                    .add(offset)
                    .cast::<FrameHeader>()
                    .write(FrameHeader::new(
                        FrameKind::Padding,
                        0,
                        room_to_end - FRAME_HEADER_BYTES as u64,
                    ));
            }
            self.publish(self.write + room_to_end);
        }
        Ok(if self.has_room(frame_bytes) {
            0
        } else {
            frame_bytes
        })
    }

    /// Reserves a frame of `payload_bytes` if there is room now.
    pub fn try_reserve(
        &mut self,
        payload_bytes: usize,
    ) -> Result<Option<FrameSlot<'_>>, RingError> {
        let frame_bytes = self.frame_bytes(payload_bytes)?;
        if self.place(frame_bytes)? > 0 {
            return Ok(None);
        }
        Ok(Some(self.slot(payload_bytes)))
    }

    /// Reserves a frame of `payload_bytes`, blocking until the consumer frees room.
    pub fn reserve(
        &mut self,
        payload_bytes: usize,
        deadline: Option<Instant>,
    ) -> Result<FrameSlot<'_>, RingError> {
        let frame_bytes = self.frame_bytes(payload_bytes)?;
        let mut spin = Spin::new();
        loop {
            let missing = self.place(frame_bytes)?;
            if missing == 0 {
                break;
            }
            if spin.again() {
                continue;
            }
            if !self.announce_wait(missing) {
                wait_blocking(&self.shared.space_ready, self.peer.as_deref(), deadline)?;
            }
        }
        Ok(self.slot(payload_bytes))
    }

    /// Reserves a frame of `payload_bytes`, waiting asynchronously until there is room.
    pub async fn reserve_async(
        &mut self,
        payload_bytes: usize,
    ) -> Result<FrameSlot<'_>, RingError> {
        let frame_bytes = self.frame_bytes(payload_bytes)?;
        loop {
            let missing = self.place(frame_bytes)?;
            if missing == 0 {
                break;
            }
            if !self.announce_wait(missing) {
                wait_async(
                    &mut self.wakeups,
                    &self.shared.space_ready,
                    self.peer.as_ref(),
                )
                .await?;
            }
        }
        Ok(self.slot(payload_bytes))
    }

    /// Says we are about to sleep, then looks once more; true if room or a stop appeared
    /// meanwhile (then the caller must not sleep).
    fn announce_wait(&mut self, needed: u64) -> bool {
        self.shared
            .header()
            .producer_waiting
            .store(1, Ordering::SeqCst);
        // Dekker pattern with the consumer: we store the flag then load read_position; it stores
        // read_position then swaps the flag (all SeqCst), so one of us sees the other's store.
        let changed = self.has_room(needed) || self.shared.state() & state::ANY_STOP != 0;
        if changed {
            self.shared
                .header()
                .producer_waiting
                .store(0, Ordering::SeqCst);
        }
        changed
    }

    fn slot(&mut self, payload_bytes: usize) -> FrameSlot<'_> {
        FrameSlot {
            producer: self,
            payload_bytes,
        }
    }

    /// Writes `payload` as one frame tagged `tag`, blocking until there is room.
    pub fn write_frame(
        &mut self,
        tag: u64,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), RingError> {
        let mut slot = self.reserve(payload.len(), deadline)?;
        slot.bytes().copy_from_slice(payload);
        slot.commit(tag, payload.len());
        Ok(())
    }

    /// Publishes everything written so far and tells the consumer no more frames come.
    pub fn close(mut self) {
        self.closed = true;
        self.shared.set_state(state::PRODUCER_CLOSED);
    }

    /// Cancels the stream for both sides.
    pub fn cancel(&self) {
        self.shared.set_state(state::CANCELLED);
    }

    /// The control words shared with the consumer, for the layer above.
    pub fn control(&self) -> &[AtomicU64; CONTROL_WORDS] {
        &self.shared.header().control
    }

    fn publish(&mut self, new_write: u64) {
        self.write = new_write;
        let header = self.shared.header();
        // Release the frame bytes to the consumer; pairs with its SeqCst load in `try_next`.
        header.write_position.store(new_write, Ordering::SeqCst);
        if header.consumer_waiting.swap(0, Ordering::SeqCst) == 1 {
            self.shared.data_ready.notify();
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.closed {
            self.shared.set_state(state::PRODUCER_ABORTED);
        }
    }
}

/// Room for one frame at the write position, reserved but not yet visible to the consumer.
#[derive(Debug)]
pub struct FrameSlot<'a> {
    producer: &'a mut Producer,
    payload_bytes: usize,
}

impl FrameSlot<'_> {
    fn frame_offset(&self) -> usize {
        (self.producer.write & (self.producer.shared.capacity - 1)) as usize
    }

    /// The payload bytes to fill in (64-byte aligned).
    pub fn bytes(&mut self) -> &mut [u8] {
        let offset = self.frame_offset() + FRAME_HEADER_BYTES;
        // SAFETY: `place` made sure the frame fits before the end of the data area and that the
        // consumer has released its bytes, so only this producer touches them until `commit`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.producer.shared.data.as_ptr().add(offset),
                self.payload_bytes,
            )
        }
    }

    /// Publishes the frame with `payload_bytes` (at most the reserved size) bytes, tagged `tag`.
    pub fn commit(self, tag: u64, payload_bytes: usize) {
        let payload_bytes = payload_bytes.min(self.payload_bytes);
        let offset = self.frame_offset();
        // SAFETY: as in `bytes`: the frame header slot starts the reserved region.
        unsafe {
            self.producer
                .shared
                .data
                .as_ptr()
                .add(offset)
                .cast::<FrameHeader>()
                .write(FrameHeader::new(FrameKind::Data, tag, payload_bytes as u64));
        }
        let used = (FRAME_HEADER_BYTES + payload_bytes.next_multiple_of(FRAME_ALIGN)) as u64;
        let write = self.producer.write;
        self.producer.publish(write + used);
    }
}

/// Frames in flight between the shared read position and the consumer's next frame.
#[derive(Debug)]
struct ReleaseTracker {
    shared: Arc<Shared>,
    /// (end position, released) of every frame handed out and not yet passed by read_position.
    in_flight: Mutex<VecDeque<(u64, bool)>>,
}

impl ReleaseTracker {
    fn push(&self, end: u64, released: bool) {
        self.in_flight.lock().push_back((end, released));
        if released {
            self.advance();
        }
    }

    fn release(&self, end: u64) {
        {
            let mut in_flight = self.in_flight.lock();
            if let Some(entry) = in_flight.iter_mut().find(|(at, _)| *at == end) {
                entry.1 = true;
            }
        }
        self.advance();
    }

    fn advance(&self) {
        {
            let mut in_flight = self.in_flight.lock();
            let mut new_read = None;
            while let Some(&(end, true)) = in_flight.front() {
                new_read = Some(end);
                in_flight.pop_front();
            }
            let Some(new_read) = new_read else { return };
            // Hand the bytes back to the producer; pairs with its SeqCst load in `has_room`.
            // The store happens under the lock so that two releasing threads never move the
            // position backwards.
            self.shared
                .header()
                .read_position
                .store(new_read, Ordering::SeqCst);
        }
        if self
            .shared
            .header()
            .producer_waiting
            .swap(0, Ordering::SeqCst)
            == 1
        {
            self.shared.space_ready.notify();
        }
    }
}

/// One frame read from a ring: its tag and payload, borrowed in place until dropped.
#[derive(Debug)]
pub struct Frame {
    tag: u64,
    payload: NonNull<u8>,
    len: usize,
    end: u64,
    tracker: Arc<ReleaseTracker>,
}

// SAFETY: the payload bytes are immutable while the frame lives (the producer cannot reuse them
// before release) and the tracker is thread safe, so a frame may move to and be read from any
// thread.
unsafe impl Send for Frame {}
// SAFETY: as for Send; &Frame only reads.
unsafe impl Sync for Frame {}

impl Frame {
    /// The producer's tag.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The payload, 64-byte aligned.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the payload lies within the ring's data area (checked in `poll_frame`) and
        // stays unmodified until this frame releases it in Drop.
        unsafe { std::slice::from_raw_parts(self.payload.as_ptr(), self.len) }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.tracker.release(self.end);
    }
}

/// What polling a ring found.
#[derive(Debug)]
pub enum Poll {
    /// The next frame.
    Frame(Frame),
    /// No frame yet.
    Empty,
    /// The producer closed the ring and every frame has been read.
    End,
}

/// The reading end of a ring. Dropping it tells the producer to stop.
#[derive(Debug)]
pub struct Consumer {
    tracker: Arc<ReleaseTracker>,
    peer: Option<Arc<PeerProcess>>,
    /// Position of the next frame to hand out.
    consumed: u64,
    wakeups: Option<AsyncWakeups>,
    /// Set once the producer's process was seen to exit: an empty ring is then an error.
    peer_exited: Option<u32>,
}

impl Consumer {
    fn shared(&self) -> &Shared {
        &self.tracker.shared
    }

    /// Returns the next frame if one is there, without waiting.
    pub fn try_next(&mut self) -> Result<Poll, RingError> {
        let shared = self.tracker.shared.clone();
        loop {
            let state = shared.state();
            if state & state::CANCELLED != 0 {
                return Err(RingError::Cancelled);
            }
            // Pairs with the producer's SeqCst store in `publish`.
            let write = shared.header().write_position.load(Ordering::SeqCst);
            if write == self.consumed {
                // Check the state *after* the position: a close is set after the last publish.
                let state = shared.state();
                if state & state::PRODUCER_CLOSED != 0
                    && shared.header().write_position.load(Ordering::SeqCst) == self.consumed
                {
                    return Ok(Poll::End);
                }
                if state & state::PRODUCER_ABORTED != 0 {
                    return Err(RingError::ProducerAborted);
                }
                return Ok(Poll::Empty);
            }
            if write < self.consumed || write - self.consumed > shared.capacity {
                return Err(RingError::Corrupt("write position out of range"));
            }
            let capacity = shared.capacity;
            let offset = self.consumed & (capacity - 1);
            let available = write - self.consumed;
            if available < FRAME_HEADER_BYTES as u64 || !offset.is_multiple_of(FRAME_ALIGN as u64) {
                return Err(RingError::Corrupt("a frame header is cut short"));
            }
            // SAFETY: [consumed, write) was published by the producer (SeqCst load above) and is
            // not rewritten until released; the header slot is 64 bytes within the data area,
            // 64-aligned (checked above), and FrameHeader is Pod, so any bytes there are a value.
            let header = unsafe {
                shared
                    .data
                    .as_ptr()
                    .add(offset as usize)
                    .cast::<FrameHeader>()
                    .read()
            };
            let room_to_end = capacity - offset;
            match header.kind() {
                Some(FrameKind::Padding) => {
                    if header.payload_bytes() + FRAME_HEADER_BYTES as u64 != room_to_end
                        || available < room_to_end
                    {
                        return Err(RingError::Corrupt("padding does not reach the end"));
                    }
                    self.consumed += room_to_end;
                    self.tracker.push(self.consumed, true);
                }
                Some(FrameKind::Data) => {
                    let len = header.payload_bytes();
                    let frame_bytes =
                        FRAME_HEADER_BYTES as u64 + len.next_multiple_of(FRAME_ALIGN as u64);
                    if frame_bytes > room_to_end || frame_bytes > available {
                        return Err(RingError::Corrupt("a frame runs past its bytes"));
                    }
                    let end = self.consumed + frame_bytes;
                    self.consumed = end;
                    self.tracker.push(end, false);
                    // SAFETY: offset + header + len is within the data area (checked above).
                    let payload = unsafe { shared.data.add(offset as usize + FRAME_HEADER_BYTES) };
                    return Ok(Poll::Frame(Frame {
                        tag: header.tag(),
                        payload,
                        len: len as usize,
                        end,
                        tracker: self.tracker.clone(),
                    }));
                }
                None => return Err(RingError::Corrupt("unknown frame kind")),
            }
        }
    }

    /// Says we are about to sleep, then looks once more; true if there is something to read.
    fn announce_wait(&self) -> bool {
        let header = self.shared().header();
        // Dekker pattern with the producer's `publish`: flag store then position load here,
        // position store then flag swap there, all SeqCst.
        header.consumer_waiting.store(1, Ordering::SeqCst);
        let ready = header.write_position.load(Ordering::SeqCst) != self.consumed
            || self.shared().state() & state::ANY_STOP != 0;
        if ready {
            header.consumer_waiting.store(0, Ordering::SeqCst);
        }
        ready
    }

    /// The next frame, blocking until one arrives; `None` once the producer closed the ring.
    pub fn next(&mut self, deadline: Option<Instant>) -> Result<Option<Frame>, RingError> {
        let mut spin = Spin::new();
        loop {
            match self.try_next()? {
                Poll::Frame(frame) => return Ok(Some(frame)),
                Poll::End => return Ok(None),
                Poll::Empty => self.fail_if_peer_exited()?,
            }
            if spin.again() {
                continue;
            }
            if !self.announce_wait() {
                let shared = self.tracker.shared.clone();
                wait_blocking(&shared.data_ready, self.peer.as_deref(), deadline)
                    .or_else(|error| self.after_peer_exit(error))?;
            }
        }
    }

    /// The next frame, waiting asynchronously; `None` once the producer closed the ring.
    pub async fn next_async(&mut self) -> Result<Option<Frame>, RingError> {
        loop {
            match self.try_next()? {
                Poll::Frame(frame) => return Ok(Some(frame)),
                Poll::End => return Ok(None),
                Poll::Empty => self.fail_if_peer_exited()?,
            }
            if !self.announce_wait() {
                let shared = self.tracker.shared.clone();
                let peer = self.peer.clone();
                let waited = wait_async(&mut self.wakeups, &shared.data_ready, peer.as_ref()).await;
                waited.or_else(|error| self.after_peer_exit(error))?;
            }
        }
    }

    /// A dead producer may still have published frames or closed cleanly: deliver those first,
    /// and report its death only once the ring is empty.
    fn after_peer_exit(&mut self, error: RingError) -> Result<(), RingError> {
        match error {
            RingError::PeerExited { pid } => {
                self.peer_exited = Some(pid);
                self.peer = None;
                self.wakeups = None;
                Ok(())
            }
            other => Err(other),
        }
    }

    fn fail_if_peer_exited(&self) -> Result<(), RingError> {
        match self.peer_exited {
            Some(pid) => Err(RingError::PeerExited { pid }),
            None => Ok(()),
        }
    }

    /// Cancels the stream for both sides.
    pub fn cancel(&self) {
        self.shared().set_state(state::CANCELLED);
    }

    /// The control words shared with the producer, for the layer above.
    pub fn control(&self) -> &[AtomicU64; CONTROL_WORDS] {
        &self.shared().header().control
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared().set_state(state::CONSUMER_CLOSED);
    }
}

#[cfg(test)]
mod tests;
