//! Helpers of the driver's host tests: the built library, TPC-H data, a program run under a
//! watchdog, and the answers of in-process DataFusion to compare with.

#![allow(dead_code)]

use dfshm::Engine;
use dfshm::datafusion::arrow::array::RecordBatch;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `ffi` folder of the checkout being tested. Read at run time: test binaries are shared
/// by checkouts that use one target folder, and the path compiled in may be another one's.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The `dfshm-worker` that belongs with [`library`]: found the way the driver finds it from its
/// own file (`dladdr`), in the library's folder or one folder up, whichever folder the library
/// came from (`target/release/` after `cargo build`, `target/release/deps/` after `cargo test`).
pub fn worker_program() -> PathBuf {
    dfshm::find_worker_program(Some(&library())).unwrap_or_else(|error| panic!("{error}"))
}

/// `libdfshm_ffi.so` as cargo built it for this test run.
pub fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let candidates = [
        deps.join("libdfshm_ffi.so"),
        deps.parent()
            .expect("profile folder")
            .join("libdfshm_ffi.so"),
    ];
    candidates
        .iter()
        .filter(|path| path.is_file())
        .max_by_key(|path| path.metadata().and_then(|m| m.modified()).ok())
        .cloned()
        .unwrap_or_else(|| panic!("libdfshm_ffi.so not found in {}", deps.display()))
}

/// TPC-H data at scale factor 0.01, generated once per target folder.
pub fn tpch_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tpch-sf0.01");
    dfshm::tpch::generate(0.01, &dir, &|_| {}).expect("generate TPC-H data");
    dir
}

/// The text of TPC-H query `number`, written to a file for the host programs.
pub fn query_file(dir: &Path, number: usize) -> PathBuf {
    let path = dir.join(format!("q{number}.sql"));
    std::fs::write(&path, dfshm::tpch::query(number).expect("a TPC-H query")).unwrap();
    path
}

/// Runs `command` to its end, killing its whole process group (and failing) after `deadline`.
/// Output goes to files, not pipes: a process the host forked may outlive it and would hold a
/// pipe open.
pub fn run_with_watchdog(command: &mut Command, deadline: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("scratch folder");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = command
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the host") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the host left behind in its group (a forked child, say) goes too.
    // SAFETY: kill only sends a signal; the group is the host's own, created for it above.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let output = Output {
        status: status.unwrap_or_else(|| child.wait().expect("reap the host")),
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    if status.is_none() {
        panic!(
            "{command:?} ran past its {deadline:?} deadline\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// The `key=value` lines of a host's output.
pub fn values(output: &Output) -> HashMap<String, String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Runs `sql` on in-process DataFusion over the TPC-H tables of `dir`.
pub fn in_process(dir: &Path, sql: &str) -> Vec<RecordBatch> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = Engine::builder().build().unwrap();
        dfshm::tpch::register_tables(&engine, dir).await.unwrap();
        engine.sql(sql).await.unwrap().collect().await.unwrap()
    })
}

/// The rows of `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}
