//! `dfshm-bench faults`: how fast queries stop.
//!
//! - **LIMIT 10 latency**: `SELECT * FROM lineitem LIMIT 10` in-process and on workers; the query
//!   returns as soon as ten rows arrived and tears the rest down.
//! - **Cancel latency**: a long query on workers is cancelled through its token; the time until
//!   its stream reports the cancellation and until no ring is mapped any more.
//! - **Kill to error**: a worker is killed with SIGKILL while a long query runs on it; the time
//!   from the kill to the query's error (the pool restarts the worker before the next round).

use crate::progress::Progress;
use clap::Args;
use dfshm::datafusion::execution::SendableRecordBatchStream;
use dfshm::{CancelToken, Engine, tpch};
use futures::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Options of `dfshm-bench faults`.
#[derive(Debug, Args)]
pub struct FaultsArgs {
    /// Scale factor of the TPC-H data (generated into the cache folder on first use).
    #[arg(long, default_value_t = 1.0)]
    pub sf: f64,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Timed rounds of each measurement; medians and maxima are reported.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

const LIMIT: &str = "select * from lineitem limit 10";
/// Hundreds of millions of joined rows at any scale factor: a query that runs until stopped.
const LONG: &str = "select a.l_orderkey, b.l_orderkey from lineitem a \
                    join lineitem b on a.l_suppkey = b.l_suppkey";

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn summary(mut times: Vec<f64>) -> String {
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    format!("median {median:8.2} ms   max {max:8.2} ms")
}

async fn limit_times(engine: &Engine, rounds: usize, bar: &Progress) -> Result<Vec<f64>, String> {
    let mut times = Vec::new();
    for round in 0..rounds + 2 {
        let start = Instant::now();
        let batches = engine.sql(LIMIT).await.map_err(text)?.collect().await;
        let rows: usize = batches.map_err(text)?.iter().map(|b| b.num_rows()).sum();
        if rows != 10 {
            return Err(format!("LIMIT 10 returned {rows} rows"));
        }
        if round >= 2 {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        bar.inc(1);
    }
    Ok(times)
}

/// Starts the long query and waits for its first batch (it then runs on every worker).
async fn started(
    engine: &Engine,
    token: &CancelToken,
) -> Result<SendableRecordBatchStream, String> {
    let frame = engine.sql(LONG).await.map_err(text)?;
    let mut stream = engine.execute_stream(frame, token).await.map_err(text)?;
    match stream.next().await {
        Some(Ok(_)) => Ok(stream),
        Some(Err(error)) => Err(error.to_string()),
        None => Err("the long query returned nothing".into()),
    }
}

/// Mappings of dfshm rings in use in this process and `pids` (finished rings waiting in this
/// process's pool for the next query are not in use).
fn ring_mappings(pids: &[u32]) -> usize {
    let pooled = dfshm::ring_pool_stats().idle_segments;
    let mapped: usize = pids
        .iter()
        .map(|pid| pid.to_string())
        .chain(["self".to_string()])
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/maps")).ok())
        .map(|maps| maps.lines().filter(|l| l.contains("memfd:dfshm")).count())
        .sum();
    mapped.saturating_sub(pooled)
}

pub async fn run(args: FaultsArgs, data: &Path) -> Result<(), String> {
    if args.rounds == 0 || args.workers == 0 {
        return Err("--rounds and --workers must be at least 1".into());
    }
    let baseline = Engine::builder().build().map_err(text)?;
    let workers = Engine::builder()
        .workers(args.workers)
        .workers_from_this_executable()
        .build()
        .map_err(text)?;
    for engine in [&baseline, &workers] {
        tpch::register_tables(engine, data).await.map_err(text)?;
    }
    println!(
        "TPC-H sf {}, {} workers, {} rounds",
        args.sf, args.workers, args.rounds
    );
    let bar = Progress::new(
        "faults",
        2 * (args.rounds as u64 + 2) + 2 * args.rounds as u64,
        "runs",
    );
    bar.set_message("LIMIT 10");
    let local = limit_times(&baseline, args.rounds, &bar).await?;
    let remote = limit_times(&workers, args.rounds, &bar).await?;
    bar.set_message("cancel");
    bar.println(LIMIT);
    bar.println(format!("  in-process      {}", summary(local)));
    bar.println(format!("  shm-{:<11} {}", args.workers, summary(remote)));

    let (mut to_error, mut to_unmapped) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        let token = CancelToken::new();
        let mut stream = started(&workers, &token).await?;
        let start = Instant::now();
        token.cancel();
        match stream.next().await {
            Some(Err(error)) if dfshm::is_cancelled(&error) => {}
            other => return Err(format!("a cancelled query went on: {other:?}")),
        }
        to_error.push(start.elapsed().as_secs_f64() * 1000.0);
        let pids = workers.worker_pids();
        while ring_mappings(&pids) > 0 {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("rings stayed mapped 30 s after a cancel".into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        to_unmapped.push(start.elapsed().as_secs_f64() * 1000.0);
        bar.inc(1);
    }
    bar.println("cancel of a running query (token fired from this thread)");
    bar.println(format!(
        "  until its stream ends      {}",
        summary(to_error)
    ));
    bar.println(format!(
        "  until no ring is mapped    {}",
        summary(to_unmapped)
    ));

    let mut kill_to_error = Vec::new();
    bar.set_message("kill");
    for round in 0..args.rounds {
        let token = CancelToken::new();
        let mut stream = started(&workers, &token).await?;
        let pids = workers.worker_pids();
        let victim = pids[round % pids.len()];
        let start = Instant::now();
        dfshm::shm::kill(victim)
            .map_err(|error| format!("cannot kill worker {victim}: {error}"))?;
        let error = loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(error)) => break error,
                None => return Err("the query finished although a worker was killed".into()),
            }
        };
        kill_to_error.push(start.elapsed().as_secs_f64() * 1000.0);
        if !error.to_string().contains("worker") {
            return Err(format!("the error does not name the worker: {error}"));
        }
        drop(stream);
        bar.inc(1);
    }
    bar.finish();
    println!("SIGKILL of a worker during a query");
    println!("  until the query's error    {}", summary(kill_to_error));
    Ok(())
}
