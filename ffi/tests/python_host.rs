//! A Python program loads the driver through the `adbc-driver-manager` package and checks it
//! against in-process DataFusion (see `python/test_adbc.py`). The virtual environment comes from
//! `tools/python-env.sh` (created by `.ci/run`, or here on first use). Two remote workers
//! (`dfshm-worker --listen`) started here serve its `dfshm.remote_workers` part.

mod common;

use std::process::Command;
use std::time::Duration;

#[test]
fn a_python_host_matches_in_process_datafusion() {
    let root = common::crate_dir();
    let setup = Command::new("bash")
        .arg(root.join("../tools/python-env.sh"))
        .output()
        .expect("run tools/python-env.sh");
    assert!(
        setup.status.success(),
        "cannot set up the Python environment (python3 with venv, and PyPI, are needed):\n{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let python = String::from_utf8(setup.stdout).unwrap().trim().to_string();

    let data = common::tpch_data();
    let queries = tempfile::tempdir().unwrap();
    for number in 1..=22 {
        common::query_file(queries.path(), number);
    }
    // Two remote workers for the driver's dfshm.remote_workers, stopped when the test ends.
    let remote: Vec<dfshm::remote::ListeningWorker> = (0..2)
        .map(|_| {
            let mut command = Command::new(common::worker_program());
            command.args(["--listen", "127.0.0.1:0", "--threads", "2"]);
            dfshm::remote::ListeningWorker::spawn(command, Duration::from_secs(60))
                .expect("start a remote worker")
        })
        .collect();
    let urls: Vec<String> = remote.iter().map(|w| w.url().to_string()).collect();
    let output = common::run_with_watchdog(
        Command::new(python)
            .arg("-u")
            .arg(root.join("tests/python/test_adbc.py"))
            .arg(common::library())
            .arg(&data)
            .arg(queries.path())
            .arg(urls.join(",")),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "the Python host failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok "), "{stdout}");
}
