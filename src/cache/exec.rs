//! Where the cache meets DataFusion's planning: two query planners that look every cut point of
//! a physical plan up in the cache, serving hits with [`CachedScanExec`] and recording misses with
//! [`CacheRecordExec`].
//!
//! [`ResultPlanner`] runs first: DataFusion's planner, then the whole result's lookup. With
//! worker processes, datafusion-distributed's planner runs next and cuts the plan into stages.
//! [`CachingQueryPlanner`] runs last, over the plan that will run: walking down from the root
//! (through its own exchanges, and into worker stages), the inputs of aggregations and the first
//! exchanges met are cut points, so that an edited final aggregation still finds its input.
//! Sub-plans that are only scans (with filters and projections) are not worth storing.

use super::entry::Entry;
use super::key::{self, Reuse};
use super::ops::{CacheRecordExec, CachedScanExec, Recording, part_key};
use super::{Counter, KeyLock, Lookup, ResultCache};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNode;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PiecewiseMergeJoinExec, SortMergeJoinExec,
    SymmetricHashJoinExec,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::partial_sort::PartialSortExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::{InterleaveExec, UnionExec};
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion_distributed::{DistributedExec, NetworkBoundaryExt};
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
    /// Left by the first half of the cache's planning for the second.
    pending: Mutex<Option<Pending>>,
}

impl CacheTrace {
    /// A trace for a query that must bypass the cache for `reason`, if any.
    pub(crate) fn new(bypass: Option<String>) -> CacheTrace {
        CacheTrace {
            events: Mutex::default(),
            bypass,
            pending: Mutex::default(),
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

    fn set_pending(&self, pending: Pending) {
        *self.pending.lock() = Some(pending);
    }

    fn take_pending(&self) -> Option<Pending> {
        self.pending.lock().take()
    }
}

/// What the first half of the cache's planning ([`ResultPlanner`]) leaves the second
/// ([`CachingQueryPlanner`]) in the query's [`CacheTrace`].
#[derive(Debug)]
pub(super) enum Pending {
    /// The whole result missed: record it (holding its key's lock) and look for cut points
    /// below it.
    Record {
        prefix: Vec<u8>,
        key: Vec<u8>,
        name: String,
        lock: KeyLock,
    },
    /// Only cut points below the root: EXPLAIN ANALYZE, or a whole plan that cannot be keyed.
    Cuts { prefix: Vec<u8>, analyze: bool },
}

/// The first half of the cache's planning: DataFusion's physical planner, then the lookup of
/// the whole result. A hit becomes a [`CachedScanExec`] leaf, which datafusion-distributed (when
/// it plans next) leaves in the coordinator; a miss is left to [`CachingQueryPlanner`].
///
/// Queries are cached only when run through `Engine::execute_stream`, which attaches a
/// [`CacheTrace`] (it judges volatile functions before the optimizer folds them away).
#[derive(Debug)]
pub(crate) struct ResultPlanner {
    cache: Arc<ResultCache>,
}

impl ResultPlanner {
    pub(crate) fn new(cache: Arc<ResultCache>) -> ResultPlanner {
        ResultPlanner { cache }
    }
}

#[async_trait]
impl QueryPlanner for ResultPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        match session.config().get_extension::<CacheTrace>() {
            Some(trace) => look_up(&self.cache, plan, logical_plan, session, &trace).await,
            None => Ok(plan),
        }
    }
}

/// The second half: runs `inner` (a [`ResultPlanner`], or datafusion-distributed's planner
/// around one), then serves or records the cut points of the plan it made, stage by stage.
#[derive(Debug)]
pub(crate) struct CachingQueryPlanner {
    cache: Arc<ResultCache>,
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    /// Whether stage outputs are served and recorded too (not only the whole result).
    stage_parts: bool,
}

impl CachingQueryPlanner {
    /// The cache's planner for an engine without workers.
    pub(crate) fn in_process(cache: Arc<ResultCache>) -> CachingQueryPlanner {
        CachingQueryPlanner {
            inner: Arc::new(ResultPlanner::new(cache.clone())),
            cache,
            stage_parts: true,
        }
    }

    /// The cache's planner around `inner`, a distributed planner whose own inner planner is a
    /// [`ResultPlanner`] of the same cache; with `stage_parts` false, only whole results are
    /// cached (no task is sure to reach the cache folder).
    pub(crate) fn around(
        cache: Arc<ResultCache>,
        inner: Arc<dyn QueryPlanner + Send + Sync>,
        stage_parts: bool,
    ) -> CachingQueryPlanner {
        CachingQueryPlanner {
            cache,
            inner,
            stage_parts,
        }
    }
}

#[async_trait]
impl QueryPlanner for CachingQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        let Some(trace) = session.config().get_extension::<CacheTrace>() else {
            return Ok(plan);
        };
        let Some(pending) = trace.take_pending() else {
            return Ok(plan);
        };
        match pending {
            Pending::Record {
                prefix,
                key,
                name,
                lock,
            } => {
                let plan = match self.stage_parts {
                    true => Cuts::new(&self.cache, &prefix, &trace).below_root(plan)?,
                    false => plan,
                };
                let recording =
                    Recording::new(&self.cache, key, name, 1, &plan, self.cache.max_bytes);
                Ok(CacheRecordExec::wrap(plan, recording.holding(lock), false))
            }
            Pending::Cuts { .. } if !self.stage_parts => Ok(plan),
            Pending::Cuts { prefix, analyze } => {
                let cuts = Cuts::new(&self.cache, &prefix, &trace);
                if !analyze {
                    return cuts.below_root(plan);
                }
                // `AnalyzeExec`, or datafusion-distributed's version of it, over the query.
                let [input] = plan.children()[..] else {
                    return Ok(plan);
                };
                let input = cuts.below_root(input.clone())?;
                plan.replace_children(
                    vec![input],
                    ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
                )
            }
        }
    }
}

/// Looks the whole result of `plan` up: a hit is served; otherwise what the second half must do
/// is left in `trace`.
async fn look_up(
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
    if analyze {
        trace.set_pending(Pending::Cuts {
            prefix,
            analyze: true,
        });
        return Ok(without_dynamic_filters(plan, full_logical, session).await);
    }
    let key = match key::plan_key(&prefix, &plan, true) {
        Ok(key) => key,
        Err(reuse) => {
            bypass(describe(&reuse));
            // Parts of the plan may still be reusable.
            trace.set_pending(Pending::Cuts {
                prefix,
                analyze: false,
            });
            return Ok(without_dynamic_filters(plan, logical, session).await);
        }
    };
    let name = key::entry_name(&key);
    let lock_path = cache.lock_path(&name);
    let mut lock = None;
    let lock = loop {
        match cache.lookup(&name, &key) {
            Lookup::Hit(entry) => {
                let rows = entry.rows;
                match CachedScanExec::whole_result(&plan, entry, name.clone()) {
                    Some(served) => {
                        cache.count(Counter::Hits);
                        trace.push(CacheEvent::Hit { entry: name, rows });
                        return Ok(served);
                    }
                    // Stored for other fields: recorded again below.
                    None => log::warn!("cache entry {name} does not have the plan's shape"),
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
        if let Some(lock) = lock {
            break lock;
        }
        // Another process computing the same key holds the lock; wait for it, then look again
        // (it may have stored the entry, or given up).
        lock = Some(super::lock(&lock_path).await.map_err(io_error)?);
    };
    cache.count(Counter::Misses);
    trace.push(CacheEvent::Recording {
        entry: name.clone(),
    });
    trace.set_pending(Pending::Record {
        prefix,
        key,
        name,
        lock,
    });
    Ok(without_dynamic_filters(plan, logical, session).await)
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
    if !key::reads_dynamic_filter(plan.as_ref()) {
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

fn describe(reuse: &Reuse) -> String {
    match reuse {
        Reuse::Reusable => "reusable".into(),
        Reuse::Accumulating(what) => format!("it reads {what}, whose state accumulates"),
        Reuse::Unversioned(what) => format!("it reads {what}, which has no version"),
    }
}

fn io_error(error: std::io::Error) -> DataFusionError {
    DataFusionError::External(format!("result cache: {error}; {}", super::TURN_OFF).into())
}

/// Is `plan` an exchange: where DataFusion and datafusion-distributed cut stages.
fn is_exchange(plan: &dyn ExecutionPlan) -> bool {
    plan.downcast_ref::<RepartitionExec>().is_some()
        || plan.downcast_ref::<CoalescePartitionsExec>().is_some()
        || plan.downcast_ref::<SortPreservingMergeExec>().is_some()
        || plan.is_network_boundary()
}

/// Whether the exchange `plan` only splits a partial aggregation from its final part: through
/// any exchanges under it, the first operator is a partial aggregation.
fn over_partial_aggregate(plan: &dyn ExecutionPlan) -> bool {
    let mut node = plan;
    loop {
        let [child] = node.children()[..] else {
            return false;
        };
        if is_exchange(child.as_ref()) {
            node = child.as_ref();
            continue;
        }
        return child
            .downcast_ref::<AggregateExec>()
            .is_some_and(|aggregate| matches!(aggregate.mode(), AggregateMode::Partial));
    }
}

/// Where the cut points of one query are looked up: the cache, the query's key prefix and its
/// trace.
///
/// In a distributed plan the walk goes down through network boundaries into worker stages,
/// tracking how many tasks run the stage it is in: a cut point there is stored as one entry per
/// task (each worker records its own part), and served only when every part is present.
struct Cuts<'a> {
    cache: &'a Arc<ResultCache>,
    prefix: &'a [u8],
    trace: &'a CacheTrace,
}

/// Where in a distributed plan the walk is: how many tasks run the current stage, and whether
/// it runs on workers (its operators then travel through [`super::codec::CacheCodec`]).
#[derive(Debug, Clone, Copy)]
struct Place {
    tasks: usize,
    remote: bool,
}

/// How [`Cuts::children`] goes on below a node: still at the top ([`Cuts::top`]) or looking for
/// cut points ([`Cuts::cut`]).
#[derive(Debug, Clone, Copy)]
enum Walk {
    Top,
    Cut,
}

const COORDINATOR: Place = Place {
    tasks: 1,
    remote: false,
};

impl<'a> Cuts<'a> {
    fn new(cache: &'a Arc<ResultCache>, prefix: &'a [u8], trace: &'a CacheTrace) -> Cuts<'a> {
        Cuts {
            cache,
            prefix,
            trace,
        }
    }

    /// Serves or records the cut points below the top of `plan` (the whole plan is keyed
    /// apart): the root's own exchanges, and datafusion-distributed's wrapper, belong to the top.
    fn below_root(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        self.top(plan, COORDINATOR)
    }

    /// Passes `DistributedExec` and single-input exchanges at the top, then looks for cut points.
    fn top(&self, plan: Arc<dyn ExecutionPlan>, place: Place) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(distributed) = plan.downcast_ref::<DistributedExec>() {
            // With `distributed.dynamic_task_count` the stages are only cut at run time:
            // nothing of the cache may be inside then.
            let staged = distributed.children()[0]
                .exists(|node| Ok(node.is_network_boundary()))
                .unwrap_or(false);
            return match staged {
                true => self.children(plan, place, Walk::Top),
                false => Ok(plan),
            };
        }
        if is_exchange(plan.as_ref()) && plan.children().len() == 1 {
            self.children(plan, place, Walk::Top)
        } else {
            self.cut(plan, place)
        }
    }

    /// Applies `walk` to each child of `plan`, entering a network boundary's input stage.
    fn children(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        place: Place,
        walk: Walk,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let place = match plan.as_network_boundary() {
            Some(boundary) => Place {
                tasks: boundary.input_stage().task_count(),
                remote: true,
            },
            None => place,
        };
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        let mut changed = false;
        let mut new_children = Vec::with_capacity(children.len());
        for child in children {
            let new_child = match walk {
                Walk::Top => self.top(child.clone(), place)?,
                Walk::Cut => self.cut(child.clone(), place)?,
            };
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
    fn cut(&self, plan: Arc<dyn ExecutionPlan>, place: Place) -> Result<Arc<dyn ExecutionPlan>> {
        if may_split_tasks(plan.as_ref()) {
            return Ok(plan);
        }
        if let Some(aggregate) = plan.downcast_ref::<AggregateExec>()
            && matches!(
                aggregate.mode(),
                AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
            )
        {
            let served = self.subplan(aggregate.input().clone(), place)?;
            if Arc::ptr_eq(&served, aggregate.input()) {
                return Ok(plan);
            }
            return plan.replace_children(
                vec![served],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
            );
        }
        if is_exchange(plan.as_ref()) {
            return if over_partial_aggregate(plan.as_ref()) {
                self.children(plan, place, Walk::Cut)
            } else {
                self.subplan(plan, place)
            };
        }
        self.children(plan, place, Walk::Cut)
    }

    /// Serves the sub-plan `plan` from its entries, or records it if no other process is.
    fn subplan(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        place: Place,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !worth_keeping(plan.as_ref()) {
            return Ok(plan);
        }
        let Ok(key) = key::plan_key(self.prefix, &plan, false) else {
            // An unversioned or accumulating input, or a dynamic filter from above: look for
            // smaller cut points inside.
            return self.children(plan, place, Walk::Cut);
        };
        let name = key::entry_name(&key);
        let operator = plan.name().to_string();
        if let Some(served) = self.serve(&plan, &key, &name, place) {
            self.cache.count(Counter::ReusedSubplans);
            self.trace.push(CacheEvent::SubplanReused {
                entry: name,
                operator,
            });
            return Ok(served);
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
        let recording = Recording::new(self.cache, key, name, place.tasks, &plan, budget);
        Ok(CacheRecordExec::wrap(plan, recording.holding(lock), true))
    }

    /// A leaf serving the stored parts of `plan` (one per task of its stage), if every part is
    /// there, intact and of `plan`'s shape.
    fn serve(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        key: &[u8],
        name: &str,
        place: Place,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        let mut entries = Vec::with_capacity(place.tasks);
        for task in 0..place.tasks {
            let part_key = part_key(key, task, place.tasks);
            let part = key::entry_name(&part_key);
            match self.cache.lookup(&part, &part_key) {
                Lookup::Hit(entry) if has_shape(&entry, plan) => entries.push((part, entry)),
                Lookup::Hit(_) => {
                    log::warn!("cache entry {part} does not have the plan's shape; recomputing");
                    return None;
                }
                Lookup::Dropped(reason) => {
                    self.trace.push(CacheEvent::DroppedCorrupt {
                        entry: part,
                        reason,
                    });
                    return None;
                }
                Lookup::Miss | Lookup::Collision => return None,
            }
        }
        if !place.remote {
            let (_, entry) = entries.pop()?;
            return Some(CachedScanExec::mapped(plan, entry, name.to_string()));
        }
        // Workers open the parts by path: pin them so that eviction cannot take them first.
        let mut pins = Vec::with_capacity(entries.len());
        for (part, _) in &entries {
            pins.push(self.cache.pin(part)?);
        }
        let entries: Vec<Arc<Entry>> = entries.into_iter().map(|(_, entry)| entry).collect();
        Some(CachedScanExec::pinned(
            plan,
            key,
            name.to_string(),
            pins,
            &entries,
        ))
    }
}

/// Whether `entry` has `plan`'s partitions and fields.
fn has_shape(entry: &Entry, plan: &Arc<dyn ExecutionPlan>) -> bool {
    entry.partitions.len() == plan.properties().partitioning.partition_count()
        && entry.schema.fields() == plan.schema().fields()
}

/// Whether a sub-plan does enough work to be worth storing: a join, an aggregation, a sort or a
/// window. A scan with filters and projections is read as fast from its own files.
fn worth_keeping(plan: &dyn ExecutionPlan) -> bool {
    let works = is_join(plan)
        || plan.is::<AggregateExec>()
        || plan.is::<SortExec>()
        || plan.is::<PartialSortExec>()
        || plan.is::<SortPreservingMergeExec>()
        || plan.is::<WindowAggExec>()
        || plan.is::<BoundedWindowAggExec>();
    works
        || plan
            .children()
            .into_iter()
            .any(|child| worth_keeping(child.as_ref()))
}

/// Whether the children of `plan` may run on task subsets of their own, so that its stage's
/// task count says nothing about how many parts a cut point inside would have: any operator
/// with several inputs but DataFusion's joins and unions, whose every input runs in every task.
/// (datafusion-distributed's `ChildrenIsolatorUnionExec` is one; version 4 does not export it.)
fn may_split_tasks(plan: &dyn ExecutionPlan) -> bool {
    let every_input_in_every_task =
        is_join(plan) || plan.is::<UnionExec>() || plan.is::<InterleaveExec>();
    plan.children().len() > 1 && !every_input_in_every_task
}

/// Whether `plan` is one of DataFusion's joins.
fn is_join(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<HashJoinExec>()
        || plan.is::<SortMergeJoinExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
        || plan.is::<SymmetricHashJoinExec>()
        || plan.is::<PiecewiseMergeJoinExec>()
}
