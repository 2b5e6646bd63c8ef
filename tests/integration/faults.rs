//! Cancellation and worker faults over real worker processes: queries stop on every worker the
//! moment nobody needs their rows, and a killed, panicking, stopped or memory-starved worker fails
//! the query with an error that names it, never a hang, while the engine keeps serving and
//! nothing leaks.
//!
//! Each test runs alone in the test process (they count its fds) under a watchdog deadline.

use crate::common;

use common::{
    Usage, assert_same_rows, become_idle, children, datafusion_oracle, engine_answer, eventually,
    is_dead, oracle_answer, resources, shm_engine, signal, small_scan_partitions, tpch_data,
    tpch_data_sf01, usage,
};
use dfshm::datafusion::error::DataFusionError;
use dfshm::datafusion::execution::SendableRecordBatchStream;
use dfshm::{CancelToken, Engine, tpch};
use futures::StreamExt;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(240);
/// How long teardown may take before a test calls it a leak or a hang (generous: CI machines
/// are slow; the benchmark measures the real figure).
const SETTLE: Duration = Duration::from_secs(20);

/// Runs a test alone in this process (they count its fds), under the watchdog.
fn guarded(test: impl std::future::Future<Output = ()>) {
    common::run_alone(async {
        tokio::time::timeout(WATCHDOG, test)
            .await
            .expect("the test outlived its watchdog");
    });
}

/// Two workers over TPC-H sf 0.1 with scans split small, so every stage spreads over both.
async fn sf01_engine(builder: dfshm::EngineBuilder) -> Engine {
    let engine = small_scan_partitions(
        builder
            .workers(2)
            .worker_program(common::binary("dfshm-worker"))
            .target_partitions(2)
            .build()
            .expect("start worker processes"),
    )
    .await;
    tpch::register_tables(&engine, tpch_data_sf01())
        .await
        .unwrap();
    engine
}

/// A query whose workers would compute for a long time: about 360 million joined rows.
const ENDLESS: &str = "select a.l_orderkey, b.l_orderkey from lineitem a \
                       join lineitem b on a.l_suppkey = b.l_suppkey";

async fn stream(engine: &Engine, sql: &str, token: &CancelToken) -> SendableRecordBatchStream {
    let frame = engine.sql(sql).await.unwrap();
    engine.execute_stream(frame, token).await.unwrap()
}

/// No ring is mapped anywhere and every worker is idle.
async fn quiet(engine: &Engine) {
    let pids = engine.worker_pids();
    let all: Vec<u32> = pids.iter().copied().chain([std::process::id()]).collect();
    eventually("rings are still mapped", SETTLE, || {
        // Finished rings wait in this process's pool for the next query; only others count.
        dfshm::clear_ring_pool();
        all.iter()
            .all(|pid| usage(*pid).is_some_and(|u| u.ring_mappings == 0))
    })
    .await;
    become_idle(&pids, SETTLE).await;
}

/// Once an engine is dropped: no child process, and no more fds, rings or /dev/shm entries in
/// this process than `before` (fewer is no leak: what an earlier test let go of asynchronously,
/// after `before` was taken, may close meanwhile).
async fn nothing_left(before: &common::Resources) {
    eventually("child processes were left behind", SETTLE, || {
        children().is_empty()
    })
    .await;
    let (now, within) = common::settled_within(before, SETTLE).await;
    assert!(
        within,
        "the engine leaked fds or rings (waited {SETTLE:?}): {before:?} before, {now:?} now"
    );
}

#[test]
fn limit_dropped_stream_and_token_stop_every_worker() {
    guarded(async {
        let engine = sf01_engine(Engine::builder()).await;
        let workers = engine.worker_pids();

        // LIMIT 10 over the largest table: ten rows, and nothing keeps running.
        let rows = engine_answer(&engine, "select * from lineitem limit 10")
            .await
            .unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
        assert_eq!(rows[0].num_columns(), 16);
        quiet(&engine).await;
        // What the workers hold between queries, once they have run one.
        let before: Vec<Usage> = workers.iter().map(|pid| usage(*pid).unwrap()).collect();

        // A LIMIT the planner cannot push below the join (a volatile filter sits above it).
        let limited = format!("select * from ({ENDLESS}) where random() >= 0 limit 10");
        let rows = engine_answer(&engine, &limited).await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
        quiet(&engine).await;

        // A client that goes away after its first batch.
        let mut endless = stream(&engine, ENDLESS, &CancelToken::new()).await;
        assert!(endless.next().await.unwrap().unwrap().num_rows() > 0);
        drop(endless);
        quiet(&engine).await;

        // A cancel from another thread while the query runs and nobody polls it.
        let token = CancelToken::new();
        let mut endless = stream(&engine, ENDLESS, &token).await;
        assert!(endless.next().await.unwrap().unwrap().num_rows() > 0);
        let canceller = token.clone();
        std::thread::spawn(move || canceller.cancel())
            .join()
            .unwrap();
        quiet(&engine).await;
        let error = endless.next().await.unwrap().unwrap_err();
        assert!(dfshm::is_cancelled(&error), "{error}");
        assert!(endless.next().await.is_none());

        // A token that fires before the query starts.
        let frame = engine.sql(ENDLESS).await.unwrap();
        let fired = CancelToken::new();
        fired.cancel();
        let error = engine.execute_stream(frame, &fired).await.err().unwrap();
        assert!(dfshm::is_cancelled(&error), "{error}");

        // The same workers served everything, and their fds are back where they were.
        assert_eq!(engine.worker_pids(), workers);
        for (pid, before) in workers.iter().zip(&before) {
            let fds = || {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .unwrap()
                    .flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .map(|target| target.display().to_string())
                    .collect::<Vec<_>>()
            };
            let until = std::time::Instant::now() + SETTLE;
            while usage(*pid).is_none_or(|now| now.fds > before.fds) {
                assert!(
                    std::time::Instant::now() < until,
                    "worker {pid} holds more fds than the {} it held before: {:?}",
                    before.fds,
                    fds()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
}

/// A small deterministic generator (xorshift), seeded per run and printed for reproduction.
struct Random(u64);

impl Random {
    fn new() -> Random {
        let seed = std::env::var("DFSHM_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).unwrap();
                u64::from_le_bytes(bytes) | 1
            });
        eprintln!("DFSHM_TEST_SEED={seed}");
        Random(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn workers_killed_at_random_points_fail_queries_cleanly_and_the_engine_recovers() {
    guarded(async {
        let oracle = datafusion_oracle(tpch_data()).await;
        let before = resources();
        let engine = shm_engine(2, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let queries = [1, 3, 5, 9, 10, 13, 18, 21];
        let mut expected = Vec::new();
        for number in queries {
            let sql = tpch::query(number).unwrap();
            expected.push(oracle_answer(&oracle, sql).await);
        }
        let engine = std::sync::Arc::new(engine);
        let mut random = Random::new();
        let (mut failed, mut succeeded) = (0, 0);
        let mut killed = Vec::new();
        for iteration in 0..50 {
            let pick = random.below(queries.len() as u64) as usize;
            let sql = tpch::query(queries[pick]).unwrap();
            let running = tokio::spawn({
                let engine = engine.clone();
                async move { engine_answer(&engine, sql).await }
            });
            // Kill one worker somewhere between planning and the last batch.
            tokio::time::sleep(Duration::from_micros(random.below(40_000))).await;
            let victim = engine.worker_pids()[random.below(2) as usize];
            signal(victim, libc::SIGKILL);
            killed.push(victim);
            let outcome = tokio::time::timeout(SETTLE, running)
                .await
                .unwrap_or_else(|_| panic!("iteration {iteration}: the query hung after a kill"))
                .unwrap();
            match outcome {
                Ok(rows) => {
                    assert_same_rows(&format!("q{}", queries[pick]), &expected[pick], &rows, true);
                    succeeded += 1;
                }
                Err(error) => {
                    let text = error.to_string();
                    assert!(
                        text.contains("worker"),
                        "iteration {iteration}: the error does not name the worker: {text}"
                    );
                    failed += 1;
                }
            }
        }
        eprintln!("{failed} queries failed with a worker error, {succeeded} finished first");
        assert!(failed > 0, "no kill ever hit a running query");
        // The engine keeps serving: every query right after the kills is correct.
        for (pick, number) in queries.iter().enumerate() {
            let rows = engine_answer(&engine, tpch::query(*number).unwrap())
                .await
                .unwrap();
            assert_same_rows(&format!("q{number} after"), &expected[pick], &rows, true);
        }
        for pid in &killed {
            assert!(is_dead(*pid), "killed worker {pid} is still running");
        }
        let workers = engine.worker_pids();
        drop(engine);
        for pid in workers {
            assert!(is_dead(pid), "worker {pid} outlived its engine");
        }
        nothing_left(&before).await;
    });
}

/// A reader that stops reading holds the workers at their credit: they go idle with little
/// waiting in the coordinator. A worker killed then fails the query as soon as the reader looks
/// again (after the few batches already there), and nothing is left behind.
#[test]
fn a_worker_killed_while_its_reader_is_out_of_credit_fails_the_query_cleanly() {
    guarded(async {
        let before = resources();
        let engine = sf01_engine(Engine::builder().exchange_budget_bytes(256 << 10)).await;
        limit_1(&engine).await;
        quiet(&engine).await;
        let rss_before = usage(std::process::id()).unwrap().rss_kib;
        // About 100 MB of Arrow arrays if it all came at once.
        let mut rows = stream(&engine, "select * from lineitem", &CancelToken::new()).await;
        assert!(rows.next().await.unwrap().unwrap().num_rows() > 0);
        become_idle(&engine.worker_pids(), SETTLE).await;
        let grown_kib = usage(std::process::id())
            .unwrap()
            .rss_kib
            .saturating_sub(rss_before);
        assert!(
            grown_kib < 48 * 1024,
            "the coordinator grew by {grown_kib} KiB while nobody read: the exchange is unbounded"
        );
        let victim = engine.worker_pids()[0];
        signal(victim, libc::SIGKILL);
        let killed = std::time::Instant::now();
        let error = loop {
            match rows.next().await {
                Some(Ok(_)) => continue,
                Some(Err(error)) => break error,
                None => panic!("the query ended without the killed worker's rows"),
            }
        };
        eprintln!(
            "the reader saw the kill after {:?}: {error}",
            killed.elapsed()
        );
        assert!(error.to_string().contains("worker"), "{error}");
        drop(rows);
        limit_1(&engine).await;
        quiet(&engine).await;
        drop(engine);
        assert!(is_dead(victim));
        nothing_left(&before).await;
    });
}

#[test]
fn a_panicking_worker_fails_the_query_and_is_replaced() {
    guarded(async {
        let builder =
            Engine::builder().worker_failpoint(dfshm::worker::Failpoint::PanicInExecuteTask);
        let engine = sf01_engine(builder).await;
        let first = engine.worker_pids();
        let sql = "select l_returnflag, count(*) from lineitem group by l_returnflag \
                   order by l_returnflag";
        let error = engine_answer(&engine, sql).await.unwrap_err().to_string();
        assert!(error.contains("worker"), "{error}");
        // The error says what the worker died of, and its last words (the panic).
        assert!(error.contains("SIGABRT"), "{error}");
        assert!(error.contains("panicked"), "{error}");
        // Only worker 0's first generation has the failpoint.
        eventually("the panicked worker did not exit", SETTLE, || {
            is_dead(first[0])
        })
        .await;
        let rows = engine_answer(&engine, sql).await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        let now = engine.worker_pids();
        assert_ne!(now[0], first[0], "worker 0 was not replaced");
        assert_eq!(now[1], first[1], "worker 1 should have been kept");
    });
}

#[test]
fn a_stopped_worker_is_waited_for_or_times_out_but_never_overwritten() {
    guarded(async {
        let oracle = datafusion_oracle(tpch_data_sf01()).await;
        let sql = tpch::query(3).unwrap();
        let expected = oracle_answer(&oracle, sql).await;

        // Stopped for a moment with the default timeout: the query waits and is right.
        let engine = sf01_engine(Engine::builder()).await;
        let victim = engine.worker_pids()[0];
        let running = tokio::spawn({
            let engine = std::sync::Arc::new(engine);
            let inner = engine.clone();
            async move { (engine_answer(&inner, sql).await, engine) }
        });
        signal(victim, libc::SIGSTOP);
        tokio::time::sleep(Duration::from_millis(500)).await;
        signal(victim, libc::SIGCONT);
        let (rows, engine) = running.await.unwrap();
        assert_same_rows("q3 with a pause", &expected, &rows.unwrap(), true);
        drop(engine);

        // Stopped for good with a one-second timeout: the query fails naming the worker.
        let engine =
            sf01_engine(Engine::builder().worker_timeout(Some(Duration::from_secs(1)))).await;
        let victim = engine.worker_pids()[1];
        signal(victim, libc::SIGSTOP);
        let error = engine_answer(&engine, sql).await.unwrap_err().to_string();
        assert!(error.contains("worker 1 did not answer"), "{error}");
        signal(victim, libc::SIGCONT);
        let rows = engine_answer(&engine, sql).await.unwrap();
        assert_same_rows("q3 after the stop", &expected, &rows, true);
    });
}

#[test]
fn a_worker_over_its_memory_limit_reports_resources_exhausted() {
    guarded(async {
        let engine = sf01_engine(Engine::builder().memory_limit_bytes(4 << 20)).await;
        // A hash join's build side cannot spill: 150,000 orders do not fit in 4 MiB.
        let sql = "select count(*) from orders o join lineitem l on o.o_orderkey = l.l_orderkey \
                   where o.o_comment <> l.l_comment";
        let error = engine_answer(&engine, sql).await.unwrap_err();
        assert!(
            matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)),
            "not a resources-exhausted error: {error}"
        );
        // The engine keeps serving small queries.
        let rows = engine_answer(&engine, "select count(*) from nation")
            .await
            .unwrap();
        assert_eq!(rows[0].num_rows(), 1);
    });
}

/// A LIMIT 1 that runs on the workers (a bare `select * ... limit 1` stays whole in the
/// coordinator: datafusion-distributed sees nothing worth distributing in it).
async fn limit_1(engine: &Engine) {
    let rows = engine_answer(
        engine,
        "select * from lineitem where l_quantity > 0 limit 1",
    )
    .await
    .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
}

/// The most rings a process's pool keeps (its idle budget in default rings).
const POOL_RINGS: usize = 16;

/// 10,000 short queries: every query's rings come from the pool and go back to it, so nothing a
/// query holds (fds, mapped rings, pooled bytes, RSS) grows with the number of queries; the
/// pool then shrinks to nothing once idle.
#[test]
fn ten_thousand_limit_1_queries_leave_fds_rss_rings_and_pooled_bytes_flat() {
    const QUERIES: usize = 10_000;
    common::run_alone(async {
        let test = async {
            let engine = shm_engine(2, 2).await;
            tpch::register_tables(&engine, tpch_data()).await.unwrap();
            let workers = engine.worker_pids();
            let pids: Vec<u32> = workers
                .iter()
                .copied()
                .chain([std::process::id()])
                .collect();
            // Warm up: allocators, caches and the ring pool reach their working size.
            for _ in 0..200 {
                limit_1(&engine).await;
            }
            let settled = |pids: &[u32]| -> Vec<Usage> {
                pids.iter().map(|pid| usage(*pid).unwrap()).collect()
            };
            become_idle(&workers, SETTLE).await;
            let before = settled(&pids);
            let pool_before = dfshm::ring_pool_stats();
            for _ in 0..QUERIES {
                limit_1(&engine).await;
            }
            become_idle(&workers, SETTLE).await;
            // Connections close asynchronously on the runtimes' threads. This process may keep a
            // few more rings in its pool than before (each with its fd), never more than the pool's
            // bound; every other ring and fd is gone.
            let coordinator = workers.len();
            let flat = || {
                let pool = dfshm::ring_pool_stats();
                let now = settled(&pids);
                let pooled_more = pool.idle_segments.saturating_sub(pool_before.idle_segments);
                let workers_flat = now[..coordinator]
                    .iter()
                    .zip(&before)
                    .all(|(now, before)| now.fds <= before.fds && now.ring_mappings <= POOL_RINGS);
                let this = &now[coordinator];
                workers_flat
                    && this.fds <= before[coordinator].fds + pooled_more
                    && this.ring_mappings == pool.idle_segments
                    && pool.in_use_segments == 0
            };
            eventually("fds or rings grew over 10,000 queries", SETTLE, flat).await;
            let after = settled(&pids);
            let pool = dfshm::ring_pool_stats();
            for (index, (before, after)) in before.iter().zip(&after).enumerate() {
                assert!(
                    after.rss_kib <= before.rss_kib + 32 * 1024,
                    "process {index}: RSS grew from {} KiB to {} KiB over {QUERIES} queries",
                    before.rss_kib,
                    after.rss_kib
                );
            }
            assert!(
                pool.idle_segments <= POOL_RINGS,
                "the pool outgrew its bound: {pool:?}"
            );
            // Every query fetched through at least one ring (so it ran on the workers). Steady
            // state: rings are reused, not made (and faulted in) afresh. A ring comes back
            // only once its worker has unmapped it, so now and then the next query is quicker and
            // gets a new one.
            let reused = (pool.reused - pool_before.reused) as usize;
            let created = (pool.created - pool_before.created) as usize;
            println!(
                "{QUERIES} queries: {created} rings created, {reused} reused; pool now {pool:?}"
            );
            assert!(
                reused >= QUERIES && created <= QUERIES / 100,
                "rings were made afresh instead of reused: {created} created, {reused} reused"
            );
            assert_eq!(engine.worker_pids(), workers);
            // Idle, the pool gives its rings back.
            eventually("the idle pool kept its rings", SETTLE, || {
                dfshm::ring_pool_stats().idle_segments == 0
                    && usage(std::process::id()).is_some_and(|u| u.ring_mappings == 0)
            })
            .await;
        };
        tokio::time::timeout(4 * WATCHDOG, test)
            .await
            .expect("the test outlived its watchdog");
    });
}
