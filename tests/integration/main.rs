//! dfshm's integration tests, in one binary: each file below was a test binary of its own, and
//! every one of them linked all of DataFusion (about two minutes of a cold build each).
//!
//! Tests share one process, so every test takes its turn at [`common::beside_others`] (most) or
//! [`common::alone`] (those that count this process's fds, mappings or children) before it
//! opens anything: plain tests with a guard as their first line, async ones through
//! [`common::run`] or [`common::run_alone`], which build the test's runtime only after the turn
//! is taken (a runtime's own fds would otherwise change what an `alone` test counts).

// Tests spawn tasks they await or drop as they like; `clippy.toml`'s rule is for the product.
#![allow(clippy::disallowed_methods)]

mod common;

mod bench_data;
mod cli_contract;
mod cli_signals;
mod faults;
mod multi_process;
mod partitioned_results;
mod remote_workers;
mod result_cache;
mod ring_across_processes;
mod tidy;
mod tpch_matches_datafusion;
mod worker_processes;
mod workers_give_datafusions_answers;
