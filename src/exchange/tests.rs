//! The two ends of an execute-task call in one process: `serve_partitions` writing into a ring
//! and `Partitions::demultiplex` reading it, joined by a socket pair as a worker connection.

use super::calling::{ExchangeMetrics, Partitions, WorkerAddress};
use super::credit::Budget;
use super::framing::{DecodeMode, RingReader, RingWriter};
use super::serving::serve_partitions;
use crate::ring::RingParts;
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryPool, UnboundedMemoryPool};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UnixStream;

const DEADLINE: Duration = Duration::from_secs(30);

/// Records when the stream that owns it is dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
}

/// `batches` one-row batches (endless for `None`), each after a yield, counting how many were
/// produced and flagging when the stream is dropped.
fn numbers(
    batches: Option<i64>,
    produced: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
) -> SendableRecordBatchStream {
    let flag = DropFlag(dropped);
    let stream = futures::stream::iter(0..batches.unwrap_or(i64::MAX)).then(move |n| {
        let _ = &flag;
        let produced = produced.clone();
        async move {
            tokio::task::yield_now().await;
            produced.fetch_add(1, Ordering::SeqCst);
            Ok(RecordBatch::try_new(
                schema(),
                vec![Arc::new(Int64Array::from(vec![n]))],
            )?)
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema(), stream))
}

/// A partition that never produces anything (a worker computing for ever, or stopped).
fn silent(dropped: Arc<AtomicBool>) -> SendableRecordBatchStream {
    let flag = DropFlag(dropped);
    let stream = futures::stream::pending::<Result<RecordBatch>>().map(move |item| {
        let _ = &flag;
        item
    });
    Box::pin(RecordBatchStreamAdapter::new(schema(), stream))
}

/// Starts `streams` on the producing end and returns the consumer's partition streams, whose
/// credit comes from a budget of `budget_bytes`.
fn call_with_budget(
    streams: Vec<SendableRecordBatchStream>,
    address: WorkerAddress,
    stall_timeout: Option<Duration>,
    budget_bytes: usize,
    pool: &Arc<dyn MemoryPool>,
) -> (
    Vec<BoxStream<'static, Result<RecordBatch>>>,
    ExchangeMetrics,
) {
    let (streams, metrics, _) =
        call_with_producer(streams, address, stall_timeout, budget_bytes, pool);
    (streams, metrics)
}

/// The producing end's task: it ends with the connection when the call ended cleanly.
type Producer = tokio::task::JoinHandle<Option<UnixStream>>;

/// [`call_with_budget`], and the producing end's task.
fn call_with_producer(
    streams: Vec<SendableRecordBatchStream>,
    address: WorkerAddress,
    stall_timeout: Option<Duration>,
    budget_bytes: usize,
    pool: &Arc<dyn MemoryPool>,
) -> (
    Vec<BoxStream<'static, Result<RecordBatch>>>,
    ExchangeMetrics,
    Producer,
) {
    let ring = RingParts::create_owned("dfshm-test-ring", 64 << 10).unwrap();
    let (consumer_end, producer_end) = UnixStream::pair().unwrap();
    let writer = RingWriter::new(ring.producer(None));
    let budget = Arc::new(Budget::new(budget_bytes, pool));
    let (credits, window) = budget.open(streams.len());
    let producer = tokio::spawn(serve_partitions(producer_end, writer, streams, window));
    let partitions = Partitions {
        reader: RingReader::new(ring.consumer(None), DecodeMode::CopyOut),
        socket: consumer_end,
        address,
        start: 0,
        credits,
    };
    let metrics = ExchangeMetrics::default();
    (
        partitions.demultiplex(metrics.clone(), stall_timeout),
        metrics,
        producer,
    )
}

/// [`call_with_budget`] with the default budget.
fn call(
    streams: Vec<SendableRecordBatchStream>,
    address: WorkerAddress,
    stall_timeout: Option<Duration>,
) -> Vec<BoxStream<'static, Result<RecordBatch>>> {
    let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
    let budget = super::credit::DEFAULT_EXCHANGE_BUDGET;
    call_with_budget(streams, address, stall_timeout, budget, &pool).0
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn nowhere() -> WorkerAddress {
    WorkerAddress::new(7, 0, std::process::id(), "no-such-worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_one_partition_stops_only_its_producer() {
    let (endless_made, endless_dropped) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let (silent_dropped, finite_made) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let finite_dropped = Arc::new(AtomicBool::new(false));
    let mut streams = call(
        vec![
            numbers(None, endless_made, endless_dropped.clone()),
            silent(silent_dropped.clone()),
            numbers(Some(500), finite_made, finite_dropped.clone()),
        ],
        nowhere(),
        None,
    )
    .into_iter();
    let (mut endless, quiet, mut finite) = (
        streams.next().unwrap(),
        streams.next().unwrap(),
        streams.next().unwrap(),
    );
    assert!(endless.next().await.unwrap().is_ok());
    drop(endless);
    until("the endless producer was not stopped", || {
        endless_dropped.load(Ordering::SeqCst)
    })
    .await;
    // A producer that is computing (never writing) stops too: the cancel message reaches it
    // without waiting for its next write.
    drop(quiet);
    until("the silent producer was not stopped", || {
        silent_dropped.load(Ordering::SeqCst)
    })
    .await;
    // The sibling was left alone and delivers every row.
    let mut rows = 0;
    while let Some(batch) = finite.next().await {
        rows += batch.unwrap().num_rows();
    }
    assert_eq!(rows, 500);
    assert!(finite_dropped.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_partition_stops_every_producer() {
    let flags: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::default()).collect();
    let streams = call(
        flags
            .iter()
            .map(|flag| numbers(None, Arc::default(), flag.clone()))
            .collect(),
        nowhere(),
        None,
    );
    drop(streams);
    until("a producer outlived its consumer", || {
        flags.iter().all(|flag| flag.load(Ordering::SeqCst))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_that_answers_no_ping_fails_after_the_stall_timeout() {
    // A "worker" that accepts connections but never answers (as a stopped process would).
    let address = WorkerAddress::new(3, 0, std::process::id(), "stopped-test");
    let listener =
        std::os::unix::net::UnixListener::bind_addr(&address.socket_address().unwrap()).unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let mut streams = call(
        vec![silent(dropped.clone())],
        address,
        Some(Duration::from_millis(200)),
    );
    let error = streams[0].next().await.unwrap().unwrap_err().to_string();
    assert!(error.contains("worker 3 did not answer"), "{error}");
    until("the producer was not stopped", || {
        dropped.load(Ordering::SeqCst)
    })
    .await;
    drop(listener);

    // A worker that is gone altogether says so.
    let mut streams = call(
        vec![silent(Arc::default())],
        nowhere(),
        Some(Duration::from_millis(200)),
    );
    let error = streams[0].next().await.unwrap().unwrap_err().to_string();
    assert!(error.contains("worker 7 is not running"), "{error}");
}

/// `batches` batches of `rows` Int64 rows each, counting how many were produced.
fn wide_numbers(
    batches: usize,
    rows: usize,
    produced: Arc<AtomicUsize>,
) -> SendableRecordBatchStream {
    let stream = futures::stream::iter(0..batches).then(move |n| {
        let produced = produced.clone();
        async move {
            tokio::task::yield_now().await;
            produced.fetch_add(1, Ordering::SeqCst);
            let values: Vec<i64> = (0..rows as i64).map(|row| row + n as i64).collect();
            Ok(RecordBatch::try_new(
                schema(),
                vec![Arc::new(Int64Array::from(values))],
            )?)
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema(), stream))
}

async fn rows_of(stream: &mut BoxStream<'static, Result<RecordBatch>>) -> usize {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().num_rows();
    }
    rows
}

/// A reader that takes one partition to its end before it looks at the other (as a hash join
/// builds before it probes) gets both, while the unread partition waits within its window: the
/// producer stops making its batches, and nothing piles up in the consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_partition_waits_within_its_credit_while_its_sibling_flows() {
    const BATCHES: usize = 400;
    const ROWS: usize = 1024; // 8 KiB a batch: 3.2 MiB a partition
    const BUDGET: usize = 256 << 10;
    let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
    let made: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::default()).collect();
    let (streams, metrics) = call_with_budget(
        made.iter()
            .map(|made| wide_numbers(BATCHES, ROWS, made.clone()))
            .collect(),
        nowhere(),
        None,
        BUDGET,
        &pool,
    );
    let mut streams = streams.into_iter();
    let (mut first, mut second) = (streams.next().unwrap(), streams.next().unwrap());
    let read_first = tokio::time::timeout(DEADLINE, rows_of(&mut first));
    assert_eq!(read_first.await.expect("no deadlock"), BATCHES * ROWS);
    // The second partition's window is half the budget; its producer holds one more batch in
    // hand and may run one piece past its credit.
    let window_batches = (BUDGET / 2) / (ROWS * 8);
    let second_made = made[1].load(Ordering::SeqCst);
    assert!(
        second_made <= window_batches + 3,
        "the unread partition made {second_made} batches; its window holds {window_batches}"
    );
    let read_second = tokio::time::timeout(DEADLINE, rows_of(&mut second));
    assert_eq!(read_second.await.expect("no deadlock"), BATCHES * ROWS);
    let peak = metrics.peak_buffered.value();
    let bound = BUDGET + 2 * (super::credit::MIN_WINDOW as usize + (16 << 10));
    assert!(
        peak <= bound,
        "{peak} bytes waited in the consumer; the bound is {bound}"
    );
    drop((first, second));
    assert_eq!(pool.reserved(), 0, "every credit was repaid");
}

/// Batches larger than a frame and than the partition's whole window come out as the producer
/// made them: sliced to cross the ring, put back together at the reader, each piece repaying
/// its credit on the way so the window never stops a batch halfway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_than_the_window_arrive_whole() {
    const ROWS: usize = 20_000; // 160 KB a batch; the ring's frames hold 16 KiB
    let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
    let (mut streams, _) = call_with_budget(
        vec![wide_numbers(12, ROWS, Arc::default())],
        nowhere(),
        None,
        16 << 10,
        &pool,
    );
    let mut batches = Vec::new();
    let reading = async {
        while let Some(batch) = streams[0].next().await {
            batches.push(batch.unwrap());
        }
    };
    tokio::time::timeout(DEADLINE, reading)
        .await
        .expect("no deadlock");
    assert_eq!(batches.len(), 12);
    for (n, batch) in batches.iter().enumerate() {
        let expected: Vec<i64> = (0..ROWS as i64).map(|row| row + n as i64).collect();
        assert_eq!(
            batch.column(0).as_ref(),
            &Int64Array::from(expected) as &dyn datafusion::arrow::array::Array
        );
    }
}

/// The producing end of a call whose partitions `consume` reads: whether it handed back the
/// connection (the call ended cleanly), and whether the consumer kept its end for another call.
async fn ends_of(
    streams: Vec<SendableRecordBatchStream>,
    address: WorkerAddress,
    consume: impl AsyncFnOnce(Vec<BoxStream<'static, Result<RecordBatch>>>),
) -> (bool, bool) {
    let host = address.host().to_string();
    let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
    let budget = super::credit::DEFAULT_EXCHANGE_BUDGET;
    let (partitions, _, producer) = call_with_producer(streams, address, None, budget, &pool);
    consume(partitions).await;
    // Held while the consumer's end is looked for: a kept connection whose peer closed is not
    // taken.
    let producer_end = tokio::time::timeout(DEADLINE, producer)
        .await
        .expect("the producer ends")
        .unwrap();
    let handed_back = producer_end.is_some();
    // The consumer keeps its end just after writing `Done`, which the producer may read first.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let kept = loop {
        if super::calling::kept_connection(&host) {
            break true;
        }
        if !handed_back || tokio::time::Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    (handed_back, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_read_to_its_end_leaves_its_connection_for_the_next_call() {
    let (made, dropped) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let address = WorkerAddress::new(7, 0, std::process::id(), "kept-after-its-end");
    let ends = ends_of(
        vec![
            numbers(Some(40), made, dropped.clone()),
            numbers(Some(0), Arc::default(), Arc::default()),
        ],
        address,
        async |partitions| {
            let mut rows = 0;
            for mut partition in partitions {
                while let Some(batch) = partition.next().await {
                    rows += batch.unwrap().num_rows();
                }
            }
            assert_eq!(rows, 40);
        },
    )
    .await;
    assert_eq!(
        ends,
        (true, true),
        "(handed back by the producer, kept by the consumer)"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_before_its_end_closes_its_connection() {
    let (made, dropped) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let address = WorkerAddress::new(7, 0, std::process::id(), "closed-when-dropped");
    let ends = ends_of(
        vec![numbers(None, made, dropped.clone())],
        address,
        async |partitions| {
            for mut partition in partitions {
                partition.next().await.unwrap().unwrap();
            }
        },
    )
    .await;
    assert_eq!(
        ends,
        (false, false),
        "(handed back by the producer, kept by the consumer)"
    );
    until("the endless partition is dropped", || {
        dropped.load(Ordering::SeqCst)
    })
    .await;
}
