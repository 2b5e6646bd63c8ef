//! Partitioned results (`Engine::execute_partitions`, ADBC's `ExecutePartitions`): a query's
//! result handed out as one descriptor per task of its last stage, each read by another engine
//! (one without workers, as a host's other process would open) straight from the worker. The
//! parts make the result exactly once; a part read twice, or after its query was ended, is
//! refused with the reason; queries that must finish in the coordinator are refused; and twenty
//! rounds leave no fd or ring behind. (`ffi/tests/python/test_adbc.py` reads the parts from
//! child processes.)
//!
//! The test runs alone in the test process, so that nothing else opens fds while it counts them.

use crate::common;

use common::{assert_same_rows, engine_answer, resources, shm_engine, tpch_data};
use dfshm::datafusion::arrow::array::RecordBatch;
use dfshm::datafusion::error::DataFusionError;
use dfshm::{Engine, PartitionRefusal, PartitionUnavailable, tpch};
use futures::TryStreamExt;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(300);

const QUERY: &str =
    "select l_orderkey, l_linenumber, l_quantity from lineitem where l_quantity > 45";

/// Why a read was refused, if it was refused as a partition its worker will not serve.
fn refusal(error: &DataFusionError) -> Option<PartitionRefusal> {
    match error.find_root() {
        DataFusionError::External(cause) => cause
            .downcast_ref::<PartitionUnavailable>()
            .map(|unavailable| unavailable.reason),
        _ => None,
    }
}

async fn read(reader: &Engine, descriptor: &[u8]) -> Result<Vec<RecordBatch>, DataFusionError> {
    reader.read_partition(descriptor).await?.try_collect().await
}

#[test]
fn partitions_read_elsewhere_make_the_result_once_and_leave_nothing() {
    common::run_alone(async {
        let outcome = tokio::time::timeout(WATCHDOG, async {
            let engine = shm_engine(2, 2).await;
            tpch::register_tables(&engine, tpch_data()).await.unwrap();
            let reader = Engine::builder().build().unwrap();
            let expected = engine_answer(&engine, QUERY).await.unwrap();
            let before = resources();
            for round in 0..20 {
                let frame = engine.sql(QUERY).await.unwrap();
                let query = engine.execute_partitions(frame).await.unwrap();
                assert!(
                    query.partitions.len() >= 2,
                    "one partition per task of the last stage: {query:?}"
                );
                let mut parts = Vec::new();
                for descriptor in &query.partitions {
                    parts.extend(read(&reader, descriptor).await.unwrap());
                }
                assert_same_rows(&format!("round {round}"), &expected, &parts, false);
                if round > 0 {
                    // Dropped, not ended: the workers learn it as its connections close.
                    continue;
                }
                let again = read(&reader, &query.partitions[0]).await.unwrap_err();
                assert_eq!(
                    refusal(&again),
                    Some(PartitionRefusal::AlreadyRead),
                    "{again}"
                );
                assert!(again.to_string().contains("already read"), "{again}");
                // An unread part of an ended query.
                let frame = engine.sql(QUERY).await.unwrap();
                let unread = engine.execute_partitions(frame).await.unwrap();
                let descriptor = unread.partitions[0].clone();
                unread.end().await;
                let late = read(&reader, &descriptor).await.unwrap_err();
                assert_eq!(refusal(&late), Some(PartitionRefusal::QueryEnded), "{late}");
            }

            // What must finish in the coordinator is refused, with the reason.
            let frame = engine.sql("select count(*) from lineitem").await.unwrap();
            let whole = engine.execute_partitions(frame).await.unwrap_err();
            assert!(
                matches!(whole.find_root(), DataFusionError::NotImplemented(_))
                    && whole.to_string().contains("cannot be split"),
                "{whole}"
            );
            let frame = reader.sql("select 1").await.unwrap();
            let in_process = reader.execute_partitions(frame).await.unwrap_err();
            assert!(
                in_process.to_string().contains("worker processes"),
                "{in_process}"
            );
            let garbage = read(&reader, b"DFSHMPT1 but not a descriptor").await;
            let garbage = garbage.unwrap_err().to_string();
            assert!(
                garbage.contains("not a dfshm partition descriptor"),
                "{garbage}"
            );

            // A call that ended cleanly finishes on its own a moment later (it keeps its
            // connection once the worker closed its ring); `resources` closes kept connections.
            let (now, within) = common::settled_within(&before, Duration::from_secs(20)).await;
            assert!(
                within,
                "partitioned results leaked fds or rings: {before:?} before, {now:?} now"
            );
        })
        .await;
        assert!(
            outcome.is_ok(),
            "partitioned results hung past {WATCHDOG:?}"
        );
    });
}
