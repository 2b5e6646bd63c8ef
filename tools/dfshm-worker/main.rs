//! `dfshm-worker`: one worker process of a dfshm engine. A coordinator (the `dfshm` CLI,
//! `dfshm-bench`, or a program using the `dfshm` library) starts it with a listening Unix socket
//! as standard input; it is not meant to be run by hand.

/// mimalloc for every allocation of this executable (see `mimalloc` in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dfshm::worker::main()
}
