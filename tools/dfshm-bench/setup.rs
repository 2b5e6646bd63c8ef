//! `dfshm-bench setup`: what a trivial query costs on warm workers beyond in-process DataFusion.
//!
//! The query scans a 5-row table split over every worker, shuffles and aggregates it, so it
//! pays every fixed cost of a distributed query (planning stages, sending plans, opening rings,
//! collecting metrics) and almost no data cost. The same query in-process is the baseline; the
//! difference is the setup cost a query pays for using workers. The same query on
//! datafusion-distributed's workers inside this process (`local-N`) splits that cost in two:
//! distributed planning and execution (local-N minus in-process), and dfshm's transport and
//! worker processes (shm-N minus local-N).

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
    let in_process_workers = Engine::builder()
        .workers(args.workers)
        .transport(Transport::InProcess)
        .build()
        .map_err(|e| e.to_string())?;
    let workers = Engine::builder()
        .workers(args.workers)
        .transport(Transport::SharedMemory)
        .workers_from_this_executable()
        .build()
        .map_err(|e| e.to_string())?;
    for engine in [&baseline, &in_process_workers, &workers] {
        tpch::register_tables(engine, &data)
            .await
            .map_err(|e| e.to_string())?;
    }
    for engine in [&in_process_workers, &workers] {
        distributed(engine).await?;
    }
    let local = timings(&baseline, args.runs).await?;
    let planned = timings(&in_process_workers, args.runs).await?;
    let remote = timings(&workers, args.runs).await?;
    let p50 = |times: &[f64]| percentile(times, 0.5);
    let p90 = |times: &[f64]| percentile(times, 0.9);
    let (local_p50, planned_p50, remote_p50) = (p50(&local), p50(&planned), p50(&remote));
    let setup = remote_p50 - local_p50;
    let planning = planned_p50 - local_p50;
    let transport = remote_p50 - planned_p50;
    if args.json {
        println!(
            "{{\"workers\":{},\"runs\":{},\"in_process_p50_ms\":{local_p50:.3},\
             \"in_process_p90_ms\":{:.3},\"local_workers_p50_ms\":{planned_p50:.3},\
             \"local_workers_p90_ms\":{:.3},\"workers_p50_ms\":{remote_p50:.3},\
             \"workers_p90_ms\":{:.3},\"setup_ms\":{setup:.3},\
             \"distributed_planning_ms\":{planning:.3},\"transport_ms\":{transport:.3}}}",
            args.workers,
            args.runs,
            p90(&local),
            p90(&planned),
            p90(&remote)
        );
    } else {
        println!("trivial query ({QUERY}), {} runs", args.runs);
        let row = |mode: String, times: &[f64]| {
            println!(
                "{mode:<18} p50 {:8.3} ms   p90 {:8.3} ms",
                p50(times),
                p90(times)
            );
        };
        row("in-process".into(), &local);
        row(format!("local-{}", args.workers), &planned);
        row(format!("shm-{}", args.workers), &remote);
        println!("setup cost of workers (p50 difference): {setup:.3} ms");
        println!("  distributed planning and execution (local - in-process): {planning:.3} ms");
        println!("  transport and worker processes (shm - local): {transport:.3} ms");
    }
    Ok(())
}

/// Splits even the 5-row table over every worker of `engine`, and checks the query is
/// distributed.
async fn distributed(engine: &Engine) -> Result<(), String> {
    engine
        .sql("set distributed.file_scan_config_bytes_per_partition = 1")
        .await
        .map_err(|e| e.to_string())?;
    let plan = engine
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
    Ok(())
}
