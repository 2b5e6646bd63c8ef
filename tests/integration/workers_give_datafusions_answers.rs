//! With default settings the workers take the work, and each class of wrong answer or failure
//! that DataFusion's sqllogictest files found on workers stays fixed or guarded: every query
//! here runs on 2 worker processes (scans split into 1 KiB tasks, so that a 14 KB table spreads
//! over both) and is compared with in-process DataFusion.

use crate::common;

use common::{assert_same_rows, binary, datafusion_oracle, engine_answer, oracle_answer};
use dfshm::datafusion::arrow::record_batch::RecordBatch;
use dfshm::{Engine, tpch};
use std::path::PathBuf;

/// DataFusion's `aggregate_test_100` (from apache/arrow-testing, copied for the sqllogictest run).
fn aggregate_test_100() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/slt/data/testing/data/csv/aggregate_test_100.csv")
}

const CREATE: &str = "CREATE EXTERNAL TABLE aggregate_test_100 (c1 VARCHAR NOT NULL, \
    c2 TINYINT NOT NULL, c3 SMALLINT NOT NULL, c4 SMALLINT, c5 INT, c6 BIGINT NOT NULL, \
    c7 SMALLINT NOT NULL, c8 INT NOT NULL, c9 BIGINT UNSIGNED NOT NULL, c10 VARCHAR NOT NULL, \
    c11 FLOAT NOT NULL, c12 DOUBLE NOT NULL, c13 VARCHAR NOT NULL) STORED AS CSV LOCATION '{}' \
    OPTIONS ('format.has_header' 'true')";

/// An engine over `aggregate_test_100`: in-process (`workers = 0`) or on worker processes
/// with 1 KiB scan tasks. Four partitions per node, as DataFusion's own runner uses.
async fn engine(workers: usize) -> Engine {
    let mut builder = Engine::builder().target_partitions(4);
    if workers > 0 {
        builder = builder
            .workers(workers)
            .worker_program(binary("dfshm-worker"))
            .scan_bytes_per_task(1024);
    }
    let engine = builder.build().expect("build the engine");
    let ddl = CREATE.replace("{}", aggregate_test_100().to_str().unwrap());
    engine.sql(&ddl).await.expect("register aggregate_test_100");
    engine
}

/// The rows of `sql` on `engine`, with whether its plan had stages on workers.
async fn run(
    engine: &Engine,
    sql: &str,
) -> dfshm::datafusion::error::Result<(Vec<RecordBatch>, bool)> {
    let plan = engine.sql(sql).await?.create_physical_plan().await?;
    let distributed = dfshm::stages_on_workers(&plan) > 0;
    let ctx = engine.session_context().task_ctx();
    Ok((
        dfshm::datafusion::physical_plan::collect(plan, ctx).await?,
        distributed,
    ))
}

/// The rows of `sql` on `engine` as a printed table.
async fn printed(engine: &Engine, sql: &str) -> String {
    let (rows, _) = run(engine, sql).await.unwrap();
    dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string()
}

/// `sql` gives the same rows on workers as in-process; returns whether it ran on workers.
async fn same_answer(sql: &str, ordered: bool) -> bool {
    let (expected, _) = run(&engine(0).await, sql).await.expect("in-process");
    let (actual, distributed) = run(&engine(2).await, sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    assert_same_rows(sql, &expected, &actual, ordered);
    distributed
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[test]
fn with_default_settings_tpch_sf01_runs_on_three_workers_and_equals_datafusion() {
    common::run(async {
        let data = common::tpch_data_sf01();
        let engine = Engine::builder()
            .workers(3)
            .worker_program(binary("dfshm-worker"))
            .build()
            .unwrap();
        tpch::register_tables(&engine, data).await.unwrap();
        for number in [1, 3, 9, 18] {
            let sql = tpch::query(number).unwrap();
            let plan = engine
                .sql(sql)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            assert!(
                dfshm::stages_on_workers(&plan) > 0,
                "q{number} at sf 0.1 ran in the coordinator with default settings"
            );
        }
        let oracle = datafusion_oracle(data).await;
        for number in 1..=tpch::QUERY_COUNT {
            let sql = tpch::query(number).unwrap();
            let expected = oracle_answer(&oracle, sql).await;
            let actual = engine_answer(&engine, sql).await.unwrap();
            assert_same_rows(&format!("q{number}"), &expected, &actual, true);
        }
    });
}

#[test]
fn batches_of_null_typed_or_no_columns_cross_the_ring() {
    common::run(async {
        // Partial states of bit_and(NULL) are null-typed columns; rank() over a union ships rows
        // without columns. Both ended in "Unexpected End of Stream".
        assert!(
            same_answer(
                "SELECT bit_and(NULL), bit_or(NULL), bit_xor(NULL), approx_distinct(NULL) \
             FROM aggregate_test_100",
                true
            )
            .await,
            "the aggregate should run on the workers"
        );
        same_answer(
            "select dense_rank() over () rnk from (select 1 a union all select 2 a) x",
            false,
        )
        .await;
    });
}

#[test]
fn a_limit_or_a_sort_datafusion_kept_in_one_partition_holds_across_tasks() {
    common::run(async {
        let workers = engine(2).await;
        // A limit pushed into a one-partition scan: the scan is not split.
        let (batches, _) = run(&workers, "SELECT c8 FROM aggregate_test_100 LIMIT 1")
            .await
            .unwrap();
        assert_eq!(rows(&batches), 1);
        // A TopK over a one-partition scan, a window over all rows, an OFFSET: each task would
        // have computed its own.
        same_answer(
            "SELECT array_agg(c13) FROM (SELECT * FROM aggregate_test_100 ORDER BY c13 LIMIT 2) t",
            true,
        )
        .await;
        same_answer(
            "SELECT c3, SUM(c9) OVER(ORDER BY c3 DESC, c9 DESC, c2 ASC) as sum1, \
         SUM(c9) OVER(PARTITION BY c3 ORDER BY c9 DESC) as sum2 \
         FROM aggregate_test_100 ORDER BY c3, c9 DESC LIMIT 5",
            true,
        )
        .await;
        same_answer(
        "SELECT c1, c2, ROW_NUMBER() OVER() as rn FROM aggregate_test_100 ORDER BY c1, c2, rn LIMIT 5",
        true,
    )
    .await;
        same_answer(
            "SELECT c1, c3 FROM aggregate_test_100 ORDER BY c1 DESC, c3 DESC OFFSET 3 LIMIT 4",
            true,
        )
        .await;
    });
}

#[test]
fn scalar_subqueries_answer_or_fail_as_in_datafusion() {
    common::run(async {
        let workers = engine(2).await;
        let error = run(
            &workers,
            "SELECT c1 FROM aggregate_test_100 WHERE c2 = (SELECT c2 FROM aggregate_test_100)",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(error.contains("more than one row"), "{error}");
        // Shapes that datafusion-distributed's rewrite into joins could not plan.
        same_answer(
        "SELECT c1, c2 FROM aggregate_test_100 ORDER BY c2 + (SELECT max(c3) FROM aggregate_test_100), c1, c2",
        true,
    )
    .await;
        same_answer(
        "SELECT sum(c2 + (SELECT max(c3) FROM aggregate_test_100)) AS s FROM aggregate_test_100",
        true,
    )
    .await;
    });
}

#[test]
fn a_stage_the_codec_changes_runs_in_the_coordinator_and_explain_says_why() {
    common::run(async {
        // datafusion-proto sends a Float16 literal as Float32, which broke a union on the worker.
        let sql = "WITH data AS (SELECT 1 as k, arrow_cast(1.8125, 'Float16') AS f \
               UNION ALL SELECT c2 AS k, arrow_cast(c11, 'Float16') AS f FROM aggregate_test_100) \
               SELECT k, MIN(f), MAX(f), arrow_typeof(MIN(f)) FROM data GROUP BY k ORDER BY k";
        assert!(
            !same_answer(sql, true).await,
            "a changed stage must not run on workers"
        );
        let workers = engine(2).await;
        let (explained, _) = run(&workers, &format!("EXPLAIN {sql}")).await.unwrap();
        let text = dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&explained)
            .unwrap()
            .to_string();
        assert!(text.contains("runs in the coordinator"), "{text}");
    });
}

#[test]
fn explain_shows_the_stages_and_tasks_that_run() {
    common::run(async {
        let workers = engine(2).await;
        let text = printed(
            &workers,
            "EXPLAIN SELECT c1, count(*) FROM aggregate_test_100 GROUP BY c1",
        )
        .await;
        assert!(text.contains("DistributedExec"), "{text}");
        assert!(
            text.contains("Stage 1") && text.contains("tasks=2"),
            "{text}"
        );
    });
}

#[test]
fn one_partition_per_task_set_at_run_time_keeps_scalar_subqueries_right() {
    common::run(async {
        let data = common::tpch_data_sf01();
        let engine = Engine::builder()
            .workers(2)
            .worker_program(binary("dfshm-worker"))
            .build()
            .unwrap();
        tpch::register_tables(&engine, data).await.unwrap();
        engine
            .sql("SET datafusion.execution.target_partitions = 1")
            .await
            .unwrap();
        // q11 and q15 computed their scalar subqueries once per task with broadcast joins.
        let oracle = datafusion_oracle(data).await;
        for number in [11, 15] {
            let sql = tpch::query(number).unwrap();
            let expected = oracle_answer(&oracle, sql).await;
            let actual = engine_answer(&engine, sql).await.unwrap();
            assert_same_rows(&format!("q{number}"), &expected, &actual, true);
        }
    });
}

#[test]
fn distributed_settings_without_workers_say_what_to_do() {
    common::run(async {
        let in_process = Engine::builder().build().unwrap();
        let error = in_process
            .sql("SET distributed.broadcast_joins = false")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("--workers N"), "{error}");
        let workers = engine(2).await;
        workers
            .sql("SET distributed.broadcast_joins = false")
            .await
            .unwrap();
        // datafusion-distributed's settings are listed with DataFusion's (under their names without
        // the `distributed.` prefix: DataFusion 55's `extensions_options!` lists them so).
        let text = printed(
            &workers,
            "SELECT value FROM information_schema.df_settings WHERE name = 'broadcast_joins'",
        )
        .await;
        assert!(text.contains("false"), "{text}");
    });
}
