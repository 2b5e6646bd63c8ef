//! The result cache shared by several processes: two `dfshm` shells filling the same key make
//! one entry, a shell killed while writing leaves nothing that is ever served, eviction by one
//! process leaves another's mapped entry readable, and worker processes record and read stage
//! outputs in parts. Each test has a watchdog deadline.

use crate::common;

use common::{
    assert_same_rows, binary, datafusion_oracle, oracle_answer, scratch, small_scan_partitions,
    tpch_data,
};
use dfshm::cache::CacheEvent;
use dfshm::datafusion::arrow::array::RecordBatch;
use dfshm::{CancelToken, Engine, tpch};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

/// `dfshm` on cache folder `cache` with CSV output, stdout and stderr piped.
fn dfshm(cache: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("dfshm"));
    command
        .arg("--cache-dir")
        .arg(cache)
        .args(["--format", "csv"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` under the watchdog; kills it and fails past the deadline.
fn finish(mut child: Child, what: &str) -> Output {
    let until = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = listing
        .map(|item| item.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// The `name: value` lines of `--cache-stats`.
fn stat(stdout: &[u8], name: &str) -> u64 {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn stats(cache: &Path) -> Output {
    let output = finish(
        dfshm(cache, &["--cache-stats"]).spawn().unwrap(),
        "dfshm --cache-stats",
    );
    assert!(output.status.success(), "{output:?}");
    output
}

/// Starts `sql` on `engine`, returning its stream and what the cache did.
async fn traced(
    engine: &Engine,
    sql: &str,
) -> (
    dfshm::datafusion::execution::SendableRecordBatchStream,
    std::sync::Arc<dfshm::cache::CacheTrace>,
) {
    let frame = engine.sql(sql).await.unwrap();
    engine
        .execute_stream_traced(frame, &CancelToken::new())
        .await
        .unwrap()
}

/// The rows of `batches` as sorted text lines (with the table's borders).
fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = dfshm::datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A query of a second or so on two cores, with a one-row answer.
const SLOW: &str = "select count(*) as c, sum((a.n * b.n) % 7) as s \
                    from generate_series(1, 20000) as a(n), generate_series(1, 4000) as b(n)";

#[test]
fn two_processes_filling_one_key_make_one_entry() {
    let _turn = common::beside_others();
    let dir = scratch();
    let cache = dir.path().join("cache");
    let run = || dfshm(&cache, &["-c", SLOW]).spawn().unwrap();
    let (first, second) = (run(), run());
    let first = finish(first, "first dfshm");
    let second = finish(second, "second dfshm");
    assert!(first.status.success(), "{first:?}");
    assert!(second.status.success(), "{second:?}");
    assert_eq!(first.stdout, second.stdout);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("80000000,"),
        "{first:?}"
    );
    let stats = stats(&cache);
    // One computed it; the other waited for its entry instead of computing it again.
    assert_eq!(stat(&stats.stdout, "misses"), 1, "{stats:?}");
    assert_eq!(stat(&stats.stdout, "hits"), 1, "{stats:?}");
    assert_eq!(files(&cache, ".arrow").len(), 1);
    assert!(files(&cache, ".tmp").is_empty());
}

#[test]
fn a_writer_killed_mid_entry_leaves_nothing_that_is_served() {
    let _turn = common::beside_others();
    let dir = scratch();
    let cache = dir.path().join("cache");
    // Hundreds of MB of output, recorded as it is printed.
    let big = "select n, n * 2 as m from generate_series(1, 400000000) as g(n)";
    let mut child = dfshm(&cache, &["--quiet", "-c", big])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + DEADLINE;
    while files(&cache, ".tmp").is_empty() {
        assert!(Instant::now() < until, "no temporary entry file appeared");
        assert!(child.try_wait().unwrap().is_none(), "dfshm ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(files(&cache, ".arrow").is_empty());
    assert_eq!(files(&cache, ".tmp").len(), 1);
    // The next process sweeps the dead writer's file, and its lock died with it: the same key is
    // computed again (the query ends early through LIMIT; only complete results are stored).
    let stats = stats(&cache);
    assert_eq!(stat(&stats.stdout, "entries"), 0, "{stats:?}");
    assert!(files(&cache, ".tmp").is_empty());
    let small = finish(
        dfshm(
            &cache,
            &["-c", "select 41 + 1 as x", "-c", "select 41 + 1 as x"],
        )
        .spawn()
        .unwrap(),
        "dfshm",
    );
    assert!(small.status.success(), "{small:?}");
    assert!(
        String::from_utf8_lossy(&small.stderr).contains("(from the result cache)"),
        "{small:?}"
    );
}

#[test]
fn eviction_by_another_process_leaves_a_mapped_entry_readable() {
    common::run(async {
        let dir = scratch();
        let cache = dir.path().join("cache");
        let engine = Engine::builder()
            .target_partitions(2)
            .cache_dir(&cache)
            .build()
            .unwrap();
        let sql = "select n, n * 3 as m from generate_series(1, 100000) as g(n)";
        let (stream, _) = traced(&engine, sql).await;
        let cold: Vec<RecordBatch> = stream.map(|batch| batch.unwrap()).collect().await;
        let entries = files(&cache, ".arrow");
        assert_eq!(entries.len(), 1);
        // Serve it (mapping the file), then let another process evict it.
        let (held, trace) = traced(&engine, sql).await;
        assert!(trace.served_from_cache());
        let other = finish(
            dfshm(
                &cache,
                &[
                    "--cache-max-bytes",
                    "64K",
                    "-c",
                    "select n + 1 as x from generate_series(1, 5000) as g(n)",
                    "-c",
                    "select n + 2 as x from generate_series(1, 5000) as g(n)",
                ],
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
            "evicting dfshm",
        );
        assert!(other.status.success(), "{other:?}");
        assert!(!entries[0].exists(), "the entry was evicted");
        let warm: Vec<RecordBatch> = held.map(|batch| batch.unwrap()).collect().await;
        // Partitions interleave in any order: compare the rows as sets.
        assert_eq!(sorted_rows(&warm), sorted_rows(&cold));
        assert_eq!(sorted_rows(&cold).len(), 100_000 + 4);
        let stats = stats(&cache);
        assert!(stat(&stats.stdout, "evicted") >= 1, "{stats:?}");
    });
}

/// Runs `sql` through the cache; its rows and what the cache did.
async fn run_traced(
    engine: &Engine,
    sql: &str,
) -> (Vec<RecordBatch>, std::sync::Arc<dfshm::cache::CacheTrace>) {
    let (stream, trace) = traced(engine, sql).await;
    let batches = stream.map(|batch| batch.unwrap()).collect().await;
    (batches, trace)
}

/// An engine on `workers` worker processes and the remote workers `remote`, caching in `cache`,
/// with the TPC-H tables and scans split small.
async fn cached_tpch_engine(workers: usize, remote: &[String], cache: &Path) -> Engine {
    let engine = Engine::builder()
        .workers(workers)
        .worker_program(binary("dfshm-worker"))
        .remote_workers(remote)
        .target_partitions(2)
        .cache_dir(cache)
        .build()
        .unwrap();
    let engine = small_scan_partitions(engine).await;
    tpch::register_tables(&engine, tpch_data()).await.unwrap();
    engine
}

#[test]
fn on_worker_processes_results_and_stage_parts_are_reused_and_nothing_is_left() {
    common::run(async {
        let outcome = tokio::time::timeout(DEADLINE, async {
            let dir = scratch();
            let cache = dir.path().join("cache");
            let oracle = datafusion_oracle(tpch_data()).await;
            let engine = cached_tpch_engine(2, &[], &cache).await;
            let q18 = tpch::query(18).unwrap();

            let (cold, trace) = run_traced(&engine, q18).await;
            assert_same_rows("q18", &oracle_answer(&oracle, q18).await, &cold, true);
            let events = trace.events();
            assert!(!trace.served_from_cache(), "{events:?}");
            assert!(
                events
                    .iter()
                    .any(|event| matches!(event, CacheEvent::SubplanRecording { .. })),
                "{events:?}"
            );
            // The whole result, and the join under the partial aggregation in one part per task.
            let stored = files(&cache, ".arrow").len();
            assert!(stored >= 3, "{stored} entries");

            let (warm, trace) = run_traced(&engine, q18).await;
            assert!(trace.served_from_cache(), "{:?}", trace.events());
            assert_same_rows("q18 repeated", &cold, &warm, true);

            // Edited above the join: the workers read the join's parts instead of joining again.
            let (edited, trace) = run_traced(&engine, tpch::Q18_EDITED).await;
            assert!(trace.reused_subplans() >= 1, "{:?}", trace.events());
            assert_same_rows(
                "edited q18",
                &oracle_answer(&oracle, tpch::Q18_EDITED).await,
                &edited,
                true,
            );
            let analyze = format!("explain analyze {}", tpch::Q18_EDITED);
            let (explained, _) = run_traced(&engine, &analyze).await;
            let text = dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&explained)
                .unwrap()
                .to_string();
            assert!(
                text.contains("CachedScanExec: sub-plan of") && text.contains(" parts, rows="),
                "{text}"
            );

            // Pins last as long as their query; no temporary file outlives its writer.
            drop(engine);
            assert_eq!(files(&cache.join("pins"), ".pin"), Vec::<PathBuf>::new());
            assert_eq!(files(&cache, ".tmp"), Vec::<PathBuf>::new());
        })
        .await;
        outcome.expect("the test outlived its watchdog");
    });
}

/// Remote workers cannot be assumed to reach this host's cache folder: with only remote workers,
/// whole results are cached here and no stage part is recorded; mixed with worker processes,
/// parts are recorded and served by the worker processes (stages that read them stay there).
#[test]
fn with_remote_workers_whole_results_are_cached_here_and_parts_only_on_worker_processes() {
    common::run(async {
        let outcome = tokio::time::timeout(DEADLINE * 4, async {
            let remote = common::remote_workers(2);
            let oracle = datafusion_oracle(tpch_data()).await;
            let q18 = tpch::query(18).unwrap();
            let want = oracle_answer(&oracle, q18).await;
            let want_edited = oracle_answer(&oracle, tpch::Q18_EDITED).await;
            for local in [0, 2] {
                let dir = scratch();
                let cache = dir.path().join("cache");
                let engine = cached_tpch_engine(local, &common::urls(&remote), &cache).await;
                let what = format!("{local} worker processes and 2 remote workers");

                let (cold, trace) = run_traced(&engine, q18).await;
                assert_same_rows(&format!("q18, {what}"), &want, &cold, true);
                let recorded_parts = trace
                    .events()
                    .iter()
                    .any(|event| matches!(event, CacheEvent::SubplanRecording { .. }));
                assert_eq!(recorded_parts, local > 0, "{what}: {:?}", trace.events());

                let (warm, trace) = run_traced(&engine, q18).await;
                assert!(trace.served_from_cache(), "{what}: {:?}", trace.events());
                assert_same_rows(&format!("q18 repeated, {what}"), &cold, &warm, true);

                let (edited, trace) = run_traced(&engine, tpch::Q18_EDITED).await;
                assert_eq!(
                    trace.reused_subplans() >= 1,
                    local > 0,
                    "{what}: {:?}",
                    trace.events()
                );
                assert_same_rows(&format!("edited q18, {what}"), &want_edited, &edited, true);
                drop(engine);
                assert_eq!(files(&cache, ".tmp"), Vec::<PathBuf>::new());
            }
        })
        .await;
        outcome.expect("the test outlived its watchdog");
    });
}
