//! Unit tests of the Arrow transport: batches of every type round-trip through a ring, frames
//! are refused when malformed, and arbitrary frames never panic the reader.

use super::*;
use crate::ring::{RingMemory, RingParts};
use crate::shm::Segment;
use crate::testing::every_type_batch;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Schema;
use proptest::prelude::*;

pub(crate) fn ring(capacity: usize) -> RingParts {
    let segment = Segment::create("transport-test", capacity + 4096).unwrap();
    RingParts::create(RingMemory::Owned(segment), capacity).unwrap()
}

async fn read_all(reader: &mut RingReader) -> HashMap<u32, Result<Vec<RecordBatch>, String>> {
    let mut streams: HashMap<u32, Result<Vec<RecordBatch>, String>> = HashMap::new();
    while let Some(event) = reader.next_async().await.unwrap() {
        match event {
            StreamEvent::Batch { stream, batch, .. } => streams
                .entry(stream)
                .or_insert_with(|| Ok(Vec::new()))
                .as_mut()
                .unwrap()
                .push(batch),
            StreamEvent::End { stream, .. } => {
                streams.entry(stream).or_insert_with(|| Ok(Vec::new()));
            }
            StreamEvent::Error { stream, message } => {
                streams.insert(stream, Err(message));
            }
        }
    }
    streams
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).unwrap()
}

async fn round_trip(
    capacity: usize,
    batches: Vec<RecordBatch>,
    mode: DecodeMode,
) -> Vec<RecordBatch> {
    let parts = ring(capacity);
    let mut writer = RingWriter::new(parts.producer(None));
    let mut reader = RingReader::new(parts.consumer(None), mode);
    let writing = tokio::spawn(async move {
        for batch in &batches {
            assert_eq!(
                writer.write_batch(7, batch).await.unwrap(),
                WriteOutcome::Written
            );
        }
        writer.finish_stream(7).await.unwrap();
        writer.close();
    });
    let mut streams = read_all(&mut reader).await;
    writing.await.unwrap();
    streams.remove(&7).unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_zero_copy_and_copy_out() {
    let batch = every_type_batch(1000);
    for mode in [DecodeMode::ZeroCopy, DecodeMode::CopyOut] {
        let received = round_trip(1 << 20, vec![batch.clone(), batch.slice(100, 50)], mode).await;
        assert_eq!(
            concat(&received),
            concat(&[batch.clone(), batch.slice(100, 50)]),
            "{mode:?}"
        );
    }
}

/// Messages with an empty body: DataFusion's partial state of `bit_and(NULL)` is a null-typed
/// column, and `rank() OVER ()` over a union ships batches with rows but no columns. Before the
/// reader handed its decoder the end-of-stream marker, the last of them ended in "Unexpected End of
/// Stream" (DataFusion's aggregate.slt and window.slt on workers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_whose_messages_have_empty_bodies_round_trip() {
    use datafusion::arrow::array::{NullArray, RecordBatchOptions};
    use datafusion::arrow::datatypes::{DataType, Field};
    let nulls = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("state", DataType::Null, true)])),
        vec![Arc::new(NullArray::new(3))],
    )
    .unwrap();
    let no_columns = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(2)),
    )
    .unwrap();
    for batch in [nulls, no_columns] {
        for mode in [DecodeMode::ZeroCopy, DecodeMode::CopyOut] {
            let received = round_trip(1 << 16, vec![batch.clone(), batch.clone()], mode).await;
            let rows: usize = received.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, 2 * batch.num_rows(), "{mode:?} {:?}", batch.schema());
            assert!(received.iter().all(|b| b.schema() == batch.schema()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_the_ring_is_split_not_refused() {
    let batch = every_type_batch(20_000);
    let received = round_trip(64 * 1024, vec![batch.clone()], DecodeMode::ZeroCopy).await;
    assert!(received.len() > 1, "the batch was split");
    assert_eq!(concat(&received), batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_row_larger_than_a_frame_is_streamed_over_several() {
    let huge = "y".repeat(300_000);
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![huge.as_str()]))],
    )
    .unwrap();
    let received = round_trip(64 * 1024, vec![batch.clone()], DecodeMode::ZeroCopy).await;
    assert_eq!(concat(&received), batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_multiplex_and_end_or_fail_independently() {
    let parts = ring(256 * 1024);
    let mut writer = RingWriter::new(parts.producer(None));
    let mut reader = RingReader::new(parts.consumer(None), DecodeMode::CopyOut);
    let batch = every_type_batch(300);
    let expected = batch.clone();
    let writing = tokio::spawn(async move {
        for round in 0..10 {
            for stream in 0..3 {
                writer
                    .write_batch(stream, &batch.slice(round * 30, 30))
                    .await
                    .unwrap();
            }
        }
        writer.finish_stream(0).await.unwrap();
        writer.fail_stream(1, "disk on fire").await.unwrap();
        writer.finish_stream(2).await.unwrap();
        writer.finish_stream(3).await.unwrap();
        writer.close();
    });
    let mut streams = read_all(&mut reader).await;
    writing.await.unwrap();
    assert_eq!(concat(streams[&0].as_ref().unwrap()), expected);
    assert_eq!(streams.remove(&1).unwrap().unwrap_err(), "disk on fire");
    assert_eq!(concat(streams[&2].as_ref().unwrap()), expected);
    assert!(
        streams[&3].as_ref().unwrap().is_empty(),
        "an empty stream just ends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_stream_stops_its_producer_and_spares_its_siblings() {
    let parts = ring(64 * 1024);
    let mut writer = RingWriter::new(parts.producer(None));
    let mut reader = RingReader::new(parts.consumer(None), DecodeMode::ZeroCopy);
    reader.cancel_stream(1).unwrap();
    let batch = every_type_batch(100);
    assert!(writer.is_cancelled(1));
    assert_eq!(
        writer.write_batch(1, &batch).await.unwrap(),
        WriteOutcome::Cancelled
    );
    assert_eq!(
        writer.write_batch(2, &batch).await.unwrap(),
        WriteOutcome::Written
    );
    writer.finish_stream(2).await.unwrap();
    writer.close();
    let streams = read_all(&mut reader).await;
    assert!(!streams.contains_key(&1));
    assert_eq!(concat(streams[&2].as_ref().unwrap()), batch);
}

/// A batch sliced to fit the frames arrives as pieces, every one but the last flagged, and
/// each piece reports the stream bytes it took (which add up to what the writer counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pieces_of_a_sliced_batch_are_flagged_until_the_last() {
    use datafusion::arrow::array::Int64Array;
    let parts = ring(64 * 1024);
    let mut writer = RingWriter::new(parts.producer(None));
    let mut reader = RingReader::new(parts.consumer(None), DecodeMode::CopyOut);
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let values = Int64Array::from_iter_values(0..20_000);
    let batch = RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap();
    let writing = tokio::spawn(async move {
        writer.write_batch(0, &batch).await.unwrap();
        writer.write_batch(0, &batch.slice(0, 10)).await.unwrap();
        let written = writer.stream_bytes(0);
        writer.finish_stream(0).await.unwrap();
        writer.close();
        (batch, written)
    });
    let mut events = Vec::new();
    while let Some(event) = reader.next_async().await.unwrap() {
        events.push(event);
    }
    let (batch, written) = writing.await.unwrap();
    let mut pieces = Vec::new();
    let mut flags = Vec::new();
    let mut bytes = 0;
    for event in events {
        if let StreamEvent::Batch {
            batch: piece,
            bytes: taken,
            continues,
            ..
        } = event
        {
            pieces.push(piece);
            flags.push(continues);
            bytes += taken;
        }
    }
    assert!(pieces.len() > 2, "160 KB in 16 KiB frames comes in pieces");
    let (whole, small) = (pieces.len() - 1, flags.len() - 1);
    assert!(flags[..whole - 1].iter().all(|flag| *flag), "{flags:?}");
    assert!(!flags[whole - 1] && !flags[small], "{flags:?}");
    assert_eq!(concat(&pieces[..whole]), batch);
    assert_eq!(pieces[whole], batch.slice(0, 10));
    assert_eq!(bytes, written);
}

#[test]
fn stream_ids_beyond_the_control_bits_are_refused() {
    let parts = ring(8192);
    let mut reader = RingReader::new(parts.consumer(None), DecodeMode::ZeroCopy);
    assert!(matches!(
        reader.cancel_stream(MAX_STREAMS),
        Err(TransportError::StreamOutOfRange(_))
    ));
}

fn valid_frames() -> Vec<Vec<u8>> {
    let batch = every_type_batch(20);
    let mut encoder = StreamEncoder::try_new(&batch.schema()).unwrap();
    encoder
        .encode(&batch)
        .unwrap()
        .iter()
        .map(|buffer| buffer.as_slice().to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary frames (random tags, random bytes, or valid IPC with bytes flipped) give an
    /// error or a batch, never a panic or an out-of-bounds read.
    #[test]
    fn arbitrary_frames_never_panic_the_reader(
        frames in proptest::collection::vec(
            (0u64..8, 0u32..4, proptest::collection::vec(any::<u8>(), 0..600), any::<bool>(), any::<u16>()),
            1..12,
        ),
        copy_out in any::<bool>(),
    ) {
        let valid = valid_frames();
        let parts = ring(1 << 20);
        let mut producer = parts.producer(None);
        for (index, (kind, stream, bytes, use_valid, flip)) in frames.into_iter().enumerate() {
            let mut payload = if use_valid {
                valid[index % valid.len()].clone()
            } else {
                bytes
            };
            if !payload.is_empty() && use_valid {
                let at = flip as usize % payload.len();
                payload[at] ^= (flip >> 8) as u8 | 1;
            }
            producer.write_frame(tag(stream, kind), &payload, None).unwrap();
        }
        producer.close();
        let mode = if copy_out { DecodeMode::CopyOut } else { DecodeMode::ZeroCopy };
        let mut reader = RingReader::new(parts.consumer(None), mode);
        for _ in 0..64 {
            match reader.next(Some(Instant::now() + std::time::Duration::from_secs(5))) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// A slice of a big string-view batch must not drag its parent's whole data buffers through the
/// ring (Arrow IPC sends view data buffers whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_of_a_view_batch_sends_only_its_own_bytes() {
    use datafusion::arrow::array::StringViewArray;
    let strings: StringViewArray = (0..100_000)
        .map(|v| Some(format!("a string long enough not to be inlined {v}")))
        .collect();
    let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as _)]).unwrap();
    let slice = batch.slice(500, 10);
    let parts = ring(1 << 20);
    let mut writer = RingWriter::new(parts.producer(None));
    let mut reader = RingReader::new(parts.consumer(None), DecodeMode::CopyOut);
    writer.write_batch(1, &slice).await.unwrap();
    writer.finish_stream(1).await.unwrap();
    let sent = writer.stats().bytes;
    writer.close();
    assert!(sent < 16 * 1024, "10 rows took {sent} bytes");
    let streams = read_all(&mut reader).await;
    let received = concat(streams.get(&1).unwrap().as_ref().unwrap());
    assert_eq!(received, slice);
}
