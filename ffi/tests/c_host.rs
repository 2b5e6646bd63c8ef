//! A C program, compiled here with the system compiler, loads the driver through its ADBC entry
//! point and drives it: TPC-H over 2 worker processes, catalog calls, a cancel from a second
//! thread, misuse, and a stream read after every handle was released (see `c/host.c`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_c_host_runs_tpch_cancels_and_survives_misuse() {
    let data = common::tpch_data();
    let scratch = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let host = scratch.path().join("host");
    let compiled = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/host.c"))
        .arg("-o")
        .arg(&host)
        .args(["-ldl", "-lpthread"])
        .output()
        .expect("run the C compiler (cc)");
    assert!(
        compiled.status.success(),
        "host.c does not compile:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let q1 = common::query_file(scratch.path(), 1);
    let output = common::run_with_watchdog(
        Command::new(&host)
            .arg(common::library())
            .arg(&data)
            .arg("2")
            .arg(&q1),
        Duration::from_secs(240),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let values = common::values(&output);
    println!("{values:?}\n{stderr}");
    assert!(output.status.success(), "the C host failed:\n{stderr}");

    let q1_expected = common::in_process(&data, dfshm::tpch::query(1).unwrap());
    let lineitem = common::row_count(&common::in_process(
        &data,
        "SELECT l_orderkey FROM lineitem",
    ));
    let get = |key: &str| values.get(key).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("children"), "2", "two worker processes");
    assert_eq!(get("q1_rows"), common::row_count(&q1_expected).to_string());
    assert_eq!(get("q1_columns"), q1_expected[0].num_columns().to_string());
    assert_eq!(get("lineitem_rows"), lineitem.to_string());
    assert_eq!(get("kept_rows"), lineitem.to_string(), "read after release");
    assert_eq!(get("lineitem_columns"), "16");
    assert_eq!(get("objects_catalogs"), "1");
    assert_eq!(get("info_rows"), "9");
    assert_eq!(get("cancelled"), "yes");
    assert_eq!(get("after_cancel_rows"), "1");
    assert_eq!(
        get("children_after"),
        "0",
        "workers stop with the last handle"
    );
    assert_eq!(get("failures"), "0");
}
