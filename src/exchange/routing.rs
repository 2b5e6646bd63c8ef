//! Where a producer task's output partition goes: which consumer task, and which of that task's
//! partitions. A worker serving an execute-task call places each partition it produces with it
//! ([`place_partitions`]): on the calling consumer's ring, at the stream of its place among that
//! consumer's partitions, and refuses the call if a partition routes to another consumer task.
//!
//! The rules mirror how datafusion-distributed's consumers slice their requests:
//! - shuffle and broadcast: every producer task feeds every consumer task; consumer task `t`
//!   asks each producer for partitions `P·t .. P·(t+1)`, where `P` is the consumer boundary's
//!   partitions per task, so output partition `q` goes to task `q / P` as its partition `q % P`
//!   (for broadcast the producer's `BroadcastExec` already replicated its input `P`-fold per
//!   consumer);
//! - coalesce: producer tasks are split into contiguous groups, one per consumer task (the first
//!   `N mod M` groups one task longer); consumer task `t` reads all `K` partitions of each
//!   producer in its group, the `j`-th producer of the group as partitions `K·j .. K·(j+1)`.
//!
//! Coalesce is routed by producer-task group, never by partition number alone: the same
//! partition number of two producer tasks lands in two places.

use datafusion_distributed::{DistributedTaskContext, ProducerHead};

/// A network boundary, with what routing across it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Hash repartitioning between stages.
    Shuffle {
        /// Partitions per consumer task (`P`).
        partitions_per_consumer_task: usize,
    },
    /// Every consumer task receives all of the producer's data.
    Broadcast {
        /// Partitions per consumer task (`P`).
        partitions_per_consumer_task: usize,
    },
    /// Producer tasks merge into fewer consumer tasks.
    Coalesce {
        /// Producer tasks (`N`).
        producer_tasks: usize,
        /// Consumer tasks (`M`).
        consumer_tasks: usize,
        /// Output partitions of each producer task (`K`).
        partitions_per_producer_task: usize,
    },
}

/// The consumer task and its local partition that `output_partition` of `producer_task` feeds.
///
/// Returns `None` for an output partition or producer task the boundary does not have.
pub fn route_partition(
    boundary: Boundary,
    producer_task: usize,
    output_partition: usize,
) -> Option<(usize, usize)> {
    match boundary {
        Boundary::Shuffle {
            partitions_per_consumer_task: per_task,
        }
        | Boundary::Broadcast {
            partitions_per_consumer_task: per_task,
        } => {
            if per_task == 0 {
                return None;
            }
            Some((output_partition / per_task, output_partition % per_task))
        }
        Boundary::Coalesce {
            producer_tasks,
            consumer_tasks,
            partitions_per_producer_task,
        } => {
            if producer_task >= producer_tasks
                || output_partition >= partitions_per_producer_task
                || consumer_tasks == 0
            {
                return None;
            }
            let base = producer_tasks / consumer_tasks;
            let extra = producer_tasks % consumer_tasks;
            // The first `extra` groups have `base + 1` producer tasks, the others `base`.
            let long_groups_span = extra * (base + 1);
            let consumer = if producer_task < long_groups_span {
                producer_task / (base + 1)
            } else {
                extra + (producer_task - long_groups_span) / base.max(1)
            };
            let group_start = consumer * base + consumer.min(extra);
            let local =
                (producer_task - group_start) * partitions_per_producer_task + output_partition;
            Some((consumer, local))
        }
    }
}

/// The kind of boundary an execute-task call crosses, as its producer head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossing {
    /// A `RepartitionExec` head: hash repartitioning.
    Shuffle,
    /// A `BroadcastExec` head.
    Broadcast,
    /// No head: producer tasks merge into fewer consumer tasks.
    Coalesce,
}

impl Crossing {
    /// The crossing of a call whose producer head is `head`.
    pub(crate) fn of(head: &ProducerHead) -> Crossing {
        match head {
            ProducerHead::None => Crossing::Coalesce,
            ProducerHead::BroadcastExec { .. } => Crossing::Broadcast,
            ProducerHead::RepartitionExec { .. } => Crossing::Shuffle,
        }
    }
}

/// Where each partition of an execute-task call goes on the caller's ring: partitions `range`
/// of task `producer`, called for by task `consumer` across a boundary of kind `crossing`.
/// Returns each partition's stream on the ring, in `range`'s order: its place among the
/// consumer's partitions, counted from the first this ring carries.
///
/// Fails if [`route_partition`] sends a partition to another consumer task than the caller, or
/// two partitions to one place: datafusion-distributed's consumers and dfshm's routing would
/// then disagree, and rows would reach the wrong task.
pub(crate) fn place_partitions(
    crossing: Crossing,
    producer: DistributedTaskContext,
    consumer: DistributedTaskContext,
    range: std::ops::Range<usize>,
) -> Result<Vec<u32>, String> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let boundary = match crossing {
        Crossing::Shuffle => Boundary::Shuffle {
            partitions_per_consumer_task: range.len(),
        },
        Crossing::Broadcast => Boundary::Broadcast {
            partitions_per_consumer_task: range.len(),
        },
        Crossing::Coalesce if range.start == 0 => Boundary::Coalesce {
            producer_tasks: producer.task_count,
            consumer_tasks: consumer.task_count,
            partitions_per_producer_task: range.end,
        },
        Crossing::Coalesce => {
            return Err(format!(
                "a coalescing consumer asked for partitions {range:?} of task {}; it reads \
                 whole producer tasks",
                producer.task_index
            ));
        }
    };
    let mut places = Vec::with_capacity(range.len());
    for partition in range.clone() {
        match route_partition(boundary, producer.task_index, partition) {
            Some((task, place)) if task == consumer.task_index => places.push(place),
            routed => {
                return Err(format!(
                    "partition {partition} of task {} routes to {routed:?} (consumer task, its \
                     partition) across {boundary:?}, but consumer task {} of {} asked for it",
                    producer.task_index, consumer.task_index, consumer.task_count
                ));
            }
        }
    }
    let first = places.iter().copied().min().unwrap_or(0);
    let streams: Vec<u32> = places.iter().map(|place| (place - first) as u32).collect();
    let mut seen = vec![false; streams.len()];
    for &stream in &streams {
        match seen.get_mut(stream as usize) {
            Some(slot) if !*slot => *slot = true,
            _ => {
                return Err(format!(
                    "partitions {range:?} of task {} do not fill one place each among consumer \
                     task {}'s partitions ({places:?})",
                    producer.task_index, consumer.task_index
                ));
            }
        }
    }
    Ok(streams)
}

#[cfg(test)]
mod tests;
