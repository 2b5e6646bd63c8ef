//! `dfshm`: a datafusion-cli-like shell whose queries run on dfshm's engine.
//!
//! Statements from `-c` and `-f` run in order in one session and stop at the first error (exit
//! status 1); with neither, statements come from an interactive prompt (or from piped stdin), where
//! an error is reported and the session goes on. Rows go to stdout; errors, timings and row counts
//! go to stderr so that `--format csv` output stays machine-readable.

mod interrupt;
mod print;
mod repl;

use clap::Parser;
use dfshm::datafusion::error::DataFusionError;
use dfshm::{Engine, SqlStatement, StatementOutcome};
use interrupt::Interrupt;
use print::{Format, MaxRows, print_stream};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Run SQL on DataFusion across dfshm worker processes.
#[derive(Debug, Parser)]
#[command(
    name = "dfshm",
    version,
    about,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// SQL to run (several `;`-separated statements allowed); repeatable, runs in order.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// File of SQL statements to run; repeatable, runs after the commands, in order.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Output format of query results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Print no timing or row-count lines.
    #[arg(short, long)]
    quiet: bool,

    /// Worker processes to run queries on; 0 runs in this process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,

    /// Remote workers to run stages on too, comma-separated `http://HOST:PORT` URLs of
    /// `dfshm worker --listen` processes (on other hosts, or this one). With --workers as well,
    /// stages that read this host's workers stay on it. Every worker must reach the tables by the
    /// same path or object store URL.
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    remote_workers: Vec<String>,

    /// How stages reach their workers: `shm` (worker processes over shared memory) or
    /// `in-process` (datafusion-distributed workers inside this process, for comparison).
    #[arg(long, value_enum, default_value_t = TransportArg::Shm)]
    transport: TransportArg,

    /// Partitions per plan node [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    target_partitions: Option<u64>,

    /// With workers, a file scan gets one task per SIZE of files it reads (up to one per worker);
    /// smaller scans stay in one task [default: 1M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    scan_bytes_per_task: Option<usize>,

    /// With workers, what one query may hold of partitions read from workers and not yet
    /// consumed, in this process and in each worker, e.g. 16M [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    exchange_budget: Option<usize>,

    /// Memory operators may use before they spill or fail, e.g. 512M or 2G [default: unbounded].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,

    /// Rows the `table` format shows per statement (`inf` for all); other formats show all rows.
    #[arg(long, default_value = "40", value_name = "N")]
    maxrows: MaxRows,

    /// Folder of the result cache, shared by every dfshm process that names it [default: the
    /// platform cache folder, e.g. ~/.cache/dfshm/results].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Compute every query; read and store nothing in the result cache.
    #[arg(long)]
    no_cache: bool,

    /// Size cap of the result cache; least recently used entries are evicted beyond it.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    cache_max_bytes: usize,

    /// Print the result cache's statistics (entries, bytes, hits, misses, ...) and exit, or
    /// after the statements when there are any.
    #[arg(long)]
    cache_stats: bool,

    /// Empty the result cache before running anything.
    #[arg(long)]
    clear_cache: bool,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a remote worker: datafusion-distributed's gRPC worker with dfshm's codecs, serving
    /// coordinators that name it with --remote-workers, until SIGTERM or Ctrl-C.
    Worker(dfshm::remote::ListenArgs),
}

const AFTER_HELP: &str = "Examples:
  dfshm -c \"select 1 as x, 'a' as y\"
  dfshm --format csv -c \"create external table t stored as parquet location 'data/t/'\" -c \"select count(*) from t\"
  dfshm -f queries.sql --workers 2
  dfshm            (interactive; \\? for help, \\q to quit)
  dfshm --cache-stats
  dfshm --clear-cache --cache-max-bytes 4G -f queries.sql
  dfshm worker --listen 0.0.0.0:7000            (on each other host)
  dfshm --workers 4 --remote-workers http://h1:7000,http://h2:7000 -f queries.sql

Results are cached: a repeat of a query whose input files did not change is read back from the
cache folder instead of computed, and a query that shares stages with an earlier one reuses them.
Queries with volatile functions (random(), now()), writes and EXPLAIN are never cached.

Ctrl-C cancels the running query (on every worker) and, at the prompt, keeps the session; a second
Ctrl-C exits. Exit status: 0 on success, 1 when a statement failed, 130 when interrupted.";

/// The `--transport` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TransportArg {
    /// Worker processes exchanging Arrow through shared-memory rings.
    Shm,
    /// datafusion-distributed workers inside this process.
    InProcess,
}

impl From<TransportArg> for dfshm::Transport {
    fn from(transport: TransportArg) -> Self {
        match transport {
            TransportArg::Shm => dfshm::Transport::SharedMemory,
            TransportArg::InProcess => dfshm::Transport::InProcess,
        }
    }
}

fn parse_size(text: &str) -> Result<usize, String> {
    dfshm::parse_byte_size(text).map_err(|error| error.to_string())
}

/// Where the statements of a script came from, for error messages.
#[derive(Debug, Clone)]
pub enum Source {
    /// The n-th `-c` (1-based).
    Command(usize),
    /// A `-f` file.
    File(PathBuf),
    /// The interactive prompt or piped stdin.
    Prompt,
}

/// Settings that shape how results are shown, and what Ctrl-C stops.
#[derive(Debug, Clone)]
pub struct Output {
    format: Format,
    quiet: bool,
    max_rows: MaxRows,
    interrupt: Interrupt,
}

/// A failed statement: where it was and what went wrong.
#[derive(Debug)]
pub struct StatementError {
    place: String,
    pub error: DataFusionError,
}

impl std::fmt::Display for StatementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error")?;
        if !self.place.is_empty() {
            write!(f, " in {}", self.place)?;
        }
        write!(f, ": {}", one_line(&self.error))
    }
}

/// A DataFusion error on one line: its causes joined by `: ` and inner newlines folded.
fn one_line(error: &DataFusionError) -> String {
    let text = error.to_string();
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "caused by")
        .collect::<Vec<_>>()
        .join(": ")
}

/// What stopped a script early.
pub enum ScriptStop {
    /// A statement failed.
    Failed(StatementError),
    /// Stdout was closed (e.g. piped into `head`): stop quietly.
    OutputClosed,
}

fn main() -> ExitCode {
    // The engine starts this executable again as its worker processes.
    if let Some(code) = dfshm::worker::serve_if_requested() {
        return code;
    }
    let args = Args::parse();
    if let Some(Command::Worker(listen)) = args.command {
        return match dfshm::remote::serve(listen.into()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("Error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut builder = Engine::builder()
        .workers(args.workers)
        .transport(args.transport.into())
        .remote_workers(args.remote_workers.iter().cloned())
        .workers_from_this_executable();
    if let Some(partitions) = args.target_partitions {
        builder = builder.target_partitions(partitions as usize);
    }
    if let Some(bytes) = args.memory_limit {
        builder = builder.memory_limit_bytes(bytes);
    }
    if let Some(bytes) = args.scan_bytes_per_task {
        builder = builder.scan_bytes_per_task(bytes as u64);
    }
    if let Some(bytes) = args.exchange_budget {
        builder = builder.exchange_budget_bytes(bytes);
    }
    match args.cache_dir.clone().or_else(default_cache_dir) {
        Some(dir) => {
            builder = builder
                .cache_dir(dir)
                .cache_max_bytes(args.cache_max_bytes as u64)
                .no_cache(args.no_cache);
        }
        None if args.no_cache => {}
        None => eprintln!(
            "Warning: no platform cache folder (is HOME set?); results are not cached. \
             Pass --cache-dir DIR to cache them."
        ),
    }
    let engine = match builder.build() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.clear_cache
        && let Some(cache) = engine.result_cache()
    {
        match cache.clear() {
            Ok(before) if !args.quiet => eprintln!(
                "Cleared the result cache: {} entries, {} bytes.",
                before.entries, before.bytes
            ),
            Ok(_) => {}
            Err(error) => {
                eprintln!(
                    "Error: cannot clear the cache folder {}: {error}",
                    cache.dir().display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let only_cache = args.commands.is_empty() && args.files.is_empty();
    if only_cache && (args.cache_stats || args.clear_cache) {
        return print_cache_stats(&engine, args.cache_stats);
    }
    let output = Output {
        format: args.format,
        quiet: args.quiet,
        max_rows: args.maxrows,
        interrupt: Interrupt::listen(),
    };
    if args.commands.is_empty() && args.files.is_empty() {
        return repl::run(&engine, output).await;
    }
    let mut scripts: Vec<(Source, String)> = args
        .commands
        .into_iter()
        .enumerate()
        .map(|(index, sql)| (Source::Command(index + 1), sql))
        .collect();
    for path in args.files {
        match std::fs::read_to_string(&path) {
            Ok(sql) => scripts.push((Source::File(path), sql)),
            Err(error) => {
                eprintln!("Error: cannot read {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    for (source, sql) in &scripts {
        match run_script(&engine, source, sql, &output).await {
            Ok(()) => {}
            Err(ScriptStop::OutputClosed) => return ExitCode::SUCCESS,
            Err(ScriptStop::Failed(error)) if dfshm::is_cancelled(&error.error) => {
                eprintln!("Query cancelled.");
                return ExitCode::from(interrupt::EXIT_INTERRUPTED);
            }
            Err(ScriptStop::Failed(error)) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        }
    }
    print_cache_stats(&engine, args.cache_stats)
}

/// The platform's cache folder for dfshm's results (`$XDG_CACHE_HOME/dfshm/results` or
/// `~/.cache/dfshm/results` on Linux).
fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("dfshm").join("results"))
}

/// Prints the cache statistics to stdout when `wanted`.
fn print_cache_stats(engine: &Engine, wanted: bool) -> ExitCode {
    if !wanted {
        return ExitCode::SUCCESS;
    }
    let Some(cache) = engine.result_cache() else {
        println!("The result cache is off.");
        return ExitCode::SUCCESS;
    };
    match cache.stats() {
        Ok(stats) => {
            println!(
                "folder: {}\nmax bytes: {}\n{stats}",
                cache.dir().display(),
                cache.max_bytes()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "Error: cannot read the cache folder {}: {error}",
                cache.dir().display()
            );
            ExitCode::FAILURE
        }
    }
}

/// Runs every statement of `sql` in order, stopping at the first failure.
pub async fn run_script(
    engine: &Engine,
    source: &Source,
    sql: &str,
    output: &Output,
) -> Result<(), ScriptStop> {
    let statements = engine.statements(sql).map_err(|error| {
        ScriptStop::Failed(StatementError {
            place: place(source, None),
            error,
        })
    })?;
    for statement in &statements {
        run_statement(engine, statement, output)
            .await
            .map_err(|stop| match stop {
                Stop::Error(error) => ScriptStop::Failed(StatementError {
                    place: place(source, Some(statement)),
                    error,
                }),
                Stop::OutputClosed => ScriptStop::OutputClosed,
            })?;
    }
    Ok(())
}

fn place(source: &Source, statement: Option<&SqlStatement>) -> String {
    let origin = match source {
        Source::Command(n) => format!("command {n}"),
        Source::File(path) => path.display().to_string(),
        Source::Prompt => String::new(),
    };
    match (statement, source) {
        (None, _) => origin,
        // At the prompt a single statement needs no address; a later one of several does.
        (Some(statement), Source::Prompt) if statement.index() == 0 => origin,
        (Some(statement), Source::Prompt) => format!(
            "statement {} (line {})",
            statement.index() + 1,
            statement.line()
        ),
        (Some(statement), _) => format!(
            "{origin}, statement {} (line {})",
            statement.index() + 1,
            statement.line()
        ),
    }
}

enum Stop {
    Error(DataFusionError),
    OutputClosed,
}

impl From<DataFusionError> for Stop {
    fn from(error: DataFusionError) -> Self {
        // A closed stdout surfaces as an I/O error from the writers; it is not a query failure.
        if is_broken_pipe(&error) {
            Stop::OutputClosed
        } else {
            Stop::Error(error)
        }
    }
}

fn is_broken_pipe(error: &DataFusionError) -> bool {
    use dfshm::datafusion::arrow::error::ArrowError;
    let io = match error.find_root() {
        DataFusionError::IoError(io) => Some(io),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::IoError(_, io) => Some(io),
            _ => None,
        },
        DataFusionError::External(inner) => inner.downcast_ref::<std::io::Error>(),
        _ => None,
    };
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Runs one statement until it ends or Ctrl-C cancels it.
async fn run_statement(
    engine: &Engine,
    statement: &SqlStatement,
    output: &Output,
) -> Result<(), Stop> {
    let token = output.interrupt.start_query();
    let result = tokio::select! {
        result = execute_statement(engine, statement, output, &token) => result,
        // Dropping the statement's future drops its query: planning stops, and a running query
        // is torn down on every worker.
        () = token.cancelled() => Err(Stop::Error(dfshm::Cancelled.into())),
    };
    output.interrupt.end_query();
    result
}

async fn execute_statement(
    engine: &Engine,
    statement: &SqlStatement,
    output: &Output,
    token: &dfshm::CancelToken,
) -> Result<(), Stop> {
    let started = Instant::now();
    let frame = match engine.run_statement(statement).await? {
        StatementOutcome::Done => {
            if !output.quiet {
                eprintln!(
                    "OK. Elapsed {:.3} seconds.",
                    started.elapsed().as_secs_f64()
                );
            }
            return Ok(());
        }
        StatementOutcome::Rows(frame) => frame,
    };
    let (stream, trace) = engine.execute_stream_traced(frame, token).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let printed = print_stream(stream, output.format, output.max_rows, &mut out).await?;
    out.flush()
        .map_err(|error| Stop::from(DataFusionError::IoError(error)))?;
    drop(out);
    if !output.quiet {
        let shown = if printed.shown < printed.rows {
            format!(" ({} shown; --maxrows inf shows all)", printed.shown)
        } else {
            String::new()
        };
        let cached = if trace.served_from_cache() {
            " (from the result cache)".to_string()
        } else {
            match trace.reused_subplans() {
                0 => String::new(),
                n => format!(" ({n} sub-plan(s) reused from the result cache)"),
            }
        };
        eprintln!(
            "{} row(s) fetched{shown}. Elapsed {:.3} seconds{cached}.",
            printed.rows,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
