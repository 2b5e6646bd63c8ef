//! Signals to the `dfshm` shell running on worker processes: Ctrl-C (SIGINT) cancels the running
//! query and keeps the session, a second one exits, and a shell killed with SIGKILL takes its
//! workers with it. Each test has a watchdog deadline; none sleeps and hopes.

use crate::common;

use common::{binary, children_of, is_dead, signal, tpch_data_sf01, tpch_ddl, usage};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// A query that keeps two workers busy for many seconds (hundreds of millions of joined rows).
const LONG: &str = "select count(*) from lineitem a join lineitem b \
                    on a.l_suppkey = b.l_suppkey and a.l_comment > b.l_comment;\n";

/// A shell on two workers reading statements from a pipe, with TPC-H sf 0.1 registered and
/// scans split so that the query spreads over both workers.
fn shell() -> (Child, ChildStdin) {
    let mut child = Command::new(binary("dfshm"))
        .args(["--workers", "2", "--format", "csv", "--quiet", "--no-cache"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dfshm");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let setup = format!(
        "set distributed.file_scan_config_bytes_per_partition = 65536;\n{}",
        tpch_ddl(tpch_data_sf01())
    );
    stdin.write_all(setup.as_bytes()).unwrap();
    (child, stdin)
}

/// The shell's worker processes, once both are up.
fn workers_of(shell: &Child) -> Vec<u32> {
    let until = Instant::now() + DEADLINE;
    loop {
        let workers = children_of(shell.id());
        if workers.len() == 2 {
            return workers;
        }
        assert!(Instant::now() < until, "the shell never started 2 workers");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the workers have used 200 ms of CPU since `since`: the query runs on them.
fn wait_until_busy(workers: &[u32], since: u64) {
    let until = Instant::now() + DEADLINE;
    while cpu_ticks(workers) < since + 20 {
        assert!(
            Instant::now() < until,
            "the query never reached the workers"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cpu_ticks(workers: &[u32]) -> u64 {
    workers
        .iter()
        .filter_map(|pid| usage(*pid))
        .map(|u| u.cpu_ticks)
        .sum()
}

/// A shell whose two workers are busy running [`LONG`].
fn busy_shell() -> (Child, ChildStdin, Vec<u32>) {
    let (child, mut stdin) = shell();
    let workers = workers_of(&child);
    let idle = cpu_ticks(&workers);
    stdin.write_all(LONG.as_bytes()).unwrap();
    wait_until_busy(&workers, idle);
    (child, stdin, workers)
}

/// Waits for the shell to exit; kills it and fails after the deadline.
fn finish(mut child: Child) -> (std::process::ExitStatus, String, String) {
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("the shell did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

fn wait_dead(pids: &[u32], what: &str) -> Duration {
    let started = Instant::now();
    while !pids.iter().all(|pid| is_dead(*pid)) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: workers {pids:?} still run"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

#[test]
fn ctrl_c_cancels_the_running_query_and_the_session_goes_on() {
    let _turn = common::beside_others();
    let (child, mut stdin, workers) = busy_shell();
    signal(child.id(), libc::SIGINT);
    stdin.write_all(b"select 42 as answer;\n").unwrap();
    drop(stdin);
    let (status, out, err) = finish(child);
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("Query cancelled."), "{err}");
    // The cancelled query printed at most its CSV header, no count.
    assert!(
        out == "answer\n42\n" || out == "count(*)\nanswer\n42\n",
        "{out}{err}"
    );
    wait_dead(&workers, "after the shell exited");
}

#[test]
fn a_second_ctrl_c_exits() {
    let _turn = common::beside_others();
    let (child, stdin, workers) = busy_shell();
    // The first cancels the query; any later one exits (signals sent back to back may be seen
    // as one, so keep sending until the shell is gone).
    let mut child = child;
    let until = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "Ctrl-C never made the shell exit");
        signal(child.id(), libc::SIGINT);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, err) = finish(child);
    assert!(err.contains("cancelling the query"), "{err}");
    assert_eq!(status.code(), Some(130), "{err}");
    wait_dead(&workers, "after the shell exited");
    drop(stdin);
}

#[test]
fn workers_exit_when_their_shell_is_killed_mid_query() {
    let _turn = common::beside_others();
    let (mut child, stdin, workers) = busy_shell();
    signal(child.id(), libc::SIGKILL);
    let took = wait_dead(&workers, "after SIGKILL to their coordinator");
    eprintln!("workers were gone {took:?} after their coordinator was killed");
    child.wait().unwrap();
    drop(stdin);
}
