//! Per-query cancellation: a [`CancelToken`] any thread may fire, and a stream wrapper that tears
//! the query down the moment it fires.
//!
//! Tearing down is dropping: the wrapped stream owns the query's whole operator tree, and with
//! worker processes that tree owns the coordinator's end of every ring and connection. Dropping it
//! drops every partition stream, each of which cancels its partition at the producer (see
//! `exchange::calling`); the workers' streams drop in turn, cancelling their inputs, so the whole query
//! stops within one wake-up per stage. The same happens without a token when the consumer drops
//! the stream (a satisfied LIMIT, a client that went away).
//!
//! The wrapper drops the query from a watcher task as soon as the token fires, even while nobody
//! polls the stream (a host thread blocked elsewhere), and the next poll answers a
//! [`Cancelled`] error.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;

/// Cancels one query (or several) from any thread; cheap to clone.
///
/// ```
/// let token = dfshm::CancelToken::new();
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(CancellationToken);

impl CancelToken {
    /// A token that has not fired.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Fires the token: every query run with it stops. Idempotent; callable from any thread.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether the token fired.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes when the token fires.
    pub async fn cancelled(&self) {
        self.0.cancelled().await;
    }
}

/// The error of a query stopped by its [`CancelToken`]; find it with [`is_cancelled`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the query was cancelled")]
pub struct Cancelled;

impl From<Cancelled> for DataFusionError {
    fn from(cancelled: Cancelled) -> DataFusionError {
        DataFusionError::External(Box::new(cancelled))
    }
}

/// Whether `error` says that the query was cancelled through its token.
pub fn is_cancelled(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::External(inner) => inner.downcast_ref::<Cancelled>().is_some(),
        _ => false,
    }
}

/// Wraps `stream` so that firing `token` drops it at once and ends the stream with [`Cancelled`].
///
/// Must be called within a tokio runtime when the query should stop while nobody polls (the
/// watcher is a task); outside one, the query stops at the next poll.
pub fn cancellable(
    stream: SendableRecordBatchStream,
    token: CancelToken,
) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let query = Arc::new(Mutex::new(Some(stream)));
    let finished = CancellationToken::new();
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let watched = query.clone();
        let (fired, done) = (token.0.clone(), finished.clone());
        runtime.spawn(async move {
            tokio::select! {
                () = fired.cancelled() => {
                    // Dropped outside the lock: tearing a query down may take a moment.
                    let stream = watched.lock().take();
                    drop(stream);
                }
                () = done.cancelled() => {}
            }
        });
    }
    Box::pin(CancellableStream {
        schema,
        query,
        fired: Box::pin(token.0.clone().cancelled_owned()),
        token,
        _finished: finished.drop_guard(),
        reported: false,
    })
}

struct CancellableStream {
    schema: SchemaRef,
    /// The query; `None` once it ended or was cancelled.
    query: Arc<Mutex<Option<SendableRecordBatchStream>>>,
    token: CancelToken,
    /// Wakes a consumer waiting in `poll_next` when the token fires: dropping the query does
    /// not wake the waker that the query's own stream registered.
    fired: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// Ends the watcher when this stream goes away.
    _finished: tokio_util::sync::DropGuard,
    /// Whether the cancellation error was handed out already.
    reported: bool,
}

impl Stream for CancellableStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.token.is_cancelled() || this.fired.as_mut().poll(cx).is_ready() {
            let stream = this.query.lock().take();
            drop(stream);
            if this.reported {
                return Poll::Ready(None);
            }
            this.reported = true;
            return Poll::Ready(Some(Err(Cancelled.into())));
        }
        let mut query = this.query.lock();
        let Some(stream) = query.as_mut() else {
            return Poll::Ready(None);
        };
        let next = stream.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            // Finished: release the query's resources now rather than when the caller drops us.
            *query = None;
        }
        next
    }
}

impl Drop for CancellableStream {
    fn drop(&mut self) {
        // The watcher holds the query too: drop it now, not when the watcher next runs.
        let stream = self.query.lock().take();
        drop(stream);
    }
}

impl RecordBatchStream for CancellableStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An endless stream of one-row batches that records when it is dropped.
    fn endless(dropped: Arc<AtomicBool>) -> SendableRecordBatchStream {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let flag = Flag(dropped);
        let batches = futures::stream::iter(0..).then({
            let schema = schema.clone();
            move |n: i64| {
                let _ = &flag;
                let schema = schema.clone();
                async move {
                    tokio::task::yield_now().await;
                    Ok(RecordBatch::try_new(
                        schema,
                        vec![Arc::new(Int64Array::from(vec![n]))],
                    )?)
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }

    #[tokio::test]
    async fn a_fired_token_drops_the_query_without_a_poll_and_reports_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        let token = CancelToken::new();
        let mut stream = cancellable(endless(dropped.clone()), token.clone());
        assert!(stream.next().await.unwrap().is_ok());
        token.cancel();
        // The watcher drops the query although the stream is not polled.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !dropped.load(Ordering::SeqCst) {
            assert!(tokio::time::Instant::now() < deadline, "query not dropped");
            tokio::task::yield_now().await;
        }
        let error = stream.next().await.unwrap().unwrap_err();
        assert!(is_cancelled(&error), "{error}");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_waiting_for_a_batch_wakes_when_the_token_fires() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let silent = RecordBatchStreamAdapter::new(schema, futures::stream::pending());
        let token = CancelToken::new();
        let mut stream = cancellable(Box::pin(silent), token.clone());
        let waiting = tokio::spawn(async move { stream.next().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        std::thread::spawn(move || token.cancel()).join().unwrap();
        let woken = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the waiting consumer was woken")
            .unwrap();
        assert!(is_cancelled(&woken.unwrap().unwrap_err()));
    }

    #[tokio::test]
    async fn an_unfired_token_changes_nothing_and_dropping_ends_the_query() {
        let dropped = Arc::new(AtomicBool::new(false));
        let stream = cancellable(endless(dropped.clone()), CancelToken::new());
        let rows: usize = stream
            .take(5)
            .map(|batch| batch.unwrap().num_rows())
            .fold(0, |sum, rows| async move { sum + rows })
            .await;
        assert_eq!(rows, 5);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(!is_cancelled(&DataFusionError::Execution("x".into())));
    }
}
