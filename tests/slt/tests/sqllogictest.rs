//! DataFusion 55.2's own sqllogictest files, run on dfshm's worker processes (2 workers, scans
//! split into 1 KiB tasks so that even DataFusion's small test tables are spread over them) and
//! on in-process DataFusion; fails on any record whose verdict differs. Also checks that most
//! of what the worker engine ran really had stages on the workers, and that no worker process
//! or file descriptor is left behind.
//!
//! `cargo test --release -p dfshm-slt --test sqllogictest -- joins.slt window.slt` runs only the
//! files named. The files are laid out under `target/tmp/slt-55.2.0` on first use (see
//! `tools/slt/sqllogictest-files.sh`; that needs cargo to reach crates.io once).

use dfshm::Engine;
use dfshm_slt::layout::{Layout, VERSION};
use dfshm_slt::run::{FileReport, run_file};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The files run: those that exercise query shapes (aggregates, joins, windows, subqueries,
/// unions, sorts, limits, types, file formats, TPC-H). Left out, and why:
/// - EXPLAIN-centred files (`explain*.slt`, `*pushdown*.slt` other than those below,
///   `repartition_scan.slt`, `preserve_file_partitioning.slt`): they test plan text;
/// - settings and catalogs (`information_schema*.slt`, `set_variable.slt`, `options.slt`):
///   `distributed.*` settings are listed with workers by design;
/// - DML, COPY and DDL-only files (`insert*.slt`, `copy.slt`, `dml_*.slt`, `ddl.slt`...): no
///   query shape of their own; tables that need code in DataFusion's runner (`map.slt`,
///   `metadata.slt`, `union_function.slt`, `async_udf.slt`...); `spark/`, `pg_compat/`, avro.
const FILES: &[&str] = &[
    "aggregate.slt",
    "aggregate_skip_partial.slt",
    "aggregates_simplify.slt",
    "aggregates_topk.slt",
    "array_agg.slt",
    "arrow_files.slt",
    "case.slt",
    "cast.slt",
    "coalesce.slt",
    "count_star_rule.slt",
    "cse.slt",
    "csv_files.slt",
    "cte.slt",
    "decimal.slt",
    "dictionary.slt",
    "distinct_on.slt",
    "eliminate_outer_join.slt",
    "expr.slt",
    "float16.slt",
    "functional_dependencies.slt",
    "group.slt",
    "group_by.slt",
    "grouping.slt",
    "in_list.slt",
    "intersection.slt",
    "join_disable_repartition_joins.slt",
    "join_is_not_distinct_from.slt",
    "join_limit_pushdown.slt",
    "join_lists.slt",
    "joins.slt",
    "json.slt",
    "lateral_join.slt",
    "limit.slt",
    "limit_single_row_batches.slt",
    "math.slt",
    "null_aware_anti_join.slt",
    "nullif.slt",
    "nvl.slt",
    "operator.slt",
    "optimizer_group_by_constant.slt",
    "order.slt",
    "parquet.slt",
    "predicates.slt",
    "projection.slt",
    "propagate_empty_relation_outer_join.slt",
    "push_down_filter_outer_joins.slt",
    "push_down_topk_through_join.slt",
    "pwmj.slt",
    "qualify.slt",
    "references.slt",
    "repartition.slt",
    "scalar.slt",
    "select.slt",
    "simplify_expr.slt",
    "sort_merge_join.slt",
    "sort_pushdown.slt",
    "struct.slt",
    "subquery.slt",
    "subquery_sort.slt",
    "topk.slt",
    "type_coercion.slt",
    "union.slt",
    "union_by_name.slt",
    "unnest.slt",
    "window.slt",
    "window_limits.slt",
    "window_topn.slt",
    "tpch/tpch.slt",
];

/// The whole run's deadline: a hang past it fails the test instead of the CI job.
const DEADLINE: Duration = Duration::from_secs(30 * 60);

/// Statements of the whole set that must have had stages on workers (489 did when this was
/// written; a guard that sends more to the coordinator shows here).
const MIN_DISTRIBUTED: usize = 450;

/// Scan bytes per task on the worker engine: small enough to split DataFusion's test tables.
const SCAN_BYTES_PER_TASK: u64 = 1024;

fn main() -> ExitCode {
    if let Some(code) = dfshm::worker::serve_if_requested() {
        return code;
    }
    std::thread::spawn(|| {
        std::thread::sleep(DEADLINE);
        eprintln!("sqllogictest: still running after {DEADLINE:?}; giving up");
        std::process::exit(1);
    });
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let files: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|file| chosen.is_empty() || chosen.iter().any(|c| file.contains(c.as_str())))
        .collect();
    let checkout = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..");
    let root = std::env::var_os("DFSHM_SLT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("slt-{VERSION}"))
        });
    let layout = match Layout::prepare(&root, &checkout) {
        Ok(layout) => layout,
        Err(error) => {
            eprintln!("sqllogictest: cannot lay out the test files: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The files name their data relative to datafusion/sqllogictest, as DataFusion's runner runs.
    std::env::set_current_dir(layout.sqllogictest_dir()).expect("enter the laid-out folder");
    for file in &files {
        let scratch = layout
            .test_file("scratch")
            .join(file.trim_end_matches(".slt"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("create the scratch folder");
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let fds_before = open_fds();
    let workspace_root = layout
        .root
        .canonicalize()
        .expect("root")
        .display()
        .to_string();
    let started = Instant::now();
    let mut reports = vec![];
    for file in &files {
        let file_started = Instant::now();
        let report = runtime.block_on(async {
            let in_process = Arc::new(
                Engine::builder()
                    .target_partitions(4)
                    .build()
                    .expect("in-process engine"),
            );
            let workers = Arc::new(
                Engine::builder()
                    .workers(2)
                    .target_partitions(4)
                    .scan_bytes_per_task(SCAN_BYTES_PER_TASK)
                    .workers_from_this_executable()
                    .build()
                    .expect("start 2 worker processes"),
            );
            run_file(
                &layout.test_file(file),
                file,
                in_process,
                workers,
                &workspace_root,
            )
            .await
        });
        print_file(&report, file_started.elapsed());
        reports.push(report);
    }
    drop(runtime);
    let leaks = leaks(fds_before);
    summarize(
        &reports,
        files.len() == FILES.len(),
        started.elapsed(),
        &leaks,
    )
}

fn print_file(report: &FileReport, took: Duration) {
    println!(
        "{:<42} {:>5} compared, {:>4} distributed of {:>5}, {:>3} skipped, {:>3} fail in-process too, {} different ({:.1} s)",
        report.name,
        report.compared,
        report.ran_distributed,
        report.ran_on_worker_engine,
        report.skipped.len(),
        report.failing_in_process.len(),
        report.differences.len(),
        took.as_secs_f64()
    );
    for (location, why) in &report.unspecified {
        println!("  answered otherwise, as SQL allows: {location}: {why}");
    }
    for difference in &report.differences {
        println!(
            "  DIFFERENT {}\n    sql: {}",
            difference.location,
            one_line(&difference.sql)
        );
        println!("    in-process: {}", indent(&difference.in_process));
        println!("    workers:    {}", indent(&difference.workers));
    }
    if std::env::var_os("DFSHM_SLT_VERBOSE").is_some() {
        for (location, error) in &report.failing_in_process {
            println!("  fails in-process too: {location}: {}", indent(error));
        }
    }
}

fn summarize(
    reports: &[FileReport],
    all_files: bool,
    took: Duration,
    leaks: &[String],
) -> ExitCode {
    let sum = |f: fn(&FileReport) -> usize| reports.iter().map(f).sum::<usize>();
    let compared = sum(|r| r.compared);
    let different = sum(|r| r.differences.len());
    let distributed = sum(|r| r.ran_distributed);
    let ran = sum(|r| r.ran_on_worker_engine);
    let skipped = sum(|r| r.skipped.len());
    let failing = sum(|r| r.failing_in_process.len());
    let unspecified = sum(|r| r.unspecified.len());
    println!(
        "\nsqllogictest {VERSION}: {} files, {compared} records compared, {different} different; \
         {unspecified} answered otherwise as SQL allows; {distributed} of {ran} statements run \
         on the worker engine had stages on the workers; {skipped} skipped (EXPLAIN text); \
         {failing} fail in-process too; {:.0} s",
        reports.len(),
        took.as_secs_f64()
    );
    for leak in leaks {
        println!("LEAK {leak}");
    }
    // The workers must really have done the work: a differential run that stays in the
    // coordinator would prove nothing. Most statements read tables made in memory by the files
    // themselves (VALUES, CREATE TABLE AS), which datafusion-distributed never distributes;
    // those over files do.
    let enough_distributed = !all_files || distributed >= MIN_DISTRIBUTED;
    if !enough_distributed {
        println!(
            "too few statements ran on the workers: {distributed} of {ran}, expected at least \
             {MIN_DISTRIBUTED}"
        );
    }
    let passed = compared - different;
    println!("{passed} passed, {different} failed");
    if different == 0 && leaks.is_empty() && enough_distributed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn indent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().take(40).collect();
    lines.join("\n      ")
}

/// The file descriptors this process has open (finished rings waiting in the pool for the next
/// query are not counted: they are unmapped first).
fn open_fds() -> usize {
    dfshm::clear_ring_pool();
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Child processes still alive, and descriptors opened and not closed, once every engine is gone.
fn leaks(fds_before: usize) -> Vec<String> {
    let mut leaks = vec![];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = children();
        let fds = open_fds();
        if children.is_empty() && fds <= fds_before {
            return leaks;
        }
        if Instant::now() > deadline {
            if !children.is_empty() {
                leaks.push(format!("child processes still running: {children:?}"));
            }
            if fds > fds_before {
                leaks.push(format!(
                    "{} file descriptors left open ({fds_before} before)",
                    fds - fds_before
                ));
            }
            return leaks;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This process's children (every thread's), from /proc.
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return vec![];
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
