//! Remote workers: datafusion-distributed's own gRPC workers, on this host or on others, reached
//! over HTTP/2. dfshm adds no network layer of its own: a remote worker is datafusion-distributed's
//! `Worker` served by tonic, with dfshm's sessions (the result cache's codec) and channels that
//! reach other remote workers (`channels::GrpcChannels`).
//!
//! - [`serve`] is a long-running worker (`dfshm worker --listen ADDR:PORT`, `dfshm-worker
//!   --listen ADDR:PORT`): it prints the URL it listens on and serves until SIGTERM or SIGINT.
//! - [`parse_remote_worker`] checks the URLs a coordinator is given.
//! - [`ListeningWorker`] runs one as a child process (benchmarks and tests on loopback).

use crate::channels::{Channels, GrpcChannels};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion_distributed::{DistributedExt, Worker};
use std::net::SocketAddr;
use std::time::Duration;
use tonic::transport::Server;
use url::Url;

/// Checks and normalises one remote worker's URL as a user gave it (`http://host:port`).
pub fn parse_remote_worker(text: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|error| {
        format!("remote worker {text:?} is not a URL ({error}); write it as http://HOST:PORT")
    })?;
    if url.scheme() == "https" {
        return Err(format!(
            "remote worker {text:?} asks for TLS, which this build of dfshm does not include; \
             write it as http://HOST:PORT, on a network you trust or through a tunnel (VPN, \
             SSH, a TLS-terminating proxy)"
        ));
    }
    if !crate::channels::is_remote(&url) {
        return Err(format!(
            "remote worker {text:?} has scheme {:?}; remote workers are reached over gRPC, \
             as http://HOST:PORT",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) || url.port_or_known_default().is_none() {
        return Err(format!(
            "remote worker {text:?} names no host and port; write it as http://HOST:PORT"
        ));
    }
    Ok(url)
}

/// How a remote worker runs (`dfshm worker --listen`).
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Where to listen, `ADDR:PORT` (port 0: any free port, printed at start).
    pub listen: SocketAddr,
    /// The memory limit of this worker's queries, in bytes (default: unbounded).
    pub memory_limit_bytes: Option<usize>,
    /// Threads running this worker's tasks (default: one per core).
    pub threads: Option<usize>,
    /// How long another remote worker may take to connect or answer a ping before the task
    /// reading it fails.
    pub worker_timeout: Option<Duration>,
}

/// The line a remote worker prints on standard output once it accepts calls (then its URL).
pub const LISTENING: &str = "dfshm worker listening on ";

/// Runs a remote worker until SIGTERM or SIGINT: binds `options.listen`, prints
/// [`LISTENING`] and its URL on standard output, and serves datafusion-distributed's worker
/// service. Stops accepting at the signal and returns once the calls in flight have ended.
pub fn serve(options: ListenOptions) -> std::io::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("dfshm-remote-worker");
    if let Some(threads) = options.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot listen on {}: {error}", options.listen),
                )
            })?;
        let address = listener.local_addr()?;
        let worker = remote_worker(options.memory_limit_bytes, options.worker_timeout)?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{LISTENING}http://{address}")?;
            stdout.flush()?;
        }
        eprintln!(
            "dfshm worker {}: serving datafusion-distributed's gRPC worker on {address}; stop \
             with SIGTERM or Ctrl-C",
            crate::version()
        );
        let stop = async move {
            tokio::select! {
                _ = terminate.recv() => eprintln!("dfshm worker {address}: SIGTERM, stopping"),
                _ = tokio::signal::ctrl_c() => eprintln!("dfshm worker {address}: SIGINT, stopping"),
            }
        };
        serve_on(worker, listener, stop).await?;
        eprintln!("dfshm worker {address}: stopped");
        Ok(())
    })
}

/// datafusion-distributed's worker with dfshm's sessions, reaching other remote workers through
/// [`GrpcChannels`]; shared-memory workers are refused (they are on the coordinator's host, and
/// the coordinator never routes a stage here that reads one).
pub(crate) fn remote_worker(
    memory_limit_bytes: Option<usize>,
    worker_timeout: Option<Duration>,
) -> std::io::Result<Worker> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(bytes) = memory_limit_bytes {
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let channels = Channels::remote_only(GrpcChannels::new(worker_timeout));
    Ok(
        Worker::from_session_builder(super::WorkerSessions::new(move |config| {
            config.with_distributed_channel_resolver(channels.clone())
        }))
        .with_runtime_env(runtime)
        .with_version(crate::version()),
    )
}

/// Serves `worker` on `listener` until `stop` completes.
pub(crate) async fn serve_on(
    worker: Worker,
    listener: tokio::net::TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, stop)
        .await
        .map_err(std::io::Error::other)
}

/// The command line of a remote worker, for programs that run one as a subcommand (`dfshm
/// worker --listen ADDR:PORT`).
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Where to serve datafusion-distributed's gRPC worker, e.g. 0.0.0.0:7000 (port 0: any free
    /// port). It prints `dfshm worker listening on http://ADDR:PORT` once it accepts calls;
    /// coordinators name it with --remote-workers http://HOST:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Threads running this worker's tasks [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Memory this worker's queries may use before they spill or fail, e.g. 8G [default:
    /// unbounded].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Milliseconds another remote worker may take to connect or to answer a ping before the
    /// task reading it fails.
    #[arg(long, value_name = "MS", default_value_t = super::DEFAULT_WORKER_TIMEOUT.as_millis() as u64)]
    pub worker_timeout_ms: u64,
}

fn parse_size(text: &str) -> std::result::Result<usize, String> {
    crate::byte_size::parse_byte_size(text).map_err(|error| error.to_string())
}

impl From<ListenArgs> for ListenOptions {
    fn from(args: ListenArgs) -> ListenOptions {
        ListenOptions {
            listen: args.listen,
            memory_limit_bytes: args.memory_limit,
            threads: args.threads,
            worker_timeout: Some(Duration::from_millis(args.worker_timeout_ms)),
        }
    }
}

/// A remote worker process started by this program (benchmarks and tests on loopback): its URL
/// is read from the line it prints once it listens; dropping it kills and reaps the process.
#[derive(Debug)]
pub struct ListeningWorker {
    child: std::process::Child,
    url: Url,
}

impl ListeningWorker {
    /// Starts `command` (a worker with `--listen`; its standard output is taken here) and waits
    /// up to `deadline` for the URL it listens on.
    pub fn spawn(
        mut command: std::process::Command,
        deadline: Duration,
    ) -> std::io::Result<ListeningWorker> {
        use std::io::BufRead;
        let mut child = command.stdout(std::process::Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let url = lines
                .by_ref()
                .map_while(std::result::Result::ok)
                .find_map(|line| line.strip_prefix(LISTENING).map(str::to_string));
            let _ = sender.send(url);
            // Keep reading, so that the worker never writes into a closed pipe.
            lines.for_each(drop);
        });
        let failed = |child: &mut std::process::Child, what: String| {
            let _ = child.kill();
            let _ = child.wait();
            std::io::Error::other(what)
        };
        let url = match receiver.recv_timeout(deadline) {
            Ok(Some(url)) => url,
            Ok(None) => {
                let status = child.wait()?;
                return Err(std::io::Error::other(format!(
                    "the remote worker exited ({status}) before it listened"
                )));
            }
            Err(_) => {
                return Err(failed(
                    &mut child,
                    format!(
                        "the remote worker did not listen within {:.1} s",
                        deadline.as_secs_f64()
                    ),
                ));
            }
        };
        match Url::parse(&url) {
            Ok(url) => Ok(ListeningWorker { child, url }),
            Err(error) => Err(failed(
                &mut child,
                format!("the remote worker printed {url:?}, not a URL: {error}"),
            )),
        }
    }

    /// The URL it listens on, `http://ADDR:PORT/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGTERM (a clean shutdown) and waits for it to exit.
    pub fn stop(mut self) -> std::io::Result<std::process::ExitStatus> {
        crate::shm::terminate(self.child.id())?;
        self.child.wait()
    }
}

impl Drop for ListeningWorker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_worker_urls_are_checked_with_what_to_write() {
        assert_eq!(
            parse_remote_worker(" http://10.0.0.2:7000 ")
                .unwrap()
                .as_str(),
            "http://10.0.0.2:7000/"
        );
        assert!(parse_remote_worker("http://h1").is_ok());
        let tls = parse_remote_worker("https://h1:7000").unwrap_err();
        assert!(
            tls.contains("TLS") && tls.contains("http://HOST:PORT"),
            "{tls}"
        );
        let scheme = parse_remote_worker("dfshm://w0").unwrap_err();
        assert!(scheme.contains("http://HOST:PORT"), "{scheme}");
        let junk = parse_remote_worker("h1:7000x").unwrap_err();
        assert!(junk.contains("http://HOST:PORT"), "{junk}");
        assert!(parse_remote_worker("http://:7000").is_err());
    }
}
