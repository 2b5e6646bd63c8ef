//! The worker pool's lifecycle: a killed worker is restarted before the next query, and an engine
//! that goes away leaves no worker process, fd, ring mapping or /dev/shm entry behind.
//!
//! The test runs alone in the test process, so that nothing else opens fds while it counts them.

use crate::common;

use common::{
    assert_same_rows, children, datafusion_oracle, engine_answer, oracle_answer, process_state,
    resources, shm_engine, tpch_data,
};
use dfshm::tpch;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn a_killed_worker_is_restarted_and_a_dropped_engine_leaves_nothing() {
    common::run_alone(async {
        let outcome = tokio::time::timeout(WATCHDOG, async {
            let oracle = datafusion_oracle(tpch_data()).await;
            let before = resources();
            let engine = shm_engine(2, 2).await;
            tpch::register_tables(&engine, tpch_data()).await.unwrap();
            let sql = tpch::query(3).unwrap();
            let expected = oracle_answer(&oracle, sql).await;
            assert_same_rows(
                "q3",
                &expected,
                &engine_answer(&engine, sql).await.unwrap(),
                true,
            );

            let pids = engine.worker_pids();
            assert_eq!(pids.len(), 2);
            // SAFETY: kill(2) on a child this engine spawned and has not reaped.
            unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
            let deadline = Instant::now() + WATCHDOG;
            while !matches!(process_state(pids[0]), Some('Z') | None) {
                assert!(Instant::now() < deadline, "the killed worker never died");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The next query finds the dead worker, starts a new one and succeeds.
            assert_same_rows(
                "q3 after a kill",
                &expected,
                &engine_answer(&engine, sql).await.unwrap(),
                true,
            );
            let restarted = engine.worker_pids();
            assert_ne!(restarted[0], pids[0], "worker 0 was not restarted");
            assert_eq!(restarted[1], pids[1], "worker 1 should have been kept");
            assert_eq!(
                process_state(pids[0]),
                None,
                "the dead worker was not reaped"
            );

            drop(engine);
            for pid in restarted {
                assert_eq!(process_state(pid), None, "worker {pid} outlived its engine");
            }
            assert_eq!(children(), Vec::<u32>::new(), "child processes left behind");
            // Connections and rings close asynchronously on the runtime's threads.
            let deadline = Instant::now() + Duration::from_secs(10);
            while resources() != before && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                resources(),
                before,
                "the engine leaked fds, mappings or /dev/shm entries"
            );
        })
        .await;
        outcome.expect("the test outlived its watchdog");
    });
}
