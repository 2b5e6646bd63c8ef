//! `dfshm-bench`: TPC-H data generation and query timings across execution modes.
//!
//! `gen` writes the 8 TPC-H tables as Parquet; `tpch` runs the 22 queries in each mode (in-process
//! DataFusion and dfshm worker counts), prints per-query medians, totals and ratios to in-process,
//! and can write them as JSON. Timings are taken in one run so that ratios compare like with like.

mod cache;
mod faults;
mod memory;
mod progress;
mod report;
mod ring;
mod setup;

use clap::{Args as ClapArgs, Parser, Subcommand};
use dfshm::datafusion::error::Result as DfResult;
use dfshm::{Engine, StatementOutcome, Transport, tpch};
use progress::Progress;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Benchmarks for dfshm.
#[derive(Debug, Parser)]
#[command(name = "dfshm-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the 8 TPC-H tables as Parquet (does nothing if DIR already holds that scale).
    Gen {
        /// Scale factor (1 = about 1 GB of raw data; fractions allowed).
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Run the TPC-H queries in each mode and compare their timings.
    Tpch(TpchArgs),
    /// Measure the shared-memory ring between two processes against a same-run memcpy.
    Ring(ring::RingArgs),
    /// Measure the setup cost of a trivial query on warm worker processes (TPC-H sf 0.01).
    Setup(setup::SetupArgs),
    /// Measure how fast queries stop: LIMIT 10 latency, cancel latency, worker kill to error.
    Faults(faults::FaultsArgs),
    /// Measure the result cache: cold run against repeat per TPC-H query, and stage reuse.
    Cache(cache::CacheArgs),
    /// Measure the peak memory of a host reading lineitem slower than the workers produce it.
    Memory(memory::MemoryArgs),
    /// Print the per-query ratios of two `tpch --json` files (B against A), mode by mode.
    Compare {
        /// The first result file (the baseline).
        a: PathBuf,
        /// The second result file.
        b: PathBuf,
    },
    /// One measured run of `memory` (started by it; not for direct use).
    #[command(hide = true)]
    MemoryPeer(memory::PeerArgs),
    /// The peer process of `ring` (started by it; not for direct use).
    #[command(hide = true)]
    RingPeer {
        /// The Unix socket the measuring process listens on.
        socket: PathBuf,
    },
}

#[derive(Debug, ClapArgs)]
struct TpchArgs {
    /// Scale factor; the data is generated into the cache folder on first use.
    #[arg(long, default_value_t = 0.1, conflicts_with = "data")]
    sf: f64,
    /// Folder of existing TPC-H Parquet data instead of --sf: `<table>.parquet` files
    /// (tpchgen-cli) or `<table>/` folders of Parquet files (`gen`, DataFusion's benchmarks).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Comma-separated worker counts to run; 0 is in-process DataFusion, the baseline.
    #[arg(long, default_value = "0", value_delimiter = ',', value_name = "N,...")]
    workers: Vec<usize>,
    /// Also run each worker count on datafusion-distributed workers inside this process (modes
    /// `local-N`), which isolates the cost of distributed planning from the transport.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    local_workers: Vec<usize>,
    /// Also run each worker count on datafusion-distributed's own gRPC workers on localhost
    /// (modes `grpc-N`; needs a build with `--features grpc`).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    grpc_workers: Vec<usize>,
    /// Threads per worker process [default: the number of cores].
    #[arg(long, value_name = "N")]
    worker_threads: Option<usize>,
    /// Queries to run, e.g. `1-22` or `1,3,18-20`.
    #[arg(long, default_value = "1-22", value_parser = parse_query_list)]
    queries: QueryList,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Partitions per plan node [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    target_partitions: Option<u64>,
    /// Also write the results as JSON: {"modes": {MODE: {"q1": median_ms, ...}}, "rows": ...,
    /// "machine": ..., "git": ..., "settings": ...} (see `compare`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct QueryList(Vec<usize>);

fn parse_query_list(text: &str) -> Result<QueryList, String> {
    let mut queries = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (first, last) = match item.split_once('-') {
            Some((first, last)) => (first.trim(), last.trim()),
            None => (item, item),
        };
        let number = |text: &str| {
            text.parse::<usize>()
                .ok()
                .filter(|n| (1..=tpch::QUERY_COUNT).contains(n))
                .ok_or_else(|| format!("`{text}` is not a TPC-H query number (1-22)"))
        };
        let (first, last) = (number(first)?, number(last)?);
        if first > last {
            return Err(format!("range `{item}` is backwards"));
        }
        queries.extend(first..=last);
    }
    if queries.is_empty() {
        return Err("no queries given".to_string());
    }
    queries.sort_unstable();
    queries.dedup();
    Ok(QueryList(queries))
}

fn main() -> ExitCode {
    // The engine starts this executable again as its worker processes.
    if let Some(code) = dfshm::worker::serve_if_requested() {
        return code;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gen { sf, out } => generate(sf, &out).map(|_| ()),
        Command::Tpch(args) => block_on(run_tpch(args)),
        Command::Ring(args) => ring::run(args),
        Command::Setup(args) => block_on(async {
            let dir = cache_dir(0.01);
            generate(0.01, &dir)?;
            setup::run(args, dir).await
        }),
        Command::Faults(args) => block_on(async {
            let dir = cache_dir(args.sf);
            generate(args.sf, &dir)?;
            faults::run(args, &dir).await
        }),
        Command::Cache(args) => block_on(cache::run(args)),
        Command::Memory(args) => {
            let dir = cache_dir(args.sf);
            generate(args.sf, &dir).and_then(|()| memory::run(args, &dir))
        }
        Command::Compare { a, b } => report::compare(&a, &b),
        Command::MemoryPeer(args) => block_on(memory::peer(args)),
        Command::RingPeer { socket } => {
            dfshm::testing::ring_bench::run_peer(&socket).map_err(|error| error.to_string())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a fresh multi-thread runtime.
fn block_on(work: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?
        .block_on(work)
}

/// Where generated TPC-H data of scale factor `sf` is kept.
fn cache_dir(sf: f64) -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("dfshm")
        .join(format!("tpch-sf{sf}"))
}

/// Generates (or finds) TPC-H data at `sf` in `dir`, with a progress bar.
fn generate(sf: f64, dir: &Path) -> Result<(), String> {
    let bar = Progress::new(
        &format!("generating TPC-H sf={sf}"),
        tpch::estimated_rows(sf),
        "rows (estimated)",
    );
    let started = Instant::now();
    let report = tpch::generate(sf, dir, &|rows| bar.inc(rows)).map_err(|e| e.to_string())?;
    bar.finish();
    let total: u64 = report.manifest.rows.iter().sum();
    if report.generated {
        eprintln!(
            "generated TPC-H sf={sf} in {}: {total} rows in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("TPC-H sf={sf} already in {} ({total} rows)", dir.display());
    }
    Ok(())
}

/// A benchmark mode: how many workers, reached how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    workers: usize,
    transport: Transport,
}

impl Mode {
    fn name(self) -> String {
        match (self.workers, self.transport) {
            (0, _) => "in-process".to_string(),
            (workers, Transport::InProcess) => format!("local-{workers}"),
            (workers, Transport::SharedMemory) => format!("shm-{workers}"),
            #[cfg(feature = "grpc")]
            (workers, Transport::Grpc) => format!("grpc-{workers}"),
        }
    }
}

/// The timings of one mode: per query, the median and the row count.
#[derive(Debug, Default)]
struct ModeResult {
    median_ms: BTreeMap<usize, f64>,
    rows: BTreeMap<usize, usize>,
}

async fn run_tpch(args: TpchArgs) -> Result<(), String> {
    let data = match &args.data {
        Some(dir) => {
            tpch::find_tables(dir).map_err(|error| error.to_string())?;
            dir.clone()
        }
        None => {
            let dir = cache_dir(args.sf);
            generate(args.sf, &dir)?;
            dir
        }
    };
    let mut modes: Vec<Mode> = Vec::new();
    let shm = args.workers.iter().map(|&workers| Mode {
        workers,
        transport: Transport::SharedMemory,
    });
    let local = args.local_workers.iter().map(|&workers| Mode {
        workers,
        transport: Transport::InProcess,
    });
    #[cfg(feature = "grpc")]
    let grpc = args.grpc_workers.iter().map(|&workers| Mode {
        workers,
        transport: Transport::Grpc,
    });
    #[cfg(not(feature = "grpc"))]
    let grpc = {
        if !args.grpc_workers.is_empty() {
            return Err(
                "--grpc-workers needs a dfshm-bench built with `--features grpc`".to_string(),
            );
        }
        std::iter::empty()
    };
    for mode in shm.chain(local).chain(grpc) {
        if !modes.iter().any(|known| known.name() == mode.name()) {
            modes.push(mode);
        }
    }
    let steps = (modes.len() * args.queries.0.len()) as u64 * args.iterations;
    let bar = Progress::new("tpch", steps, "runs");
    let mut results: Vec<(String, ModeResult)> = Vec::new();
    for &mode in &modes {
        let name = mode.name();
        let mut builder = Engine::builder()
            .workers(mode.workers)
            .transport(mode.transport)
            .workers_from_this_executable();
        if let Some(threads) = args.worker_threads {
            builder = builder.worker_threads(threads);
        }
        if let Some(partitions) = args.target_partitions {
            builder = builder.target_partitions(partitions as usize);
        }
        let engine = builder
            .build()
            .map_err(|error| format!("mode {name}: {error}"))?;
        tpch::register_tables(&engine, &data)
            .await
            .map_err(|error| format!("registering tables from {}: {error}", data.display()))?;
        let mut result = ModeResult::default();
        for &query in &args.queries.0 {
            let sql = tpch::query(query).expect("query numbers are validated");
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..args.iterations {
                bar.set_message(format!("{name} q{query}"));
                let (elapsed, count) = time_query(&engine, sql)
                    .await
                    .map_err(|error| format!("mode {name}, q{query}: {error}"))?;
                times.push(elapsed);
                rows = count;
                bar.inc(1);
            }
            result.median_ms.insert(query, median_ms(&mut times));
            result.rows.insert(query, rows);
        }
        results.push((name, result));
    }
    bar.finish();
    print_report(&args.queries.0, &results);
    if let Some(path) = &args.json {
        let settings = serde_json::json!({
            "sf": args.data.is_none().then_some(args.sf),
            "data": args.data.as_ref().map(|dir| dir.display().to_string()),
            "queries": args.queries.0,
            "iterations": args.iterations,
            "target_partitions": args.target_partitions,
            "worker_threads": args.worker_threads,
            "modes": results.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
        });
        report::write_json(path, &results, settings)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs every statement of `sql`; returns the time taken and the rows of the row-returning one.
async fn time_query(engine: &Engine, sql: &str) -> DfResult<(Duration, usize)> {
    let started = Instant::now();
    let mut rows = 0;
    for statement in engine.statements(sql)? {
        if let StatementOutcome::Rows(frame) = engine.run_statement(&statement).await? {
            rows = frame
                .collect()
                .await?
                .iter()
                .map(|batch| batch.num_rows())
                .sum();
        }
    }
    Ok((started.elapsed(), rows))
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    let middle = times.len() / 2;
    let median = if times.len().is_multiple_of(2) {
        (times[middle - 1] + times[middle]) / 2
    } else {
        times[middle]
    };
    median.as_secs_f64() * 1000.0
}

fn print_report(queries: &[usize], results: &[(String, ModeResult)]) {
    let baseline = results.iter().find(|(name, _)| name == "in-process");
    let mut header = format!("{:<6}", "query");
    for (name, _) in results {
        header.push_str(&format!(" {:>14}", format!("{name} ms")));
        if baseline.is_some() && name != "in-process" {
            header.push_str(&format!(" {:>8}", "ratio"));
        }
    }
    header.push_str(&format!(" {:>9}", "rows"));
    println!("{header}");
    let mut mismatches = Vec::new();
    for &query in queries {
        let mut line = format!("{:<6}", format!("q{query}"));
        for (name, result) in results {
            let ms = result.median_ms[&query];
            line.push_str(&format!(" {ms:>14.1}"));
            if let Some((_, base)) = baseline.filter(|_| name != "in-process") {
                line.push_str(&format!(" {:>7.2}x", ms / base.median_ms[&query]));
                if base.rows[&query] != result.rows[&query] {
                    mismatches.push(format!(
                        "q{query}: {name} returned {} rows, in-process {}",
                        result.rows[&query], base.rows[&query]
                    ));
                }
            }
        }
        let rows = results.first().map_or(0, |(_, result)| result.rows[&query]);
        line.push_str(&format!(" {rows:>9}"));
        println!("{line}");
    }
    let mut total = format!("{:<6}", "total");
    let base_total: Option<f64> = baseline.map(|(_, base)| base.median_ms.values().sum());
    for (name, result) in results {
        let sum: f64 = result.median_ms.values().sum();
        total.push_str(&format!(" {sum:>14.1}"));
        if let Some(base_total) = base_total.filter(|_| name != "in-process") {
            total.push_str(&format!(" {:>7.2}x", sum / base_total));
        }
    }
    println!("{total}");
    for mismatch in &mismatches {
        eprintln!("warning: row counts differ: {mismatch}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_accept_ranges_and_reject_nonsense() {
        assert_eq!(parse_query_list("1-3,5").unwrap().0, vec![1, 2, 3, 5]);
        assert_eq!(parse_query_list("22").unwrap().0, vec![22]);
        assert!(parse_query_list("0").is_err());
        assert!(parse_query_list("23").is_err());
        assert!(parse_query_list("5-3").is_err());
        assert!(parse_query_list("a").is_err());
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        let mut times = vec![Duration::from_millis(4), Duration::from_millis(1)];
        assert_eq!(median_ms(&mut times), 2.5);
        let mut odd = vec![3, 1, 2]
            .into_iter()
            .map(Duration::from_millis)
            .collect::<Vec<_>>();
        assert_eq!(median_ms(&mut odd), 2.0);
    }
}
