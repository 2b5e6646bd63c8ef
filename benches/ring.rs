//! Criterion benchmarks of the shared-memory ring between two processes: throughput for 64 KiB,
//! 1 MiB and 8 MiB frames (the peer reading in place or copying out) next to a memcpy of the same
//! frames measured in the same run, and the round trip to a sleeping peer.
//!
//! The peer is `dfshm-bench ring-peer`; `dfshm-bench ring` reports the same numbers as a table.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dfshm::testing::ring_bench::{PeerHarness, PeerRole, memcpy_time};
use std::path::Path;
use std::time::{Duration, Instant};

const RING_BYTES: usize = 32 << 20;
const FRAMES: [usize; 3] = [64 << 10, 1 << 20, 8 << 20];

fn peer(role: PeerRole) -> PeerHarness {
    let program = Path::new(env!("CARGO_BIN_EXE_dfshm-bench"));
    PeerHarness::start(program, &["ring-peer"], role, RING_BYTES).expect("start the ring peer")
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_throughput");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for frame in FRAMES {
        let source = vec![0x5Au8; frame];
        group.throughput(Throughput::Bytes(frame as u64));
        let mut target = vec![0u8; RING_BYTES];
        group.bench_function(BenchmarkId::new("memcpy", frame), |b| {
            let slots = RING_BYTES / frame;
            let mut next = 0;
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let window = &mut target[next * frame..(next + 1) * frame];
                    elapsed += memcpy_time(&source, window, 1);
                    next = (next + 1) % slots;
                }
                elapsed
            })
        });
        for (name, role) in [
            ("zero_copy", PeerRole::SinkZeroCopy),
            ("copy_out", PeerRole::SinkCopyOut),
        ] {
            let mut harness = peer(role);
            group.bench_function(BenchmarkId::new(name, frame), |b| {
                b.iter_custom(|iters| harness.stream(&source, iters).expect("stream frames"))
            });
            harness.finish().expect("the ring peer exits cleanly");
        }
    }
    group.finish();
}

fn wakeup(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_wakeup");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let mut harness = peer(PeerRole::Echo);
    group.bench_function("round_trip_to_sleeping_peer", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                // Stay idle past the peer's spin budget so that it is asleep.
                let idle = Instant::now();
                while idle.elapsed() < Duration::from_micros(200) {
                    std::hint::spin_loop();
                }
                elapsed += harness.round_trip(64).expect("round trip");
            }
            elapsed
        })
    });
    group.bench_function("frame_to_awake_peer", |b| {
        let mut sink = peer(PeerRole::SinkZeroCopy);
        let small = [1u8; 64];
        b.iter_custom(|iters| sink.stream(&small, iters).expect("stream small frames"));
        sink.finish().expect("the ring peer exits cleanly");
    });
    harness.finish().expect("the ring peer exits cleanly");
    group.finish();
}

criterion_group!(benches, throughput, wakeup);
criterion_main!(benches);
