//! Unit tests of `route_partition`: shuffles and broadcasts route by division, coalesces route
//! contiguous producer groups without collisions, a call's partitions are placed on its caller's
//! ring, and the routes observed on a real plan.

use super::*;
use crate::coordinator::{self, observed_in_process_context};
use crate::tpch;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{ParquetReadOptions, SessionConfig};
use datafusion_distributed::{DistributedTaskContext, ExecuteTaskRequest, ProducerHead};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[test]
fn shuffle_and_broadcast_route_by_division() {
    let shuffle = Boundary::Shuffle {
        partitions_per_consumer_task: 3,
    };
    assert_eq!(route_partition(shuffle, 5, 0), Some((0, 0)));
    assert_eq!(route_partition(shuffle, 5, 7), Some((2, 1)));
    let broadcast = Boundary::Broadcast {
        partitions_per_consumer_task: 4,
    };
    assert_eq!(route_partition(broadcast, 0, 11), Some((2, 3)));
    let empty = Boundary::Shuffle {
        partitions_per_consumer_task: 0,
    };
    assert_eq!(route_partition(empty, 0, 0), None);
}

#[test]
fn coalesce_routes_contiguous_producer_groups_without_collisions() {
    for producer_tasks in 1..12 {
        for consumer_tasks in 1..=producer_tasks {
            let boundary = Boundary::Coalesce {
                producer_tasks,
                consumer_tasks,
                partitions_per_producer_task: 3,
            };
            let mut seen: HashMap<usize, HashSet<usize>> = HashMap::new();
            let mut last_consumer = 0;
            for producer in 0..producer_tasks {
                for partition in 0..3 {
                    let (consumer, local) = route_partition(boundary, producer, partition).unwrap();
                    assert!(consumer < consumer_tasks);
                    assert!(consumer >= last_consumer, "groups are contiguous");
                    last_consumer = consumer;
                    assert!(seen.entry(consumer).or_default().insert(local), "collision");
                }
            }
            // Every consumer gets a group, and group sizes differ by at most one.
            let sizes: Vec<usize> = (0..consumer_tasks).map(|c| seen[&c].len() / 3).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(
                max - min <= 1,
                "{producer_tasks}/{consumer_tasks}: {sizes:?}"
            );
            assert_eq!(sizes.iter().sum::<usize>(), producer_tasks);
        }
    }
    let boundary = Boundary::Coalesce {
        producer_tasks: 2,
        consumer_tasks: 1,
        partitions_per_producer_task: 2,
    };
    assert_eq!(route_partition(boundary, 2, 0), None);
    assert_eq!(route_partition(boundary, 0, 2), None);
}

/// One `execute_task` request as the planner really issued it.
#[derive(Debug, Clone)]
struct Observed {
    /// Query id (as text) and stage number.
    query_stage: (String, usize),
    producer_task: usize,
    range: std::ops::Range<usize>,
    head: &'static str,
    consumer_task: usize,
    consumer_tasks: usize,
}

fn observe(log: Arc<Mutex<Vec<Observed>>>) -> coordinator::Observer {
    Arc::new(
        move |request: &ExecuteTaskRequest, ctx: &Arc<TaskContext>| {
            let consumer = DistributedTaskContext::from_ctx(ctx);
            let head = match request.producer_head {
                ProducerHead::None => "coalesce",
                ProducerHead::BroadcastExec { .. } => "broadcast",
                ProducerHead::RepartitionExec { .. } => "shuffle",
            };
            log.lock().unwrap().push(Observed {
                query_stage: (
                    request.task_key.query_id.to_string(),
                    request.task_key.stage_id,
                ),
                producer_task: request.task_key.task_number,
                range: request.target_partition_start..request.target_partition_end,
                head,
                consumer_task: consumer.task_index,
                consumer_tasks: consumer.task_count,
            });
        },
    )
}

/// Runs TPC-H queries on in-process workers, recording every request the consumers made, and
/// checks that `route_partition` sends each requested partition to the task that asked for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_partition_matches_the_requests_of_real_planned_queries() {
    let data = tempfile::tempdir().unwrap();
    tpch::generate(0.01, data.path(), &|_| {}).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let ctx = observed_in_process_context(
        SessionConfig::new().with_target_partitions(2),
        Arc::new(RuntimeEnv::default()),
        3,
        Some(observe(log.clone())),
        None,
        coordinator::TaskSizing {
            scan_bytes_per_task: coordinator::DEFAULT_SCAN_BYTES_PER_TASK,
        },
    )
    .unwrap();
    ctx.sql("set distributed.file_scan_config_bytes_per_partition = 16384")
        .await
        .unwrap();
    for table in tpch::TABLES {
        let path = data.path().join(table);
        ctx.register_parquet(table, path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
    }
    for query in [1, 3, 5, 9, 13, 18] {
        ctx.sql(tpch::query(query).unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
    }
    let log = log.lock().unwrap().clone();
    let mut producers: HashMap<(String, usize), HashSet<usize>> = HashMap::new();
    for request in &log {
        producers
            .entry(request.query_stage.clone())
            .or_default()
            .insert(request.producer_task);
    }
    let mut kinds = HashSet::new();
    let mut coalesced: HashMap<((String, usize), usize), HashSet<usize>> = HashMap::new();
    for request in &log {
        kinds.insert(request.head);
        let width = request.range.len();
        let boundary = match request.head {
            "shuffle" => Boundary::Shuffle {
                partitions_per_consumer_task: width,
            },
            "broadcast" => Boundary::Broadcast {
                partitions_per_consumer_task: width,
            },
            _ => {
                assert_eq!(
                    request.range.start, 0,
                    "coalesce reads whole producer tasks"
                );
                Boundary::Coalesce {
                    producer_tasks: producers[&request.query_stage].len(),
                    consumer_tasks: request.consumer_tasks,
                    partitions_per_producer_task: width,
                }
            }
        };
        for partition in request.range.clone() {
            let (consumer, local) = route_partition(boundary, request.producer_task, partition)
                .unwrap_or_else(|| panic!("no route for {request:?}"));
            assert_eq!(
                consumer, request.consumer_task,
                "{request:?} partition {partition}"
            );
            if request.head == "coalesce" {
                let key = (request.query_stage.clone(), consumer);
                assert!(
                    coalesced.entry(key).or_default().insert(local),
                    "{request:?}"
                );
            } else {
                assert_eq!(local, partition - request.range.start, "{request:?}");
            }
        }
    }
    assert!(
        kinds.contains("shuffle"),
        "no shuffle was planned: {kinds:?}"
    );
    assert!(
        kinds.contains("coalesce"),
        "no coalesce was planned: {kinds:?}"
    );
}

#[test]
fn a_call_is_placed_on_its_callers_ring_and_a_mismatch_is_refused() {
    let task = |task_index, task_count| DistributedTaskContext {
        task_index,
        task_count,
    };
    // Consumer task 2 of 3 reading partitions 6..9 of a shuffle: streams 0, 1, 2 of its ring.
    let shuffle = place_partitions(Crossing::Shuffle, task(1, 4), task(2, 3), 6..9);
    assert_eq!(shuffle, Ok(vec![0, 1, 2]));
    // Producer 1 of 3 coalescing into one task: its partitions are the consumer's 2 and 3,
    // streams 0 and 1 of the ring this producer writes.
    let coalesce = place_partitions(Crossing::Coalesce, task(1, 3), task(0, 1), 0..2);
    assert_eq!(coalesce, Ok(vec![0, 1]));
    // Producers 0..3 and 3..5 of 5 coalesce into consumer tasks 0 and 1: producer 3 is task 1's.
    let grouped = place_partitions(Crossing::Coalesce, task(3, 5), task(1, 2), 0..2);
    assert_eq!(grouped, Ok(vec![0, 1]));
    let claimed = place_partitions(Crossing::Coalesce, task(3, 5), task(0, 2), 0..2);
    assert!(claimed.unwrap_err().contains("consumer task 0 of 2 asked"));
    // A slice that is not the caller's, and a part of a producer task for a coalesce.
    assert!(place_partitions(Crossing::Shuffle, task(0, 1), task(0, 3), 3..6).is_err());
    assert!(place_partitions(Crossing::Coalesce, task(0, 2), task(0, 1), 1..2).is_err());
    assert_eq!(
        place_partitions(Crossing::Broadcast, task(0, 1), task(0, 1), 0..0),
        Ok(vec![])
    );
}
