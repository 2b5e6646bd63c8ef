//! `dfshm-worker`: one worker process of a dfshm engine. A coordinator (the `dfshm` CLI,
//! `dfshm-bench`, or a program using the `dfshm` library) starts it with a listening Unix socket
//! as standard input; it is not meant to be run by hand.

fn main() -> std::process::ExitCode {
    dfshm::worker::main()
}
