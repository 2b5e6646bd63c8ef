//! A C program, compiled here with the system compiler, loads the driver through its ADBC entry
//! point and drives it: TPC-H over 2 worker processes, catalog calls, a cancel from a second
//! thread, misuse, and a stream read after every handle was released (see `c/host.c`). It runs
//! three times: loaded with `dlopen` from the shared library, linked with the static one, and
//! with its workers run from the shared library by `launcher/dfshm-worker.c`.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[test]
fn a_c_host_runs_tpch_cancels_and_survives_misuse() {
    let scratch = tempfile::tempdir().unwrap();
    let host = compile(scratch.path(), &[]);
    check_host(Command::new(&host).arg(common::library()), scratch.path());
}

#[test]
fn a_c_host_linked_with_the_static_library_works_the_same() {
    let scratch = tempfile::tempdir().unwrap();
    let archive = common::library().with_extension("a");
    let host = compile(
        scratch.path(),
        &[OsStr::new("-DDFSHM_STATIC"), archive.as_os_str()],
    );
    // Linked in, the library's own file is the host's: say where the worker is.
    let worker = common::worker_program();
    check_host(
        Command::new(&host).env("DFSHM_WORKER", worker).arg("-"),
        scratch.path(),
    );
}

#[test]
fn workers_run_from_the_shared_library_by_a_small_launcher_work_the_same() {
    let scratch = tempfile::tempdir().unwrap();
    let host = compile(scratch.path(), &[]);
    let launcher = compile_c(
        &common::crate_dir().join("launcher/dfshm-worker.c"),
        &scratch.path().join("dfshm-worker"),
        &[],
        &["-ldl"],
    );
    let size = std::fs::metadata(&launcher).unwrap().len();
    assert!(
        size < 1 << 20,
        "the launcher holds {size} bytes: a second DataFusion?"
    );
    // Started by hand, it loads the library and runs the worker's own checks.
    let by_hand = Command::new(&launcher)
        .env("DFSHM_FFI_LIBRARY", common::library())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&by_hand.stderr);
    assert_eq!(by_hand.status.code(), Some(2), "{said}");
    assert!(said.contains("started by a dfshm coordinator"), "{said}");
    // Without the library beside it or named, it says what to do.
    let alone = Command::new(&launcher)
        .env_remove("DFSHM_FFI_LIBRARY")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(2), "{said}");
    assert!(said.contains("DFSHM_FFI_LIBRARY"), "{said}");
    check_host(
        Command::new(&host)
            .env("DFSHM_WORKER", &launcher)
            .env("DFSHM_FFI_LIBRARY", common::library())
            .arg(common::library()),
        scratch.path(),
    );
}

/// Compiles `c/host.c` into `dir` with the extra compiler arguments.
fn compile(dir: &Path, extra: &[&OsStr]) -> PathBuf {
    let root = common::crate_dir();
    let include = root.join("include");
    let mut arguments = vec![OsStr::new("-I"), include.as_os_str()];
    arguments.extend_from_slice(extra);
    compile_c(
        &root.join("tests/c/host.c"),
        &dir.join("host"),
        &arguments,
        &["-ldl", "-lpthread", "-lm", "-lrt"],
    )
}

/// Compiles the C program `source` into `output`, warnings as errors, with the extra compiler
/// arguments before the libraries.
fn compile_c(source: &Path, output: &Path, extra: &[&OsStr], libraries: &[&str]) -> PathBuf {
    let compiled = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg(source)
        .args(extra)
        .arg("-o")
        .arg(output)
        .args(libraries)
        .output()
        .expect("run the C compiler (cc)");
    assert!(
        compiled.status.success(),
        "{} does not compile:\n{}",
        source.display(),
        String::from_utf8_lossy(&compiled.stderr)
    );
    output.to_path_buf()
}

/// Runs the host (`command` with its first argument given) and compares what it saw with
/// in-process DataFusion.
fn check_host(command: &mut Command, scratch: &Path) {
    let data = common::tpch_data();
    let q1 = common::query_file(scratch, 1);
    let output = common::run_with_watchdog(
        command.arg(&data).arg("2").arg(&q1),
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
    assert_eq!(get("inserted"), "3", "INSERT reports its row count");
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
