//! `dfshm-bench memory`: the peak memory of a host that reads a large result slower than the
//! workers produce it.
//!
//! Each mode runs in a fresh child process of this executable (so that one mode's peak does not
//! hide another's): it streams `SELECT * FROM lineitem`, sleeps after every batch as a slow
//! client would, and reports its own peak RSS (`VmHWM`). Worker processes are its children and
//! are not counted: this is what the host program pays. In-process DataFusion is the baseline;
//! with workers, the exchange budget is what may wait in the host on top of it.

use clap::Args;
use dfshm::{Engine, tpch};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Options of `dfshm-bench memory`.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Scale factor of the data (lineitem has about 6 million rows per unit).
    #[arg(long, default_value_t = 1.0)]
    pub sf: f64,
    /// Comma-separated worker counts; 0 is in-process DataFusion, the baseline.
    #[arg(
        long,
        default_value = "0,2",
        value_delimiter = ',',
        value_name = "N,..."
    )]
    workers: Vec<usize>,
    /// How long the reader sleeps after each batch, in milliseconds.
    #[arg(long, default_value_t = 2)]
    delay_ms: u64,
    /// The exchange budget of the runs with workers, e.g. 16M [default: the engine's, 64M].
    #[arg(long, value_name = "SIZE", value_parser = dfshm::parse_byte_size)]
    exchange_budget: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of the hidden `memory-peer` subcommand: one measured run.
#[derive(Debug, Args)]
pub struct PeerArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    workers: usize,
    #[arg(long)]
    delay_ms: u64,
    #[arg(long)]
    exchange_budget: Option<usize>,
}

/// What one run measured.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Measured {
    rows: usize,
    batches: usize,
    peak_rss_bytes: u64,
    seconds: f64,
}

/// This process's peak resident set size.
fn peak_rss_bytes() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("cannot read /proc/self/status: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmHWM line in /proc/self/status".to_string())
}

/// The measured run, in this (child) process; prints its result as JSON on stdout.
pub async fn peer(args: PeerArgs) -> Result<(), String> {
    let mut builder = Engine::builder()
        .workers(args.workers)
        .workers_from_this_executable();
    if let Some(bytes) = args.exchange_budget {
        builder = builder.exchange_budget_bytes(bytes);
    }
    let engine = builder.build().map_err(|e| e.to_string())?;
    tpch::register_tables(&engine, &args.data)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let frame = engine
        .sql("select * from lineitem")
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = frame.execute_stream().await.map_err(|e| e.to_string())?;
    let (mut rows, mut batches) = (0, 0);
    while let Some(batch) = stream.next().await {
        rows += batch.map_err(|e| e.to_string())?.num_rows();
        batches += 1;
        tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
    }
    let measured = Measured {
        rows,
        batches,
        peak_rss_bytes: peak_rss_bytes()?,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!(
        "{}",
        serde_json::to_string(&measured).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn measure(data: &Path, workers: usize, args: &MemoryArgs) -> Result<Measured, String> {
    let program = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut command = Command::new(program);
    command
        .arg("memory-peer")
        .arg("--data")
        .arg(data)
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--delay-ms")
        .arg(args.delay_ms.to_string());
    if let Some(bytes) = args.exchange_budget {
        command.arg("--exchange-budget").arg(bytes.to_string());
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run the measured process: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the run with {workers} workers failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim())
        .map_err(|e| format!("the measured process printed {text:?}: {e}"))
}

pub fn run(args: MemoryArgs, data: &Path) -> Result<(), String> {
    if args.workers.is_empty() {
        return Err("--workers needs at least one count".to_string());
    }
    let mut results = Vec::new();
    for &workers in &args.workers {
        let mode = match workers {
            0 => "in-process".to_string(),
            n => format!("shm-{n}"),
        };
        eprintln!(
            "measuring {mode} (reading lineitem, {} ms per batch)...",
            args.delay_ms
        );
        results.push((mode, measure(data, workers, &args)?));
    }
    let rows = results[0].1.rows;
    if let Some((mode, other)) = results.iter().find(|(_, r)| r.rows != rows) {
        return Err(format!(
            "{mode} read {} rows, {} read {rows}",
            other.rows, results[0].0
        ));
    }
    let baseline = results
        .iter()
        .find(|(mode, _)| mode == "in-process")
        .map(|(_, r)| r.peak_rss_bytes);
    let budget = args
        .exchange_budget
        .unwrap_or(dfshm::DEFAULT_EXCHANGE_BUDGET) as u64;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    if args.json {
        let modes: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(mode, r)| (mode.clone(), serde_json::to_value(r).expect("plain data")))
            .collect();
        let report = serde_json::json!({
            "sf": args.sf,
            "delay_ms": args.delay_ms,
            "exchange_budget_bytes": budget,
            "modes": modes,
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "peak RSS of a host reading lineitem (sf {}, {rows} rows) at {} ms per batch; exchange \
         budget {:.0} MiB",
        args.sf,
        args.delay_ms,
        mib(budget)
    );
    println!(
        "{:<12} {:>8} {:>14} {:>10} {:>22}",
        "mode", "batches", "peak RSS MiB", "seconds", "over in-process MiB"
    );
    for (mode, r) in &results {
        let over = baseline
            .map(|base| format!("{:+.0}", mib(r.peak_rss_bytes) - mib(base)))
            .unwrap_or_else(|| "-".into());
        println!(
            "{mode:<12} {:>8} {:>14.0} {:>10.1} {over:>22}",
            r.batches,
            mib(r.peak_rss_bytes),
            r.seconds
        );
    }
    Ok(())
}
