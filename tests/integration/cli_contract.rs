//! The `dfshm` CLI contract: formats, statement order, DDL silence, errors and exit codes, and the
//! TPC-H queries through the CLI equal plain DataFusion.

use crate::common;

use common::{
    assert_same_rows, binary, datafusion_oracle, oracle_answer, scratch, tpch_data, tpch_ddl,
};
use dfshm::datafusion::arrow::csv::ReaderBuilder;
use dfshm::datafusion::arrow::record_batch::RecordBatch;
use dfshm::tpch;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A cache home of this test binary's own, so that the shell's default result cache folder is
/// never the user's.
fn cache_home() -> &'static std::path::Path {
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    HOME.get_or_init(common::scratch).path()
}

/// Runs `dfshm` with `args` and `stdin`, killing it if it outlives a generous watchdog deadline.
pub(crate) fn dfshm(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary("dfshm"))
        .env("XDG_CACHE_HOME", cache_home())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dfshm");
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_string();
    // Writing stdin and draining stdout/stderr happen on their own threads so that no pipe fills.
    std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.expect("collect dfshm output"),
        Err(_) => {
            // SAFETY: kill(2) with a pid we spawned and have not reaped has no memory effects.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            let output = receiver
                .recv()
                .expect("waiter thread")
                .expect("collect output");
            panic!(
                "dfshm {args:?} hung past the watchdog deadline; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).expect("utf-8 stderr")
}

/// Asserts a failed run: exit status 1, nothing panicked, one `Error` line on stderr naming `what`.
fn assert_one_line_error(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(output));
    let err = stderr(output);
    assert!(!err.contains("panicked"), "a panic reached the user: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("Error"), "{err}");
    assert!(
        lines[0].to_lowercase().contains(&what.to_lowercase()),
        "error does not mention `{what}`: {err}"
    );
}

#[test]
fn quiet_csv_prints_exactly_header_and_rows() {
    let _turn = common::beside_others();
    let output = dfshm(
        &["-q", "--format", "csv", "-c", "select 1 as x, 'a' as y"],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "x,y\n1,a\n");
    assert_eq!(stderr(&output), "");
}

#[test]
fn statements_run_in_order_in_one_session_and_ddl_prints_nothing_in_csv() {
    let _turn = common::beside_others();
    let output = dfshm(
        &[
            "-q",
            "--format",
            "csv",
            "-c",
            "create view v as select 1 as a union all select 2; select sum(a) as s from v",
            "-c",
            "drop view v; select 'done' as status",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "s\n3\nstatus\ndone\n");
}

#[test]
fn files_run_after_commands_in_order() {
    let _turn = common::beside_others();
    let dir = scratch();
    let first = dir.path().join("first.sql");
    let second = dir.path().join("second.sql");
    std::fs::write(&first, "create view v as select 41 as n;\n").unwrap();
    std::fs::write(&second, "-- a comment\nselect n + 1 as answer from v;\n").unwrap();
    let output = dfshm(
        &[
            "-q",
            "--format",
            "csv",
            "-f",
            first.to_str().unwrap(),
            "-f",
            second.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "answer\n42\n");
}

#[test]
fn json_and_ndjson_formats_print_objects() {
    let _turn = common::beside_others();
    let sql = "select * from (values (1, 'a'), (2, null)) as t(x, y) order by x";
    let json = dfshm(&["-q", "--format", "json", "-c", sql], "");
    assert!(json.status.success(), "{}", stderr(&json));
    assert_eq!(stdout(&json), "[{\"x\":1,\"y\":\"a\"},{\"x\":2}]\n");
    let ndjson = dfshm(&["-q", "--format", "ndjson", "-c", sql], "");
    assert!(ndjson.status.success(), "{}", stderr(&ndjson));
    assert_eq!(stdout(&ndjson), "{\"x\":1,\"y\":\"a\"}\n{\"x\":2}\n");
}

#[test]
fn table_format_draws_a_table_and_reports_rows_unless_quiet() {
    let _turn = common::beside_others();
    let output = dfshm(&["-c", "select 1 as x, 'a' as y"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("| x | y |"), "{text}");
    assert!(text.contains("| 1 | a |"), "{text}");
    assert!(
        stderr(&output).contains("1 row(s) fetched"),
        "{}",
        stderr(&output)
    );
    let quiet = dfshm(&["-q", "-c", "select 1 as x"], "");
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn an_empty_result_prints_its_header_in_csv() {
    let _turn = common::beside_others();
    let output = dfshm(
        &["-q", "--format", "csv", "-c", "select 1 as x where false"],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "x\n");
}

#[test]
fn bad_sql_is_one_error_line_and_exit_status_1() {
    let _turn = common::beside_others();
    let output = dfshm(&["-q", "-c", "selec 1"], "");
    assert_one_line_error(&output, "command 1");
    assert_eq!(stdout(&output), "");
}

#[test]
fn an_error_names_the_failing_statement_and_stops_the_script() {
    let _turn = common::beside_others();
    let output = dfshm(
        &[
            "-q",
            "--format",
            "csv",
            "-c",
            "select 1 as a;\nselect * from no_such_table; select 2 as b",
        ],
        "",
    );
    assert_one_line_error(&output, "statement 2 (line 2)");
    assert!(
        stderr(&output).contains("no_such_table"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "a\n1\n");
}

#[test]
fn a_missing_sql_file_is_a_clear_error() {
    let _turn = common::beside_others();
    let output = dfshm(&["-q", "-f", "/nonexistent/queries.sql"], "");
    assert_one_line_error(&output, "/nonexistent/queries.sql");
}

#[test]
fn a_query_on_a_missing_parquet_file_is_a_clear_error() {
    let _turn = common::beside_others();
    let output = dfshm(
        &["-q", "-c", "select * from '/nonexistent/data.parquet'"],
        "",
    );
    assert_one_line_error(&output, "/nonexistent/data.parquet");
}

#[test]
fn a_corrupt_parquet_file_is_a_clear_error_not_a_panic() {
    let _turn = common::beside_others();
    let dir = scratch();
    let path = dir.path().join("corrupt.parquet");
    let mut bytes = b"PAR1".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    bytes.extend_from_slice(&[0x10, 0, 0, 0]);
    bytes.extend_from_slice(b"PAR1");
    std::fs::write(&path, bytes).unwrap();
    let sql = format!("select * from '{}'", path.display());
    let output = dfshm(&["-q", "-c", &sql], "");
    assert_one_line_error(&output, "parquet");
}

#[test]
fn a_file_path_query_reads_parquet() {
    let _turn = common::beside_others();
    let lineitem = tpch_data().join("lineitem");
    let sql = format!("select count(*) as n from '{}/'", lineitem.display());
    let output = dfshm(&["-q", "--format", "csv", "-c", &sql], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = tpch::read_manifest(tpch_data()).unwrap();
    assert_eq!(stdout(&output), format!("n\n{}\n", manifest.rows[7]));
}

#[test]
fn explain_and_explain_analyze_print_plans() {
    let _turn = common::beside_others();
    let explain = dfshm(
        &["-q", "--format", "csv", "-c", "explain select 1 as x"],
        "",
    );
    assert!(explain.status.success(), "{}", stderr(&explain));
    assert!(
        stdout(&explain).starts_with("plan_type,plan\n"),
        "{}",
        stdout(&explain)
    );
    let analyze = dfshm(&["-q", "-c", "explain analyze select 1 as x"], "");
    assert!(analyze.status.success(), "{}", stderr(&analyze));
    assert!(
        stdout(&analyze).contains("metrics="),
        "{}",
        stdout(&analyze)
    );
}

#[test]
fn piped_prompt_keeps_the_session_after_an_error_and_exits_1() {
    let _turn = common::beside_others();
    let output = dfshm(
        &["-q", "--format", "csv"],
        "create view v as\n  select 7 as n;\nselect * from nope;\nselect n from v;\n\\q\nselect 99;\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n7\n");
    assert!(stderr(&output).contains("nope"), "{}", stderr(&output));
}

#[test]
fn bad_options_are_usage_errors() {
    let _turn = common::beside_others();
    let partitions = dfshm(&["--target-partitions", "0", "-c", "select 1"], "");
    assert_eq!(partitions.status.code(), Some(2));
    let memory = dfshm(&["--memory-limit", "lots", "-c", "select 1"], "");
    assert_eq!(memory.status.code(), Some(2));
    assert!(
        stderr(&memory).contains("invalid size"),
        "{}",
        stderr(&memory)
    );
    let format = dfshm(&["--format", "xml", "-c", "select 1"], "");
    assert_eq!(format.status.code(), Some(2));
}

#[test]
fn a_memory_limit_too_small_for_a_sort_fails_cleanly() {
    let _turn = common::beside_others();
    let lineitem = tpch_data().join("lineitem");
    let sql = format!(
        "select l_comment from '{}/' order by l_comment",
        lineitem.display()
    );
    let output = dfshm(
        &["-q", "--format", "csv", "--memory-limit", "64K", "-c", &sql],
        "",
    );
    // Either DataFusion spills and succeeds, or it reports the exhausted pool; never a crash.
    if !output.status.success() {
        assert_one_line_error(&output, "resources exhausted");
    }
}

/// Parses the CLI's CSV output back into batches of the oracle's schema.
fn read_csv(text: &str, like: &[RecordBatch]) -> Vec<RecordBatch> {
    let Some(first) = like.first() else {
        return Vec::new();
    };
    ReaderBuilder::new(first.schema())
        .with_header(true)
        .build(std::io::Cursor::new(text.as_bytes().to_vec()))
        .expect("build CSV reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse the CLI's CSV output")
}

#[test]
fn tpch_queries_through_the_cli_equal_datafusion() {
    common::run(async {
        let data = tpch_data();
        let oracle = datafusion_oracle(data).await;
        let ddl = tpch_ddl(data);
        for number in 1..=tpch::QUERY_COUNT {
            let sql = tpch::query(number).unwrap();
            let output = dfshm(&["-q", "--format", "csv", "-c", &ddl, "-c", sql], "");
            assert!(output.status.success(), "q{number}: {}", stderr(&output));
            let expected = oracle_answer(&oracle, sql).await;
            let actual = read_csv(stdout(&output), &expected);
            assert_same_rows(&format!("q{number} via CLI"), &expected, &actual, true);
        }
    });
}

#[test]
fn the_cli_runs_queries_on_worker_processes() {
    common::run(async {
        let data = tpch_data();
        let oracle = datafusion_oracle(data).await;
        let ddl = tpch_ddl(data);
        let split = "set distributed.file_scan_config_bytes_per_partition = 65536";
        for number in [3, 9, 18] {
            let sql = tpch::query(number).unwrap();
            let args = [
                "-q",
                "--format",
                "csv",
                "--workers",
                "2",
                "-c",
                &ddl,
                "-c",
                split,
                "-c",
                sql,
            ];
            let output = dfshm(&args, "");
            assert!(output.status.success(), "q{number}: {}", stderr(&output));
            let expected = oracle_answer(&oracle, sql).await;
            let actual = read_csv(stdout(&output), &expected);
            assert_same_rows(
                &format!("q{number} via CLI workers"),
                &expected,
                &actual,
                true,
            );
        }
    });
}
