//! `dfshm-bench ring`: cross-process ring throughput, per-frame cost and wake-up latency, each
//! next to a baseline measured in the same run.

use dfshm::testing::ring_bench::{PeerHarness, PeerRole, memcpy_time};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `dfshm-bench ring`.
#[derive(Debug, clap::Args)]
pub struct RingArgs {
    /// Frame sizes to measure, comma-separated (suffixes K, M allowed).
    #[arg(long, default_value = "64K,1M,8M", value_delimiter = ',', value_parser = parse_size)]
    frame_bytes: Vec<usize>,
    /// Bytes moved per measurement.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    bytes: usize,
    /// Ring capacity (a power of two, larger than the biggest frame).
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    ring_bytes: usize,
    /// Round trips for the wake-up latency measurement.
    #[arg(long, default_value_t = 5_000)]
    pings: usize,
    /// Repetitions of each throughput measurement; the best is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Also write the results as a JSON list.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn parse_size(text: &str) -> Result<usize, String> {
    dfshm::parse_byte_size(text).map_err(|error| error.to_string())
}

fn gbytes_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e9
}

fn start(role: PeerRole, ring_bytes: usize) -> Result<PeerHarness, String> {
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    PeerHarness::start(&program, &["ring-peer"], role, ring_bytes)
        .map_err(|error| error.to_string())
}

/// Runs the measurements and prints (and optionally writes) the results.
pub fn run(args: RingArgs) -> Result<(), String> {
    if !args.ring_bytes.is_power_of_two() {
        return Err(format!(
            "--ring-bytes {} is not a power of two",
            args.ring_bytes
        ));
    }
    let mut results = Vec::new();
    println!(
        "{:>10} {:>10} {:>10} {:>14} {:>7}",
        "frame", "mode", "GB/s", "memcpy GB/s", "ratio"
    );
    for &frame_bytes in &args.frame_bytes {
        if frame_bytes > args.ring_bytes / 2 {
            return Err(format!(
                "a frame of {frame_bytes} bytes needs a ring of at least twice that (--ring-bytes)"
            ));
        }
        let frames = (args.bytes / frame_bytes).max(1) as u64;
        let moved = frames * frame_bytes as u64;
        let source = vec![0x5Au8; frame_bytes];
        // The baseline copies the same frames into a ring-sized buffer, as the producer does.
        let mut target = vec![0u8; args.ring_bytes];
        // Fault every page in first, so that no repetition of the baseline pays for it.
        target.fill(1);
        let memcpy = (0..args.repeat)
            .map(|_| {
                let per_lap = (args.ring_bytes / frame_bytes) as u64;
                let mut elapsed = Duration::ZERO;
                let mut left = frames;
                while left > 0 {
                    let rounds = left.min(per_lap);
                    for slot in 0..rounds as usize {
                        let window = &mut target[slot * frame_bytes..(slot + 1) * frame_bytes];
                        elapsed += memcpy_time(&source, window, 1);
                    }
                    left -= rounds;
                }
                gbytes_per_s(moved, elapsed)
            })
            .fold(0.0, f64::max);
        for (mode, role) in [
            ("zero_copy", PeerRole::SinkZeroCopy),
            ("copy_out", PeerRole::SinkCopyOut),
        ] {
            let mut peer = start(role, args.ring_bytes)?;
            peer.stream(&source, (frames / 10).max(1))
                .map_err(|error| error.to_string())?;
            let mut best = 0.0f64;
            for _ in 0..args.repeat {
                let elapsed = peer.stream(&source, frames).map_err(|e| e.to_string())?;
                best = best.max(gbytes_per_s(moved, elapsed));
            }
            peer.finish().map_err(|error| error.to_string())?;
            println!(
                "{frame_bytes:>10} {mode:>10} {best:>10.2} {memcpy:>14.2} {:>6.2}x",
                best / memcpy
            );
            results.push(serde_json::json!({
                "kind": "throughput",
                "frame_bytes": frame_bytes,
                "mode": mode,
                "gbytes_per_s": best,
                "memcpy_gbytes_per_s": memcpy,
                "ratio_to_memcpy": best / memcpy,
            }));
        }
    }

    // Per-frame cost with an awake peer: a stream of small frames.
    let mut peer = start(PeerRole::SinkZeroCopy, args.ring_bytes)?;
    let small = vec![1u8; 64];
    let small_frames = 2_000_000u64;
    peer.stream(&small, small_frames / 10)
        .map_err(|e| e.to_string())?;
    let elapsed = peer
        .stream(&small, small_frames)
        .map_err(|e| e.to_string())?;
    peer.finish().map_err(|error| error.to_string())?;
    let frame_ns = elapsed.as_nanos() as f64 / small_frames as f64;
    println!("per-frame cost, 64-byte frames, awake peer: {frame_ns:.0} ns");
    results.push(serde_json::json!({
        "kind": "per_frame", "frame_bytes": 64, "mode": "awake_peer", "ns_per_frame": frame_ns,
    }));

    // Wake-up latency: each ping goes to a peer that has been idle past its spin budget, so
    // it is asleep; the round trip is then one wake-up plus the (spinning) reply.
    let mut peer = start(PeerRole::Echo, args.ring_bytes)?;
    let mut samples = Vec::with_capacity(args.pings);
    for _ in 0..args.pings.max(1) {
        let idle = std::time::Instant::now();
        while idle.elapsed() < Duration::from_micros(200) {
            std::hint::spin_loop();
        }
        samples.push(peer.round_trip(64).map_err(|e| e.to_string())?);
    }
    peer.finish().map_err(|error| error.to_string())?;
    samples.sort();
    let percentile = |p: f64| {
        let index = ((samples.len() - 1) as f64 * p).round() as usize;
        samples[index].as_nanos() as f64 / 1000.0
    };
    let (p50, p99) = (percentile(0.50), percentile(0.99));
    println!("waking a sleeping peer (round trip): p50 {p50:.1} µs, p99 {p99:.1} µs");
    results.push(serde_json::json!({
        "kind": "latency", "frame_bytes": 64, "mode": "wake_sleeping_peer",
        "round_trip_p50_us": p50, "round_trip_p99_us": p99,
    }));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).expect("JSON values serialize");
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
