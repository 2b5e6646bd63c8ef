//! Runs one `.slt` file on two engines, record by record, and compares the verdicts.
//!
//! Each record goes first to in-process DataFusion, then to dfshm's worker processes; the
//! `sqllogictest` runner judges each against the file's expectation with DataFusion's own
//! validators. A record that passes on one engine and fails on the other is a difference. A
//! record that fails on both depends on something DataFusion's runner provides and this one
//! does not (tables it registers in code, features not compiled in): it is reported, not
//! compared. This module never edits a file or an expectation.

use crate::normalize::DFColumnType;
use crate::{EngineDb, LastResult, RunCounts};
use dfshm::Engine;
use sqllogictest::{Record, Runner, strict_column_validator};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one record may run on one engine before it counts as hung.
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a record was not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// `EXPLAIN` prints the plan, which is a distributed one on workers by design.
    ExplainText,
}

impl Skip {
    /// Whether `sql` is skipped, and why.
    pub fn of(sql: &str) -> Option<Self> {
        let first_word = sql
            .trim_start()
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("");
        first_word
            .eq_ignore_ascii_case("explain")
            .then_some(Skip::ExplainText)
    }

    /// The reason, for the report.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::ExplainText => "EXPLAIN prints the (distributed) plan, not an answer",
        }
    }
}

/// A record whose verdict on workers differs from its verdict in-process.
#[derive(Debug, Clone)]
pub struct Difference {
    /// `file:line` of the record.
    pub location: String,
    /// The record's SQL.
    pub sql: String,
    /// What in-process DataFusion did ("ok" or the runner's error).
    pub in_process: String,
    /// What the workers did.
    pub workers: String,
}

/// What one file gave.
#[derive(Debug, Default)]
pub struct FileReport {
    /// The file, relative to `test_files/`.
    pub name: String,
    /// Statements and queries compared.
    pub compared: usize,
    /// Records skipped, by reason.
    pub skipped: Vec<(Skip, String)>,
    /// Records that fail in-process too (environment, not dfshm), with the in-process error.
    pub failing_in_process: Vec<(String, String)>,
    /// The records whose verdicts differ.
    pub differences: Vec<Difference>,
    /// Queries whose answer SQL leaves open, answered otherwise but validly (counted as compared
    /// and equal): `file:line` and why.
    pub unspecified: Vec<(String, &'static str)>,
    /// Statements the worker engine planned and ran.
    pub ran_on_worker_engine: usize,
    /// Of those, the ones whose plan had stages on worker processes.
    pub ran_distributed: usize,
}

/// Runs the records of `path` (called `name` in reports) on `in_process` and on `workers`.
/// `workspace_root` prints as `WORKSPACE_ROOT` in results, as in DataFusion's runner.
pub async fn run_file(
    path: &Path,
    name: &str,
    in_process: Arc<Engine>,
    workers: Arc<Engine>,
    workspace_root: &str,
) -> FileReport {
    let mut report = FileReport {
        name: name.to_string(),
        ..FileReport::default()
    };
    let records = match sqllogictest::parse_file::<DFColumnType>(path) {
        Ok(records) => records,
        Err(error) => {
            report
                .failing_in_process
                .push((name.to_string(), format!("cannot parse: {error}")));
            return report;
        }
    };
    let worker_counts = Arc::new(RunCounts::default());
    let (local_last, remote_last) = (Arc::default(), Arc::default());
    let mut local = runner(
        in_process,
        workspace_root,
        Arc::new(RunCounts::default()),
        Arc::clone(&local_last),
    );
    let mut remote = runner(
        workers,
        workspace_root,
        worker_counts.clone(),
        Arc::clone(&remote_last),
    );
    for record in records {
        let (location, sql) = match &record {
            Record::Halt { .. } => break,
            Record::Statement { loc, sql, .. } | Record::Query { loc, sql, .. } => {
                (format!("{name}:{}", loc.line()), sql.clone())
            }
            _ => {
                // Settings, labels, connections, comments: both runners take them.
                let _ = local.run_async(record.clone()).await;
                let _ = remote.run_async(record).await;
                continue;
            }
        };
        if let Some(skip) = Skip::of(&sql) {
            report.skipped.push((skip, location));
            continue;
        }
        let local_verdict = verdict(local.run_async(record.clone())).await;
        let remote_verdict = verdict(remote.run_async(record)).await;
        match (local_verdict, remote_verdict) {
            (Ok(()), Ok(())) => report.compared += 1,
            (Ok(()), Err(_))
                if let Some(why) = unspecified(&location, &sql, &local_last, &remote_last) =>
            {
                report.compared += 1;
                report.unspecified.push((location, why));
            }
            (Err(local_error), Err(_)) => report.failing_in_process.push((location, local_error)),
            (local_verdict, remote_verdict) => {
                report.compared += 1;
                report.differences.push(Difference {
                    location,
                    sql,
                    in_process: local_verdict.err().unwrap_or_else(|| "ok".into()),
                    workers: remote_verdict.err().unwrap_or_else(|| "ok".into()),
                });
            }
        }
    }
    local.shutdown_async().await;
    remote.shutdown_async().await;
    report.ran_on_worker_engine = worker_counts.ran.load(Ordering::Relaxed);
    report.ran_distributed = worker_counts.distributed.load(Ordering::Relaxed);
    report
}

/// Queries whose ORDER BY leaves ties that their LIMIT cuts through, so that which of the tied
/// rows come back is open (seen differing between runs on workers):
/// - `ORDER BY a2, t2.b LIMIT 5` over a self-join on `d`: dozens of rows share `(a2, b) = (0, 0)`.
const TIED_UNDER_LIMIT: &[&str] = &["join_disable_repartition_joins.slt:64"];

/// Why the workers' answer to `sql`, though not the in-process one, is one SQL allows, if it is:
/// - the same rows in another order, where the in-process plan fixes no order;
/// - as many rows, where the plan ends in `LIMIT n` and fixes no order (any n rows will do), or
///   where the record is listed in [`TIED_UNDER_LIMIT`];
/// - t-digest approximations (`approx_median`, `approx_percentile_cont`), whose answer
///   depends on how rows are grouped into batches and partitions (DataFusion fixes neither).
fn unspecified(
    location: &str,
    sql: &str,
    local: &Mutex<Option<LastResult>>,
    remote: &Mutex<Option<LastResult>>,
) -> Option<&'static str> {
    let (local, remote) = (
        local.lock().expect("not poisoned"),
        remote.lock().expect("not poisoned"),
    );
    let (local, remote) = (local.as_ref()?, remote.as_ref()?);
    let lower = sql.to_ascii_lowercase();
    if lower.contains("approx_median") || lower.contains("approx_percentile") {
        return Some("a t-digest approximation");
    }
    if TIED_UNDER_LIMIT.contains(&location) && local.rows.len() == remote.rows.len() {
        return Some("rows tied under ORDER BY … LIMIT (listed in TIED_UNDER_LIMIT)");
    }
    if local.ordered {
        return None;
    }
    let (mut local_rows, mut remote_rows) = (local.rows.clone(), remote.rows.clone());
    local_rows.sort();
    remote_rows.sort();
    if local_rows == remote_rows {
        return Some("the same rows in an order the query leaves open");
    }
    (local.limited && local.rows.len() == remote.rows.len())
        .then_some("as many rows under a LIMIT without ORDER BY")
}

type EngineRunner = Runner<
    EngineDb,
    Box<
        dyn FnMut() -> futures::future::Ready<Result<EngineDb, datafusion::error::DataFusionError>>
            + Send,
    >,
>;

/// A runner with DataFusion's label, column validator and value validator.
fn runner(
    engine: Arc<Engine>,
    workspace_root: &str,
    counts: Arc<RunCounts>,
    last: Arc<Mutex<Option<LastResult>>>,
) -> EngineRunner {
    let root = workspace_root.to_string();
    let connect: Box<dyn FnMut() -> _ + Send> = Box::new(move || {
        futures::future::ready(Ok(EngineDb::new(
            engine.clone(),
            root.clone(),
            counts.clone(),
            last.clone(),
        )))
    });
    let mut runner = Runner::new(connect);
    runner.add_label("Datafusion");
    runner.with_column_validator(strict_column_validator);
    runner.with_normalizer(|value| value.trim_end().to_string());
    runner.with_validator(value_validator);
    runner
}

/// DataFusion's `df_value_validator`: rows joined by spaces, trailing spaces ignored, and
/// `<slt:ignore>` in an expectation matching any text.
fn value_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    const IGNORE_MARKER: &str = "<slt:ignore>";
    let expected: Vec<String> = expected.iter().map(normalizer).collect();
    let actual: Vec<String> = actual
        .iter()
        .map(|row| row.join(" ").trim_end().to_string())
        .collect();
    if !expected.iter().any(|line| line.contains(IGNORE_MARKER)) {
        return actual == expected;
    }
    let expected = expected.join("\n");
    let actual = actual.join("\n");
    let mut position = 0;
    for (index, fragment) in expected.split(IGNORE_MARKER).enumerate() {
        if fragment.is_empty() {
            continue;
        }
        match actual[position..].find(fragment) {
            // The text before the first marker must start the result.
            Some(found) if index > 0 || found == 0 => position += found + fragment.len(),
            _ => return false,
        }
    }
    true
}

/// "ok", or the runner's error as one string; a record running past [`RECORD_TIMEOUT`] fails.
async fn verdict<T, E: std::fmt::Display>(
    run: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), String> {
    match tokio::time::timeout(RECORD_TIMEOUT, run).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("did not finish within {RECORD_TIMEOUT:?}")),
    }
}
