//! The cache's operators: [`CachedScanExec`], a leaf serving a stored entry, and
//! [`CacheRecordExec`], a pass-through that records its input's output into a new one.
//!
//! A cut point in a stage run by several tasks is stored in parts, one entry per task (each
//! keyed by [`part_key`]): every task records, and later reads, only the partitions it runs.
//! Both operators then travel to worker processes through [`super::codec::CacheCodec`], and
//! workers open the parts by path, through pins the coordinator holds for the query.

use super::entry::{self, Entry, EntryWriter};
use super::{KeyLock, Pin, ResultCache};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_distributed::DistributedTaskContext;
use futures::StreamExt;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;

/// The key of part `task` of the `tasks` parts of the entry keyed `key` (the key itself when
/// there is one part, so that a one-task stage and an in-process plan share entries).
pub(super) fn part_key(key: &[u8], task: usize, tasks: usize) -> Vec<u8> {
    let mut part = key.to_vec();
    if tasks > 1 {
        part.extend_from_slice(format!("[part]\n{task} of {tasks}\n").as_bytes());
    }
    part
}

/// Properties of a leaf with `partitions` partitions of `schema` and nothing else known: what a
/// worker rebuilds (plans are not optimized again there), and what a whole result stored under
/// another partitioning is served with.
fn plain_properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

/// A leaf that serves a stored entry: each output partition streams its batches straight from
/// the mapped file.
#[derive(Debug)]
pub struct CachedScanExec {
    pub(super) source: Source,
    /// The entry's name (of its first part when it has several).
    pub(super) name: String,
    pub(super) schema: SchemaRef,
    /// The operator at the top of the sub-plan served.
    pub(super) operator: String,
    pub(super) subplan: bool,
    pub(super) rows: usize,
    pub(super) bytes: u64,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// Where a [`CachedScanExec`] reads from.
#[derive(Debug)]
pub(super) enum Source {
    /// An entry this process mapped while planning.
    Mapped(Arc<Entry>),
    /// One part per task of a worker stage, opened by the task that runs it.
    Parts(Parts),
}

#[derive(Debug)]
pub(super) struct Parts {
    /// The pinned path of each task's part.
    pub(super) paths: Vec<PathBuf>,
    /// The key of the whole (each part's key is [`part_key`] of it).
    pub(super) key: Arc<Vec<u8>>,
    /// Held by the coordinator that planned the query, until the plan is dropped.
    _pins: Vec<Pin>,
    /// This task's part, once opened.
    opened: Mutex<Option<Arc<Entry>>>,
}

impl CachedScanExec {
    /// Serves a whole result `entry` in place of `plan`, if it has `plan`'s fields. It may have
    /// been stored with other partitions (by a distributed plan, which ends in one), which is
    /// then what the leaf says it has.
    pub(super) fn whole_result(
        plan: &Arc<dyn ExecutionPlan>,
        entry: Arc<Entry>,
        name: String,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        if entry.schema.fields() != plan.schema().fields() {
            return None;
        }
        let partitions = entry.partitions.len();
        let properties = match plan.properties().partitioning.partition_count() == partitions {
            true => plan.properties().clone(),
            false => plain_properties(plan.schema(), partitions),
        };
        Some(Self::serving(
            plan,
            Source::Mapped(entry.clone()),
            name,
            false,
            properties,
            &[entry],
        ))
    }

    /// Serves sub-plan `plan` from `entry`, mapped by this process.
    pub(super) fn mapped(
        plan: &Arc<dyn ExecutionPlan>,
        entry: Arc<Entry>,
        name: String,
    ) -> Arc<dyn ExecutionPlan> {
        let properties = plan.properties().clone();
        Self::serving(
            plan,
            Source::Mapped(entry.clone()),
            name,
            true,
            properties,
            &[entry],
        )
    }

    /// Serves sub-plan `plan` of a worker stage from the parts `entries`, one per task, which
    /// `pins` keep reachable until the query ends.
    pub(super) fn pinned(
        plan: &Arc<dyn ExecutionPlan>,
        key: &[u8],
        name: String,
        pins: Vec<Pin>,
        entries: &[Arc<Entry>],
    ) -> Arc<dyn ExecutionPlan> {
        let parts = Parts {
            paths: pins.iter().map(|pin| pin.path.clone()).collect(),
            key: Arc::new(key.to_vec()),
            _pins: pins,
            opened: Mutex::new(None),
        };
        let properties = plan.properties().clone();
        Self::serving(plan, Source::Parts(parts), name, true, properties, entries)
    }

    fn serving(
        plan: &Arc<dyn ExecutionPlan>,
        source: Source,
        name: String,
        subplan: bool,
        properties: Arc<PlanProperties>,
        entries: &[Arc<Entry>],
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(CachedScanExec {
            source,
            name,
            schema: plan.schema(),
            operator: plan.name().to_string(),
            subplan,
            rows: entries.iter().map(|entry| entry.rows).sum(),
            bytes: entries.iter().map(|entry| entry.bytes).sum(),
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The operator as a worker decodes it: parts at `paths`, nothing pinned by this process.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decoded(
        paths: Vec<PathBuf>,
        key: Vec<u8>,
        name: String,
        schema: SchemaRef,
        operator: String,
        rows: usize,
        bytes: u64,
        partitions: usize,
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(CachedScanExec {
            source: Source::Parts(Parts {
                paths,
                key: Arc::new(key),
                _pins: Vec::new(),
                opened: Mutex::new(None),
            }),
            name,
            properties: plain_properties(schema.clone(), partitions),
            schema,
            operator,
            subplan: true,
            rows,
            bytes,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The entry the task running in `context` reads.
    fn entry(&self, context: &Arc<TaskContext>) -> Result<Arc<Entry>> {
        let parts = match &self.source {
            Source::Mapped(entry) => return Ok(entry.clone()),
            Source::Parts(parts) => parts,
        };
        let mut opened = parts.opened.lock();
        if let Some(entry) = opened.as_ref() {
            return Ok(entry.clone());
        }
        let task = DistributedTaskContext::from_ctx(context);
        let Some(path) = parts.paths.get(task.task_index) else {
            return Err(DataFusionError::Internal(format!(
                "cache entry {} has {} parts, but this is task {} of {}",
                self.name,
                parts.paths.len(),
                task.task_index,
                task.task_count
            )));
        };
        let key = part_key(&parts.key, task.task_index, parts.paths.len());
        let entry = Arc::new(entry::open(path, &key).map_err(|error| {
            DataFusionError::External(
                format!(
                    "cannot read cache entry {}: {error}; run the query again, or {}",
                    path.display(),
                    super::TURN_OFF
                )
                .into(),
            )
        })?);
        *opened = Some(entry.clone());
        Ok(entry)
    }
}

impl DisplayAs for CachedScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "CachedScanExec: {} of {} reused from cache entry {}",
            if self.subplan { "sub-plan" } else { "result" },
            self.operator,
            &self.name[..16.min(self.name.len())],
        )?;
        if let Source::Parts(parts) = &self.source
            && parts.paths.len() > 1
        {
            write!(f, " in {} parts", parts.paths.len())?;
        }
        write!(f, ", rows={}, bytes={}", self.rows, self.bytes)
    }
}

impl ExecutionPlan for CachedScanExec {
    fn name(&self) -> &str {
        "CachedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let entry = self.entry(&context)?;
        let batches = entry.partitions.get(partition).ok_or_else(|| {
            DataFusionError::Internal(format!("cache entry has no partition {partition}"))
        })?;
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        rows.add(batches.iter().map(RecordBatch::num_rows).sum());
        Ok(Box::pin(MemoryStream::try_new(
            batches.clone(),
            self.schema.clone(),
            None,
        )?))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Passes its input through unchanged while writing it to a new entry (this task's part of
/// it), which is kept only if every output partition ran to its end.
#[derive(Debug)]
pub struct CacheRecordExec {
    pub(super) input: Arc<dyn ExecutionPlan>,
    pub(super) recording: Arc<Recording>,
    pub(super) subplan: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl CacheRecordExec {
    /// `plan`, recorded by `recording` as it streams by.
    pub(super) fn wrap(
        plan: Arc<dyn ExecutionPlan>,
        recording: Arc<Recording>,
        subplan: bool,
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(CacheRecordExec {
            properties: plan.properties().clone(),
            input: plan,
            recording,
            subplan,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// One entry being recorded, shared by the partitions of one task.
#[derive(Debug)]
pub(super) struct Recording {
    pub(super) cache: Arc<ResultCache>,
    /// The name of the whole entry (the hash of `key`).
    pub(super) name: String,
    /// The key of the whole entry; a task records the part keyed [`part_key`] of it.
    pub(super) key: Vec<u8>,
    /// How many tasks run the stage, each recording one part.
    pub(super) tasks: usize,
    pub(super) partitions: usize,
    pub(super) budget: u64,
    state: Mutex<RecordState>,
}

#[derive(Debug)]
struct RecordState {
    /// The part this task records: its task index, name and key.
    part: Option<(usize, String, Vec<u8>)>,
    writer: Option<EntryWriter>,
    started: Vec<bool>,
    remaining: usize,
    aborted: bool,
    /// The key's lock, held until the entry is stored or given up (by the process that planned
    /// the query; a worker recording a part holds none).
    lock: Option<KeyLock>,
}

impl RecordState {
    fn abort(&mut self) {
        self.aborted = true;
        self.writer = None;
        self.lock = None;
    }
}

impl Recording {
    /// A recording of `plan`'s output into the entry `name` keyed `key`, in `tasks` parts,
    /// given up beyond `budget` bytes.
    pub(super) fn new(
        cache: &Arc<ResultCache>,
        key: Vec<u8>,
        name: String,
        tasks: usize,
        plan: &Arc<dyn ExecutionPlan>,
        budget: u64,
    ) -> Arc<Recording> {
        let partitions = plan.properties().partitioning.partition_count();
        Self::decoded(cache.clone(), key, name, tasks, partitions, budget)
    }

    /// A recording as a worker rebuilds it.
    pub(super) fn decoded(
        cache: Arc<ResultCache>,
        key: Vec<u8>,
        name: String,
        tasks: usize,
        partitions: usize,
        budget: u64,
    ) -> Arc<Recording> {
        Arc::new(Recording {
            cache,
            name,
            key,
            tasks,
            partitions,
            budget,
            state: Mutex::new(RecordState {
                part: None,
                writer: None,
                started: vec![false; partitions],
                remaining: partitions,
                aborted: false,
                lock: None,
            }),
        })
    }

    /// This recording, holding the key's `lock` until it ends (or the plan is dropped).
    pub(super) fn holding(self: Arc<Self>, lock: KeyLock) -> Arc<Recording> {
        self.state.lock().lock = Some(lock);
        self
    }

    /// A writer for this part's temporary file; `None` (logged) if it cannot be created.
    fn create_writer(&self, part: &str, schema: &SchemaRef) -> Option<EntryWriter> {
        let temp = self.cache.dir.join(entry::temp_name(part));
        EntryWriter::create(temp, schema, self.partitions)
            .inspect_err(|error| log::warn!("cannot write cache entry {part}: {error}"))
            .ok()
    }

    fn start(&self, partition: usize, context: &Arc<TaskContext>) {
        let task = DistributedTaskContext::from_ctx(context);
        let mut state = self.state.lock();
        if task.task_count != self.tasks {
            // Planned for another number of tasks: its parts would not fit together.
            return state.abort();
        }
        match &state.part {
            None => {
                let key = part_key(&self.key, task.task_index, self.tasks);
                let name = super::key::entry_name(&key);
                state.part = Some((task.task_index, name, key));
            }
            Some((index, _, _)) if *index != task.task_index => return state.abort(),
            Some(_) => {}
        }
        match state.started.get_mut(partition) {
            Some(started) if !*started => *started = true,
            // A partition run twice (or one out of range) cannot be recorded faithfully.
            _ => state.abort(),
        }
    }

    fn write(&self, partition: usize, batch: &RecordBatch) {
        let mut state = self.state.lock();
        if state.aborted {
            return;
        }
        let Some((_, part, _)) = &state.part else {
            return state.abort();
        };
        if state.writer.is_none() {
            match self.create_writer(&part.clone(), &batch.schema()) {
                Some(writer) => state.writer = Some(writer),
                None => return state.abort(),
            }
        }
        let writer = state.writer.as_mut().expect("created above");
        if let Err(error) = writer.write(partition, batch) {
            log::warn!("cannot write cache entry {}: {error}", self.name);
            return state.abort();
        }
        if writer.bytes() > self.budget {
            state.abort();
        }
    }

    /// Partition `partition` ended: with an error (`ok == false`) the entry is given up; after
    /// the last partition this task's part is committed.
    fn finish(&self, ok: bool, schema: &SchemaRef) {
        let mut state = self.state.lock();
        if state.aborted {
            return;
        }
        if !ok {
            return state.abort();
        }
        state.remaining -= 1;
        if state.remaining > 0 {
            return;
        }
        let Some((_, part, key)) = state.part.clone() else {
            return state.abort();
        };
        // An empty result has no writer yet.
        let Some(writer) = state
            .writer
            .take()
            .or_else(|| self.create_writer(&part, schema))
        else {
            return state.abort();
        };
        let path = self.cache.entry_path(&part);
        match writer.commit(&key, &path) {
            Ok(bytes) => self.cache.committed(&part, bytes),
            Err(error) => log::warn!("cannot store cache entry {part}: {error}"),
        }
        state.abort();
    }
}

impl DisplayAs for CacheRecordExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "CacheRecordExec: recording {} into cache entry {}",
            if self.subplan { "sub-plan" } else { "result" },
            &self.recording.name[..16.min(self.recording.name.len())]
        )?;
        if self.recording.tasks > 1 {
            write!(f, " in {} parts", self.recording.tasks)?;
        }
        Ok(())
    }
}

impl ExecutionPlan for CacheRecordExec {
    fn name(&self) -> &str {
        "CacheRecordExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        // The entry must have the partitions the plan was keyed with; if they changed, pass
        // through without recording.
        if input.properties().partitioning.partition_count() != self.recording.partitions {
            self.recording.state.lock().abort();
        }
        Ok(Arc::new(CacheRecordExec {
            properties: input.properties().clone(),
            input,
            recording: self.recording.clone(),
            subplan: self.subplan,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let recording = self.recording.clone();
        recording.start(partition, &context);
        let schema = self.input.schema();
        let input = self.input.execute(partition, context)?;
        let guard = Arc::new(FinishGuard {
            recording: recording.clone(),
            schema: schema.clone(),
            done: Mutex::new(false),
        });
        let end = guard.clone();
        let stream = input
            .map(move |item| {
                match &item {
                    Ok(batch) => recording.write(partition, batch),
                    Err(_) => guard.finish(false),
                }
                item
            })
            .chain(futures::stream::poll_fn(move |_| {
                end.finish(true);
                std::task::Poll::Ready(None)
            }));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Ends one partition's recording exactly once: at the end of its stream, at its first error,
/// or (as a failure) when the stream is dropped early.
struct FinishGuard {
    recording: Arc<Recording>,
    schema: SchemaRef,
    done: Mutex<bool>,
}

impl FinishGuard {
    fn finish(&self, ok: bool) {
        let mut done = self.done.lock();
        if !*done {
            *done = true;
            self.recording.finish(ok, &self.schema);
        }
    }
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.finish(false);
    }
}
