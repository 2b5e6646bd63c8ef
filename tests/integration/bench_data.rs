//! `dfshm-bench tpch --data` on TPC-H data in other tools' layouts: tpchgen-cli's one
//! `<table>.parquet` file per table (written here from dfshm's own generator), in-process and on
//! worker processes; a folder lacking a table is refused naming it; the `--json` file's schema and
//! `compare` on it; peer engines in the same run, and skipped when not installed; the `--plot`
//! chart; `setup`'s modes and turns.

use crate::common::{self, binary, scratch, tpch_data};
use dfshm::tpch;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `dfshm-bench` with `args`, killing it if it outlives a generous watchdog deadline.
fn bench(args: &[&str]) -> Output {
    let mut child = Command::new(binary("dfshm-bench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dfshm-bench");
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().expect("poll dfshm-bench").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dfshm-bench {args:?} ran past its watchdog deadline");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
        .wait_with_output()
        .expect("collect dfshm-bench's output")
}

/// The test data laid out as tpchgen-cli writes it: `dir/<table>.parquet`.
fn tpchgen_cli_layout(dir: &Path) {
    for table in tpch::TABLES {
        let files: Vec<_> = std::fs::read_dir(tpch_data().join(table))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "parquet"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "{table} is one file at the test scale factor"
        );
        std::fs::copy(&files[0], dir.join(format!("{table}.parquet"))).unwrap();
    }
}

/// `tpch` arguments running q6 once over `data`, then `more`.
fn q6_once<'a>(data: &'a Path, more: &[&'a str]) -> Vec<&'a str> {
    let data = data.to_str().unwrap();
    let args = [
        "tpch",
        "--data",
        data,
        "--queries",
        "6",
        "--iterations",
        "1",
    ];
    [&args[..], more].concat()
}

/// The row count the report gives for query `q` (the last column of its line).
fn reported_rows(stdout: &str, query: &str) -> Option<usize> {
    stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(query))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|rows| rows.parse().ok())
}

#[test]
fn tpch_data_in_tpchgen_clis_layout_is_read_in_process_and_on_workers() {
    let _turn = common::beside_others();
    let dir = scratch();
    tpchgen_cli_layout(dir.path());
    let data = dir.path().to_str().unwrap();
    let json = dir.path().join("results.json");
    let json = json.to_str().unwrap();
    let args = [
        "tpch",
        "--data",
        data,
        "--queries",
        "1,6",
        "--iterations",
        "1",
    ];
    let output = bench(&[&args[..], &["--workers", "0,2", "--json", json]].concat());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // TPC-H q1 groups by the 4 (return flag, line status) pairs; q6 is one sum.
    assert_eq!(reported_rows(&stdout, "q1"), Some(4), "{stdout}");
    assert_eq!(reported_rows(&stdout, "q6"), Some(1), "{stdout}");
    assert!(!stderr.contains("row counts differ"), "{stderr}");

    // The result file: medians and rows per mode, and what makes two files comparable.
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    for mode in ["in-process", "shm-2"] {
        assert!(
            document["modes"][mode]["q1"].as_f64().unwrap() > 0.0,
            "{document}"
        );
        assert_eq!(document["rows"][mode]["q1"], 4, "{document}");
    }
    assert!(
        document["machine"]["cores"].as_u64().unwrap() >= 1,
        "{document}"
    );
    assert!(
        document["machine"]["memory_bytes"].as_u64().unwrap() > 0,
        "{document}"
    );
    assert!(document["machine"]["kernel"].is_string(), "{document}");
    assert!(document["git"].is_null() || document["git"]["commit"].is_string());
    assert_eq!(document["settings"]["iterations"], 1, "{document}");
    assert_eq!(document["settings"]["queries"], serde_json::json!([1, 6]));
    assert_eq!(document["settings"]["data"], data, "{document}");

    // A file compared with itself: every ratio is 1.
    let output = bench(&["compare", json, json]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for mode in ["in-process", "shm-2"] {
        for query in ["q1", "q6", "total"] {
            let line = stdout
                .lines()
                .find(|line| line.split_whitespace().take(2).eq([mode, query]))
                .unwrap_or_else(|| panic!("no {mode} {query} line: {stdout}"));
            assert!(line.ends_with("1.00x"), "{line}");
        }
    }
}

#[test]
fn compare_refuses_files_that_are_not_results() {
    let _turn = common::beside_others();
    let dir = scratch();
    let not_results = dir.path().join("other.json");
    std::fs::write(&not_results, "{\"rows\": 3}").unwrap();
    let path = not_results.to_str().unwrap();
    let output = bench(&["compare", path, path]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("has no \"modes\" object"), "{stderr}");
}

#[test]
fn a_data_folder_lacking_a_table_is_refused_naming_it() {
    let _turn = common::beside_others();
    let dir = scratch();
    tpchgen_cli_layout(dir.path());
    std::fs::remove_file(dir.path().join("nation.parquet")).unwrap();
    // A folder without Parquet files in it is no table either.
    std::fs::remove_file(dir.path().join("region.parquet")).unwrap();
    std::fs::create_dir(dir.path().join("region")).unwrap();
    let output = bench(&q6_once(dir.path(), &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("has no TPC-H table region, nation"),
        "the error names the missing tables: {stderr}"
    );
    assert!(
        stderr.contains("<table>.parquet"),
        "and the layouts: {stderr}"
    );
}

/// The project's Python environment (created by `tools/python-env.sh` on first use), which has
/// the peer engines installed.
fn project_python() -> String {
    let setup = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/python-env.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("run tools/python-env.sh");
    assert!(
        setup.status.success(),
        "cannot set up the Python environment (python3 with venv, and PyPI, are needed):\n{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    String::from_utf8(setup.stdout).unwrap().trim().to_string()
}

/// The medians' cells of `query`'s line in the report, one per mode (ratio columns left out).
fn reported_cells<'a>(stdout: &'a str, query: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(query))
        .unwrap_or_else(|| panic!("no {query} line: {stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter(|cell| !cell.ends_with('x'))
        .collect()
}

#[test]
fn peers_run_the_same_queries_interleaved_and_are_plotted() {
    let _turn = common::beside_others();
    let python = project_python();
    let dir = scratch();
    tpchgen_cli_layout(dir.path());
    let (data, plot, json) = (
        dir.path().to_str().unwrap().to_string(),
        dir.path().join("chart.svg"),
        dir.path().join("results.json"),
    );
    let output = bench(&[
        "tpch",
        "--data",
        &data,
        "--queries",
        "1,15",
        "--iterations",
        "2",
        "--workers",
        "0,2",
        "--peers",
        "duckdb,polars,datafusion-python",
        "--python",
        &python,
        "--plot",
        plot.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let modes = [
        "in-process",
        "shm-2",
        "duckdb",
        "polars",
        "datafusion-python",
    ];
    let header = stdout.lines().next().unwrap();
    for mode in modes {
        assert!(header.contains(&format!("{mode} ms")), "{header}");
    }
    // q15 (a view, a query over it, dropping the view) is one supplier; q1 four groups. The last
    // cell is the row count, checked against every mode, or the run would have failed.
    for (query, rows) in [("q1", "4"), ("q15", "1")] {
        let cells = reported_cells(&stdout, query);
        assert_eq!(cells.len(), modes.len() + 1, "{stdout}");
        assert_eq!(cells.last(), Some(&rows), "{stdout}");
        assert!(!cells.contains(&"failed"), "{stdout}\n{stderr}");
    }
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for mode in modes {
        assert_eq!(document["rows"][mode]["q15"], 1, "{document}");
    }
    assert!(
        document["settings"]["peers"]["duckdb"]
            .as_str()
            .is_some_and(|version| version.starts_with("duckdb ")),
        "{document}"
    );

    // The chart: SVG with one bar group per query, one bar per mode in each, and the totals.
    let svg = std::fs::read_to_string(&plot).unwrap();
    let chart = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let root = chart.root_element();
    assert!(
        root.has_tag_name(("http://www.w3.org/2000/svg", "svg")),
        "{svg}"
    );
    let groups: Vec<_> = root
        .descendants()
        .filter(|node| matches!(node.attribute("class"), Some("query" | "totals")))
        .map(|group| {
            let bars = group.children().filter(|n| n.has_tag_name("rect")).count();
            (group.attribute("data-query").unwrap_or("totals"), bars)
        })
        .collect();
    assert_eq!(groups, [("q1", 5), ("q15", 5), ("totals", 5)], "{svg}");
}

#[test]
fn a_peer_that_is_not_installed_is_skipped_with_a_message() {
    let _turn = common::beside_others();
    let dir = scratch();
    tpchgen_cli_layout(dir.path());
    // A Python environment with nothing installed in it.
    let venv = dir.path().join("bare-venv");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("run python3 -m venv");
    assert!(made.success());
    let bare = venv.join("bin/python");
    for (python, expected) in [
        (bare.to_str().unwrap(), "is not installed"),
        ("/nonexistent/python3", "cannot start /nonexistent/python3"),
    ] {
        let output = bench(&q6_once(
            dir.path(),
            &["--peers", "duckdb,polars", "--python", python],
        ));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(output.status.success(), "{stdout}\n{stderr}");
        for peer in ["duckdb", "polars"] {
            let said = stderr
                .lines()
                .find(|line| line.starts_with(&format!("peer {peer} skipped: ")))
                .unwrap_or_else(|| panic!("no skip message for {peer}: {stderr}"));
            assert!(said.contains(expected), "{said}");
            assert!(!stdout.contains(peer), "{stdout}");
        }
        // Only in-process ran: its median, then q6's one row.
        let cells = reported_cells(&stdout, "q6");
        assert_eq!(cells.len(), 2, "{stdout}");
        assert_eq!(cells[1], "1", "{stdout}");
    }
}

#[test]
fn setup_reports_every_mode_in_turns_and_refuses_a_turn_of_none() {
    let _turn = common::beside_others();
    let output = bench(&[
        "setup",
        "--workers",
        "2",
        "--runs",
        "3",
        "--turn",
        "2",
        "--json",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (json["runs"].as_u64(), json["turn"].as_u64()),
        (Some(3), Some(2))
    );
    for mode in [
        "in_process",
        "local_workers",
        "workers",
        "workers_with_metrics",
    ] {
        let (p50, p90) = (
            json[format!("{mode}_p50_ms")].as_f64().unwrap(),
            json[format!("{mode}_p90_ms")].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p90 >= p50, "{mode}: {line}");
    }
    let refused = bench(&["setup", "--turn", "0"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--turn must be at least 1"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
