//! Where a producer task's output partition goes: which consumer task, and which of that task's
//! partitions. The shm transport uses it to put each output partition on the ring of its
//! (producer task, consumer task) pair.
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

#[cfg(test)]
mod tests;
