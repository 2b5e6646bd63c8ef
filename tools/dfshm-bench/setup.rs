//! `dfshm-bench setup`: what a trivial query costs on warm workers beyond in-process DataFusion.
//!
//! The query scans a 5-row table split over every worker, shuffles and aggregates it, so it
//! pays every fixed cost of a distributed query (planning stages, sending plans, opening rings,
//! collecting metrics) and almost no data cost. The same query in-process is the baseline; the
//! difference is the setup cost a query pays for using workers.

use clap::Args;
use dfshm::{Engine, Transport, tpch};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `dfshm-bench setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Timed runs (after 5 warm-up runs); the median and 90th percentile are reported.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

const QUERY: &str = "select r_name, count(*) from region group by r_name";

async fn timings(engine: &Engine, runs: usize) -> Result<Vec<f64>, String> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs + 5 {
        let start = Instant::now();
        let frame = engine.sql(QUERY).await.map_err(|e| e.to_string())?;
        let rows: usize = frame
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|batch| batch.num_rows())
            .sum();
        if rows != 5 {
            return Err(format!("the query returned {rows} rows instead of 5"));
        }
        if run >= 5 {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(args: SetupArgs, data: PathBuf) -> Result<(), String> {
    if args.runs == 0 || args.workers == 0 {
        return Err("--runs and --workers must be at least 1".to_string());
    }
    let baseline = Engine::builder().build().map_err(|e| e.to_string())?;
    let workers = Engine::builder()
        .workers(args.workers)
        .transport(Transport::SharedMemory)
        .workers_from_this_executable()
        .build()
        .map_err(|e| e.to_string())?;
    for engine in [&baseline, &workers] {
        tpch::register_tables(engine, &data)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Split even this 5-row table over every worker.
    workers
        .sql("set distributed.file_scan_config_bytes_per_partition = 1")
        .await
        .map_err(|e| e.to_string())?;
    let plan = workers
        .sql(QUERY)
        .await
        .map_err(|e| e.to_string())?
        .create_physical_plan()
        .await
        .map_err(|e| e.to_string())?;
    let text = dfshm::datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    if !text.contains("DistributedExec") {
        return Err(format!("the query was not distributed:\n{text}"));
    }
    let local = timings(&baseline, args.runs).await?;
    let remote = timings(&workers, args.runs).await?;
    let (local_p50, remote_p50) = (percentile(&local, 0.5), percentile(&remote, 0.5));
    let (local_p90, remote_p90) = (percentile(&local, 0.9), percentile(&remote, 0.9));
    let setup = remote_p50 - local_p50;
    if args.json {
        println!(
            "{{\"workers\":{},\"runs\":{},\"in_process_p50_ms\":{local_p50:.3},\
             \"in_process_p90_ms\":{local_p90:.3},\"workers_p50_ms\":{remote_p50:.3},\
             \"workers_p90_ms\":{remote_p90:.3},\"setup_ms\":{setup:.3}}}",
            args.workers, args.runs
        );
    } else {
        println!("trivial query ({QUERY}), {} runs", args.runs);
        println!("in-process         p50 {local_p50:8.3} ms   p90 {local_p90:8.3} ms");
        println!(
            "shm-{:<14} p50 {remote_p50:8.3} ms   p90 {remote_p90:8.3} ms",
            args.workers
        );
        println!("setup cost of workers (p50 difference): {setup:.3} ms");
    }
    Ok(())
}
