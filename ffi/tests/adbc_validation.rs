//! ADBC's own conformance suite (apache/arrow-adbc's `c/validation`, vendored at a pinned release
//! in `validation/vendor` by `tools/vendor-adbc-validation.sh`) against the driver, which ADBC's
//! C++ driver manager loads by path, each database on 2 worker processes. `validation/build.sh`
//! compiles it with dfshm's quirks (`validation/dfshm_validation_test.cc`); it needs g++ and
//! GoogleTest, which it installs from Debian (`tools/system-packages.sh`) when they are missing.
//!
//! Every case must pass, except the ones the quirks skip, which must be exactly [`SKIPPED`]: a
//! case that starts to skip, or one that starts to run, is a change to look at.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// The suite's cases dfshm's quirks skip, and why.
const SKIPPED: [(&str, &str); 12] = [
    (
        "DfshmConnectionTest.AutocommitToggle",
        "no transactions: autocommit only",
    ),
    (
        "DfshmStatementTest.Transactions",
        "no transactions: autocommit only",
    ),
    (
        "DfshmStatementTest.SqlQueryInsertRollback",
        "no transactions: autocommit only",
    ),
    (
        "DfshmConnectionTest.MetadataGetObjectsPrimaryKey",
        "GetObjects reports no constraints yet",
    ),
    (
        "DfshmConnectionTest.MetadataGetObjectsForeignKey",
        "GetObjects reports no constraints yet",
    ),
    (
        "DfshmStatementTest.SqlIngestPrimaryKey",
        "DataFusion has no generated keys (it ingests rows without their key column)",
    ),
    (
        "DfshmConnectionTest.MetadataGetStatisticNames",
        "DataFusion has no statistics API",
    ),
    (
        "DfshmStatementTest.SqlIngestTemporary",
        "DataFusion has no temporary tables",
    ),
    (
        "DfshmStatementTest.SqlIngestTemporaryAppend",
        "DataFusion has no temporary tables",
    ),
    (
        "DfshmStatementTest.SqlIngestTemporaryReplace",
        "DataFusion has no temporary tables",
    ),
    (
        "DfshmStatementTest.SqlIngestTemporaryExclusive",
        "DataFusion has no temporary tables",
    ),
    (
        "DfshmStatementTest.SqlPartitionedInts",
        "only a query split over workers has partitions; the suite's SELECT 42 runs in the host",
    ),
];

#[test]
fn adbcs_validation_suite_passes_with_dfshms_quirks() {
    let root = common::crate_dir();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("adbc-validation");
    let built = Command::new("bash")
        .arg(root.join("tests/validation/build.sh"))
        .arg(&out)
        .output()
        .expect("run tests/validation/build.sh");
    assert!(
        built.status.success(),
        "cannot build ADBC's validation suite:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let program = String::from_utf8(built.stdout).unwrap().trim().to_string();

    let scratch = tempfile::tempdir().unwrap();
    let report = scratch.path().join("report.json");
    let output = common::run_with_watchdog(
        Command::new(&program)
            .env("DFSHM_ADBC_DRIVER", common::library())
            .env("DFSHM_ADBC_WORKERS", "2")
            .arg(format!("--gtest_output=json:{}", report.display())),
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report).unwrap_or_else(|e| panic!("no report ({e}):\n{stdout}\n{stderr}")),
    )
    .unwrap();

    let mut ran = 0;
    let mut failed = Vec::new();
    let mut skipped = BTreeSet::new();
    for suite in report["testsuites"].as_array().unwrap() {
        for case in suite["testsuite"].as_array().unwrap() {
            let name = format!(
                "{}.{}",
                suite["name"].as_str().unwrap(),
                case["name"].as_str().unwrap()
            );
            ran += 1;
            if case["result"] == "SKIPPED" {
                skipped.insert(name);
            } else if case["failures"]
                .as_array()
                .is_some_and(|failures| !failures.is_empty())
            {
                failed.push(format!("{name}: {}", case["failures"]));
            }
        }
    }
    println!(
        "ADBC validation: {ran} cases, {} skipped by quirks",
        skipped.len()
    );
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    assert!(
        output.status.success(),
        "the suite failed (exit {:?}):\n{stdout}\n{stderr}",
        output.status
    );
    let expected: BTreeSet<String> = SKIPPED.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(
        skipped, expected,
        "the cases the quirks skip changed: update SKIPPED with the reason, or fix the driver"
    );
    assert!(ran >= 100, "only {ran} cases ran");
}
