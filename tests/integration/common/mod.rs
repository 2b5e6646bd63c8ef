//! Helpers shared by the integration tests: turns in the shared test process, small TPC-H data,
//! a plain-DataFusion oracle, and a result comparison that is order-sensitive on request and
//! tolerant for floating point.

#![allow(dead_code)]

use dfshm::datafusion::arrow::array::{Array, AsArray};
use dfshm::datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use dfshm::datafusion::arrow::record_batch::RecordBatch;
use dfshm::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use dfshm::datafusion::prelude::{ParquetReadOptions, SessionContext};
use dfshm::tpch;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Turns in the test process: any number of tests side by side, or one test alone.
static GATE: RwLock<()> = RwLock::new(());

/// A turn beside other tests. Every test that opens fds, maps memory or starts processes takes
/// one (or [`alone`]) first. A failed test does not poison the gate.
pub fn beside_others() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// A turn with no other test running in this process: for tests that count its fds, mappings
/// or child processes.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// Runs an async test beside others, on a runtime of its own built once the turn is taken and
/// dropped (its tasks and threads gone) before the turn ends.
pub fn run(test: impl Future<Output = ()>) {
    let _turn = beside_others();
    runtime().block_on(test);
}

/// Runs an async test [`alone`], like [`run`].
pub fn run_alone(test: impl Future<Output = ()>) {
    let _turn = alone();
    runtime().block_on(test);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime for the test")
}

/// The scale factor of the tests' TPC-H data: small, but every query returns rows.
pub const TEST_SCALE_FACTOR: f64 = 0.01;

/// A folder of TPC-H data at [`TEST_SCALE_FACTOR`], generated once (kept in cargo's scratch
/// folder for test data and reused by later runs; generation is idempotent and crash-safe).
pub fn tpch_data() -> &'static Path {
    generated(TEST_SCALE_FACTOR)
}

/// A folder of TPC-H data at scale factor 0.1, large enough that the default scan partitioning
/// spreads tables over several tasks (about 30 MB, generated once like [`tpch_data`]).
pub fn tpch_data_sf01() -> &'static Path {
    generated(0.1)
}

fn generated(scale_factor: f64) -> &'static Path {
    static DATA: OnceLock<std::sync::Mutex<Vec<(String, &'static Path)>>> = OnceLock::new();
    let name = format!("tpch-sf{scale_factor}");
    let mut known = DATA.get_or_init(Default::default).lock().unwrap();
    if let Some((_, path)) = known.iter().find(|(known, _)| *known == name) {
        return path;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name.clone());
    tpch::generate(scale_factor, &dir, &|_| {}).expect("generate TPC-H data");
    let path: &'static Path = Box::leak(dir.into_boxed_path());
    known.push((name, path));
    path
}

/// The statements that register the TPC-H tables of `dir` (for the CLI).
pub fn tpch_ddl(dir: &Path) -> String {
    tpch::TABLES
        .iter()
        .map(|table| {
            format!(
                "create external table {table} stored as parquet location '{}/';\n",
                dir.join(table).display()
            )
        })
        .collect()
}

/// Plain DataFusion (no dfshm code) with the TPC-H tables registered: the oracle.
pub async fn datafusion_oracle(dir: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    for table in tpch::TABLES {
        let path = dir.join(table);
        ctx.register_parquet(
            table,
            path.to_str().expect("utf-8 path"),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register table with DataFusion");
    }
    ctx
}

/// Runs every statement of `sql` on plain DataFusion; returns the rows of the last one that has rows.
pub async fn oracle_answer(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    let mut answer = Vec::new();
    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
        let frame = ctx.sql(statement).await.expect("oracle plans the query");
        let returns_rows = !frame.schema().fields().is_empty();
        let batches = frame.collect().await.expect("oracle runs the query");
        if returns_rows {
            answer = batches;
        }
    }
    answer
}

/// One value of a result row, compared exactly except for floating point.
#[derive(Debug, Clone)]
pub enum Cell {
    Null,
    Float(f64),
    Text(String),
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Text(a), Cell::Text(b)) => a == b,
            (Cell::Float(a), Cell::Float(b)) => {
                a == b
                    || (a.is_nan() && b.is_nan())
                    || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
            }
            _ => false,
        }
    }
}

/// The rows of `batches` as cells.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| {
                    if column.is_null(row) {
                        return Cell::Null;
                    }
                    match column.data_type() {
                        DataType::Float64 => {
                            Cell::Float(column.as_primitive::<Float64Type>().value(row))
                        }
                        DataType::Float32 => {
                            Cell::Float(column.as_primitive::<Float32Type>().value(row) as f64)
                        }
                        _ => Cell::Text(formatter.value(row).to_string()),
                    }
                })
                .collect();
            out.push(cells);
        }
    }
    out
}

fn sort_key(row: &[Cell]) -> String {
    row.iter()
        .map(|cell| match cell {
            Cell::Null => "\u{0}".to_string(),
            Cell::Float(value) => format!("{value:.6e}"),
            Cell::Text(text) => text.clone(),
        })
        .collect::<Vec<_>>()
        .join("\u{1}")
}

/// Asserts that `actual` has the rows of `expected`: in order when `ordered`, else as multisets.
pub fn assert_same_rows(
    what: &str,
    expected: &[RecordBatch],
    actual: &[RecordBatch],
    ordered: bool,
) {
    let mut expected_rows = rows(expected);
    let mut actual_rows = rows(actual);
    assert_eq!(
        expected_rows.len(),
        actual_rows.len(),
        "{what}: expected {} rows, got {}",
        expected_rows.len(),
        actual_rows.len()
    );
    if !ordered {
        expected_rows.sort_by_cached_key(|row| sort_key(row));
        actual_rows.sort_by_cached_key(|row| sort_key(row));
    }
    for (index, (want, got)) in expected_rows.iter().zip(&actual_rows).enumerate() {
        assert_eq!(want, got, "{what}: row {index} differs");
    }
}

/// An engine whose stages run on `workers` worker processes over shared memory, with scan
/// partitions small enough that even the tests' tiny tables spread over every worker.
pub async fn shm_engine(workers: usize, partitions: usize) -> dfshm::Engine {
    let builder = dfshm::Engine::builder()
        .workers(workers)
        .worker_program(binary("dfshm-worker"))
        .target_partitions(partitions);
    small_scan_partitions(builder.build().expect("start worker processes")).await
}

/// `engine` with scans split into 64 KiB partitions, so that even the tests' tiny tables spread
/// over every worker.
pub async fn small_scan_partitions(engine: dfshm::Engine) -> dfshm::Engine {
    engine
        .sql("set distributed.file_scan_config_bytes_per_partition = 65536")
        .await
        .expect("set the scan partition size");
    engine
}

/// Runs every statement of `sql` on `engine`; returns the rows of the last row-returning one.
pub async fn engine_answer(
    engine: &dfshm::Engine,
    sql: &str,
) -> dfshm::datafusion::error::Result<Vec<RecordBatch>> {
    let mut answer = Vec::new();
    for statement in engine.statements(sql)? {
        if let dfshm::StatementOutcome::Rows(frame) = engine.run_statement(&statement).await? {
            answer = frame.collect().await?;
        }
    }
    Ok(answer)
}

/// What the process holds that a leak would grow.
#[derive(Debug, PartialEq, Eq)]
pub struct Resources {
    pub fds: usize,
    pub ring_mappings: usize,
    pub dev_shm_entries: usize,
}

pub fn resources() -> Resources {
    // Finished rings wait in this process's pool for its next query: not a leak. Unmapping them
    // first leaves the rings in use, and whatever a leak kept.
    dfshm::clear_ring_pool();
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let ring_mappings = maps
        .lines()
        .filter(|line| line.contains("memfd:dfshm"))
        .count();
    let dev_shm_entries = std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().contains("dfshm"))
                .count()
        })
        .unwrap_or(0);
    Resources {
        fds,
        ring_mappings,
        dev_shm_entries,
    }
}

/// Waits up to `deadline` until this process holds no more fds, rings or /dev/shm entries than
/// `before` (fewer is no leak: what was still finishing when `before` was taken may have finished
/// since); returns what it holds then, and whether that is within `before`.
pub async fn settled_within(
    before: &Resources,
    deadline: std::time::Duration,
) -> (Resources, bool) {
    let within = |now: &Resources| {
        now.fds <= before.fds
            && now.ring_mappings <= before.ring_mappings
            && now.dev_shm_entries <= before.dev_shm_entries
    };
    let until = std::time::Instant::now() + deadline;
    let mut now = resources();
    while !within(&now) && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        now = resources();
    }
    let ok = within(&now);
    (now, ok)
}

/// A scratch folder for one test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dfshm-test-")
        .tempdir()
        .expect("create a temporary folder")
}

/// The path of a built binary of this package.
pub fn binary(name: &str) -> PathBuf {
    match name {
        "dfshm" => PathBuf::from(env!("CARGO_BIN_EXE_dfshm")),
        "dfshm-bench" => PathBuf::from(env!("CARGO_BIN_EXE_dfshm-bench")),
        "dfshm-worker" => PathBuf::from(env!("CARGO_BIN_EXE_dfshm-worker")),
        other => panic!("unknown binary {other}"),
    }
}

/// The state letter of process `pid` in /proc (`Z` for a zombie), or `None` once it is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesized command name.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether `pid` is gone or a zombie (dead, waiting to be reaped).
pub fn is_dead(pid: u32) -> bool {
    matches!(process_state(pid), Some('Z') | None)
}

/// Children of process `pid` that are still around (running or not yet reaped).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return pids;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(
            list.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    pids
}

/// Children of this process that are still around.
pub fn children() -> Vec<u32> {
    children_of(std::process::id())
}

/// What one process holds and has used, from /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User and system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    pub fds: usize,
    /// Mappings of dfshm shared-memory segments (rings).
    pub ring_mappings: usize,
    pub rss_kib: u64,
}

/// The usage of process `pid`, or `None` once it is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    let cpu_ticks = ticks(14)? + ticks(15)?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let ring_mappings = maps
        .lines()
        .filter(|line| line.contains("memfd:dfshm"))
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some(Usage {
        cpu_ticks,
        fds,
        ring_mappings,
        rss_kib,
    })
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory preconditions; the tests signal only processes they started.
    unsafe { libc::kill(pid as i32, signal) };
}

/// Waits until `done` holds, polling every 5 ms; panics with `what` after `deadline`.
pub async fn eventually(what: &str, deadline: std::time::Duration, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + deadline;
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "{what} (waited {deadline:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Waits until the processes `pids` use no CPU for 300 ms in a row (nothing keeps running after a
/// query stopped); panics after `deadline`.
pub async fn become_idle(pids: &[u32], deadline: std::time::Duration) {
    let total = || -> u64 {
        pids.iter()
            .filter_map(|pid| usage(*pid))
            .map(|u| u.cpu_ticks)
            .sum()
    };
    let until = std::time::Instant::now() + deadline;
    loop {
        let before = total();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // One tick (10 ms) of slack for housekeeping.
        if total() <= before + 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "workers {pids:?} still burn CPU {deadline:?} after their query stopped"
        );
    }
}

/// `count` remote workers (`dfshm-worker --listen 127.0.0.1:0`), killed when dropped.
pub fn remote_workers(count: usize) -> Vec<dfshm::remote::ListeningWorker> {
    (0..count).map(|_| remote_worker_on(0)).collect()
}

/// A remote worker listening on 127.0.0.1:`port` (0: any free port).
pub fn remote_worker_on(port: u16) -> dfshm::remote::ListeningWorker {
    let mut command = std::process::Command::new(binary("dfshm-worker"));
    command.args(["--listen", &format!("127.0.0.1:{port}"), "--threads", "2"]);
    dfshm::remote::ListeningWorker::spawn(command, std::time::Duration::from_secs(60))
        .expect("start a remote worker")
}

/// The URLs of `workers`.
pub fn urls(workers: &[dfshm::remote::ListeningWorker]) -> Vec<String> {
    workers
        .iter()
        .map(|worker| worker.url().to_string())
        .collect()
}

/// The text of `EXPLAIN ANALYZE sql` on `engine`.
pub async fn explain_analyze(engine: &dfshm::Engine, sql: &str) -> String {
    let batches = engine_answer(engine, &format!("explain analyze {sql}"))
        .await
        .expect("explain analyze");
    dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format the plan")
        .to_string()
}
