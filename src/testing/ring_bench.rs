//! Cross-process ring measurements, shared by `dfshm-bench ring` and `benches/ring.rs`.
//!
//! The measuring process creates two rings (forward and back), starts a peer process (an
//! executable that calls [`run_peer`]) and hands it both over a Unix socket. The peer is a sink
//! (reads frames in place or copies them out, acknowledging each round on the back ring) or an
//! echo (returns every frame), which gives throughput, per-frame cost and wake-up latency.

use crate::ring::{Consumer, Producer, RingMemory, RingParts};
use crate::shm::{PeerProcess, Segment};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TAG_DATA: u64 = 0;
const TAG_END_ROUND: u64 = 1;
const TAG_ACK: u64 = 2;

/// How the peer treats the frames it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Reads every cache line of each frame in place, then releases it.
    SinkZeroCopy,
    /// Copies each frame into a private buffer, then releases it.
    SinkCopyOut,
    /// Writes every frame back on the return ring.
    Echo,
}

impl PeerRole {
    fn code(self) -> u8 {
        match self {
            PeerRole::SinkZeroCopy => 1,
            PeerRole::SinkCopyOut => 2,
            PeerRole::Echo => 3,
        }
    }

    fn from_code(code: u8) -> Option<PeerRole> {
        match code {
            1 => Some(PeerRole::SinkZeroCopy),
            2 => Some(PeerRole::SinkCopyOut),
            3 => Some(PeerRole::Echo),
            _ => None,
        }
    }
}

/// Deadline for any single wait in a measurement: generous, but never unbounded.
const WAIT: Duration = Duration::from_secs(60);

fn deadline() -> Option<Instant> {
    Some(Instant::now() + WAIT)
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The measuring side of a running peer.
pub struct PeerHarness {
    child: Child,
    /// Both ends are present until `finish`.
    forward: Option<Producer>,
    back: Option<Consumer>,
}

impl std::fmt::Debug for PeerHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHarness")
            .field("pid", &self.child.id())
            .finish()
    }
}

fn ring(capacity: usize) -> BenchResult<RingParts> {
    let segment = Segment::create("bench", capacity + 4096)?;
    Ok(RingParts::create(RingMemory::Owned(segment), capacity)?)
}

impl PeerHarness {
    /// Starts `program args...` (which must call [`run_peer`] with the socket path appended)
    /// in `role`, with rings of `capacity` bytes.
    pub fn start(
        program: &std::path::Path,
        args: &[&str],
        role: PeerRole,
        capacity: usize,
    ) -> BenchResult<PeerHarness> {
        let dir = std::env::temp_dir().join(format!(
            "dfshm-ring-bench-{}-{}",
            std::process::id(),
            role.code()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("peer.sock");
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let mut child = Command::new(program)
            .args(args)
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()?;
        let limit = Instant::now() + WAIT;
        let socket = loop {
            match listener.accept() {
                Ok((socket, _)) => break socket,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > limit || child.try_wait()?.is_some() {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err("the ring peer never connected".into());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(error) => return Err(error.into()),
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        socket.set_nonblocking(false)?;
        let forward = ring(capacity)?;
        let back = ring(capacity)?;
        forward.send(&socket, &[role.code()])?;
        back.send(&socket, &[])?;
        let peer = Some(Arc::new(PeerProcess::watch(child.id())?));
        Ok(PeerHarness {
            forward: Some(forward.producer(peer.clone())),
            back: Some(back.consumer(peer)),
            child,
        })
    }

    /// Sends `frames` frames of `source` bytes (copied into the ring) and waits until the peer
    /// has consumed them all; returns the elapsed time.
    pub fn stream(&mut self, source: &[u8], frames: u64) -> BenchResult<Duration> {
        let (forward, back) = self.ends()?;
        let started = Instant::now();
        for _ in 0..frames {
            let mut slot = forward.reserve(source.len(), deadline())?;
            slot.bytes().copy_from_slice(source);
            slot.commit(TAG_DATA, source.len());
        }
        forward.write_frame(TAG_END_ROUND, &[], deadline())?;
        match back.next(deadline())? {
            Some(frame) if frame.tag() == TAG_ACK => Ok(started.elapsed()),
            _ => Err("the ring peer did not acknowledge the round".into()),
        }
    }

    /// One round trip of a `bytes`-byte frame through an echo peer.
    pub fn round_trip(&mut self, bytes: usize) -> BenchResult<Duration> {
        let (forward, back) = self.ends()?;
        let started = Instant::now();
        let mut slot = forward.reserve(bytes, deadline())?;
        slot.bytes().fill(1);
        slot.commit(TAG_DATA, bytes);
        match back.next(deadline())? {
            Some(_) => Ok(started.elapsed()),
            None => Err("the echo peer closed its ring".into()),
        }
    }

    fn ends(&mut self) -> BenchResult<(&mut Producer, &mut Consumer)> {
        match (self.forward.as_mut(), self.back.as_mut()) {
            (Some(forward), Some(back)) => Ok((forward, back)),
            _ => Err("the harness was already finished".into()),
        }
    }

    /// Closes the rings and waits for the peer to exit.
    pub fn finish(mut self) -> BenchResult<()> {
        if let Some(forward) = self.forward.take() {
            forward.close();
        }
        self.back.take();
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the ring peer failed: {status}").into())
        }
    }
}

impl Drop for PeerHarness {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The peer side: connects to `socket_path`, receives both rings and serves until the forward
/// ring closes.
pub fn run_peer(socket_path: &std::path::Path) -> BenchResult<()> {
    let socket = UnixStream::connect(socket_path)?;
    let (forward, message) = RingParts::receive(&socket)?;
    let (back, _) = RingParts::receive(&socket)?;
    let role = message
        .first()
        .copied()
        .and_then(PeerRole::from_code)
        .ok_or("unknown ring peer role")?;
    let parent = Some(Arc::new(PeerProcess::watch(
        std::os::unix::process::parent_id(),
    )?));
    let mut input = forward.consumer(parent.clone());
    let mut output = back.producer(parent);
    let mut private = Vec::new();
    let mut touched = 0u64;
    while let Some(frame) = input.next(None)? {
        match (role, frame.tag()) {
            (PeerRole::Echo, _) => output.write_frame(TAG_DATA, frame.bytes(), deadline())?,
            (_, TAG_END_ROUND) => output.write_frame(TAG_ACK, &[], deadline())?,
            (PeerRole::SinkZeroCopy, _) => {
                for line in frame.bytes().chunks(64) {
                    touched = touched.wrapping_add(line[0] as u64);
                }
            }
            (PeerRole::SinkCopyOut, _) => {
                private.clear();
                private.extend_from_slice(frame.bytes());
            }
        }
    }
    output.close();
    std::hint::black_box(touched);
    Ok(())
}

/// Copies `source` into `target` `rounds` times; the same-run baseline for ring throughput.
pub fn memcpy_time(source: &[u8], target: &mut [u8], rounds: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..rounds {
        target.copy_from_slice(std::hint::black_box(source));
        std::hint::black_box(&mut *target);
    }
    started.elapsed()
}
