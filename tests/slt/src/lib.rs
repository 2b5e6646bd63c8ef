//! DataFusion's own sqllogictest files as a differential test of dfshm: every record of a chosen
//! file runs on in-process DataFusion and on dfshm worker processes, each judged against the
//! file's expectations by the `sqllogictest` runner that DataFusion itself uses, and any record
//! whose verdict differs between the two is a difference.
//!
//! This crate owns the test's machinery (the engine adaptor, the file layout, the verdicts); it
//! never changes what dfshm does, and it never judges a record by anything but the file's
//! expectations and the in-process verdict.

pub mod layout;
pub mod normalize;
pub mod run;

use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use dfshm::Engine;
use futures::TryStreamExt;
use normalize::DFColumnType;
use sqllogictest::DBOutput;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts of what one engine ran.
#[derive(Debug, Default)]
pub struct RunCounts {
    /// Statements and queries that were planned and run.
    pub ran: AtomicUsize,
    /// Of those, the ones whose executed plan had stages on worker processes.
    pub distributed: AtomicUsize,
}

/// The rows of the last query an [`EngineDb`] ran, and whether its plan fixes their order.
#[derive(Debug, Default, Clone)]
pub struct LastResult {
    /// The printed rows.
    pub rows: Vec<Vec<String>>,
    /// Whether the executed plan declares an output ordering (an `ORDER BY` that holds at the
    /// top); without one, the rows' order is unspecified.
    pub ordered: bool,
    /// Whether the plan ends in a row limit (`LIMIT n` at the top): without an order, which n
    /// rows come back is unspecified.
    pub limited: bool,
}

/// Whether `plan` ends in a row limit: a node with a fetch on the chain of single children
/// from the root.
fn ends_in_limit(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.fetch().is_some() || plan.is::<GlobalLimitExec>() {
        return true;
    }
    match plan.children()[..] {
        [child] => ends_in_limit(child),
        _ => false,
    }
}

/// A dfshm [`Engine`] as a sqllogictest database, running each statement the way DataFusion's
/// runner does (plan, execute, collect, check every batch against the plan's schema, print).
pub struct EngineDb {
    engine: Arc<Engine>,
    workspace_root: String,
    counts: Arc<RunCounts>,
    last: Arc<Mutex<Option<LastResult>>>,
}

impl EngineDb {
    /// An adaptor over `engine`; paths under `workspace_root` print as `WORKSPACE_ROOT`. The
    /// rows of each query go to `last` (cleared when a statement fails).
    pub fn new(
        engine: Arc<Engine>,
        workspace_root: String,
        counts: Arc<RunCounts>,
        last: Arc<Mutex<Option<LastResult>>>,
    ) -> Self {
        Self {
            engine,
            workspace_root,
            counts,
            last,
        }
    }

    async fn run_query(&mut self, sql: &str) -> Result<DBOutput<DFColumnType>> {
        let frame = self.engine.sql(sql).await?;
        let task_ctx = Arc::new(frame.task_ctx());
        let plan = frame.create_physical_plan().await?;
        self.counts.ran.fetch_add(1, Ordering::Relaxed);
        if dfshm::stages_on_workers(&plan) > 0 {
            self.counts.distributed.fetch_add(1, Ordering::Relaxed);
        }
        let ordered = plan.output_ordering().is_some();
        let limited = ends_in_limit(&plan);
        let schema = plan.schema();
        let stream = execute_stream(plan, task_ctx)?;
        let types = normalize::column_types(stream.schema().fields());
        let batches: Vec<_> = stream.try_collect().await?;
        for batch in &batches {
            if !schema.contains(&batch.schema()) {
                return Err(DataFusionError::Internal(format!(
                    "Schema mismatch. Previously had\n{schema:#?}\n\nGot:\n{:#?}",
                    batch.schema()
                )));
            }
        }
        let rows = normalize::rows(&batches, &self.workspace_root)?;
        *self.last.lock().expect("not poisoned") = Some(LastResult {
            rows: rows.clone(),
            ordered,
            limited,
        });
        Ok(if rows.is_empty() && types.is_empty() {
            DBOutput::StatementComplete(0)
        } else {
            DBOutput::Rows { types, rows }
        })
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for EngineDb {
    type Error = DataFusionError;
    type ColumnType = DFColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DFColumnType>> {
        *self.last.lock().expect("not poisoned") = None;
        self.run_query(sql).await
    }

    fn engine_name(&self) -> &str {
        "DataFusion"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn shutdown(&mut self) {}
}
