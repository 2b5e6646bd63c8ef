//! datafusion-distributed's own gRPC workers on localhost, inside this process: the baseline the
//! shared-memory transport is benchmarked against (`Transport::Grpc`, `dfshm-bench`'s `grpc-N`).
//!
//! The workers are `remote` workers on loopback TCP ports, run by a runtime on a thread of their
//! own (as datafusion-distributed's localhost test setup does); the coordinator reaches them
//! through datafusion-distributed's `DefaultChannelResolver`, as a plain datafusion-distributed
//! coordinator would.

use datafusion::common::{DataFusionError, Result};
use datafusion_distributed::WorkerResolver;
use std::sync::Arc;
use url::Url;

/// `count` gRPC workers serving on loopback until dropped.
pub(crate) struct GrpcCluster {
    urls: Vec<Url>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for GrpcCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcCluster")
            .field("urls", &self.urls)
            .finish()
    }
}

impl GrpcCluster {
    pub(crate) fn start(count: usize) -> std::io::Result<GrpcCluster> {
        let listeners = (0..count)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()?;
        let urls = listeners
            .iter()
            .map(|listener| {
                let address = listener.local_addr()?;
                Url::parse(&format!("http://{address}")).map_err(std::io::Error::other)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("dfshm-grpc-worker")
            .build()?;
        let thread = std::thread::Builder::new()
            .name("dfshm-grpc-workers".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut servers = tokio::task::JoinSet::new();
                    for listener in listeners {
                        let worker = crate::worker::remote::remote_worker(None, None)?;
                        let mut stop = stop.clone();
                        servers.spawn(async move {
                            listener.set_nonblocking(true)?;
                            let listener = tokio::net::TcpListener::from_std(listener)?;
                            crate::worker::remote::serve_on(worker, listener, async move {
                                let _ = stop.wait_for(|stopped| *stopped).await;
                            })
                            .await
                        });
                    }
                    while let Some(result) = servers.join_next().await {
                        if let Ok(Err(error)) = result {
                            log::error!("a gRPC worker stopped: {error}");
                        }
                    }
                    Ok::<(), std::io::Error>(())
                })
            })?;
        Ok(GrpcCluster {
            urls,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for GrpcCluster {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The cluster's URLs for the coordinator's planner.
#[derive(Debug, Clone)]
pub(crate) struct GrpcResolver(pub(crate) Arc<GrpcCluster>);

impl WorkerResolver for GrpcResolver {
    fn get_urls(&self) -> Result<Vec<Url>> {
        if self.0.urls.is_empty() {
            return Err(DataFusionError::Configuration("no gRPC workers".into()));
        }
        Ok(self.0.urls.clone())
    }
}
