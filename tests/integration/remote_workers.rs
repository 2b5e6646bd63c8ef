//! Remote workers: datafusion-distributed's gRPC workers (`dfshm-worker --listen`, `dfshm worker
//! --listen`) started here on loopback ports, alone and mixed with worker processes: the TPC-H
//! answers equal DataFusion's, EXPLAIN ANALYZE says which task ran where, a worker killed
//! mid-query fails the query with its URL and is used again once it is back, and the CLI reaches
//! them.

use crate::common;
use crate::tpch_matches_datafusion::{all_queries_match_on, on_workers};

use common::{explain_analyze, remote_worker_on, remote_workers, tpch_data, urls};
use dfshm::{Engine, tpch};
use std::time::Duration;

/// A generous bound on any one of these tests; nothing may hang.
const WATCHDOG: Duration = Duration::from_secs(900);

/// An engine on `local` worker processes and the remote workers at `remote`, with scans split
/// small enough that the tests' tiny tables spread over every worker.
async fn engine_on(local: usize, remote: &[String]) -> Engine {
    let engine = Engine::builder()
        .workers(local)
        .worker_program(common::binary("dfshm-worker"))
        .remote_workers(remote)
        .target_partitions(2)
        .worker_timeout(Some(Duration::from_secs(10)))
        .build()
        .expect("start the engine");
    common::small_scan_partitions(engine).await
}

/// The `workers_of_stage_N={...}` entries of an EXPLAIN ANALYZE text.
fn placements(text: &str) -> Vec<&str> {
    text.match_indices("workers_of_stage_")
        .map(|(at, _)| {
            let rest = &text[at..];
            &rest[..rest.find('}').map_or(rest.len(), |end| end + 1)]
        })
        .collect()
}

/// `url` as EXPLAIN ANALYZE names a remote worker (no trailing slash).
fn short(url: &str) -> &str {
    url.trim_end_matches('/')
}

#[test]
fn tpch_queries_on_two_remote_workers_equal_datafusion() {
    common::run(async {
        let remote = remote_workers(2);
        let engine = engine_on(0, &urls(&remote)).await;
        let distributed = tokio::time::timeout(WATCHDOG, all_queries_match_on(engine, tpch_data()))
            .await
            .expect("a query hung on remote workers");
        on_workers(distributed);

        let engine = engine_on(0, &urls(&remote)).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let text = explain_analyze(&engine, tpch::query(3).unwrap()).await;
        let placed = placements(&text);
        assert!(
            !placed.is_empty(),
            "EXPLAIN ANALYZE names no workers:\n{text}"
        );
        for worker in &remote {
            let url = short(worker.url().as_str());
            assert!(
                placed.iter().any(|stage| stage.contains(url)),
                "no task ran on {url}: {placed:?}"
            );
        }
        assert!(!text.contains("dfshm://"), "{placed:?}");
        for worker in remote {
            assert!(worker.stop().expect("stop a remote worker").success());
        }
    });
}

#[test]
fn tpch_queries_on_remote_workers_and_worker_processes_equal_datafusion() {
    common::run(async {
        let remote = remote_workers(2);
        let engine = engine_on(2, &urls(&remote)).await;
        let distributed = tokio::time::timeout(WATCHDOG, all_queries_match_on(engine, tpch_data()))
            .await
            .expect("a query hung on mixed workers");
        on_workers(distributed);

        // One plan has tasks on both kinds of worker, and EXPLAIN ANALYZE says which ran where.
        let engine = engine_on(2, &urls(&remote)).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let (mut local, mut remote_tasks) = (false, false);
        for number in [3, 5, 9, 18] {
            let text = explain_analyze(&engine, tpch::query(number).unwrap()).await;
            let placed = placements(&text).join(" ");
            local |= placed.contains("dfshm://w");
            remote_tasks |= placed.contains("http://127.0.0.1:");
        }
        assert!(
            local && remote_tasks,
            "tasks ran on one kind of worker only"
        );
    });
}

#[test]
fn a_remote_worker_killed_mid_query_fails_it_with_its_url_and_is_used_again_once_back() {
    common::run(async {
        let mut remote = remote_workers(2);
        let engine = std::sync::Arc::new(engine_on(0, &urls(&remote)).await);
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        // With task metrics the query waits for every task to report at its end, so the kill
        // fails it even where the victim had delivered its part already (without them such a
        // query rightly succeeds: its answer is whole; routing is random, and the join below
        // may leave one worker little to do).
        engine
            .sql("set distributed.collect_metrics = true")
            .await
            .unwrap();
        let victim = remote.pop().unwrap();
        let url = victim.url().clone();
        let port = url.port().expect("a port");
        let address = format!("127.0.0.1:{port}");

        // A join of 500 million rows keeps both workers busy for a while.
        let long =
            "select count(*) from lineitem a join lineitem b on a.l_linenumber = b.l_linenumber";
        let running = tokio::spawn({
            let engine = engine.clone();
            async move { common::engine_answer(&engine, long).await }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            !running.is_finished(),
            "the long query ended before the kill"
        );
        let pid = victim.pid();
        common::signal(pid, libc::SIGKILL);
        drop(victim);
        let failed = tokio::time::timeout(WATCHDOG, running)
            .await
            .expect("the query outlived its killed worker")
            .expect("the query task");
        let error = failed
            .expect_err("a query whose worker was killed succeeded")
            .to_string();
        assert!(
            error.contains(&address),
            "the error does not name {address}: {error}"
        );

        // While it is down, queries fail fast, naming it.
        let down = common::engine_answer(&engine, tpch::query(3).unwrap())
            .await
            .expect_err("a query ran on a worker that is down")
            .to_string();
        assert!(down.contains(&address), "{down}");

        // Back on the same port, the next query uses it again.
        let back = remote_worker_on(port);
        let text = explain_analyze(&engine, tpch::query(3).unwrap()).await;
        assert!(
            placements(&text)
                .iter()
                .any(|stage| stage.contains(&address)),
            "the restarted worker got no task:\n{text}"
        );
        drop(back);
    });
}

#[test]
fn a_remote_worker_stops_cleanly_on_sigterm_and_bad_urls_are_refused_with_what_to_write() {
    common::run(async {
        let worker = remote_worker_on(0);
        let status = worker.stop().expect("stop the remote worker");
        assert!(status.success(), "{status}");

        for bad in ["h1:7000", "dfshm://w0", "http://:7000"] {
            let error = Engine::builder()
                .remote_workers([bad])
                .build()
                .expect_err("a bad URL was taken")
                .to_string();
            assert!(error.contains("http://HOST:PORT"), "{bad}: {error}");
        }
    });
}

#[test]
fn the_cli_runs_queries_on_remote_workers_it_names() {
    let _turn = common::beside_others();
    // One remote worker is the CLI's own subcommand, the other the worker executable.
    let mut command = std::process::Command::new(common::binary("dfshm"));
    command.args(["worker", "--listen", "127.0.0.1:0", "--threads", "2"]);
    let subcommand = dfshm::remote::ListeningWorker::spawn(command, Duration::from_secs(60))
        .expect("start `dfshm worker --listen`");
    let remote = [subcommand, remote_worker_on(0)];
    let list = urls(&remote).join(",");
    let ddl = common::tpch_ddl(tpch_data());
    let sql = "select l_returnflag, count(*) as n from lineitem group by 1 order by 1";
    let run = |extra: &[&str], query: &str| {
        let mut args = vec!["--format", "csv", "--no-cache", "-c", &ddl, "-c", query];
        args.extend_from_slice(extra);
        let output = crate::cli_contract::dfshm(&args, "");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "dfshm {extra:?} failed: {stderr}");
        String::from_utf8(output.stdout).expect("utf-8 output")
    };
    let remote_args = ["--remote-workers", &list, "--scan-bytes-per-task", "64K"];
    assert_eq!(run(&remote_args, sql), run(&[], sql));
    let plan = run(&remote_args, &format!("explain analyze {sql}"));
    for worker in &remote {
        let url = short(worker.url().as_str());
        assert!(plan.contains(url), "no task ran on {url}:\n{plan}");
    }

    let bad = crate::cli_contract::dfshm(&["--remote-workers", "h1:7000", "-c", "select 1"], "");
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("http://HOST:PORT"), "{said}");
    for worker in remote {
        assert!(worker.stop().expect("stop a remote worker").success());
    }
}
