//! How many tasks a file scan is split into when queries run on workers: one task per
//! [`TaskSizing::scan_bytes_per_task`] bytes of the files it reads (their sizes on disk, or the
//! byte ranges it was given), at most one per worker; a scan smaller than that stays in one task.
//!
//! datafusion-distributed's own rule divides the bytes by `file_scan_config_bytes_per_partition`
//! (16 MiB) and then by the partitions per task, so a 20 MB table on a 2-core machine got one
//! task: with `--workers 3` every TPC-H query at sf 0.1 ran in the coordinator. This rule ignores
//! partitions per task (they parallelise inside a task, tasks across workers). It steps aside
//! when `distributed.file_scan_config_bytes_per_partition` was set by the user, so that
//! datafusion-distributed's documented setting keeps its meaning. This module decides sizes
//! only; it never builds or changes a plan.

use datafusion::common::Result;
use datafusion::datasource::physical_plan::{CsvSource, FileScanConfig, JsonSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedConfig,
};

/// One task per this many scanned bytes unless the engine says otherwise: tiny tables stay in
/// one task (a process hop costs more than it saves), tables of a few MB use every worker.
pub const DEFAULT_SCAN_BYTES_PER_TASK: u64 = 1 << 20;

/// The task-count rule for file scans (a datafusion-distributed desired-task-count handler).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskSizing {
    /// Bytes of files one task scans; at least 1.
    pub scan_bytes_per_task: u64,
}

impl TaskSizing {
    /// The desired task count of a file scan; `None` for other nodes (datafusion-distributed
    /// decides), and when the user set `file_scan_config_bytes_per_partition`.
    pub(crate) fn desired_tasks(
        &self,
        event: DesiredTaskCountEvent<'_>,
    ) -> Option<Result<DesiredTaskCountEventResponse>> {
        let scan = event.plan.downcast_ref::<DataSourceExec>()?;
        let files = scan.data_source().downcast_ref::<FileScanConfig>()?;
        if let Some(reason) = one_task_only(files) {
            log::debug!("a scan stays in one task: {reason}");
            return Some(Ok(DesiredTaskCountEventResponse::maximum(1)));
        }
        let user_sized = DistributedConfig::from_session_config(event.session_config)
            .map(|config| {
                config.file_scan_config_bytes_per_partition
                    != DistributedConfig::default().file_scan_config_bytes_per_partition
            })
            .unwrap_or(false);
        if user_sized {
            return None;
        }
        let bytes: u64 = files
            .file_groups
            .iter()
            .flat_map(|group| group.files())
            .map(|file| file.effective_size())
            .sum();
        let tasks = bytes.div_ceil(self.scan_bytes_per_task.max(1)).max(1);
        Some(Ok(DesiredTaskCountEventResponse::desired(
            usize::try_from(tasks).unwrap_or(usize::MAX),
        )))
    }
}

/// Why a file scan must not be split over tasks, whatever its size:
/// - it carries a row limit (DataFusion pushed `LIMIT n` into a scan of one partition): split,
///   each task would return up to n rows (`SELECT * FROM t LIMIT 1` gave 2 rows on 2 workers);
/// - DataFusion itself would not split its files by byte range (compressed files, CSV with
///   newlines in values, Arrow IPC streams, Avro): datafusion-distributed 4 splits every file
///   by range regardless, and such a split reads garbage or fails ("Arrow file does not contain
///   correct footer").
fn one_task_only(files: &FileScanConfig) -> Option<&'static str> {
    if files.limit.is_some() {
        return Some("it has a row limit");
    }
    // datafusion-distributed splits by byte range with no regard to the format; only the
    // formats whose readers find record boundaries in a range are split. (An Arrow IPC file's
    // source cannot tell a stream from a file until it reads it.)
    let source = files.file_source();
    let ranged = source.downcast_ref::<ParquetSource>().is_some()
        || source.downcast_ref::<CsvSource>().is_some()
        || source.downcast_ref::<JsonSource>().is_some();
    if !ranged {
        return Some("its format is not read by byte range");
    }
    let finer = files.file_groups.len().max(1) * 2;
    let splittable = files
        .file_source()
        .repartitioned(finer, 0, None, files)
        .ok()
        .flatten()
        .is_some();
    (!splittable).then_some("its files cannot be split by byte range")
}

#[async_trait::async_trait]
impl datafusion_distributed::DesiredTaskCountHandler for TaskSizing {
    async fn handle(
        &self,
        event: DesiredTaskCountEvent<'_>,
    ) -> Option<Result<DesiredTaskCountEventResponse>> {
        self.desired_tasks(event)
    }
}
