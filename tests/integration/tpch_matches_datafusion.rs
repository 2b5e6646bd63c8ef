//! Differential test: every TPC-H query through `dfshm::Engine` equals plain DataFusion's answer,
//! in every configuration a user can choose (including one partition per node).

use crate::common;

use common::{assert_same_rows, datafusion_oracle, oracle_answer, tpch_data};
use dfshm::{Engine, StatementOutcome, Transport, tpch};

/// Runs every statement of `sql` on `engine`; returns the rows of the row-returning statement
/// and whether its plan had stages on workers.
async fn engine_answer(
    engine: &Engine,
    sql: &str,
) -> (
    Vec<dfshm::datafusion::arrow::record_batch::RecordBatch>,
    bool,
) {
    let mut answer = (Vec::new(), false);
    for statement in engine.statements(sql).expect("split the query") {
        let outcome = engine
            .run_statement(&statement)
            .await
            .expect("plan the statement");
        if let StatementOutcome::Rows(frame) = outcome {
            let ctx = frame.task_ctx();
            let plan = frame.create_physical_plan().await.expect("plan the query");
            let distributed = dfshm::stages_on_workers(&plan) > 0;
            let rows = dfshm::datafusion::physical_plan::collect(plan, std::sync::Arc::new(ctx))
                .await
                .unwrap_or_else(|error| panic!("{error}\nwhile running: {}", statement.text()));
            answer = (rows, distributed);
        }
    }
    answer
}

/// Every query equals DataFusion's answer; returns how many ran stages on workers.
async fn all_queries_match(engine: Engine) -> usize {
    all_queries_match_on(engine, tpch_data()).await
}

pub(crate) async fn all_queries_match_on(engine: Engine, data: &std::path::Path) -> usize {
    tpch::register_tables(&engine, data)
        .await
        .expect("register tables");
    let oracle = datafusion_oracle(data).await;
    let (mut queries_with_rows, mut on_workers) = (0, 0);
    for number in 1..=tpch::QUERY_COUNT {
        let sql = tpch::query(number).expect("query exists");
        let expected = oracle_answer(&oracle, sql).await;
        let (actual, distributed) = engine_answer(&engine, sql).await;
        on_workers += usize::from(distributed);
        if expected.iter().any(|batch| batch.num_rows() > 0) {
            queries_with_rows += 1;
        }
        // Every TPC-H query orders its result totally.
        assert_same_rows(&format!("q{number} ({engine:?})"), &expected, &actual, true);
    }
    assert!(
        queries_with_rows >= 20,
        "only {queries_with_rows} queries returned rows: the test data is too small to check them"
    );
    on_workers
}

/// With workers, most queries must really have run there: a differential test that only ever
/// ran in the coordinator would prove nothing.
pub(crate) fn on_workers(distributed: usize) {
    assert!(
        distributed >= 15,
        "only {distributed} of 22 queries ran stages on workers"
    );
}

#[test]
fn tpch_queries_in_process_equal_datafusion() {
    common::run(async {
        all_queries_match(Engine::builder().build().unwrap()).await;
    });
}

#[test]
fn tpch_queries_with_one_partition_per_node_equal_datafusion() {
    common::run(async {
        all_queries_match(Engine::builder().target_partitions(1).build().unwrap()).await;
    });
}

#[test]
fn tpch_queries_with_small_batches_and_many_partitions_equal_datafusion() {
    common::run(async {
        let engine = Engine::builder()
            .target_partitions(7)
            .batch_size(100)
            .build()
            .unwrap();
        all_queries_match(engine).await;
    });
}

/// An engine whose stages run on `workers` in-process datafusion-distributed workers, with scan
/// partitions small enough that even the tests' tiny tables spread over every worker.
async fn in_process_workers(workers: usize, partitions: usize) -> Engine {
    let engine = Engine::builder()
        .workers(workers)
        .transport(Transport::InProcess)
        .target_partitions(partitions)
        .build()
        .unwrap();
    common::small_scan_partitions(engine).await
}

#[test]
fn tpch_queries_on_two_in_process_workers_equal_datafusion() {
    common::run(async {
        all_queries_match(in_process_workers(2, 2).await).await;
    });
}

#[test]
fn tpch_queries_on_four_in_process_workers_equal_datafusion() {
    common::run(async {
        all_queries_match(in_process_workers(4, 3).await).await;
    });
}

#[test]
fn tpch_queries_on_in_process_workers_with_one_partition_per_task_equal_datafusion() {
    common::run(async {
        all_queries_match(in_process_workers(2, 1).await).await;
        // At sf 0.1 the default scan sizing splits the tables over tasks, which is what made
        // datafusion-distributed compute q11's and q15's scalar subqueries once per task.
        let engine = Engine::builder()
            .workers(2)
            .transport(Transport::InProcess)
            .target_partitions(1)
            .build()
            .unwrap();
        all_queries_match_on(engine, common::tpch_data_sf01()).await;
    });
}

#[test]
fn in_process_workers_really_split_a_join_into_stages() {
    common::run(async {
        let engine = in_process_workers(2, 2).await;
        tpch::register_tables(&engine, common::tpch_data())
            .await
            .unwrap();
        // EXPLAIN shows DataFusion's own plan; the distributed one is the executed physical plan.
        let plan = engine
        .sql("select l_returnflag, count(*) from lineitem join orders on l_orderkey = o_orderkey group by 1")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
        let text = dfshm::datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string();
        assert!(text.contains("DistributedExec"), "{text}");
        assert!(text.contains("Network"), "no network boundary in {text}");
    });
}

#[test]
fn tpch_queries_on_one_worker_process_equal_datafusion() {
    common::run(async {
        // datafusion-distributed gives a stage at most one task per worker: with one worker no
        // stage splits, and it leaves the whole plan in the coordinator.
        let distributed = all_queries_match(common::shm_engine(1, 2).await).await;
        assert_eq!(
            distributed, 0,
            "one worker now gets stages: check what this test proves"
        );
    });
}

#[test]
fn tpch_queries_on_two_worker_processes_equal_datafusion() {
    common::run(async {
        on_workers(all_queries_match(common::shm_engine(2, 2).await).await);
    });
}

#[test]
fn tpch_queries_on_four_worker_processes_equal_datafusion() {
    common::run(async {
        on_workers(all_queries_match(common::shm_engine(4, 3).await).await);
    });
}

#[test]
fn tpch_queries_on_worker_processes_with_one_partition_per_task_equal_datafusion() {
    common::run(async {
        // With one partition per node DataFusion plans no repartitioning, so datafusion-distributed
        // finds no stage boundary and the plans stay in the coordinator.
        let distributed = all_queries_match(common::shm_engine(2, 1).await).await;
        assert_eq!(
            distributed, 0,
            "one partition per node now gets stages: check this test"
        );
    });
}

/// The smallest exchange a user can configure: every partition's window is the 16 KiB minimum
/// and every ring is 64 KiB, so producers wait for credit all the time. Nothing may hang (the
/// watchdog) and every answer stays right.
#[test]
fn tpch_queries_with_a_64_kib_exchange_budget_and_64_kib_rings_equal_datafusion() {
    common::run(async {
        let engine = dfshm::Engine::builder()
            .workers(2)
            .worker_program(common::binary("dfshm-worker"))
            .target_partitions(2)
            .ring_bytes(64 << 10)
            .exchange_budget_bytes(64 << 10)
            .build()
            .expect("start worker processes");
        let engine = common::small_scan_partitions(engine).await;
        let watchdog = std::time::Duration::from_secs(900);
        let distributed = tokio::time::timeout(watchdog, all_queries_match(engine))
            .await
            .expect("a query hung with the smallest exchange budget");
        on_workers(distributed);
    });
}

#[test]
fn there_are_22_queries_and_no_23rd() {
    let _turn = common::beside_others();
    assert!(tpch::query(0).is_none());
    assert!(tpch::query(22).is_some());
    assert!(tpch::query(23).is_none());
    assert!(tpch::query(15).unwrap().contains("create view"));
}
