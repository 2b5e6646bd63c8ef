//! The public entry point: [`Engine`] owns one DataFusion [`SessionContext`] configured from an
//! [`EngineBuilder`] and runs SQL on it.
//!
//! `workers = 0` is plain in-process DataFusion, the baseline every differential test and benchmark
//! compares against. With `workers > 0` queries are planned into stages by datafusion-distributed
//! and run on workers reached through the chosen [`Transport`]. This module must never contain
//! transport or process code itself, only choose and configure it.

use crate::CancelToken;
use crate::cache::{self, CacheTrace, CachingQueryPlanner, ResultCache};
use crate::coordinator::{self, partitions::PartitionedQuery};
use crate::script::{self, SqlStatement};
use datafusion::common::DataFusionError;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder};
use datafusion::logical_expr::{LogicalPlan, Statement};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why an [`Engine`] could not be built. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum EngineBuildError {
    /// `target_partitions(0)` was asked for.
    #[error("target partitions must be at least 1 (got 0)")]
    ZeroTargetPartitions,
    /// `scan_bytes_per_task(0)` was asked for.
    #[error("scan bytes per task must be at least 1 (got 0)")]
    ZeroScanBytesPerTask,
    /// `exchange_budget_bytes(0)` was asked for.
    #[error("the exchange budget must be more than 0 bytes")]
    ZeroExchangeBudget,
    /// `memory_limit_bytes(0)` was asked for.
    #[error("the memory limit must be more than 0 bytes")]
    ZeroMemoryLimit,
    /// The worker processes could not be found or started.
    #[error("cannot start worker processes: {0}")]
    Workers(String),
    /// The ring size is not a power of two of at least 64 KiB.
    #[error("the ring size must be a power of two of at least 64 KiB (got {0} bytes)")]
    BadRingBytes(usize),
    /// The cache folder could not be created or is not a folder.
    #[error("cannot use cache folder {}: {source}; choose a writable folder", path.display())]
    CacheDir {
        /// The folder that was asked for.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A remote worker's URL is not `http://HOST:PORT`, or remote workers were asked for with a
    /// transport other than the shared-memory one.
    #[error("{0}")]
    RemoteWorkers(String),
    /// DataFusion refused the runtime configuration.
    #[error("cannot set up the DataFusion runtime: {0}")]
    Runtime(#[source] DataFusionError),
}

/// How the stages of a query reach their workers when `workers > 0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// Worker processes exchanging Arrow through shared-memory rings (the default).
    #[default]
    SharedMemory,
    /// datafusion-distributed workers inside this process, called directly: the same distributed
    /// plans without processes, for testing the planner and as a baseline.
    InProcess,
    /// datafusion-distributed's own gRPC workers on localhost, inside this process, reached as a
    /// plain datafusion-distributed coordinator would: the baseline of `dfshm-bench`'s `grpc-N`
    /// modes. (Remote workers on other hosts are [`EngineBuilder::remote_workers`].)
    Grpc,
}

/// Configuration of an [`Engine`]; every field has a sane default.
///
/// ```
/// let engine = dfshm::Engine::builder().target_partitions(4).build().unwrap();
/// assert_eq!(engine.target_partitions(), 4);
/// ```
#[derive(Debug, Clone, Default)]
pub struct EngineBuilder {
    workers: usize,
    target_partitions: Option<usize>,
    memory_limit_bytes: Option<usize>,
    cache_dir: Option<PathBuf>,
    cache_max_bytes: Option<u64>,
    no_cache: bool,
    batch_size: Option<usize>,
    transport: Transport,
    worker_program: Option<PathBuf>,
    worker_search_file: Option<PathBuf>,
    self_exec: bool,
    ring_bytes: Option<usize>,
    worker_threads: Option<usize>,
    worker_timeout: Option<Option<Duration>>,
    scan_bytes_per_task: Option<u64>,
    exchange_budget: Option<usize>,
    remote_workers: Vec<String>,
    failpoint: Option<crate::worker::Failpoint>,
}

impl EngineBuilder {
    /// Number of worker processes; `0` (the default) runs everything in this process.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Partitions per plan node (DataFusion's `target_partitions`); defaults to the core count.
    pub fn target_partitions(mut self, partitions: usize) -> Self {
        self.target_partitions = Some(partitions);
        self
    }

    /// Bytes of memory that operators may reserve before they spill or fail; unbounded by default.
    /// With worker processes the limit applies to the coordinator and to each worker separately.
    pub fn memory_limit_bytes(mut self, bytes: usize) -> Self {
        self.memory_limit_bytes = Some(bytes);
        self
    }

    /// Folder of the result cache; created (mode 0700) when the engine is built. Without one,
    /// nothing is cached. Several engines and processes may share a folder. Queries run through
    /// [`Engine::execute_stream`] are cached (whole results, and stage outputs on workers too);
    /// a `DataFrame` collected directly is always computed.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Size cap of the cache folder; least recently used entries are evicted beyond it
    /// (default [`cache::DEFAULT_CACHE_MAX_BYTES`], 1 GiB).
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = Some(bytes);
        self
    }

    /// Turns the result cache off even when a cache folder is set (the CLI's `--no-cache`).
    pub fn no_cache(mut self, no_cache: bool) -> Self {
        self.no_cache = no_cache;
        self
    }

    /// How stages reach their workers when `workers > 0` (default: worker processes over shared
    /// memory).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Rows per record batch (DataFusion's `batch_size`, default 8192).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }

    /// The worker executable to start (default: `DFSHM_WORKER`, else `dfshm-worker` next to the
    /// running executable or one folder up).
    pub fn worker_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.worker_program = Some(path.into());
        self.self_exec = false;
        self
    }

    /// Looks for `dfshm-worker` in the folder of `file` (and one folder up) instead of beside the
    /// running executable, unless `DFSHM_WORKER` is set: a library such as the ADBC driver passes
    /// its own path, so that the worker installed beside the library is found.
    pub fn worker_search_near(mut self, file: impl Into<PathBuf>) -> Self {
        self.worker_search_file = Some(file.into());
        self
    }

    /// Starts workers from the running executable, which must call
    /// [`crate::worker::serve_if_requested`] first thing in `main` (the `dfshm` CLI and
    /// `dfshm-bench` do): no separate worker executable to ship or find. `DFSHM_WORKER`, when
    /// set, still names the worker executable instead.
    pub fn workers_from_this_executable(mut self) -> Self {
        self.worker_program = None;
        self.self_exec = true;
        self
    }

    /// Data bytes of each shared-memory ring between two tasks (default 4 MiB; a power of two
    /// of at least 64 KiB). Batches larger than a quarter of it are split.
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = Some(bytes);
        self
    }

    /// Threads each worker process runs its tasks on (default: one per core).
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = Some(threads.max(1));
        self
    }

    /// How long a worker process may send nothing and answer no ping before the query waiting
    /// on it fails ([`DEFAULT_WORKER_TIMEOUT`](crate::DEFAULT_WORKER_TIMEOUT) by default). A stopped (SIGSTOP) or hung worker
    /// then fails the query instead of hanging it; `None` waits for ever. A worker that is
    /// merely busy answers pings and never times out.
    pub fn worker_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.worker_timeout = Some(timeout.filter(|timeout| !timeout.is_zero()));
        self
    }

    /// With workers, a file scan gets one task per this many bytes of the files it reads, up to
    /// one task per worker; a smaller scan runs in one task
    /// ([`DEFAULT_SCAN_BYTES_PER_TASK`](crate::DEFAULT_SCAN_BYTES_PER_TASK), 1 MiB, by default).
    /// Setting `distributed.file_scan_config_bytes_per_partition` in a session switches to
    /// datafusion-distributed's own rule instead.
    pub fn scan_bytes_per_task(mut self, bytes: u64) -> Self {
        self.scan_bytes_per_task = Some(bytes);
        self
    }

    /// Bytes of credit one query may lend to the partitions it reads from workers, in the
    /// coordinator and in each worker separately
    /// ([`DEFAULT_EXCHANGE_BUDGET`](crate::DEFAULT_EXCHANGE_BUDGET), 64 MiB, by default): what
    /// a slow reader can make wait in a process, charged to its memory pool. Each partition
    /// stream gets an equal share (16 KiB to 8 MiB) and always at least 16 KiB, so a query
    /// reading many partitions at once may exceed a small budget by that much per partition.
    pub fn exchange_budget_bytes(mut self, bytes: usize) -> Self {
        self.exchange_budget = Some(bytes);
        self
    }

    /// Remote workers to run stages on as well, as `http://HOST:PORT` URLs: datafusion-distributed
    /// gRPC workers started with `dfshm worker --listen ADDR:PORT`, on this host or others. With
    /// [`EngineBuilder::workers`] too, one query has tasks on both: a stage that reads this
    /// host's worker processes runs on them, so data flows from remote workers to this host.
    /// Every worker must reach the tables' files by the same path (or object store URL).
    /// Connecting to one, or a ping, must succeed within the worker timeout. Needs the
    /// shared-memory transport (the default).
    pub fn remote_workers<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.remote_workers = urls.into_iter().map(Into::into).collect();
        self
    }

    /// Makes the first generation of worker 0 inject `failpoint` (tests of fault handling; the
    /// other workers and restarted ones are healthy).
    #[doc(hidden)]
    pub fn worker_failpoint(mut self, failpoint: crate::worker::Failpoint) -> Self {
        self.failpoint = Some(failpoint);
        self
    }

    /// Starts the pool of `workers` worker processes.
    fn start_pool(
        &self,
        workers: usize,
        ring_bytes: usize,
        exchange_budget: usize,
        timeout: Option<Duration>,
    ) -> std::result::Result<coordinator::WorkerPool, EngineBuildError> {
        // An explicit DFSHM_WORKER still wins over this executable.
        let self_exec = self.worker_program.is_none()
            && self.self_exec
            && std::env::var_os(coordinator::WORKER_ENV).is_none();
        let program = match &self.worker_program {
            Some(program) => program.clone(),
            None if self_exec => std::env::current_exe().map_err(|error| {
                EngineBuildError::Workers(format!("cannot find this executable: {error}"))
            })?,
            None => coordinator::find_worker_program(self.worker_search_file.as_deref())
                .map_err(EngineBuildError::Workers)?,
        };
        let settings = coordinator::WorkerSettings {
            program,
            self_exec,
            memory_limit_bytes: self.memory_limit_bytes,
            ring_bytes,
            exchange_budget,
            threads: self.worker_threads,
            stall_timeout: timeout,
            failpoint: self.failpoint,
        };
        coordinator::WorkerPool::start(workers, settings)
            .map_err(|e| EngineBuildError::Workers(e.to_string()))
    }

    /// Validates the configuration and starts the engine (and its worker processes).
    pub fn build(self) -> std::result::Result<Engine, EngineBuildError> {
        let ring_bytes = self
            .ring_bytes
            .unwrap_or(crate::exchange::DEFAULT_RING_BYTES);
        if !ring_bytes.is_power_of_two() || ring_bytes < 64 << 10 {
            return Err(EngineBuildError::BadRingBytes(ring_bytes));
        }
        let exchange_budget = self
            .exchange_budget
            .unwrap_or(crate::exchange::DEFAULT_EXCHANGE_BUDGET);
        if exchange_budget == 0 {
            return Err(EngineBuildError::ZeroExchangeBudget);
        }
        let mut config = SessionConfig::new().with_information_schema(true);
        if let Some(partitions) = self.target_partitions {
            if partitions == 0 {
                return Err(EngineBuildError::ZeroTargetPartitions);
            }
            config = config.with_target_partitions(partitions);
        }
        if let Some(rows) = self.batch_size {
            config = config.with_batch_size(rows.max(1));
        }
        // Listings are read fresh for every query: a file added to a table's folder is seen at
        // once, and the cache's keys (which list folders themselves) agree with what is read.
        let mut runtime = RuntimeEnvBuilder::new().with_object_list_cache_limit(0);
        if let Some(bytes) = self.memory_limit_bytes {
            if bytes == 0 {
                return Err(EngineBuildError::ZeroMemoryLimit);
            }
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        let result_cache = match &self.cache_dir {
            Some(dir) => {
                let max_bytes = self
                    .cache_max_bytes
                    .unwrap_or(cache::DEFAULT_CACHE_MAX_BYTES);
                let opened = ResultCache::open(dir, max_bytes).map_err(|source| {
                    EngineBuildError::CacheDir {
                        path: dir.clone(),
                        source,
                    }
                })?;
                (!self.no_cache).then(|| Arc::new(opened))
            }
            None => None,
        };
        let runtime = runtime.build_arc().map_err(EngineBuildError::Runtime)?;
        let sizing = match self.scan_bytes_per_task {
            Some(0) => return Err(EngineBuildError::ZeroScanBytesPerTask),
            Some(bytes) => coordinator::TaskSizing {
                scan_bytes_per_task: bytes,
            },
            None => coordinator::TaskSizing {
                scan_bytes_per_task: coordinator::DEFAULT_SCAN_BYTES_PER_TASK,
            },
        };
        let remote = self
            .remote_workers
            .iter()
            .map(|url| crate::worker::remote::parse_remote_worker(url))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(EngineBuildError::RemoteWorkers)?;
        if !remote.is_empty() && self.transport != Transport::SharedMemory {
            return Err(EngineBuildError::RemoteWorkers(format!(
                "remote workers run with the shared-memory transport (the default), not {:?}",
                self.transport
            )));
        }
        let timeout = self
            .worker_timeout
            .unwrap_or(Some(crate::worker::DEFAULT_WORKER_TIMEOUT));
        let remote_count = remote.len();
        let mut pool = None;
        let ctx = match (self.workers, self.transport) {
            (0, _) if remote.is_empty() => {
                let mut builder = SessionStateBuilder::new()
                    .with_default_features()
                    .with_config(config)
                    .with_runtime_env(runtime);
                if let Some(cache) = &result_cache {
                    builder = builder.with_query_planner(Arc::new(
                        CachingQueryPlanner::in_process(cache.clone()),
                    ));
                }
                SessionContext::new_with_state(builder.build())
            }
            (workers, Transport::InProcess) => coordinator::in_process_context(
                config,
                runtime,
                workers,
                result_cache.clone(),
                sizing,
            )
            .map_err(EngineBuildError::Runtime)?,
            (workers, Transport::Grpc) => {
                coordinator::grpc_context(config, runtime, workers, result_cache.clone(), sizing)
                    .map_err(|e| EngineBuildError::Workers(e.to_string()))?
            }
            (workers, Transport::SharedMemory) => {
                pool = match workers {
                    // Remote workers only.
                    0 => None,
                    _ => Some(Arc::new(self.start_pool(
                        workers,
                        ring_bytes,
                        exchange_budget,
                        timeout,
                    )?)),
                };
                coordinator::shm_context(
                    config,
                    runtime,
                    coordinator::WorkerSet {
                        pool: pool.clone(),
                        remote,
                        timeout,
                        ring_bytes,
                        exchange_budget,
                    },
                    result_cache.clone(),
                    sizing,
                )
                .map_err(EngineBuildError::Runtime)?
            }
        };
        Ok(Engine {
            ctx: ctx.enable_url_table(),
            workers: self.workers,
            remote_workers: remote_count,
            transport: self.transport,
            cache_dir: self.cache_dir,
            cache: result_cache,
            pool,
        })
    }
}

/// What running one statement produced.
#[derive(Debug)]
pub enum StatementOutcome {
    /// A statement that returns rows (a query, `EXPLAIN`, DML counts); the rows are computed lazily
    /// when the data frame is collected or streamed.
    Rows(DataFrame),
    /// A statement that was carried out and returns no rows (DDL, `SET`, ...).
    Done,
}

/// A dfshm query engine: DataFusion with its stages spread over worker processes.
pub struct Engine {
    ctx: SessionContext,
    workers: usize,
    remote_workers: usize,
    transport: Transport,
    cache_dir: Option<PathBuf>,
    /// The result cache, unless there is no cache folder or it was turned off.
    cache: Option<Arc<ResultCache>>,
    /// The worker processes (shared-memory transport with workers only).
    pool: Option<Arc<coordinator::WorkerPool>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("session_id", &self.ctx.session_id())
            .field("workers", &self.workers)
            .field("remote_workers", &self.remote_workers)
            .field("transport", &self.transport)
            .field("target_partitions", &self.target_partitions())
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl Engine {
    /// A builder with defaults: in-process, one partition per core, no memory limit.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The number of worker processes this engine runs queries on (0: in-process, unless it
    /// has remote workers).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The number of remote workers this engine runs stages on too.
    pub fn remote_workers(&self) -> usize {
        self.remote_workers
    }

    /// Whether queries are planned into stages that run on workers (processes or remote).
    pub fn is_distributed(&self) -> bool {
        self.workers + self.remote_workers > 0
    }

    /// Partitions per plan node.
    pub fn target_partitions(&self) -> usize {
        self.ctx.copied_config().target_partitions()
    }

    /// The cache folder, when one was configured.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// The result cache, when a cache folder is set and the cache is on.
    pub fn result_cache(&self) -> Option<&ResultCache> {
        self.cache.as_deref()
    }

    /// The process ids of the engine's worker processes (empty without worker processes).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool
            .as_ref()
            .map(|pool| pool.pids())
            .unwrap_or_default()
    }

    /// The underlying DataFusion session, for anything this API does not cover.
    pub fn session_context(&self) -> &SessionContext {
        &self.ctx
    }

    /// A new session on this engine, as a connection of a database server has: its settings
    /// start as this session's are now and are its own from then on (a `SET` changes only it),
    /// while tables, views and schemas are shared (one catalog), and so are the worker processes,
    /// the result cache and the memory pool. The workers live until the last session is dropped.
    pub fn new_session(&self) -> Engine {
        // A fresh state over the same catalog list (an `Arc`): the configuration is copied on
        // write, so settings part ways here; `new_from_existing` gives it a session id of its own.
        let state = SessionStateBuilder::new_from_existing(self.ctx.state()).build();
        Engine {
            ctx: SessionContext::new_with_state(state),
            workers: self.workers,
            remote_workers: self.remote_workers,
            transport: self.transport,
            cache_dir: self.cache_dir.clone(),
            cache: self.cache.clone(),
            pool: self.pool.clone(),
        }
    }

    /// Plans one SQL statement; DDL runs at once, queries run when the frame is collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        self.check_setting(&plan)?;
        self.frame(plan).await
    }

    /// Runs DDL at once; an EXPLAIN ANALYZE's frame collects task metrics, other queries' only
    /// if the session asks ([`coordinator::collect_metrics_if_analyzed`]).
    async fn frame(&self, plan: LogicalPlan) -> Result<DataFrame> {
        let frame = self.ctx.execute_logical_plan(plan).await?;
        if !self.is_distributed() {
            return Ok(frame);
        }
        let (mut state, plan) = frame.into_parts();
        coordinator::collect_metrics_if_analyzed(&mut state, &plan);
        Ok(DataFrame::new(state, plan))
    }

    /// Refuses `SET distributed.*` without workers, with what to do instead of DataFusion's
    /// "Could not find config namespace".
    fn check_setting(&self, plan: &LogicalPlan) -> Result<()> {
        let variable = match plan {
            LogicalPlan::Statement(Statement::SetVariable(set)) => &set.variable,
            LogicalPlan::Statement(Statement::ResetVariable(reset)) => &reset.variable,
            _ => return Ok(()),
        };
        let namespace = variable.split('.').next().unwrap_or_default();
        if !self.is_distributed() && namespace.eq_ignore_ascii_case("distributed") {
            return Err(DataFusionError::Plan(format!(
                "{variable} applies only to queries on worker processes, and this engine runs \
                 queries in-process; start it with workers (`--workers N`, \
                 `EngineBuilder::workers`, or the ADBC option dfshm.workers) to use it"
            )));
        }
        Ok(())
    }

    /// Splits a script of `;`-separated statements; see [`SqlStatement`].
    pub fn statements(&self, sql: &str) -> Result<Vec<SqlStatement>> {
        let dialect = self.ctx.copied_config().options().sql_parser.dialect;
        script::split_statements(sql, &dialect)
    }

    /// Plans and runs one statement of a script, telling DDL (no rows) from queries.
    pub async fn run_statement(&self, statement: &SqlStatement) -> Result<StatementOutcome> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let parsed = state.sql_to_statement(statement.text(), &dialect)?;
        let plan = state.statement_to_plan(parsed).await?;
        self.check_setting(&plan)?;
        let returns_rows = !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_));
        let frame = self.frame(plan).await?;
        Ok(if returns_rows {
            StatementOutcome::Rows(frame)
        } else {
            StatementOutcome::Done
        })
    }

    /// Runs `frame` as a stream of batches that firing `token` stops at once, from any thread:
    /// the query is torn down on every worker and the stream ends with a
    /// [`Cancelled`](crate::Cancelled) error. Dropping the stream stops the query too.
    pub async fn execute_stream(
        &self,
        frame: DataFrame,
        token: &CancelToken,
    ) -> Result<SendableRecordBatchStream> {
        Ok(self.execute_stream_traced(frame, token).await?.0)
    }

    /// Like [`Engine::execute_stream`], also returning what the result cache did: served the
    /// result, reused sub-plans, recorded, or bypassed (and why).
    pub async fn execute_stream_traced(
        &self,
        frame: DataFrame,
        token: &CancelToken,
    ) -> Result<(SendableRecordBatchStream, Arc<CacheTrace>)> {
        let start = async {
            let (mut state, plan) = frame.into_parts();
            // A frame not made by `sql` or `run_statement` gets its metrics setting here.
            coordinator::collect_metrics_if_analyzed(&mut state, &plan);
            // Judged before the optimizer folds `now()` and its kind into literals.
            let trace = Arc::new(CacheTrace::new(cache::key::bypass_reason(&plan)));
            state.config_mut().set_extension(trace.clone());
            let physical = state.create_physical_plan(&plan).await?;
            let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
            Ok((crate::cancel::cancellable(stream, token.clone()), trace))
        };
        tokio::select! {
            biased;
            () = token.cancelled() => Err(crate::Cancelled.into()),
            started = start => started,
        }
    }

    /// Starts `frame` with its result handed out in parts, one per task of its last stage, for
    /// other processes of this user on this host to read straight from the workers
    /// ([`Engine::read_partition`]); the query stays set up on the workers while the returned
    /// value lives. Needs worker processes, and a query whose last step only gathers what the
    /// workers produce (no ORDER BY, LIMIT or aggregate over every row in this process); other
    /// queries are refused with the reason. The result cache is not used.
    pub async fn execute_partitions(&self, frame: DataFrame) -> Result<PartitionedQuery> {
        if self.pool.is_none() {
            return Err(DataFusionError::NotImplemented(
                "partitioned results are read from worker processes, and this engine runs \
                 queries in-process; start it with workers (`EngineBuilder::workers`, the ADBC \
                 option dfshm.workers)"
                    .into(),
            ));
        }
        let (mut state, plan) = frame.into_parts();
        state
            .config_mut()
            .set_extension(Arc::new(CacheTrace::new(Some(
                "its result is read in parts from the workers".into(),
            ))));
        let physical = state.create_physical_plan(&plan).await?;
        coordinator::partitions::start(physical, state.task_ctx()).await
    }

    /// Reads one part of a partitioned result that [`Engine::execute_partitions`] handed out,
    /// in this process or another, straight from the worker that computes it. Each part can be
    /// read once, while the query that made it lives. Any engine reads, with or without
    /// workers of its own.
    pub async fn read_partition(&self, descriptor: &[u8]) -> Result<SendableRecordBatchStream> {
        let (ring_bytes, stall_timeout, budget) = match &self.pool {
            Some(pool) => {
                let settings = pool.settings();
                (
                    settings.ring_bytes,
                    settings.stall_timeout,
                    settings.exchange_budget,
                )
            }
            None => (
                crate::exchange::DEFAULT_RING_BYTES,
                Some(crate::worker::DEFAULT_WORKER_TIMEOUT),
                crate::DEFAULT_EXCHANGE_BUDGET,
            ),
        };
        coordinator::partitions::read_partition(
            descriptor,
            ring_bytes,
            stall_timeout,
            budget,
            &self.ctx.runtime_env().memory_pool,
        )
        .await
    }

    /// Registers a Parquet file or folder of files as table `name`.
    pub async fn register_parquet(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path_str(path.as_ref())?;
        self.ctx
            .register_parquet(name, path, ParquetReadOptions::default())
            .await
    }

    /// Registers a CSV file or folder of files (with a header row) as table `name`.
    pub async fn register_csv(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path_str(path.as_ref())?;
        self.ctx
            .register_csv(name, path, CsvReadOptions::new())
            .await
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        DataFusionError::Plan(format!(
            "path {} is not valid UTF-8; rename it or register it through a symlink",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn invalid_settings_are_refused_with_a_reason() {
        let zero = Engine::builder().target_partitions(0).build().unwrap_err();
        assert!(matches!(zero, EngineBuildError::ZeroTargetPartitions));
        let memory = Engine::builder().memory_limit_bytes(0).build().unwrap_err();
        assert!(matches!(memory, EngineBuildError::ZeroMemoryLimit));
        let missing = Engine::builder()
            .workers(2)
            .worker_program("/nonexistent/dfshm-worker")
            .build()
            .unwrap_err();
        assert!(
            missing.to_string().contains("cannot start worker"),
            "{missing}"
        );
        let ring = Engine::builder().ring_bytes(1000).build().unwrap_err();
        assert!(matches!(ring, EngineBuildError::BadRingBytes(1000)));
        let budget = Engine::builder().exchange_budget_bytes(0).build();
        assert!(matches!(
            budget.unwrap_err(),
            EngineBuildError::ZeroExchangeBudget
        ));
        let in_process = Engine::builder().workers(2).transport(Transport::InProcess);
        assert_eq!(in_process.build().unwrap().workers(), 2);
    }

    #[test]
    fn the_cache_folder_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("a").join("cache");
        let engine = Engine::builder().cache_dir(&cache).build().unwrap();
        assert_eq!(engine.cache_dir(), Some(cache.as_path()));
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = Engine::builder().cache_dir(&file).build().unwrap_err();
        assert!(
            error.to_string().contains("choose a writable folder"),
            "{error}"
        );
        assert!(
            matches!(error, EngineBuildError::CacheDir { .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn ddl_is_done_and_queries_return_rows() {
        let engine = Engine::builder().target_partitions(3).build().unwrap();
        assert_eq!(engine.target_partitions(), 3);
        let statements = engine
            .statements("create view v as select 5 as n; select n * 2 as m from v")
            .unwrap();
        assert_eq!(statements.len(), 2);
        let first = engine.run_statement(&statements[0]).await.unwrap();
        assert!(matches!(first, StatementOutcome::Done));
        let StatementOutcome::Rows(frame) = engine.run_statement(&statements[1]).await.unwrap()
        else {
            panic!("a query returns rows");
        };
        let batches = frame.collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);
    }

    /// The value of setting `name` in `engine`'s session, as `SHOW` reports it.
    async fn setting(engine: &Engine, name: &str) -> String {
        let batches = engine
            .sql(&format!(
                "select value from information_schema.df_settings where name = '{name}'"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = batches[0].column(0);
        datafusion::arrow::util::display::array_value_to_string(column, 0).unwrap()
    }

    #[tokio::test]
    async fn sessions_keep_their_own_settings_and_share_tables() {
        let engine = Engine::builder().batch_size(4096).build().unwrap();
        let (first, second) = (engine.new_session(), engine.new_session());
        const NAME: &str = "datafusion.execution.batch_size";
        first.sql(&format!("set {NAME} = 123")).await.unwrap();
        second.sql(&format!("set {NAME} = 456")).await.unwrap();
        assert_eq!(setting(&first, NAME).await, "123");
        assert_eq!(setting(&second, NAME).await, "456");
        assert_eq!(
            setting(&engine, NAME).await,
            "4096",
            "the engine's own is untouched"
        );
        // A session made later starts from its parent's settings as they are then.
        engine.sql(&format!("set {NAME} = 789")).await.unwrap();
        assert_eq!(setting(&engine.new_session(), NAME).await, "789");
        // Tables made in one session are seen in every other, and in the engine.
        first
            .sql("create table shared_t as values (1), (2), (3)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        for session in [&second, &engine] {
            let rows: usize = session
                .sql("select * from shared_t")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()
                .iter()
                .map(|batch| batch.num_rows())
                .sum();
            assert_eq!(rows, 3);
        }
        assert_ne!(
            first.session_context().session_id(),
            second.session_context().session_id()
        );
    }

    #[tokio::test]
    async fn csv_files_register_as_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,x\n2,y\n3,z\n").unwrap();
        let engine = Engine::builder().build().unwrap();
        engine.register_csv("t", &path).await.unwrap();
        let batches = engine
            .sql("select sum(a) as s from t where b <> 'y'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 4 |"), "{text}");
    }
}
