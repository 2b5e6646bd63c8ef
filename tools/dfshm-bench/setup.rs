//! `dfshm-bench setup`: what a trivial query costs on warm workers beyond in-process DataFusion.
//!
//! The query scans a 5-row table split over every worker, shuffles and aggregates it, so it
//! pays every fixed cost of a distributed query (planning stages, sending plans, opening rings,
//! collecting metrics) and almost no data cost. The same query in-process is the baseline; the
//! difference is the setup cost a query pays for using workers. The same query on
//! datafusion-distributed's workers inside this process (`local-N`) splits that cost in two:
//! distributed planning and execution (local-N minus in-process), and dfshm's transport and
//! worker processes (shm-N minus local-N). A session of the same workers that collects every
//! query's task metrics (as EXPLAIN ANALYZE does; dfshm's sessions do not by default) shows what
//! waiting for them at the end of a query costs.

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
    /// Timed runs of each mode, taking turns (after 5 warm-up runs); the median and 90th
    /// percentile are reported.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Runs of one mode in a row before the next mode's turn. Turns spread a machine's drift
    /// over every mode; a turn of one run makes each mode start cold (the modes, all in this
    /// process, evict each other's caches), so every run pays that too.
    #[arg(long, default_value_t = 20)]
    turn: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

const QUERY: &str = "select r_name, count(*) from region group by r_name";

/// One run of the query on `engine`, in milliseconds.
async fn time_once(engine: &Engine) -> Result<f64, String> {
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
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

/// The sorted times of `runs` runs on each of `engines`. The engines take turns of `turn` runs,
/// so that a machine getting slower or faster meanwhile weighs on all alike; the first run of
/// each turn warms the engine up and is not counted (nor are 5 runs each before the first turn).
async fn timings(engines: &[&Engine], runs: usize, turn: usize) -> Result<Vec<Vec<f64>>, String> {
    let mut times = vec![Vec::with_capacity(runs); engines.len()];
    for engine in engines {
        for _ in 0..5 {
            time_once(engine).await?;
        }
    }
    while times.iter().any(|times| times.len() < runs) {
        for (engine, times) in engines.iter().zip(&mut times) {
            time_once(engine).await?;
            for _ in 0..turn.min(runs - times.len()) {
                times.push(time_once(engine).await?);
            }
        }
    }
    for times in &mut times {
        times.sort_by(f64::total_cmp);
    }
    Ok(times)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(args: SetupArgs, data: PathBuf) -> Result<(), String> {
    if args.runs == 0 || args.workers == 0 || args.turn == 0 {
        return Err("--runs, --workers and --turn must be at least 1".to_string());
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
    // Forked after the settings above, sharing the workers.
    let collecting = workers.new_session();
    collecting
        .sql("set distributed.collect_metrics = true")
        .await
        .map_err(|e| e.to_string())?;
    let engines = [&baseline, &in_process_workers, &workers, &collecting];
    let [local, planned, remote, with_metrics]: [Vec<f64>; 4] =
        timings(&engines, args.runs, args.turn)
            .await?
            .try_into()
            .expect("one list of times per engine");
    let p50 = |times: &[f64]| percentile(times, 0.5);
    let p90 = |times: &[f64]| percentile(times, 0.9);
    let (local_p50, planned_p50, remote_p50) = (p50(&local), p50(&planned), p50(&remote));
    let metrics_p50 = p50(&with_metrics);
    let setup = remote_p50 - local_p50;
    let planning = planned_p50 - local_p50;
    let transport = remote_p50 - planned_p50;
    if args.json {
        println!(
            "{{\"workers\":{},\"runs\":{},\"turn\":{},\"in_process_p50_ms\":{local_p50:.3},\
             \"in_process_p90_ms\":{:.3},\"local_workers_p50_ms\":{planned_p50:.3},\
             \"local_workers_p90_ms\":{:.3},\"workers_p50_ms\":{remote_p50:.3},\
             \"workers_p90_ms\":{:.3},\"workers_with_metrics_p50_ms\":{metrics_p50:.3},\
             \"workers_with_metrics_p90_ms\":{:.3},\"setup_ms\":{setup:.3},\
             \"distributed_planning_ms\":{planning:.3},\"transport_ms\":{transport:.3}}}",
            args.workers,
            args.runs,
            args.turn,
            p90(&local),
            p90(&planned),
            p90(&remote),
            p90(&with_metrics)
        );
    } else {
        println!(
            "trivial query ({QUERY}), {} runs, in turns of {}",
            args.runs, args.turn
        );
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
        row(format!("shm-{} + metrics", args.workers), &with_metrics);
        println!("setup cost of workers (p50 difference): {setup:.3} ms");
        println!("  distributed planning and execution (local - in-process): {planning:.3} ms");
        println!("  transport and worker processes (shm - local): {transport:.3} ms");
        println!(
            "collecting every task's metrics (as EXPLAIN ANALYZE does) would add {:.3} ms",
            metrics_p50 - remote_p50
        );
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
