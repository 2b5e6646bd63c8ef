//! The planner dfshm puts around datafusion-distributed's: it makes sure that what is sent to
//! workers is what the coordinator meant, and runs in the coordinator whatever cannot be sent
//! faithfully. A user gets DataFusion's answer or DataFusion's error, never a wrong answer
//! because a stage was cut or encoded badly upstream.
//!
//! Before a distributed plan is returned, every stage is specialized for its first task the way
//! datafusion-distributed does at dispatch (a [`DistributedLeafExec`] becomes that task's scan,
//! child stages become remote references) and round-tripped through the very codec that will
//! carry it (datafusion-proto with datafusion-distributed's and dfshm's extension codecs). A
//! stage that does not decode, or decodes with another schema or partition count, sends the
//! whole query to the coordinator, planned by DataFusion's own planner; so does a plan that
//! datafusion-distributed fails to make when DataFusion can. Plain `EXPLAIN` shows the plan
//! that runs: the distributed one with its stages and tasks, or the coordinator's with why.
//!
//! A stage's verdict is kept by the hash of its session and its encoding, so a query run again
//! (or a stage two queries share) is encoded, not decoded and compared again.
//!
//! The run-time settings guard lives here too: with one partition per task
//! (`target_partitions = 1`, also when `SET` in a session) broadcast joins are off for that
//! query (datafusion-distributed 4 then computes scalar subqueries once per task: TPC-H q11 and
//! q15 gave wrong answers).
//!
//! This module decides where a plan runs; it never changes what a plan computes.

use async_trait::async_trait;
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::Session;
use datafusion::common::display::{PlanType, StringifiedPlan};
use datafusion::common::format::ExplainFormat;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::logical_expr::{Explain, LogicalPlan};
use datafusion::physical_plan::Distribution;
use datafusion::physical_plan::explain::ExplainExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, displayable};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion_distributed::{
    DistributedCodec, DistributedConfig, DistributedExec, DistributedLeafExec, NetworkBoundary,
    NetworkBoundaryExt, NetworkBroadcastExec, NetworkShuffleExec, Stage,
};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_proto_converter, physical_plan_to_bytes_with_proto_converter,
};
use datafusion_proto::physical_plan::{DeduplicatingProtoConverter, PhysicalExtensionCodec};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a query runs in the coordinator although the engine has workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorOnly(pub String);

/// datafusion-distributed's planner with dfshm's guards around it.
#[derive(Debug)]
pub(crate) struct GuardedPlanner {
    distributed: Arc<dyn QueryPlanner + Send + Sync>,
    verdicts: Verdicts,
}

impl GuardedPlanner {
    pub(crate) fn around(distributed: Arc<dyn QueryPlanner + Send + Sync>) -> GuardedPlanner {
        GuardedPlanner {
            distributed,
            verdicts: Verdicts::default(),
        }
    }

    /// The plan that runs, and why it runs in the coordinator if it does although datafusion-
    /// distributed was asked.
    async fn plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<(Arc<dyn ExecutionPlan>, Option<CoordinatorOnly>)> {
        let adjusted = run_time_settings(session)?;
        let session: &dyn Session = match &adjusted {
            Some(state) => state,
            None => session,
        };
        let distributed = self
            .distributed
            .create_physical_plan(logical_plan, session)
            .await;
        let reason = match distributed {
            Ok(plan) => match unfaithful_stage(&plan, session, &self.verdicts) {
                None => return Ok((plan, None)),
                Some(reason) => reason,
            },
            Err(error) => format!("datafusion-distributed could not plan it ({error})"),
        };
        // DataFusion's own plan, in this process; its error (if any) is the one a user of
        // in-process DataFusion would see.
        let local = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        log::info!("running a query in the coordinator: {reason}");
        Ok((local, Some(CoordinatorOnly(reason))))
    }

    /// `EXPLAIN` of the plan that will run: DataFusion's logical plans, then the distributed
    /// physical plan with its stages (or the coordinator's plan and why).
    async fn explain(
        &self,
        explain: &Explain,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let default = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        let Some(exec) = default.downcast_ref::<ExplainExec>() else {
            return Ok(default);
        };
        if explain.explain_format != ExplainFormat::Indent
            || !explain.logical_optimization_succeeded
        {
            return Ok(default);
        }
        let (plan, coordinator_only) = match self.plan(&explain.plan, session).await {
            Ok(planned) => planned,
            // DataFusion's output already says why the plan could not be made.
            Err(_) => return Ok(default),
        };
        let text = match &coordinator_only {
            Some(CoordinatorOnly(reason)) => format!(
                "runs in the coordinator: {reason}\n{}",
                displayable(plan.as_ref()).indent(explain.verbose)
            ),
            None if plan.is::<DistributedExec>() => {
                datafusion_distributed::display_plan_ascii(plan.as_ref(), false)
            }
            None => displayable(plan.as_ref())
                .indent(explain.verbose)
                .to_string(),
        };
        let plans = exec
            .stringified_plans()
            .iter()
            .map(|stringified| match stringified.plan_type {
                PlanType::FinalPhysicalPlan => {
                    StringifiedPlan::new(PlanType::FinalPhysicalPlan, text.trim_end().to_string())
                }
                _ => stringified.clone(),
            })
            .collect();
        Ok(Arc::new(ExplainExec::new(
            exec.schema(),
            plans,
            exec.verbose(),
        )))
    }
}

#[async_trait]
impl QueryPlanner for GuardedPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let LogicalPlan::Explain(explain) = logical_plan {
            return self.explain(explain, logical_plan, session).await;
        }
        Ok(self.plan(logical_plan, session).await?.0)
    }
}

/// The session as this query must be planned: a copy with broadcast joins off when tasks have
/// one partition each; `None` when nothing needs to change.
fn run_time_settings(session: &dyn Session) -> Result<Option<SessionState>> {
    if session.config().target_partitions() != 1 {
        return Ok(None);
    }
    let broadcast = DistributedConfig::from_config_options(session.config().options())
        .map(|config| config.broadcast_joins)
        .unwrap_or(false);
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return Ok(None);
    };
    if !broadcast {
        return Ok(None);
    }
    let mut state = state.clone();
    DistributedConfig::from_config_options_mut(state.config_mut().options_mut())?.broadcast_joins =
        false;
    Ok(Some(state))
}

/// The first reason `plan` would not compute on workers what it computes here, if any:
/// - a node that needs all rows in one partition (a sort without `preserve_partitioning`, a
///   global limit, a window without `PARTITION BY`) in a stage of several tasks whose rows
///   were divided among them: each task would sort, limit or number only its own share
///   (datafusion-distributed 4 splits a scan DataFusion kept in one partition without adding a
///   boundary above it: `ORDER BY c LIMIT 1` gave one row per task);
/// - a node that needs its input sorted, reading a shuffle from several tasks: the shuffle
///   interleaves the producers' sorted streams ("Expects PARTITION BY expression to be
///   ordered");
/// - a stage that does not survive the codec (see [`round_trips`]). Each stage under the
///   head is round-tripped with the stages below it, which the codec carries inside it.
fn unfaithful_stage(
    plan: &Arc<dyn ExecutionPlan>,
    session: &dyn Session,
    verdicts: &Verdicts,
) -> Option<String> {
    if !plan.is::<DistributedExec>() {
        return None;
    }
    let ctx = Arc::new(TaskContext::from(session));
    // (stage plan, its number, its task count, whether it is carried inside a parent stage)
    let mut stages = vec![(Arc::clone(plan), 0, 1, true)];
    while let Some((stage_plan, num, tasks, nested)) = stages.pop() {
        let mut nodes = vec![Arc::clone(&stage_plan)];
        while let Some(node) = nodes.pop() {
            if let Some(reason) = divides_what_it_needs_whole(&node, tasks, num) {
                return Some(reason);
            }
            for child in node.children() {
                match child
                    .as_network_boundary()
                    .map(|boundary| boundary.input_stage())
                {
                    Some(Stage::Local(stage)) => {
                        stages.push((Arc::clone(&stage.plan), stage.num, stage.tasks, num != 0));
                    }
                    Some(Stage::Remote(_)) => {}
                    None => nodes.push(Arc::clone(child)),
                }
            }
        }
        if num != 0
            && !nested
            && let Err(reason) = round_trips(&stage_plan, &ctx, session.session_id(), verdicts)
        {
            return Some(format!(
                "stage {num} cannot be sent to workers faithfully: {reason}"
            ));
        }
    }
    None
}

/// Whether `node`, in a stage of `tasks` tasks, needs what the stage divides (see
/// [`unfaithful_stage`]).
fn divides_what_it_needs_whole(
    node: &Arc<dyn ExecutionPlan>,
    tasks: usize,
    stage: usize,
) -> Option<String> {
    let children = node.children();
    let distributions = node.input_distribution_requirements();
    let orderings = node.required_input_ordering();
    for (index, child) in children.iter().enumerate() {
        let single = matches!(
            distributions.child_distribution(index),
            Some(Distribution::SinglePartition)
        );
        if single && tasks > 1 && divided_among_tasks(child) {
            return Some(format!(
                "{} needs all rows in one partition, but stage {stage} divides them among {tasks} \
                 tasks",
                node.name()
            ));
        }
        let sorted = matches!(orderings.get(index), Some(Some(_)));
        if sorted
            && let Some(shuffle) = child.downcast_ref::<NetworkShuffleExec>()
            && let Stage::Local(input) = shuffle.input_stage()
            && input.tasks > 1
        {
            return Some(format!(
                "{} needs its input sorted, but it reads a shuffle that interleaves {} tasks",
                node.name(),
                input.tasks
            ));
        }
    }
    None
}

/// Whether the rows under `plan` (within its stage) are divided among the stage's tasks: a
/// split scan or a shuffle or coalesce boundary below it. A broadcast gives every task all rows.
fn divided_among_tasks(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.is::<DistributedLeafExec>() {
        return true;
    }
    if plan.is_network_boundary() {
        return !plan.is::<NetworkBroadcastExec>();
    }
    plan.children().into_iter().any(divided_among_tasks)
}

/// The verdicts of [`round_trips`] by the BLAKE3 hash of the session's id and the stage's
/// encoding. The same bytes decode the same way in the same session (its codecs and functions),
/// so only the first of a query run again decodes and compares. Bounded: when full, it starts
/// afresh.
#[derive(Debug, Default)]
struct Verdicts(parking_lot::Mutex<HashMap<[u8; 32], std::result::Result<(), String>>>);

/// Verdicts kept (a few hundred bytes each).
const VERDICTS_KEPT: usize = 1024;

impl Verdicts {
    fn key(session_id: &str, encoded: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&(session_id.len() as u64).to_le_bytes());
        hasher.update(session_id.as_bytes());
        hasher.update(encoded);
        *hasher.finalize().as_bytes()
    }

    fn get(&self, key: &[u8; 32]) -> Option<std::result::Result<(), String>> {
        self.0.lock().get(key).cloned()
    }

    fn keep(&self, key: [u8; 32], verdict: std::result::Result<(), String>) {
        let mut verdicts = self.0.lock();
        if verdicts.len() >= VERDICTS_KEPT {
            verdicts.clear();
        }
        verdicts.insert(key, verdict);
    }
}

/// Encodes and decodes the plan of a stage's first task; an error says what changed. A stage
/// encoded as before in `session_id` has the verdict it had then.
fn round_trips(
    stage_plan: &Arc<dyn ExecutionPlan>,
    ctx: &Arc<TaskContext>,
    session_id: &str,
    verdicts: &Verdicts,
) -> std::result::Result<(), String> {
    let specialized = Arc::clone(stage_plan)
        .transform_down(|node| match node.downcast_ref::<DistributedLeafExec>() {
            Some(leaf) => Ok(Transformed::yes(Arc::clone(&leaf.variants()[0]))),
            None => Ok(Transformed::no(node)),
        })
        .map_err(|error| error.to_string())?
        .data;
    let codec = DistributedCodec::new_combined_with_user(ctx.session_config());
    let encoded = physical_plan_to_bytes_with_proto_converter(
        Arc::clone(&specialized),
        &codec,
        &DeduplicatingProtoConverter::default(),
    )
    .map_err(|error| format!("it does not encode ({error})"))?;
    let key = Verdicts::key(session_id, &encoded);
    if let Some(verdict) = verdicts.get(&key) {
        return verdict;
    }
    let verdict = decodes_as_sent(&specialized, &encoded, ctx, &codec);
    verdicts.keep(key, verdict.clone());
    verdict
}

/// Whether `encoded`, the encoding of `specialized`, decodes to the same plan: node by node the
/// same text and types, and the same partition count.
fn decodes_as_sent(
    specialized: &Arc<dyn ExecutionPlan>,
    encoded: &[u8],
    ctx: &Arc<TaskContext>,
    codec: &dyn PhysicalExtensionCodec,
) -> std::result::Result<(), String> {
    let decoded = physical_plan_from_bytes_with_proto_converter(
        encoded,
        ctx,
        codec,
        &DeduplicatingProtoConverter::default(),
    )
    .map_err(|error| format!("it does not decode ({})", first_line(&error)))?;
    let (mut sent_nodes, mut received_nodes) =
        (vec![Arc::clone(specialized)], vec![decoded.clone()]);
    while let (Some(sent), Some(received)) = (sent_nodes.pop(), received_nodes.pop()) {
        let (sent_text, received_text) = (one_line(&sent), one_line(&received));
        if sent_text != received_text {
            return Err(format!("`{sent_text}` arrives as `{received_text}`"));
        }
        if !same_types(&sent.schema(), &received.schema()) {
            return Err(format!(
                "{} changes type on the way ({} becomes {})",
                sent.name(),
                types(&sent.schema()),
                types(&received.schema())
            ));
        }
        let (sent_children, received_children) = (sent.children(), received.children());
        if sent_children.len() == received_children.len() {
            sent_nodes.extend(sent_children.into_iter().cloned());
            received_nodes.extend(received_children.into_iter().cloned());
        }
    }
    let (sent, received) = (
        specialized.output_partitioning().partition_count(),
        decoded.output_partitioning().partition_count(),
    );
    if sent != received {
        return Err(format!("its {sent} partitions arrive as {received}"));
    }
    Ok(())
}

/// A node as EXPLAIN prints it, without its children.
fn one_line(node: &Arc<dyn ExecutionPlan>) -> String {
    displayable(node.as_ref())
        .one_line()
        .to_string()
        .trim_end()
        .to_string()
}

fn first_line(error: &DataFusionError) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn same_types(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields().iter())
            .all(|(a, b)| a.data_type() == b.data_type())
}

fn types(schema: &Schema) -> String {
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| format!("{}: {}", field.name(), field.data_type()))
        .collect();
    format!("[{}]", types.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_kept_for_its_session_and_encoding_only() {
        let verdicts = Verdicts::default();
        verdicts.keep(Verdicts::key("s1", b"plan"), Err("changed".into()));
        assert_eq!(
            verdicts.get(&Verdicts::key("s1", b"plan")),
            Some(Err("changed".into()))
        );
        assert_eq!(verdicts.get(&Verdicts::key("s2", b"plan")), None);
        assert_eq!(verdicts.get(&Verdicts::key("s1", b"plan2")), None);
        // The session id's length is hashed too: no two (id, encoding) pairs run together.
        assert_ne!(Verdicts::key("s1", b"1plan"), Verdicts::key("s11", b"plan"));
    }

    #[test]
    fn verdicts_are_bounded() {
        let verdicts = Verdicts::default();
        for stage in 0..3 * VERDICTS_KEPT {
            verdicts.keep(Verdicts::key("s", &stage.to_le_bytes()), Ok(()));
            assert!(verdicts.0.lock().len() <= VERDICTS_KEPT);
        }
    }
}
