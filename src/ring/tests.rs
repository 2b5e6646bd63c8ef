//! Unit tests of the ring: a property test against a bounded FIFO model, frames across threads
//! with backpressure, oversized frames, closes, cancels, deadlines, held frames, header
//! validation and pooled reuse.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

fn ring(capacity: usize) -> RingParts {
    let segment = Segment::create("ring-test", capacity + RING_HEADER_BYTES).unwrap();
    RingParts::create(RingMemory::Owned(segment), capacity).unwrap()
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(30))
}

#[derive(Debug, Clone)]
enum Op {
    /// Write a frame of this many bytes if there is room.
    Write(usize),
    /// Read the next frame if there is one, and hold it.
    Read,
    /// Release the held frame at this index (modulo the number held).
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3000).prop_map(Op::Write),
        3 => Just(Op::Read),
        2 => any::<usize>().prop_map(Op::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The ring behaves like a bounded FIFO queue of byte strings, whatever the frame sizes,
    /// wrap-arounds and release order.
    #[test]
    fn the_ring_behaves_like_a_bounded_fifo(ops in proptest::collection::vec(op(), 1..300)) {
        let parts = ring(MIN_CAPACITY_BYTES);
        let mut producer = parts.producer(None);
        let mut consumer = parts.consumer(None);
        let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
        let mut held: Vec<Frame> = Vec::new();
        let mut next_tag = 0u64;
        for op in ops {
            match op {
                Op::Write(len) => {
                    let len = len.min(producer.max_payload_bytes());
                    let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ next_tag) as u8).collect();
                    let mut slot = producer.try_reserve(len).unwrap();
                    if slot.is_none() && model.is_empty() && held.is_empty() {
                        // With nothing in flight the only obstacle is the padding this call
                        // published to wrap around: once the consumer skips it, there is room.
                        prop_assert!(matches!(consumer.try_next().unwrap(), Poll::Empty));
                        slot = producer.try_reserve(len).unwrap();
                        prop_assert!(slot.is_some());
                    }
                    if let Some(mut slot) = slot {
                        slot.bytes().copy_from_slice(&payload);
                        slot.commit(next_tag, len);
                        model.push_back((next_tag, payload));
                        next_tag += 1;
                    }
                }
                Op::Read => match consumer.try_next().unwrap() {
                    Poll::Frame(frame) => {
                        let (tag, payload) = model.pop_front().expect("the model has a frame");
                        prop_assert_eq!(frame.tag(), tag);
                        prop_assert_eq!(frame.bytes(), &payload[..]);
                        prop_assert_eq!(frame.bytes().as_ptr() as usize % FRAME_ALIGN, 0);
                        held.push(frame);
                    }
                    Poll::Empty => prop_assert!(model.is_empty()),
                    Poll::End => prop_assert!(false, "nobody closed the ring"),
                },
                Op::Release(index) => {
                    if !held.is_empty() {
                        let index = index % held.len();
                        held.swap_remove(index);
                    }
                }
            }
        }
        drop(held);
        producer.close();
        while let Poll::Frame(frame) = consumer.try_next().unwrap() {
            let (tag, payload) = model.pop_front().expect("the model has a frame");
            prop_assert_eq!(frame.tag(), tag);
            prop_assert_eq!(frame.bytes(), &payload[..]);
        }
        prop_assert!(model.is_empty());
        prop_assert!(matches!(consumer.try_next().unwrap(), Poll::End));
    }
}

#[test]
fn frames_cross_threads_in_order_with_backpressure() {
    let parts = ring(64 * 1024);
    let mut producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    let frames = 20_000u64;
    let writer = std::thread::spawn(move || {
        for index in 0..frames {
            let len = (index as usize * 7919) % 20_000;
            let mut slot = producer.reserve(len, soon()).unwrap();
            for (at, byte) in slot.bytes().iter_mut().enumerate() {
                *byte = (at as u64 + index) as u8;
            }
            slot.commit(index, len);
        }
        producer.close();
    });
    let mut seen = 0u64;
    while let Some(frame) = consumer.next(soon()).unwrap() {
        assert_eq!(frame.tag(), seen);
        assert_eq!(frame.bytes().len(), (seen as usize * 7919) % 20_000);
        assert!(
            frame
                .bytes()
                .iter()
                .enumerate()
                .all(|(at, &byte)| byte == (at as u64 + seen) as u8)
        );
        seen += 1;
    }
    assert_eq!(seen, frames);
    writer.join().unwrap();
}

#[test]
fn a_frame_larger_than_the_ring_is_refused() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let error = producer.reserve(MIN_CAPACITY_BYTES, soon()).unwrap_err();
    assert!(matches!(error, RingError::FrameTooLarge { .. }), "{error}");
    // The largest frame fits an empty ring.
    let max = producer.max_payload_bytes();
    producer.reserve(max, soon()).unwrap().commit(0, max);
}

#[test]
fn a_producer_dropped_without_close_is_an_error_after_its_frames() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    producer.write_frame(5, b"last words", soon()).unwrap();
    drop(producer);
    let frame = consumer.next(soon()).unwrap().unwrap();
    assert_eq!(frame.bytes(), b"last words");
    let error = consumer.next(soon()).unwrap_err();
    assert!(matches!(error, RingError::ProducerAborted), "{error}");
}

#[test]
fn a_closed_consumer_wakes_a_producer_waiting_for_room() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let consumer = parts.consumer(None);
    let max = producer.max_payload_bytes();
    producer.write_frame(0, &vec![1u8; max], soon()).unwrap();
    let writer = std::thread::spawn(move || producer.reserve(max, soon()).map(|_| ()));
    std::thread::sleep(Duration::from_millis(20));
    drop(consumer);
    let error = writer.join().unwrap().unwrap_err();
    assert!(matches!(error, RingError::ConsumerClosed), "{error}");
}

#[test]
fn cancel_from_either_side_wakes_the_other() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    let reader = std::thread::spawn(move || consumer.next(soon()).map(|frame| frame.is_some()));
    std::thread::sleep(Duration::from_millis(20));
    producer.cancel();
    assert!(matches!(reader.join().unwrap(), Err(RingError::Cancelled)));

    let parts = ring(MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let consumer = parts.consumer(None);
    let max = producer.max_payload_bytes();
    producer.write_frame(0, &vec![1u8; max], soon()).unwrap();
    let writer = std::thread::spawn(move || producer.reserve(64, soon()).map(|_| ()));
    std::thread::sleep(Duration::from_millis(20));
    consumer.cancel();
    assert!(matches!(writer.join().unwrap(), Err(RingError::Cancelled)));
}

#[test]
fn waits_end_at_their_deadline() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let _producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    let deadline = Some(Instant::now() + Duration::from_millis(20));
    assert!(matches!(consumer.next(deadline), Err(RingError::TimedOut)));
}

#[test]
fn a_held_frame_keeps_its_bytes_until_released_even_out_of_order() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    producer.write_frame(1, &[1u8; 1000], soon()).unwrap();
    producer.write_frame(2, &[2u8; 1000], soon()).unwrap();
    let first = consumer.next(soon()).unwrap().unwrap();
    let second = consumer.next(soon()).unwrap().unwrap();
    drop(second);
    // The first frame still pins the ring: room is only what was never used.
    let room_without_release = producer.try_reserve(2000).unwrap().is_some();
    assert!(!room_without_release);
    assert!(first.bytes().iter().all(|&byte| byte == 1));
    drop(first);
    assert!(producer.try_reserve(2000).unwrap().is_some());
}

#[test]
fn an_opened_ring_validates_its_header() {
    let parts = ring(MIN_CAPACITY_BYTES);
    let [segment, data, space] = parts.fds().map(|fd| fd.try_clone_to_owned().unwrap());
    let reopened = RingParts::open(Segment::open(segment).unwrap(), data, space).unwrap();
    assert_eq!(reopened.capacity(), MIN_CAPACITY_BYTES);
    let mut producer = parts.producer(None);
    let mut consumer = reopened.consumer(None);
    producer.write_frame(9, b"across mappings", soon()).unwrap();
    assert_eq!(
        consumer.next(soon()).unwrap().unwrap().bytes(),
        b"across mappings"
    );

    let blank = Segment::create("blank", 8192).unwrap();
    let fds = parts.fds().map(|fd| fd.try_clone_to_owned().unwrap());
    let [_, data, space] = fds;
    assert!(matches!(
        RingParts::open(blank, data, space),
        Err(RingOpenError::NotARing(_))
    ));
    let segment = Segment::create("small", 4096).unwrap();
    assert!(RingParts::create(RingMemory::Owned(segment), 4096).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_ends_exchange_frames_without_blocking_threads() {
    let parts = ring(8192);
    let mut producer = parts.producer(None);
    let mut consumer = parts.consumer(None);
    let writer = tokio::spawn(async move {
        for index in 0..5_000u64 {
            let mut slot = producer.reserve_async(1000).await.unwrap();
            slot.bytes().fill(index as u8);
            slot.commit(index, 1000);
        }
        producer.close();
    });
    let mut seen = 0u64;
    while let Some(frame) = consumer.next_async().await.unwrap() {
        assert_eq!(frame.tag(), seen);
        assert!(frame.bytes().iter().all(|&byte| byte == seen as u8));
        seen += 1;
    }
    assert_eq!(seen, 5_000);
    writer.await.unwrap();
}

#[test]
fn a_pooled_ring_is_laid_out_again_only_after_its_receiver_detached() {
    let pool = SegmentPool::new(
        "pool-test",
        1 << 20,
        Duration::from_secs(60),
        receiver_detached,
    );
    let receive = |parts: &RingParts| {
        let [segment, data, space] = parts.fds().map(|fd| fd.try_clone_to_owned().unwrap());
        RingParts::open(Segment::open(segment).unwrap(), data, space).unwrap()
    };
    let first = RingParts::create_pooled(&pool, MIN_CAPACITY_BYTES).unwrap();
    let base = first.shared.memory.segment().base();
    let received = receive(&first);
    let mut producer = received.producer(None);
    let mut consumer = first.consumer(None);
    producer.write_frame(1, b"first query", soon()).unwrap();
    assert_eq!(
        consumer.next(soon()).unwrap().unwrap().bytes(),
        b"first query"
    );
    drop((consumer, first));
    // The receiver still maps the ring: its segment must not be handed out again.
    let second = RingParts::create_pooled(&pool, MIN_CAPACITY_BYTES).unwrap();
    assert_ne!(second.shared.memory.segment().base(), base);
    drop(second);
    drop((producer, received));
    // Now it may, freshly laid out: nothing of the first query's ring is left in it.
    let third = RingParts::create_pooled(&pool, MIN_CAPACITY_BYTES).unwrap();
    assert_eq!(third.shared.memory.segment().base(), base);
    let mut consumer = third.consumer(None);
    assert!(matches!(consumer.try_next(), Ok(Poll::Empty)));
    assert_eq!(third.shared.state() & state::RECEIVER_DETACHED, 0);
    let stats = pool.stats();
    assert_eq!((stats.created, stats.reused), (2, 1));
}

#[test]
fn a_pooled_ring_received_again_keeps_its_receivers_mapping() {
    let pool = SegmentPool::new(
        "pool-test",
        1 << 20,
        Duration::from_secs(60),
        receiver_detached,
    );
    let received_pool =
        SegmentPool::new("received-test", 1 << 20, Duration::from_secs(60), |_| true);
    let receive = |parts: &RingParts| {
        let fds = parts.fds().map(|fd| fd.try_clone_to_owned().unwrap());
        RingParts::from_fds_pooled(fds.into(), &received_pool).unwrap()
    };
    let mut mapped_at = None;
    for query in 0..3u8 {
        let sent = RingParts::create_pooled(&pool, MIN_CAPACITY_BYTES).unwrap();
        let received = receive(&sent);
        let base = received.shared.memory.segment().base();
        assert_eq!(*mapped_at.get_or_insert(base), base, "query {query}");
        let mut producer = received.producer(None);
        let mut consumer = sent.consumer(None);
        producer.write_frame(1, &[query; 100], soon()).unwrap();
        producer.close();
        let frame = consumer.next(soon()).unwrap().unwrap();
        assert_eq!(frame.bytes(), &[query; 100]);
        drop(frame);
        // Closed, and nothing of the last query's ring shows in this one.
        assert!(consumer.next(soon()).unwrap().is_none());
        drop((received, consumer, sent));
    }
    assert_eq!(pool.stats().created, 1);
    let received = received_pool.stats();
    assert_eq!((received.created, received.reused), (1, 2));
}
