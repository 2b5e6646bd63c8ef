//! Queries on worker processes over shared memory equal plain DataFusion: every kind of join,
//! aggregates, windows, unions, sorts with limits, empty results, every Arrow type, results larger
//! than a ring, concurrent queries, and queries after a failed one.

use crate::common;

use common::{
    assert_same_rows, binary, datafusion_oracle, engine_answer, oracle_answer, shm_engine,
    tpch_data,
};
use dfshm::datafusion::parquet::arrow::ArrowWriter;
use dfshm::datafusion::prelude::ParquetReadOptions;
use dfshm::{Engine, tpch};

/// Queries of every shape a distributed plan has to carry, each with a total order.
const SHAPES: &[(&str, &str)] = &[
    (
        "inner join",
        "select n_name, count(*) c from customer join nation on c_nationkey = n_nationkey \
         group by n_name order by n_name",
    ),
    (
        "left join",
        "select c_custkey, count(o_orderkey) c from customer left join orders \
         on c_custkey = o_custkey group by c_custkey order by c_custkey",
    ),
    (
        "right join",
        "select o_orderkey, c_name from customer right join orders on c_custkey = o_custkey \
         and c_acctbal > 5000 order by o_orderkey limit 500",
    ),
    (
        "full join",
        "select s_suppkey, c_custkey from (select * from supplier where s_suppkey < 60) \
         full join (select * from customer where c_custkey < 40) on s_suppkey = c_custkey \
         order by s_suppkey nulls first, c_custkey nulls first",
    ),
    (
        "semi join",
        "select c_custkey from customer where exists (select 1 from orders where \
         o_custkey = c_custkey and o_totalprice > 300000) order by c_custkey",
    ),
    (
        "anti join",
        "select c_custkey from customer where c_custkey not in (select o_custkey from orders) \
         order by c_custkey",
    ),
    (
        "cross join",
        "select n_name, r_name from nation cross join region order by n_name, r_name",
    ),
    (
        "non-equi join",
        "select p_partkey, s_suppkey from part join supplier on p_size between s_suppkey and \
         s_suppkey + 1 where p_partkey < 100 order by p_partkey, s_suppkey",
    ),
    (
        "aggregates",
        "select l_returnflag, l_linestatus, count(distinct l_suppkey) d, min(l_shipdate) a, \
         max(l_comment) b, avg(l_discount) c, stddev(l_quantity) s from lineitem \
         group by l_returnflag, l_linestatus order by 1, 2",
    ),
    (
        "rollup",
        "select l_returnflag, l_linestatus, sum(l_quantity) q from lineitem \
         group by rollup(l_returnflag, l_linestatus) order by 1 nulls first, 2 nulls first",
    ),
    (
        "windows",
        "select o_custkey, o_orderkey, row_number() over (partition by o_custkey order by \
         o_orderkey) r, sum(o_totalprice) over (partition by o_custkey order by o_orderkey) s, \
         lag(o_orderkey) over (order by o_orderkey) p from orders order by o_orderkey",
    ),
    (
        "union all",
        "select n_name x from nation union all select r_name from region union all \
         select n_name from nation order by x",
    ),
    (
        "union",
        "select l_shipmode m from lineitem union select o_orderpriority from orders order by m",
    ),
    (
        "order by limit",
        "select l_orderkey, l_linenumber, l_extendedprice from lineitem \
         order by l_extendedprice desc, l_orderkey, l_linenumber limit 17",
    ),
    (
        "offset",
        "select o_orderkey from orders order by o_orderkey limit 10 offset 1000",
    ),
    (
        "empty result",
        "select l_orderkey, sum(l_quantity) from lineitem where l_quantity < 0 \
         group by l_orderkey order by 1",
    ),
    (
        "empty join",
        "select c_name, o_orderkey from customer join orders on c_custkey = o_custkey \
         where o_totalprice < 0 order by 1, 2",
    ),
];

#[test]
fn every_query_shape_on_worker_processes_equals_datafusion() {
    common::run(async {
        let engine = shm_engine(3, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let oracle = datafusion_oracle(tpch_data()).await;
        for (shape, sql) in SHAPES {
            let expected = oracle_answer(&oracle, sql).await;
            let actual = engine_answer(&engine, sql)
                .await
                .unwrap_or_else(|error| panic!("{shape}: {error}"));
            assert_same_rows(shape, &expected, &actual, true);
        }
    });
}

#[test]
fn every_arrow_type_crosses_worker_processes() {
    common::run(async {
        let dir = common::scratch();
        let path = dir.path().join("types.parquet");
        let batch = dfshm::testing::every_type_batch(20_000);
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
                .unwrap();
        for start in (0..batch.num_rows()).step_by(3000) {
            let rows = 3000.min(batch.num_rows() - start);
            writer.write(&batch.slice(start, rows)).unwrap();
        }
        writer.close().unwrap();

        let engine = shm_engine(2, 2).await;
        engine.register_parquet("types", &path).await.unwrap();
        let oracle = dfshm::datafusion::prelude::SessionContext::new();
        oracle
            .register_parquet(
                "types",
                path.to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
        // The repartition by `longs` makes every column cross a shuffle between workers.
        for sql in [
            "select * from types order by longs",
            "select dictionary, count(*), max(strings), min(views) from types \
         group by dictionary order by dictionary",
            "select a.longs, b.nested, b.lists, b.dictionary from types a join types b \
         on a.longs = b.longs where a.ints is null order by a.longs",
        ] {
            let expected = oracle_answer(&oracle, sql).await;
            let actual = engine_answer(&engine, sql)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
            let schema = actual.first().map(|batch| batch.schema());
            if let (Some(schema), Some(expected)) = (schema, expected.first()) {
                assert_eq!(schema.fields(), expected.schema().fields(), "{sql}");
            }
            assert_same_rows(sql, &expected, &actual, true);
        }
    });
}

#[test]
fn a_result_much_larger_than_a_ring_arrives_whole() {
    common::run(async {
        let engine = Engine::builder()
            .workers(2)
            .worker_program(binary("dfshm-worker"))
            .ring_bytes(64 << 10)
            .build()
            .unwrap();
        let engine = common::small_scan_partitions(engine).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let oracle = datafusion_oracle(tpch_data()).await;
        // About 10 MB of strings through 64 KiB rings, shuffled by a join.
        let sql = "select l_orderkey, l_linenumber, l_comment, o_comment from lineitem \
               join orders on l_orderkey = o_orderkey order by l_orderkey, l_linenumber";
        let expected = oracle_answer(&oracle, sql).await;
        let actual = engine_answer(&engine, sql).await.unwrap();
        let bytes: usize = actual
            .iter()
            .map(|batch| batch.get_array_memory_size())
            .sum();
        assert!(
            bytes > 40 * (64 << 10),
            "only {bytes} bytes: not larger than the rings"
        );
        assert_same_rows(sql, &expected, &actual, true);
    });
}

#[test]
fn eight_concurrent_queries_on_one_engine_are_all_right() {
    common::run(async {
        let engine = shm_engine(2, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let oracle = datafusion_oracle(tpch_data()).await;
        let numbers = [1, 3, 5, 9, 10, 13, 18, 21];
        let answers = futures::future::join_all(numbers.iter().map(|&number| {
            let engine = &engine;
            async move {
                let sql = tpch::query(number).unwrap();
                (number, engine_answer(engine, sql).await)
            }
        }))
        .await;
        for (number, answer) in answers {
            let sql = tpch::query(number).unwrap();
            let expected = oracle_answer(&oracle, sql).await;
            let actual = answer.unwrap_or_else(|error| panic!("q{number}: {error}"));
            assert_same_rows(&format!("q{number}"), &expected, &actual, true);
        }
    });
}

#[test]
fn a_query_failing_in_a_worker_names_it_and_the_next_query_works() {
    common::run(async {
        let engine = shm_engine(2, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        // The cast fails while a worker scans lineitem, not while planning.
        let error = engine_answer(
            &engine,
            "select l_returnflag, sum(cast(l_comment as int)) from lineitem group by 1",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("worker"),
            "the error names no worker: {error}"
        );
        assert!(error.to_lowercase().contains("cast"), "{error}");
        let oracle = datafusion_oracle(tpch_data()).await;
        let sql = tpch::query(1).unwrap();
        let expected = oracle_answer(&oracle, sql).await;
        let actual = engine_answer(&engine, sql).await.unwrap();
        assert_same_rows("q1 after a failure", &expected, &actual, true);
    });
}

#[test]
fn explain_analyze_shows_stages_tasks_workers_and_ring_metrics() {
    common::run(async {
        let engine = shm_engine(2, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let rows = engine_answer(
            &engine,
            "explain analyze select l_returnflag, count(*) from lineitem join orders \
         on l_orderkey = o_orderkey group by 1",
        )
        .await
        .unwrap();
        let text = dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        for needle in [
            "DistributedExec",
            "Stage 1",
            "tasks=2",
            "ring_bytes",
            "credit_wait",
            "peak_buffered_bytes",
            "output_rows",
        ] {
            assert!(text.contains(needle), "no {needle} in\n{text}");
        }
    });
}

/// Plain queries collect task metrics only where the session asks (EXPLAIN ANALYZE always
/// does), and without them a worker's replies end before its query does: its plan must stay set
/// until then, or a later `execute_task` waits for a plan that is gone (it did, for 10 s, on
/// the first query).
#[test]
fn queries_without_task_metrics_keep_their_plans_until_they_end() {
    common::run(async {
        let engine = shm_engine(2, 2).await;
        tpch::register_tables(&engine, tpch_data()).await.unwrap();
        let oracle = datafusion_oracle(tpch_data()).await;
        let sql = "select l_returnflag, count(*) from lineitem join orders \
                   on l_orderkey = o_orderkey group by 1 order by 1";
        let expected = oracle_answer(&oracle, sql).await;
        let explain = format!("explain analyze {sql}");
        for metrics in ["true", "false"] {
            engine
                .sql(&format!("set distributed.collect_metrics = {metrics}"))
                .await
                .unwrap();
            let connections = dfshm::connection_stats();
            for run in 0..20 {
                let rows = engine_answer(&engine, sql).await.unwrap();
                assert_same_rows(
                    &format!("run {run}, metrics {metrics}"),
                    &expected,
                    &rows,
                    true,
                );
            }
            // Calls on warm workers take the connections earlier calls kept (other tests in
            // this process only add to the count).
            let reused = dfshm::connection_stats().reused - connections.reused;
            assert!(
                reused >= 20,
                "20 queries on warm workers took {reused} kept connections"
            );
            let rows = engine_answer(&engine, &explain).await.unwrap();
            let text = dfshm::datafusion::arrow::util::pretty::pretty_format_batches(&rows)
                .unwrap()
                .to_string();
            assert!(text.contains("Stage 1"), "no stages in\n{text}");
            // The `worker` gauge comes with a task's metrics from its worker.
            assert!(text.contains("worker={"), "metrics {metrics}:\n{text}");
        }
    });
}
