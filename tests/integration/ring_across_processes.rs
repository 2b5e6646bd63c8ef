//! The ring and the Arrow transport between two processes: the test binary re-executes itself
//! as the peer (`peer_process_entry` with a role in the environment) and hands it a ring over a
//! Unix socket. Every wait has a watchdog deadline; every test checks at the end that no fd,
//! mapping or /dev/shm entry was left behind and that its child was reaped.

use crate::common;

use common::resources;
use dfshm::exchange::framing::{DecodeMode, RingReader, RingWriter, StreamEvent};
use dfshm::ring::{Consumer, MIN_CAPACITY_BYTES, Producer, RingError, RingMemory, RingParts};
use dfshm::shm::{PeerProcess, Segment};
use dfshm::testing::every_type_batch;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE: &str = "DFSHM_TEST_PEER_ROLE";
const SOCKET: &str = "DFSHM_TEST_PEER_SOCKET";
const WATCHDOG: Duration = Duration::from_secs(60);

/// The name the test harness knows [`peer_process_entry`] by: its path without the crate.
fn peer_entry() -> &'static str {
    let path = concat!(module_path!(), "::peer_process_entry");
    path.split_once("::").map_or(path, |(_crate, rest)| rest)
}

fn deadline() -> Option<Instant> {
    Some(Instant::now() + WATCHDOG)
}

/// Runs `test` alone in this process (fd and mapping counts are meaningful only then) and
/// asserts it leaves no fd, mapping or /dev/shm entry behind.
fn without_leaks(test: impl FnOnce()) {
    let _alone = common::alone();
    let before = resources();
    test();
    assert_eq!(resources(), before, "the test leaked resources");
}

/// A child process attached to a ring, and the socket to it.
struct Peer {
    child: Child,
    socket: UnixStream,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Starts this binary as a peer in `role`, hands it `parts` with `message`.
    fn start(role: &str, parts: &RingParts, message: &[u8]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", peer_entry(), "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(SOCKET, &path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let limit = Instant::now() + WATCHDOG;
        let socket = loop {
            match listener.accept() {
                Ok((socket, _)) => break socket,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < limit, "the peer never connected");
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(error) => panic!("accept: {error}"),
            }
        };
        socket.set_nonblocking(false).unwrap();
        parts.send(&socket, message).unwrap();
        Peer {
            child,
            socket,
            _dir: dir,
        }
    }

    fn watch(&self) -> Option<Arc<PeerProcess>> {
        Some(Arc::new(PeerProcess::watch(self.child.id()).unwrap()))
    }

    /// Waits for the peer to say it is ready (one byte on the socket).
    fn wait_ready(&mut self) {
        use std::io::Read;
        self.socket.set_read_timeout(Some(WATCHDOG)).unwrap();
        let mut byte = [0u8; 1];
        self.socket.read_exact(&mut byte).unwrap();
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    /// Reaps the child; asserts it exited successfully unless `killed`.
    fn finish(mut self, killed: bool) {
        let limit = Instant::now() + WATCHDOG;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(killed || status.success(), "the peer failed: {status}");
                return;
            }
            if Instant::now() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the peer outlived the watchdog");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn new_ring(capacity: usize) -> RingParts {
    let segment = Segment::create("cross-process-test", capacity + 4096).unwrap();
    RingParts::create(RingMemory::Owned(segment), capacity).unwrap()
}

/// The word at `index` of the byte stream a producer writes for `seed`.
fn pattern(seed: u64, index: u64) -> u64 {
    (index ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

const FRAME_DATA: u64 = 0;
const FRAME_CHECKSUM: u64 = 1;

/// The peer side. Does nothing unless started by `Peer::start`.
#[test]
fn peer_process_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let socket = UnixStream::connect(std::env::var(SOCKET).unwrap()).unwrap();
    let (parts, message) = RingParts::receive(&socket).unwrap();
    let parent = Some(Arc::new(
        PeerProcess::watch(std::os::unix::process::parent_id()).unwrap(),
    ));
    let say_ready = || {
        use std::io::Write;
        (&socket).write_all(b"r").unwrap();
    };
    match role.as_str() {
        "produce-bytes" => {
            let total = u64::from_le_bytes(message[..8].try_into().unwrap());
            let frame_bytes = u64::from_le_bytes(message[8..16].try_into().unwrap()) as usize;
            let mut producer = parts.producer(parent);
            let (mut index, mut sum, mut written) = (0u64, 0u64, 0u64);
            while written < total {
                let len = frame_bytes.min((total - written) as usize);
                let mut slot = producer.reserve(len, deadline()).unwrap();
                for word in slot.bytes().chunks_exact_mut(8) {
                    let value = pattern(7, index);
                    word.copy_from_slice(&value.to_le_bytes());
                    sum = sum.wrapping_add(value);
                    index += 1;
                }
                slot.commit(FRAME_DATA, len);
                written += len as u64;
            }
            producer
                .write_frame(FRAME_CHECKSUM, &sum.to_le_bytes(), deadline())
                .unwrap();
            producer.close();
        }
        "produce-batches" => {
            let batches = u64::from_le_bytes(message[..8].try_into().unwrap());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut writer = RingWriter::new(parts.producer(parent));
                let batch = every_type_batch(2000);
                for round in 0..batches {
                    let piece = batch.slice((round as usize * 97) % 1000, 1000);
                    writer.write_batch(0, &piece).await.unwrap();
                }
                writer.finish_stream(0).await.unwrap();
                writer.close();
            });
        }
        "produce-then-hang" => {
            let mut producer = parts.producer(parent);
            producer
                .write_frame(FRAME_DATA, b"one frame", deadline())
                .unwrap();
            say_ready();
            std::thread::sleep(WATCHDOG);
        }
        "consume-then-hang" => {
            let _consumer = parts.consumer(parent);
            say_ready();
            std::thread::sleep(WATCHDOG);
        }
        "cancel-as-producer" => {
            let producer = parts.producer(parent);
            say_ready();
            std::thread::sleep(Duration::from_millis(50));
            producer.cancel();
        }
        "cancel-as-consumer" => {
            let consumer = parts.consumer(parent);
            say_ready();
            std::thread::sleep(Duration::from_millis(50));
            consumer.cancel();
        }
        other => panic!("unknown peer role {other}"),
    }
}

#[test]
fn a_gigabyte_crosses_processes_intact() {
    without_leaks(|| {
        let parts = new_ring(4 << 20);
        let total: u64 = 1 << 30;
        let frame: u64 = 1 << 20;
        let message = [total.to_le_bytes(), frame.to_le_bytes()].concat();
        let peer = Peer::start("produce-bytes", &parts, &message);
        let mut consumer = parts.consumer(peer.watch());
        let (mut index, mut sum, mut received) = (0u64, 0u64, 0u64);
        let checksum = loop {
            let frame = consumer
                .next(deadline())
                .unwrap()
                .expect("a checksum frame ends the data");
            if frame.tag() == FRAME_CHECKSUM {
                break u64::from_le_bytes(frame.bytes().try_into().unwrap());
            }
            for word in frame.bytes().chunks_exact(8) {
                let value = u64::from_le_bytes(word.try_into().unwrap());
                assert_eq!(value, pattern(7, index), "word {index} differs");
                sum = sum.wrapping_add(value);
                index += 1;
            }
            received += frame.bytes().len() as u64;
        };
        assert_eq!(received, total);
        assert_eq!(checksum, sum);
        assert!(
            consumer.next(deadline()).unwrap().is_none(),
            "the producer closed"
        );
        drop(consumer);
        drop(parts);
        peer.finish(false);
    });
}

#[test]
fn every_arrow_type_crosses_processes_while_the_reader_holds_every_batch() {
    without_leaks(|| {
        // The ring is far smaller than the data: holding batches must not stall the producer.
        let parts = new_ring(256 * 1024);
        let rounds: u64 = 200;
        let peer = Peer::start("produce-batches", &parts, &rounds.to_le_bytes());
        let mut reader = RingReader::new(parts.consumer(peer.watch()), DecodeMode::CopyOut);
        let source = every_type_batch(2000);
        let mut held = Vec::new();
        let mut ended = false;
        while let Some(event) = reader.next(deadline()).unwrap() {
            match event {
                StreamEvent::Batch {
                    stream: 0, batch, ..
                } => held.push(batch),
                StreamEvent::End { stream: 0, .. } => ended = true,
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert!(ended);
        let rows: usize = held.iter().map(|batch| batch.num_rows()).sum();
        assert_eq!(rows as u64, rounds * 1000);
        let mut offset = 0;
        let mut round = 0;
        for batch in &held {
            let start = (round * 97) % 1000 + offset;
            assert_eq!(
                *batch,
                source.slice(start, batch.num_rows()),
                "round {round}"
            );
            offset += batch.num_rows();
            if offset == 1000 {
                offset = 0;
                round += 1;
            }
        }
        drop(held);
        drop(reader);
        drop(parts);
        peer.finish(false);
    });
}

fn assert_peer_exit(error: RingError) {
    assert!(
        matches!(error, RingError::PeerExited { .. }),
        "expected the peer's death, got {error}"
    );
}

#[test]
fn a_killed_producer_wakes_the_blocked_consumer_with_an_error() {
    without_leaks(|| {
        let parts = new_ring(MIN_CAPACITY_BYTES);
        let mut peer = Peer::start("produce-then-hang", &parts, b"");
        let mut consumer: Consumer = parts.consumer(peer.watch());
        peer.wait_ready();
        let frame = consumer.next(deadline()).unwrap().unwrap();
        assert_eq!(frame.bytes(), b"one frame");
        drop(frame);
        // Block in a wait, then kill the producer under it.
        let reader = std::thread::spawn(move || {
            let result = consumer.next(deadline()).map(|frame| frame.is_some());
            (result, consumer)
        });
        std::thread::sleep(Duration::from_millis(50));
        peer.kill();
        let (result, consumer) = reader.join().unwrap();
        assert_peer_exit(result.unwrap_err());
        drop(consumer);
        drop(parts);
        peer.finish(true);
    });
}

#[test]
fn a_killed_consumer_wakes_the_blocked_producer_with_an_error() {
    without_leaks(|| {
        let parts = new_ring(MIN_CAPACITY_BYTES);
        let mut peer = Peer::start("consume-then-hang", &parts, b"");
        let mut producer: Producer = parts.producer(peer.watch());
        peer.wait_ready();
        let max = producer.max_payload_bytes();
        producer
            .write_frame(0, &vec![3u8; max], deadline())
            .unwrap();
        // Block waiting for room, then kill the consumer under it.
        let writer = std::thread::spawn(move || {
            let result = producer.reserve(max, deadline()).map(|_| ());
            (result, producer)
        });
        std::thread::sleep(Duration::from_millis(50));
        peer.kill();
        let (result, producer) = writer.join().unwrap();
        assert_peer_exit(result.unwrap_err());
        drop(producer);
        drop(parts);
        peer.finish(true);
    });
}

#[test]
fn cancel_from_the_other_process_wakes_either_side() {
    without_leaks(|| {
        let parts = new_ring(MIN_CAPACITY_BYTES);
        let mut peer = Peer::start("cancel-as-producer", &parts, b"");
        let mut consumer = parts.consumer(peer.watch());
        peer.wait_ready();
        let error = consumer.next(deadline()).unwrap_err();
        assert!(matches!(error, RingError::Cancelled), "{error}");
        drop(consumer);
        drop(parts);
        peer.finish(false);

        let parts = new_ring(MIN_CAPACITY_BYTES);
        let mut peer = Peer::start("cancel-as-consumer", &parts, b"");
        let mut producer = parts.producer(peer.watch());
        peer.wait_ready();
        let max = producer.max_payload_bytes();
        producer
            .write_frame(0, &vec![1u8; max], deadline())
            .unwrap();
        let error = producer.reserve(max, deadline()).map(|_| ()).unwrap_err();
        assert!(
            matches!(error, RingError::Cancelled | RingError::ConsumerClosed),
            "{error}"
        );
        drop(producer);
        drop(parts);
        peer.finish(false);
    });
}
