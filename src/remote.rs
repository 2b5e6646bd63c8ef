//! Remote workers: datafusion-distributed's own gRPC workers, on this host or on others, reached
//! over HTTP/2. dfshm adds no network layer of its own: a remote worker is datafusion-distributed's
//! `Worker` served by tonic, with dfshm's sessions (the result cache's codec) and a channel
//! resolver that reaches other remote workers.
//!
//! - [`serve`] is a long-running worker (`dfshm worker --listen ADDR:PORT`, `dfshm-worker
//!   --listen ADDR:PORT`): it prints the URL it listens on and serves until SIGTERM or SIGINT.
//! - [`GrpcChannels`] is how a coordinator or a worker reaches `http://` workers: one HTTP/2
//!   connection per worker, made within the worker timeout, kept alive by pings, and every error
//!   it carries names the worker's URL.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, DistributedExt, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, SetPlanRequest, Worker, WorkerChannel,
    WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use http::HeaderMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Endpoint, Server};
use url::Url;

/// The URL schemes of remote workers.
pub(crate) fn is_remote(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// Checks and normalises one remote worker's URL as a user gave it (`http://host:port`).
pub fn parse_remote_worker(text: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|error| {
        format!("remote worker {text:?} is not a URL ({error}); write it as http://HOST:PORT")
    })?;
    if !is_remote(&url) {
        return Err(format!(
            "remote worker {text:?} has scheme {:?}; remote workers are reached over gRPC, \
             as http://HOST:PORT (or https://)",
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

/// Reaches `http://` workers: one cached HTTP/2 channel per URL (tonic reconnects a channel
/// whose connection broke, so a worker that comes back is used again by the next query).
#[derive(Clone)]
pub(crate) struct GrpcChannels {
    timeout: Option<Duration>,
    channels: Arc<parking_lot::Mutex<HashMap<Url, BoxCloneSyncChannel>>>,
}

impl GrpcChannels {
    /// Channels that connect within `timeout` (`None`: as long as TCP takes) and whose
    /// connections are pinged so that a worker that stops answering fails its queries.
    pub(crate) fn new(timeout: Option<Duration>) -> GrpcChannels {
        GrpcChannels {
            timeout,
            channels: Arc::default(),
        }
    }

    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        if let Some(channel) = self.channels.lock().get(url) {
            return Ok(channel.clone());
        }
        let unreachable = |detail: String| {
            DataFusionError::Execution(format!(
                "cannot reach remote worker {url}: {detail}; check that `dfshm worker --listen` \
                 runs there and that this host can reach its address"
            ))
        };
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|error| unreachable(error.to_string()))?
            .tcp_nodelay(true);
        if let Some(timeout) = self.timeout {
            // A worker that answers no HTTP/2 ping for half the timeout is taken as gone.
            let half = (timeout / 2).max(Duration::from_millis(100));
            endpoint = endpoint
                .connect_timeout(timeout)
                .http2_keep_alive_interval(half)
                .keep_alive_timeout(half)
                .keep_alive_while_idle(false);
        }
        let connect = endpoint.connect();
        let connected = match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, connect).await.map_err(|_| {
                unreachable(format!("no answer within {:.1} s", timeout.as_secs_f64()))
            })?,
            None => connect.await,
        };
        let channel = BoxCloneSyncChannel::new(connected.map_err(|error| {
            let mut detail = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                detail = format!("{detail}: {cause}");
                source = cause.source();
            }
            unreachable(detail)
        })?);
        self.channels.lock().insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait::async_trait]
impl ChannelResolver for GrpcChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let channel = self.channel(url).await?;
        Ok(Box::new(RemoteChannel {
            url: url.clone(),
            inner: create_worker_client(channel),
        }))
    }
}

/// A call to a remote worker whose errors name it.
struct RemoteChannel {
    url: Url,
    inner: Box<dyn WorkerChannel>,
}

/// `error`, saying which remote worker it came from.
fn from_worker(url: &Url) -> impl Fn(DataFusionError) -> DataFusionError + Clone + use<> {
    let url = url.clone();
    // A cancellation stays one: `is_cancelled` looks through the context.
    move |error| DataFusionError::Context(format!("remote worker {url}"), Box::new(error))
}

#[async_trait::async_trait]
impl WorkerChannel for RemoteChannel {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let named = from_worker(&self.url);
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(named.clone())?;
        Ok(stream.map_err(named).boxed())
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        if crate::exchange::capturing(&request.task_key.query_id) {
            return Err(DataFusionError::NotImplemented(format!(
                "this result cannot be handed out in partitions: a part of it is computed on \
                 remote worker {}, and partitioned results are read from this host's \
                 shared-memory workers; read it with ExecuteQuery",
                self.url
            )));
        }
        let named = from_worker(&self.url);
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(named.clone())?;
        Ok(streams
            .into_iter()
            .map(|stream| stream.map_err(named.clone()).boxed())
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        self.inner
            .get_worker_info(request)
            .await
            .map_err(from_worker(&self.url))
    }
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
    let channels = crate::channels::Channels::remote_only(GrpcChannels::new(worker_timeout));
    Ok(
        Worker::from_session_builder(crate::worker::WorkerSessions::new(move |config| {
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
    #[arg(long, value_name = "MS", default_value_t = crate::DEFAULT_WORKER_TIMEOUT.as_millis() as u64)]
    pub worker_timeout_ms: u64,
}

fn parse_size(text: &str) -> std::result::Result<usize, String> {
    crate::parse_byte_size(text).map_err(|error| error.to_string())
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
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map_err(std::io::Error::from)?;
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
        assert!(parse_remote_worker("https://h1").is_ok());
        let scheme = parse_remote_worker("dfshm://w0").unwrap_err();
        assert!(scheme.contains("http://HOST:PORT"), "{scheme}");
        let junk = parse_remote_worker("h1:7000x").unwrap_err();
        assert!(junk.contains("http://HOST:PORT"), "{junk}");
        assert!(parse_remote_worker("http://:7000").is_err());
    }
}
