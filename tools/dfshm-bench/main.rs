//! `dfshm-bench`: TPC-H data generation and query timings across execution modes.
//!
//! `gen` writes the 8 TPC-H tables as Parquet; `tpch` (in `suite`) runs the 22 queries in each
//! mode (in-process DataFusion, dfshm worker counts, peer engines), prints per-query medians,
//! totals and ratios to in-process, and can write them as JSON and SVG. Timings are taken in one
//! run so that ratios compare like with like; the other subcommands measure one mechanism each.

mod cache;
mod faults;
mod memory;
mod peers;
mod plot;
mod progress;
mod report;
mod ring;
mod setup;
mod suite;

use clap::{Parser, Subcommand};
use dfshm::tpch;
use progress::Progress;
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
    /// Run the TPC-H queries in each mode and on peer engines, and compare their timings.
    Tpch(Box<suite::TpchArgs>),
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
        Command::Tpch(args) => block_on(suite::run(*args)),
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
