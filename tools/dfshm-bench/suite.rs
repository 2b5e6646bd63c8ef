//! `tpch`: the TPC-H queries in each mode (in-process DataFusion, dfshm worker counts) and on peer
//! engines over the same files, interleaved: each iteration runs every query once in every mode
//! before the next iteration starts, so that the machine's drift (a busy neighbour, a warming
//! cache) falls on all modes alike. Prints per-query medians, totals and ratios to in-process,
//! checks that every mode returned the same row counts, and can write JSON and an SVG chart.

use crate::peers::{Peer, PeerEngine, PeerError};
use crate::progress::Progress;
use crate::{QueryList, cache_dir, generate, median_ms, parse_query_list, plot, report};
use clap::Args as ClapArgs;
use dfshm::datafusion::error::Result as DfResult;
use dfshm::{Engine, StatementOutcome, Transport, tpch};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, ClapArgs)]
pub(crate) struct TpchArgs {
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
    /// (modes `grpc-N`), all inside this process.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    grpc_workers: Vec<usize>,
    /// Also run each count on that many remote workers (modes `remote-N`): `dfshm worker
    /// --listen 127.0.0.1:0` processes this benchmark starts on loopback and stops at the end,
    /// reached over gRPC as workers on other hosts would be.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    remote_workers: Vec<usize>,
    /// Also run the queries on these engines over the same files (modes named after them), each
    /// in a Python process of the environment `tools/python-env.sh` creates. A peer that is not
    /// installed is skipped with a message.
    #[arg(long, value_delimiter = ',', value_name = "ENGINE,...")]
    peers: Vec<PeerEngine>,
    /// The Python that runs --peers [default: the environment of tools/python-env.sh, that is
    /// $DFSHM_VENV or ~/.cache/dfshm/venv, if it exists; else python3].
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Threads per worker process [default: the number of cores].
    #[arg(long, value_name = "N")]
    worker_threads: Option<usize>,
    /// Queries to run, e.g. `1-22` or `1,3,18-20`.
    #[arg(long, default_value = "1-22", value_parser = parse_query_list)]
    queries: QueryList,
    /// Timed runs per query and mode; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Partitions per plan node [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    target_partitions: Option<u64>,
    /// Also write the results as JSON: {"modes": {MODE: {"q1": median_ms, ...}}, "rows": ...,
    /// "failed": ..., "machine": ..., "git": ..., "settings": ...} (see `compare`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also draw the per-query medians and the totals of every mode as an SVG bar chart.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// A benchmark mode of dfshm: how many workers, reached how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    workers: usize,
    transport: Transport,
    /// Remote worker processes on loopback (then `workers` is 0).
    remote: usize,
}

impl Mode {
    fn name(self) -> String {
        match (self.workers, self.transport) {
            _ if self.remote > 0 => format!("remote-{}", self.remote),
            (0, _) => "in-process".to_string(),
            (workers, Transport::InProcess) => format!("local-{workers}"),
            (workers, Transport::SharedMemory) => format!("shm-{workers}"),
            (workers, Transport::Grpc) => format!("grpc-{workers}"),
        }
    }
}

/// The timings of one mode: per query, the median, the row count, or why it failed.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    pub(crate) median_ms: BTreeMap<usize, f64>,
    pub(crate) rows: BTreeMap<usize, usize>,
    /// Queries a peer engine could not run, with its message (dfshm's modes never have any: an
    /// error there ends the benchmark).
    pub(crate) failed: BTreeMap<usize, String>,
}

/// What runs the queries of one mode.
enum Runner {
    Dfshm(Engine),
    Peer(Peer),
}

/// One mode during the run: its runner and the times measured so far.
struct Column {
    name: String,
    runner: Runner,
    times: BTreeMap<usize, Vec<Duration>>,
    timings: Timings,
    /// A peer whose process died runs nothing more.
    gone: bool,
}

pub(crate) async fn run(args: TpchArgs) -> Result<(), String> {
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
    let mut columns = Vec::new();
    // The remote workers of `remote-N` modes, stopped when the benchmark ends.
    let mut remote_processes = Vec::new();
    for mode in modes(&args)? {
        let name = mode.name();
        let remote = start_remote_workers(&args, mode.remote)
            .map_err(|error| format!("mode {name}: cannot start its remote workers: {error}"))?;
        let urls: Vec<String> = remote.iter().map(|w| w.url().to_string()).collect();
        remote_processes.extend(remote);
        columns.push(Column::new(
            name.clone(),
            Runner::Dfshm(engine(&args, mode, &urls, &data, &name).await?),
        ));
    }
    let python = args
        .python
        .clone()
        .unwrap_or_else(crate::peers::default_python);
    let mut peers = serde_json::Map::new();
    let mut skipped = serde_json::Map::new();
    for &engine in &args.peers {
        match Peer::start(engine, &python, &data) {
            Ok(peer) => {
                eprintln!("peer {}: {}", engine.name(), peer.version());
                peers.insert(engine.name().into(), peer.version().into());
                columns.push(Column::new(engine.name().to_string(), Runner::Peer(peer)));
            }
            Err(why) => {
                eprintln!("peer {} skipped: {why}", engine.name());
                skipped.insert(engine.name().into(), why.into());
            }
        }
    }

    let queries = &args.queries.0;
    let steps = (columns.len() * queries.len()) as u64 * args.iterations;
    let bar = Progress::new("tpch", steps, "runs");
    for _ in 0..args.iterations {
        for &query in queries {
            let sql = tpch::query(query).expect("query numbers are validated");
            for column in &mut columns {
                bar.set_message(format!("{} q{query}", column.name));
                if let Some(message) = column.run(query, sql).await? {
                    bar.eprintln(message);
                }
                bar.inc(1);
            }
        }
    }
    bar.finish();
    let results: Vec<(String, Timings)> = columns
        .into_iter()
        .map(|column| (column.name.clone(), column.timings_with_medians()))
        .collect();

    let mismatches = print_report(queries, &results);
    if let Some(path) = &args.json {
        let settings = serde_json::json!({
            "sf": args.data.is_none().then_some(args.sf),
            "data": args.data.as_ref().map(|dir| dir.display().to_string()),
            "queries": queries,
            "iterations": args.iterations,
            "target_partitions": args.target_partitions,
            "worker_threads": args.worker_threads,
            "modes": results.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
            "peers": peers,
            "peers_skipped": skipped,
        });
        report::write_json(path, &results, settings)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let scale = match &args.data {
            Some(dir) => dir.display().to_string(),
            None => format!("sf {}", args.sf),
        };
        let title = format!(
            "TPC-H {scale}: median of {} runs per query (ms)",
            args.iterations
        );
        plot::write_svg(path, &title, queries, &results)?;
        eprintln!("wrote {}", path.display());
    }
    match mismatches.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "row counts differ between modes: {}",
            mismatches.join("; ")
        )),
    }
}

/// The dfshm modes `args` ask for, each once, in the order given.
fn modes(args: &TpchArgs) -> Result<Vec<Mode>, String> {
    let of = |transport| {
        move |&workers: &usize| Mode {
            workers,
            transport,
            remote: 0,
        }
    };
    let shm = args.workers.iter().map(of(Transport::SharedMemory));
    let local = args.local_workers.iter().map(of(Transport::InProcess));
    let grpc = args.grpc_workers.iter().map(of(Transport::Grpc));
    if args.remote_workers.contains(&0) {
        return Err("--remote-workers counts start at 1".to_string());
    }
    let remote = args.remote_workers.iter().map(|&remote| Mode {
        workers: 0,
        transport: Transport::SharedMemory,
        remote,
    });
    let mut modes: Vec<Mode> = Vec::new();
    for mode in shm.chain(local).chain(grpc).chain(remote) {
        if !modes.iter().any(|known| known.name() == mode.name()) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

/// The engine of `mode`, with the TPC-H tables of `data` registered.
async fn engine(
    args: &TpchArgs,
    mode: Mode,
    remote_workers: &[String],
    data: &std::path::Path,
    name: &str,
) -> Result<Engine, String> {
    let mut builder = Engine::builder()
        .workers(mode.workers)
        .transport(mode.transport)
        .remote_workers(remote_workers)
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
    tpch::register_tables(&engine, data)
        .await
        .map_err(|error| format!("registering tables from {}: {error}", data.display()))?;
    Ok(engine)
}

/// Starts `count` remote workers of this executable on loopback (`--listen 127.0.0.1:0`).
fn start_remote_workers(
    args: &TpchArgs,
    count: usize,
) -> std::io::Result<Vec<dfshm::remote::ListeningWorker>> {
    (0..count)
        .map(|_| {
            let mut command = std::process::Command::new(std::env::current_exe()?);
            command
                .env(dfshm::worker::WORKER_MODE_ENV, "1")
                .args(["--listen", "127.0.0.1:0"]);
            if let Some(threads) = args.worker_threads {
                command.args(["--threads", &threads.to_string()]);
            }
            dfshm::remote::ListeningWorker::spawn(command, Duration::from_secs(30))
        })
        .collect()
}

impl Column {
    fn new(name: String, runner: Runner) -> Column {
        Column {
            name,
            runner,
            times: BTreeMap::new(),
            timings: Timings::default(),
            gone: false,
        }
    }

    /// Runs `query` once. An error of a dfshm mode ends the benchmark; a peer's is recorded and
    /// returned as a message to show once (the query is not run again on that peer).
    async fn run(&mut self, query: usize, sql: &str) -> Result<Option<String>, String> {
        if self.gone || self.timings.failed.contains_key(&query) {
            return Ok(None);
        }
        let (elapsed, rows) = match &mut self.runner {
            Runner::Dfshm(engine) => time_query(engine, sql)
                .await
                .map_err(|error| format!("mode {}, q{query}: {error}", self.name))?,
            Runner::Peer(peer) => match tokio::task::block_in_place(|| peer.run(sql)) {
                Ok(timing) => timing,
                Err(PeerError::Query(message)) => {
                    self.timings.failed.insert(query, message.clone());
                    return Ok(Some(format!(
                        "{} cannot run q{query}: {message}",
                        self.name
                    )));
                }
                Err(PeerError::Gone(message)) => {
                    self.gone = true;
                    self.timings.failed.insert(query, message.clone());
                    return Ok(Some(format!("peer {} stopped: {message}", self.name)));
                }
            },
        };
        self.times.entry(query).or_default().push(elapsed);
        if let Some(&before) = self.timings.rows.get(&query)
            && before != rows
        {
            return Err(format!(
                "mode {}, q{query}: {rows} rows, {before} in the run before",
                self.name
            ));
        }
        self.timings.rows.insert(query, rows);
        Ok(None)
    }

    fn timings_with_medians(mut self) -> Timings {
        for (query, times) in &mut self.times {
            if !self.timings.failed.contains_key(query) {
                self.timings.median_ms.insert(*query, median_ms(times));
            }
        }
        self.timings
            .rows
            .retain(|query, _| !self.timings.failed.contains_key(query));
        self.timings
    }
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

/// Prints the table: per query each mode's median (and ratio to in-process), then the totals.
/// Returns the row counts that differ from the first mode's.
fn print_report(queries: &[usize], results: &[(String, Timings)]) -> Vec<String> {
    let baseline = results.iter().find(|(name, _)| name == "in-process");
    let first = results.first();
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
        for (name, timings) in results {
            let with_ratio = baseline.is_some() && name != "in-process";
            let Some(&ms) = timings.median_ms.get(&query) else {
                line.push_str(&format!(" {:>14}", "failed"));
                if with_ratio {
                    line.push_str(&format!(" {:>8}", "-"));
                }
                continue;
            };
            line.push_str(&format!(" {ms:>14.1}"));
            if with_ratio {
                match baseline.and_then(|(_, base)| base.median_ms.get(&query)) {
                    Some(base) => line.push_str(&format!(" {:>7.2}x", ms / base)),
                    None => line.push_str(&format!(" {:>8}", "-")),
                }
            }
            if let Some((first_name, first)) = first
                && let (Some(expected), Some(got)) =
                    (first.rows.get(&query), timings.rows.get(&query))
                && expected != got
            {
                mismatches.push(format!(
                    "q{query}: {name} returned {got} rows, {first_name} {expected}"
                ));
            }
        }
        let rows = results
            .iter()
            .find_map(|(_, timings)| timings.rows.get(&query));
        line.push_str(&format!(
            " {:>9}",
            rows.map_or("-".to_string(), usize::to_string)
        ));
        println!("{line}");
    }
    let mut total = format!("{:<6}", "total");
    let mut partial = Vec::new();
    for (name, timings) in results {
        let sum: f64 = timings.median_ms.values().sum();
        total.push_str(&format!(" {sum:>14.1}"));
        if timings.median_ms.len() < queries.len() {
            partial.push(format!(
                "{name} ran {} of {} queries",
                timings.median_ms.len(),
                queries.len()
            ));
        }
        if let Some((_, base)) = baseline.filter(|_| name != "in-process") {
            // Over the queries both ran, so a peer that failed some is still compared fairly.
            let common: Vec<&usize> = timings
                .median_ms
                .keys()
                .filter(|query| base.median_ms.contains_key(query))
                .collect();
            let of = |timings: &Timings| -> f64 {
                common.iter().map(|query| timings.median_ms[query]).sum()
            };
            total.push_str(&format!(" {:>7.2}x", of(timings) / of(base)));
        }
    }
    println!("{total}");
    for note in partial {
        println!("({note}; its total and ratio cover those)");
    }
    for mismatch in &mismatches {
        eprintln!("row counts differ: {mismatch}");
    }
    mismatches
}
