//! Where the cache meets DataFusion: a query planner that looks every cut point of a physical
//! plan up in the cache, a leaf that serves a stored entry ([`CachedScanExec`]) and a pass-through
//! operator that records a sub-plan's output as it streams by ([`CacheRecordExec`]).
//!
//! Cut points are the whole plan and the inputs of its top stage: walking down from the root
//! (through the root's own exchange), the inputs of aggregations and the first exchanges met, so
//! that an edited final aggregation still finds its input. Sub-plans that are only scans (with
//! filters and projections) are not worth storing and are left alone. The engine installs the
//! planner for in-process engines only (see `EngineBuilder::build`).

use super::entry::{self, Entry, EntryWriter};
use super::key::{self, Reuse};
use super::{Counter, KeyLock, Lookup, ResultCache};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use futures::StreamExt;
use parking_lot::Mutex;
use std::sync::Arc;

/// What the cache did for one query, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// The whole result was served from entry `entry`.
    Hit {
        /// The entry's name (its key hash).
        entry: String,
        /// Rows served.
        rows: usize,
    },
    /// The whole result is being recorded into entry `entry` (kept only if the query completes).
    Recording {
        /// The entry's name.
        entry: String,
    },
    /// The output of a sub-plan (a stage) was read from entry `entry` instead of computed.
    SubplanReused {
        /// The entry's name.
        entry: String,
        /// The operator at the top of the reused sub-plan.
        operator: String,
    },
    /// The output of a sub-plan is being recorded into entry `entry`.
    SubplanRecording {
        /// The entry's name.
        entry: String,
        /// The operator at the top of the sub-plan.
        operator: String,
    },
    /// The query may not be cached, and why.
    Bypassed(String),
    /// A corrupt or truncated entry was found, removed, and will be recomputed.
    DroppedCorrupt {
        /// The entry's name.
        entry: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// The cache events of one query: `Engine::execute_stream_traced` attaches one to the session
/// config before planning, where the cache's planner finds it, and returns it.
#[derive(Debug, Default)]
pub struct CacheTrace {
    events: Mutex<Vec<CacheEvent>>,
    /// Set before planning: why this query must bypass the cache (judged on the plan before
    /// the optimizer folded stable functions away).
    bypass: Option<String>,
}

impl CacheTrace {
    /// A trace for a query that must bypass the cache for `reason`, if any.
    pub(crate) fn new(bypass: Option<String>) -> CacheTrace {
        CacheTrace {
            events: Mutex::default(),
            bypass,
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<CacheEvent> {
        self.events.lock().clone()
    }

    /// True when the whole result came from the cache.
    pub fn served_from_cache(&self) -> bool {
        self.events
            .lock()
            .iter()
            .any(|event| matches!(event, CacheEvent::Hit { .. }))
    }

    /// Sub-plans read from the cache.
    pub fn reused_subplans(&self) -> usize {
        self.events
            .lock()
            .iter()
            .filter(|event| matches!(event, CacheEvent::SubplanReused { .. }))
            .count()
    }

    fn push(&self, event: CacheEvent) {
        self.events.lock().push(event);
    }
}

/// DataFusion's physical planner followed by the cache's rewrite (in-process engines only; see
/// `EngineBuilder::build`).
#[derive(Debug)]
pub(crate) struct CachingQueryPlanner {
    cache: Arc<ResultCache>,
}

impl CachingQueryPlanner {
    pub(crate) fn new(cache: Arc<ResultCache>) -> CachingQueryPlanner {
        CachingQueryPlanner { cache }
    }
}

#[async_trait]
impl QueryPlanner for CachingQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        let trace = session
            .config()
            .get_extension::<CacheTrace>()
            .unwrap_or_default();
        rewrite(&self.cache, plan, logical_plan, session, &trace).await
    }
}

/// Puts the cache into `plan`: serves cut points that have entries and records those that
/// do not.
async fn rewrite(
    cache: &Arc<ResultCache>,
    plan: Arc<dyn ExecutionPlan>,
    logical: &LogicalPlan,
    session: &dyn Session,
    trace: &CacheTrace,
) -> Result<Arc<dyn ExecutionPlan>> {
    let bypass = |reason: String| {
        cache.count(Counter::Bypassed);
        trace.push(CacheEvent::Bypassed(reason));
    };
    if let Some(reason) = trace.bypass.clone() {
        bypass(reason);
        return Ok(plan);
    }
    // EXPLAIN ANALYZE runs its input: sub-plans may be reused, and its output says so.
    let full_logical = logical;
    let (analyze, logical) = match logical {
        LogicalPlan::Analyze(analyze) => (true, analyze.input.as_ref()),
        other => (false, other),
    };
    if let Some(reason) = key::bypass_reason(logical) {
        bypass(reason);
        return Ok(plan);
    }
    let prefix = match key::query_prefix(logical, session) {
        Ok(prefix) => prefix,
        Err(reason) => {
            bypass(reason);
            return Ok(plan);
        }
    };
    let cuts = Cuts {
        cache,
        prefix: &prefix,
        trace,
    };
    if analyze {
        let plan = without_dynamic_filters(plan, full_logical, session).await;
        let Some(analyze_exec) = plan.downcast_ref::<AnalyzeExec>() else {
            return Ok(plan);
        };
        let input = cuts.below_root(analyze_exec.input().clone())?;
        return plan.replace_children(
            vec![input],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        );
    }
    let key = match key::plan_key(&prefix, &plan, true) {
        Ok(key) => key,
        Err(reuse) => {
            bypass(describe(&reuse));
            // Parts of the plan may still be reusable.
            return cuts.below_root(plan);
        }
    };
    let name = key::entry_name(&key);
    let lock_path = cache.lock_path(&name);
    let mut lock = None;
    loop {
        match cache.lookup(&name, &key) {
            Lookup::Hit(entry) => {
                if let Some(served) = serve(&plan, entry.clone(), &name, false) {
                    cache.count(Counter::Hits);
                    trace.push(CacheEvent::Hit {
                        entry: name,
                        rows: entry.rows,
                    });
                    return Ok(served);
                }
            }
            Lookup::Collision => {
                bypass("another query's entry has the same hash".into());
                return Ok(plan);
            }
            Lookup::Dropped(reason) => trace.push(CacheEvent::DroppedCorrupt {
                entry: name.clone(),
                reason,
            }),
            Lookup::Miss => {}
        }
        if lock.is_some() {
            break;
        }
        // Another process computing the same key holds the lock; wait for it, then look again
        // (it may have stored the entry, or given up).
        lock = Some(super::lock(&lock_path).await.map_err(io_error)?);
    }
    cache.count(Counter::Misses);
    trace.push(CacheEvent::Recording {
        entry: name.clone(),
    });
    let plan = without_dynamic_filters(plan, logical, session).await;
    let plan = cuts.below_root(plan)?;
    Ok(record(cache, plan, key, name, lock, cache.max_bytes, false))
}

/// `plan` planned again with dynamic filters off, if it has any.
///
/// A dynamic filter pushed into a sub-plan from above (a TopK's bound, a join's build-side keys)
/// prunes that sub-plan's output to what this query needs: stored, it would be wrong for any
/// other query. The whole result is not affected, so only plans with sub-plan cut points pay.
async fn without_dynamic_filters(
    plan: Arc<dyn ExecutionPlan>,
    logical: &LogicalPlan,
    session: &dyn Session,
) -> Arc<dyn ExecutionPlan> {
    if !has_dynamic_filter(&plan) {
        return plan;
    }
    let Some(state) = session
        .as_any()
        .downcast_ref::<datafusion::execution::SessionState>()
    else {
        return plan;
    };
    let mut state = state.clone();
    if state
        .config_mut()
        .options_mut()
        .set(
            "datafusion.optimizer.enable_dynamic_filter_pushdown",
            "false",
        )
        .is_err()
    {
        return plan;
    }
    DefaultPhysicalPlanner::default()
        .create_physical_plan(logical, &state)
        .await
        .unwrap_or(plan)
}

/// Whether any operator of `plan` shows a dynamic filter.
fn has_dynamic_filter(plan: &Arc<dyn ExecutionPlan>) -> bool {
    key::Verbose(plan.as_ref())
        .to_string()
        .contains(key::DYNAMIC_FILTER)
        || plan.children().into_iter().any(has_dynamic_filter)
}

fn describe(reuse: &Reuse) -> String {
    match reuse {
        Reuse::Reusable => "reusable".into(),
        Reuse::Accumulating(what) => format!("it reads {what}, whose state accumulates"),
        Reuse::Unversioned(what) => format!("it reads {what}, which has no version"),
    }
}

fn io_error(error: std::io::Error) -> DataFusionError {
    DataFusionError::External(
        format!("result cache: {error}; check the cache folder or run with --no-cache").into(),
    )
}

/// Is `plan` an exchange: where DataFusion (and so datafusion-distributed) cuts stages.
fn is_exchange(plan: &dyn ExecutionPlan) -> bool {
    plan.downcast_ref::<RepartitionExec>().is_some()
        || plan.downcast_ref::<CoalescePartitionsExec>().is_some()
        || plan.downcast_ref::<SortPreservingMergeExec>().is_some()
}

/// Where the cut points of one query are looked up: the cache, the query's key prefix and its
/// trace.
struct Cuts<'a> {
    cache: &'a Arc<ResultCache>,
    prefix: &'a [u8],
    trace: &'a CacheTrace,
}

impl Cuts<'_> {
    /// Serves or records the cut points below the top of `plan` (the whole plan is keyed
    /// apart); the root's own exchange belongs to the top.
    fn below_root(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        if is_exchange(plan.as_ref()) {
            self.children(plan)
        } else {
            self.cut(plan)
        }
    }

    /// Applies [`Cuts::cut`] to each child of `plan`.
    fn children(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        let mut changed = false;
        let mut new_children = Vec::with_capacity(children.len());
        for child in children {
            let new_child = self.cut(child.clone())?;
            changed |= !Arc::ptr_eq(&new_child, &child);
            new_children.push(new_child);
        }
        if !changed {
            return Ok(plan);
        }
        plan.replace_children(
            new_children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
        )
    }

    /// Walking down the top stage: the input of an aggregation is a cut point (an edited
    /// aggregation still finds it), and so is the first exchange met, unless it only splits a
    /// partial aggregation from its final part.
    fn cut(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(aggregate) = plan.downcast_ref::<AggregateExec>()
            && matches!(
                aggregate.mode(),
                AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
            )
        {
            let served = self.subplan(aggregate.input().clone())?;
            if Arc::ptr_eq(&served, aggregate.input()) {
                return Ok(plan);
            }
            return plan.replace_children(
                vec![served],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
            );
        }
        if is_exchange(plan.as_ref()) {
            let over_partial = plan.children()[0]
                .downcast_ref::<AggregateExec>()
                .is_some_and(|aggregate| matches!(aggregate.mode(), AggregateMode::Partial));
            return if over_partial {
                self.children(plan)
            } else {
                self.subplan(plan)
            };
        }
        self.children(plan)
    }

    /// Serves the sub-plan `plan` from its entry, or records it if no other process is.
    fn subplan(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        if !worth_keeping(plan.as_ref()) {
            return Ok(plan);
        }
        let Ok(key) = key::plan_key(self.prefix, &plan, false) else {
            // An unversioned or accumulating input, or a dynamic filter from above: look for
            // smaller cut points inside.
            return self.children(plan);
        };
        let name = key::entry_name(&key);
        let operator = plan.name().to_string();
        match self.cache.lookup(&name, &key) {
            Lookup::Hit(entry) => {
                if let Some(served) = serve(&plan, entry, &name, true) {
                    self.cache.count(Counter::ReusedSubplans);
                    self.trace.push(CacheEvent::SubplanReused {
                        entry: name,
                        operator,
                    });
                    return Ok(served);
                }
            }
            Lookup::Collision => return Ok(plan),
            Lookup::Dropped(reason) => self.trace.push(CacheEvent::DroppedCorrupt {
                entry: name.clone(),
                reason,
            }),
            Lookup::Miss => {}
        }
        // Never wait here: another process is computing it, and waiting on several sub-plan locks
        // could deadlock two queries.
        let Some(lock) = super::try_lock(&self.cache.lock_path(&name)).map_err(io_error)? else {
            return Ok(plan);
        };
        self.trace.push(CacheEvent::SubplanRecording {
            entry: name.clone(),
            operator,
        });
        // A stage output larger than an eighth of the cap is not worth keeping.
        let budget = self.cache.max_bytes / 8;
        Ok(record(
            self.cache,
            plan,
            key,
            name,
            Some(lock),
            budget,
            true,
        ))
    }
}

/// Whether a sub-plan does enough work to be worth storing: a join, an aggregation, a sort or a
/// window. A scan with filters and projections is read as fast from its own files.
fn worth_keeping(plan: &dyn ExecutionPlan) -> bool {
    let name = plan.name();
    ["Join", "Aggregate", "Sort", "Window"]
        .iter()
        .any(|kind| name.contains(kind))
        || plan
            .children()
            .into_iter()
            .any(|child| worth_keeping(child.as_ref()))
}

/// A leaf serving `entry` in place of `plan`, if the entry has `plan`'s shape.
fn serve(
    plan: &Arc<dyn ExecutionPlan>,
    entry: Arc<Entry>,
    name: &str,
    subplan: bool,
) -> Option<Arc<dyn ExecutionPlan>> {
    let properties = plan.properties().clone();
    let shape_matches = entry.partitions.len() == properties.partitioning.partition_count()
        && entry.schema.fields() == plan.schema().fields();
    if !shape_matches {
        log::warn!("cache entry {name} does not have the plan's shape; recomputing");
        return None;
    }
    Some(Arc::new(CachedScanExec {
        entry,
        name: name.to_string(),
        schema: plan.schema(),
        operator: plan.name().to_string(),
        subplan,
        properties,
        metrics: ExecutionPlanMetricsSet::new(),
    }))
}

fn record(
    cache: &Arc<ResultCache>,
    plan: Arc<dyn ExecutionPlan>,
    key: Vec<u8>,
    name: String,
    lock: Option<KeyLock>,
    budget: u64,
    subplan: bool,
) -> Arc<dyn ExecutionPlan> {
    let partitions = plan.properties().partitioning.partition_count();
    let recording = Arc::new(Recording {
        cache: cache.clone(),
        name,
        key,
        partitions,
        budget,
        state: Mutex::new(RecordState {
            writer: None,
            started: vec![false; partitions],
            remaining: partitions,
            aborted: false,
            lock,
        }),
    });
    Arc::new(CacheRecordExec {
        input: plan.clone(),
        recording,
        subplan,
        properties: plan.properties().clone(),
        metrics: ExecutionPlanMetricsSet::new(),
    })
}

/// A leaf that serves a stored entry: each output partition streams its batches straight from
/// the mapped file.
#[derive(Debug)]
pub struct CachedScanExec {
    entry: Arc<Entry>,
    name: String,
    schema: SchemaRef,
    operator: String,
    subplan: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DisplayAs for CachedScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "CachedScanExec: {} of {} reused from cache entry {}, rows={}, bytes={}",
            if self.subplan { "sub-plan" } else { "result" },
            self.operator,
            &self.name[..16],
            self.entry.rows,
            self.entry.bytes
        )
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
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let batches = self.entry.partitions.get(partition).ok_or_else(|| {
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

/// Passes its input through unchanged while writing it to a new entry, which is kept only if
/// every output partition ran to its end.
#[derive(Debug)]
pub struct CacheRecordExec {
    input: Arc<dyn ExecutionPlan>,
    recording: Arc<Recording>,
    subplan: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

#[derive(Debug)]
struct Recording {
    cache: Arc<ResultCache>,
    name: String,
    key: Vec<u8>,
    partitions: usize,
    budget: u64,
    state: Mutex<RecordState>,
}

#[derive(Debug)]
struct RecordState {
    writer: Option<EntryWriter>,
    started: Vec<bool>,
    remaining: usize,
    aborted: bool,
    /// The key's lock, held until the entry is stored or given up.
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
    /// A writer for this entry's temporary file; `None` (logged) if it cannot be created.
    fn create_writer(&self, schema: &SchemaRef) -> Option<EntryWriter> {
        let temp = self.cache.dir.join(entry::temp_name(&self.name));
        EntryWriter::create(temp, schema, self.partitions)
            .inspect_err(|error| log::warn!("cannot write cache entry {}: {error}", self.name))
            .ok()
    }

    fn start(&self, partition: usize) {
        let mut state = self.state.lock();
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
        if state.writer.is_none() {
            match self.create_writer(&batch.schema()) {
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
    /// the last partition it is committed.
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
        // An empty result has no writer yet.
        let Some(writer) = state.writer.take().or_else(|| self.create_writer(schema)) else {
            return state.abort();
        };
        let path = self.cache.entry_path(&self.name);
        match writer.commit(&self.key, &path) {
            Ok(bytes) => self.cache.committed(&self.name, bytes),
            Err(error) => log::warn!("cannot store cache entry {}: {error}", self.name),
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
            &self.recording.name[..16]
        )
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
        // The entry must have the partitions the plan was keyed with; if distribution changed
        // them, pass through without recording.
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
        recording.start(partition);
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
