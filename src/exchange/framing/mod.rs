//! Arrow record batches over a ring: several partition streams of one producer multiplexed on one
//! ring, as Arrow IPC stream messages.
//!
//! Each ring frame carries one stream's bytes, tagged `(stream id << 8) | kind`. A `Data` frame
//! holds IPC stream bytes (normally whole messages: the schema the first time, dictionaries, one
//! record batch); `End` and `Error` end a stream. A batch is sliced by rows so that each piece
//! fits a frame (every piece but the last is flagged, so that a reader can put the batch back
//! together); a single row too large for a frame is streamed over several frames and
//! reassembled by the decoder, so no batch is ever refused.
//!
//! Reading is zero-copy by default: decoded arrays point into the ring and the frame is released
//! when the last of them drops. A reader that keeps batches (joins, sorts) must use copy-out, and
//! frames of schemas with dictionaries are always copied, because a held frame stops the ring
//! from advancing past it. A consumer cancels one stream by setting its bit in the ring's control
//! words; the producer sees it before its next write and the reader discards the stream's frames.
//!
//! Flow control lives above this module (`credit`), counted in what both ends here report: the
//! data payload bytes of a stream (`RingWriter::stream_bytes`, `StreamEvent::Batch::bytes`). A
//! producer under credit writes a batch in [`RingWriter::pieces`], asking credit for each.
//!
//! This module never talks to libc and never waits without the ring's deadline/peer checks.

use crate::ring::{CONTROL_WORDS, Consumer, Frame, Producer, RingError};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::MetadataVersion;
use datafusion::arrow::ipc::reader::StreamDecoder;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamEncoder};
use datafusion::common::DataFusionError;
use std::collections::{HashMap, VecDeque};
use std::panic::RefUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The number of streams one ring can multiplex (one cancel bit each).
pub const MAX_STREAMS: u32 = (CONTROL_WORDS * 64) as u32;

const KIND_DATA: u64 = 1;
const KIND_DATA_COPY: u64 = 2;
const KIND_END: u64 = 3;
const KIND_ERROR: u64 = 4;
/// Set on the frames of a data message that is not the last piece of its batch.
const FLAG_CONTINUES: u64 = 0x80;

fn tag(stream: u32, kind: u64) -> u64 {
    ((stream as u64) << 8) | kind
}

/// Why moving batches over a ring failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The ring failed (peer gone, cancelled, timed out...).
    #[error(transparent)]
    Ring(#[from] RingError),
    /// Encoding or decoding Arrow IPC failed.
    #[error("Arrow IPC over the ring: {0}")]
    Arrow(#[from] ArrowError),
    /// A stream id beyond [`MAX_STREAMS`].
    #[error("stream id {0} is out of range (at most {MAX_STREAMS} streams per ring)")]
    StreamOutOfRange(u32),
    /// The bytes do not follow the transport's framing.
    #[error("corrupt transport frame: {0}")]
    Corrupt(String),
}

impl From<TransportError> for DataFusionError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Arrow(arrow) => DataFusionError::ArrowError(Box::new(arrow), None),
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

fn check_stream(stream: u32) -> Result<(), TransportError> {
    if stream < MAX_STREAMS {
        Ok(())
    } else {
        Err(TransportError::StreamOutOfRange(stream))
    }
}

fn cancel_bit(stream: u32) -> (usize, u64) {
    ((stream / 64) as usize, 1u64 << (stream % 64))
}

/// What writing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The batch is in the ring.
    Written,
    /// The consumer cancelled this stream: stop producing it.
    Cancelled,
}

/// Counters of a writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Frames written.
    pub frames: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Batches written.
    pub batches: u64,
}

struct StreamState {
    encoder: StreamEncoder,
    data_kind: u64,
    /// Data payload bytes written for the stream.
    bytes: u64,
}

/// The producing end: encodes batches of many streams into one ring.
pub struct RingWriter {
    producer: Producer,
    max_frame_bytes: usize,
    streams: HashMap<u32, StreamState>,
    options: IpcWriteOptions,
    stats: WriterStats,
}

impl std::fmt::Debug for RingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingWriter")
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("open_streams", &self.streams.len())
            .field("stats", &self.stats)
            .finish()
    }
}

fn has_dictionary(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, _) => true,
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _)
        | DataType::Map(field, _) => has_dictionary(field.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| has_dictionary(f.data_type())),
        DataType::RunEndEncoded(_, values) => has_dictionary(values.data_type()),
        _ => false,
    }
}

fn schema_has_dictionary(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .any(|field: &Arc<Field>| has_dictionary(field.data_type()))
}

impl RingWriter {
    /// A writer whose frames carry at most a quarter of the ring, so that the consumer can read
    /// one frame while the producer writes the next.
    pub fn new(producer: Producer) -> RingWriter {
        let ring_max = producer.max_payload_bytes();
        let max_frame_bytes = (ring_max / 4).max(4096).min(ring_max);
        RingWriter {
            producer,
            max_frame_bytes,
            streams: HashMap::new(),
            options: IpcWriteOptions::try_new(64, false, MetadataVersion::V5)
                .expect("64-byte alignment with IPC V5 is a valid option set"),
            stats: WriterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Whether the consumer cancelled `stream`.
    pub fn is_cancelled(&self, stream: u32) -> bool {
        if stream >= MAX_STREAMS {
            return false;
        }
        let (word, bit) = cancel_bit(stream);
        // Pairs with the Release fetch_or in `RingReader::cancel_stream`.
        self.producer.control()[word].load(Ordering::Acquire) & bit != 0
    }

    /// Encodes `batch` into the ring as part of `stream`, waiting for room as needed.
    pub async fn write_batch(
        &mut self,
        stream: u32,
        batch: &RecordBatch,
    ) -> Result<WriteOutcome, TransportError> {
        let pieces = self.pieces(batch)?;
        let last = pieces.len().saturating_sub(1);
        for (index, piece) in pieces.iter().enumerate() {
            if self.write_piece(stream, piece, index < last).await? == WriteOutcome::Cancelled {
                return Ok(WriteOutcome::Cancelled);
            }
        }
        Ok(WriteOutcome::Written)
    }

    /// `batch` sliced by rows into pieces that each fit about half a frame: the unit a producer
    /// under flow control asks credit for, one piece at a time.
    pub fn pieces(&self, batch: &RecordBatch) -> Result<Vec<RecordBatch>, TransportError> {
        Ok(split_rows(
            &compact_views(batch)?,
            self.max_frame_bytes / 2,
        )?)
    }

    /// Encodes one piece of a batch (see [`RingWriter::pieces`]; any batch works, it is only
    /// written in one message) into the ring as part of `stream`, waiting for room as needed;
    /// `continues` says more pieces of the same batch follow (the reader's
    /// [`StreamEvent::Batch`] says so too, so that the batch can be put back together). The
    /// payload bytes it took are counted in [`RingWriter::stream_bytes`].
    pub async fn write_piece(
        &mut self,
        stream: u32,
        piece: &RecordBatch,
        continues: bool,
    ) -> Result<WriteOutcome, TransportError> {
        check_stream(stream)?;
        if self.is_cancelled(stream) {
            return Ok(WriteOutcome::Cancelled);
        }
        if !self.streams.contains_key(&stream) {
            let schema = piece.schema();
            let encoder = StreamEncoder::try_new_with_options(&schema, self.options.clone())?;
            let data_kind = if schema_has_dictionary(&schema) {
                KIND_DATA_COPY
            } else {
                KIND_DATA
            };
            self.streams.insert(
                stream,
                StreamState {
                    encoder,
                    data_kind,
                    bytes: 0,
                },
            );
        }
        let piece = compact_views(piece)?;
        let state = self.streams.get_mut(&stream).expect("inserted above");
        let buffers = state.encoder.encode(&piece)?;
        let total: usize = buffers.iter().map(|buffer| buffer.len()).sum();
        // A message spread over several frames must be copied out by the reader: its decoder
        // would otherwise pin the first frame while waiting for the rest, and a pinned frame
        // stops the ring.
        let mut kind = if total > self.max_frame_bytes {
            KIND_DATA_COPY
        } else {
            state.data_kind
        };
        if continues {
            kind |= FLAG_CONTINUES;
        }
        state.bytes += total as u64;
        self.write_buffers(tag(stream, kind), &buffers).await?;
        self.stats.batches += 1;
        Ok(WriteOutcome::Written)
    }

    /// Data payload bytes written for `stream` so far: what its consumer's credit is counted in
    /// (the reader reports the same count per batch, [`StreamEvent::Batch`]'s `bytes`).
    pub fn stream_bytes(&self, stream: u32) -> u64 {
        self.streams.get(&stream).map_or(0, |state| state.bytes)
    }

    /// Writes the bytes of `buffers` in as few frames as fit.
    async fn write_buffers(&mut self, tag: u64, buffers: &[Buffer]) -> Result<(), TransportError> {
        let total: usize = buffers.iter().map(|buffer| buffer.len()).sum();
        let mut remaining = total;
        let mut source = buffers.iter().map(|buffer| buffer.as_slice());
        let mut current: &[u8] = &[];
        while remaining > 0 {
            let frame_len = remaining.min(self.max_frame_bytes);
            let mut slot = self.producer.reserve_async(frame_len).await?;
            let target = slot.bytes();
            let mut filled = 0;
            while filled < frame_len {
                if current.is_empty() {
                    current = source.next().expect("buffers hold `total` bytes");
                    continue;
                }
                let take = current.len().min(frame_len - filled);
                target[filled..filled + take].copy_from_slice(&current[..take]);
                current = &current[take..];
                filled += take;
            }
            slot.commit(tag, frame_len);
            remaining -= frame_len;
            self.stats.frames += 1;
            self.stats.bytes += frame_len as u64;
        }
        Ok(())
    }

    /// Ends `stream` cleanly.
    pub async fn finish_stream(&mut self, stream: u32) -> Result<(), TransportError> {
        self.finish_stream_after(stream, Duration::ZERO).await
    }

    /// Ends `stream` cleanly, telling the reader how long the producer waited for the
    /// consumer's credit ([`StreamEvent::End`]'s `credit_wait`).
    pub async fn finish_stream_after(
        &mut self,
        stream: u32,
        credit_wait: Duration,
    ) -> Result<(), TransportError> {
        check_stream(stream)?;
        self.streams.remove(&stream);
        let nanos = u64::try_from(credit_wait.as_nanos()).unwrap_or(u64::MAX);
        self.write_control(tag(stream, KIND_END), &nanos.to_le_bytes())
            .await
    }

    /// Ends `stream` with an error the reader reports as the stream's result.
    pub async fn fail_stream(&mut self, stream: u32, message: &str) -> Result<(), TransportError> {
        check_stream(stream)?;
        self.streams.remove(&stream);
        let max = self.max_frame_bytes;
        let mut end = message.len().min(max);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.write_control(tag(stream, KIND_ERROR), &message.as_bytes()[..end])
            .await
    }

    async fn write_control(&mut self, tag: u64, payload: &[u8]) -> Result<(), TransportError> {
        let mut slot = self.producer.reserve_async(payload.len()).await?;
        slot.bytes().copy_from_slice(payload);
        slot.commit(tag, payload.len());
        self.stats.frames += 1;
        Ok(())
    }

    /// Closes the ring: the reader ends after the frames already written.
    pub fn close(self) {
        self.producer.close();
    }

    /// Cancels the whole ring for both sides.
    pub fn cancel(&self) {
        self.producer.cancel();
    }
}

/// `batch` with its string and binary view columns compacted when their data buffers hold much
/// more than the rows reference. Arrow IPC must send a view array's data buffers whole, so a
/// slice of a big batch (a `LIMIT`, a row split, a filter's output) would otherwise carry all of
/// its parent's bytes: one 10 MB join result sent through 64 KiB rings became gigabytes.
fn compact_views(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray};
    fn wasteful(buffers: usize, used: usize) -> bool {
        buffers > 2 * used + 4096
    }
    let mut changed = false;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8View => {
                let array = column.as_string_view();
                let buffers = array.data_buffers().iter().map(|b| b.len()).sum();
                if wasteful(buffers, array.total_buffer_bytes_used()) {
                    changed = true;
                    Arc::new(array.gc()) as ArrayRef
                } else {
                    column.clone()
                }
            }
            DataType::BinaryView => {
                let array = column.as_binary_view();
                let buffers = array.data_buffers().iter().map(|b| b.len()).sum();
                if wasteful(buffers, array.total_buffer_bytes_used()) {
                    changed = true;
                    Arc::new(array.gc()) as ArrayRef
                } else {
                    column.clone()
                }
            }
            _ => column.clone(),
        })
        .collect();
    if !changed {
        return Ok(batch.clone());
    }
    RecordBatch::try_new(batch.schema(), columns)
}

/// Slices `batch` into pieces of roughly at most `target_bytes` each (by the bytes its arrays
/// occupy); a batch that fits is returned whole.
fn split_rows(batch: &RecordBatch, target_bytes: usize) -> Result<Vec<RecordBatch>, ArrowError> {
    let bytes: usize = batch
        .columns()
        .iter()
        .map(|column| column.to_data().get_slice_memory_size())
        .sum::<Result<usize, ArrowError>>()?;
    let rows = batch.num_rows();
    if bytes <= target_bytes || rows <= 1 {
        return Ok(vec![batch.clone()]);
    }
    let pieces = bytes.div_ceil(target_bytes.max(1)).min(rows);
    let rows_per_piece = rows.div_ceil(pieces);
    Ok((0..rows)
        .step_by(rows_per_piece)
        .map(|start| batch.slice(start, rows_per_piece.min(rows - start)))
        .collect())
}

/// How a reader turns frames into arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// Arrays point into the ring; a frame is released when its last array drops.
    ZeroCopy,
    /// Frames are copied out and released at once; for consumers that keep batches.
    CopyOut,
}

/// What a reader produced.
#[derive(Debug)]
pub enum StreamEvent {
    /// A batch of `stream`.
    Batch {
        /// The stream id.
        stream: u32,
        /// The batch.
        batch: RecordBatch,
        /// The stream's data payload bytes read since its previous batch, this one's included
        /// (the unit of credit: the writer counts the same bytes).
        bytes: u64,
        /// More pieces of the producer's batch follow (it was sliced to fit the ring's frames).
        continues: bool,
    },
    /// `stream` ended cleanly.
    End {
        /// The stream id.
        stream: u32,
        /// How long the producer waited for credit on this stream.
        credit_wait: Duration,
    },
    /// `stream` ended with the producer's error.
    Error {
        /// The stream id.
        stream: u32,
        /// The producer's message.
        message: String,
    },
}

/// Keeps a ring frame alive while arrays decoded from it are alive.
struct FrameAllocation {
    _frame: Frame,
}

// The frame's bytes are never written while it lives, and dropping it during unwinding only
// releases ring space, so observing it after a panic is harmless.
impl RefUnwindSafe for FrameAllocation {}

/// The consuming end: decodes the streams multiplexed on one ring.
pub struct RingReader {
    consumer: Consumer,
    mode: DecodeMode,
    decoders: HashMap<u32, StreamDecoder>,
    /// Data payload bytes of each open stream not yet reported with a batch.
    unreported: HashMap<u32, u64>,
    pending: VecDeque<StreamEvent>,
    bytes_read: u64,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("mode", &self.mode)
            .field("open_streams", &self.decoders.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl RingReader {
    /// A reader decoding in `mode`.
    pub fn new(consumer: Consumer, mode: DecodeMode) -> RingReader {
        RingReader {
            consumer,
            mode,
            decoders: HashMap::new(),
            unreported: HashMap::new(),
            pending: VecDeque::new(),
            bytes_read: 0,
        }
    }

    /// Payload bytes read from the ring so far (frames of cancelled streams included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Tells the producer to stop `stream`; its frames still in the ring are discarded.
    pub fn cancel_stream(&mut self, stream: u32) -> Result<(), TransportError> {
        check_stream(stream)?;
        let (word, bit) = cancel_bit(stream);
        // Pairs with the Acquire load in `RingWriter::is_cancelled`.
        self.consumer.control()[word].fetch_or(bit, Ordering::Release);
        self.decoders.remove(&stream);
        self.unreported.remove(&stream);
        self.pending.retain(|event| event.stream() != stream);
        Ok(())
    }

    fn is_cancelled(&self, stream: u32) -> bool {
        let (word, bit) = cancel_bit(stream);
        self.consumer.control()[word].load(Ordering::Relaxed) & bit != 0
    }

    /// Cancels the whole ring for both sides.
    pub fn cancel(&self) {
        self.consumer.cancel();
    }

    /// The next event, waiting asynchronously; `None` once the producer closed the ring.
    pub async fn next_async(&mut self) -> Result<Option<StreamEvent>, TransportError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            match self.consumer.next_async().await? {
                Some(frame) => self.handle(frame)?,
                None => return self.at_end(),
            }
        }
    }

    /// The next event, blocking; `None` once the producer closed the ring.
    pub fn next(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<StreamEvent>, TransportError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            match self.consumer.next(deadline)? {
                Some(frame) => self.handle(frame)?,
                None => return self.at_end(),
            }
        }
    }

    fn at_end(&mut self) -> Result<Option<StreamEvent>, TransportError> {
        match self.decoders.keys().next() {
            Some(stream) => Err(TransportError::Corrupt(format!(
                "the ring closed while stream {stream} was still open"
            ))),
            None => Ok(None),
        }
    }

    /// Decodes one frame into zero or more pending events.
    fn handle(&mut self, frame: Frame) -> Result<(), TransportError> {
        let stream = u32::try_from(frame.tag() >> 8)
            .map_err(|_| TransportError::Corrupt(format!("tag {:#x}", frame.tag())))?;
        check_stream(stream)?;
        let kind = frame.tag() & 0xff & !FLAG_CONTINUES;
        let continues = frame.tag() & FLAG_CONTINUES != 0;
        self.bytes_read += frame.bytes().len() as u64;
        if self.is_cancelled(stream) {
            return Ok(());
        }
        match kind {
            KIND_DATA | KIND_DATA_COPY => {
                let mut buffer = if self.mode == DecodeMode::ZeroCopy && kind == KIND_DATA {
                    frame_buffer(frame)
                } else {
                    Buffer::from_slice_ref(frame.bytes())
                };
                let decoder = self
                    .decoders
                    .entry(stream)
                    .or_insert_with(|| StreamDecoder::new().with_require_alignment(true));
                let unreported = self.unreported.entry(stream).or_insert(0);
                *unreported += buffer.len() as u64;
                while !buffer.is_empty() {
                    if let Some(batch) = decoder.decode(&mut buffer)? {
                        let bytes = std::mem::take(unreported);
                        self.pending.push_back(StreamEvent::Batch {
                            stream,
                            batch,
                            bytes,
                            continues,
                        });
                    }
                }
            }
            KIND_END => {
                let credit_wait = match frame.bytes() {
                    [] => Duration::ZERO,
                    bytes => Duration::from_nanos(u64::from_le_bytes(bytes.try_into().map_err(
                        |_| {
                            TransportError::Corrupt(format!(
                                "an end frame of {} bytes",
                                bytes.len()
                            ))
                        },
                    )?)),
                };
                let unreported = self.unreported.remove(&stream).unwrap_or(0);
                if let Some(mut decoder) = self.decoders.remove(&stream) {
                    // Arrow's decoder emits a message whose body is empty (a batch of null-typed
                    // columns only, or of no columns) only when it is handed more bytes; the
                    // stream's end-of-stream marker is those bytes for the last message.
                    let mut end = Buffer::from_slice_ref(END_OF_STREAM);
                    let mut bytes = unreported;
                    while !end.is_empty() {
                        if let Some(batch) = decoder.decode(&mut end)? {
                            let bytes = std::mem::take(&mut bytes);
                            self.pending.push_back(StreamEvent::Batch {
                                stream,
                                batch,
                                bytes,
                                continues: false,
                            });
                        }
                    }
                    decoder.finish()?;
                }
                self.pending.push_back(StreamEvent::End {
                    stream,
                    credit_wait,
                });
            }
            KIND_ERROR => {
                self.decoders.remove(&stream);
                self.unreported.remove(&stream);
                let message = String::from_utf8_lossy(frame.bytes()).into_owned();
                self.pending
                    .push_back(StreamEvent::Error { stream, message });
            }
            other => return Err(TransportError::Corrupt(format!("frame kind {other}"))),
        }
        Ok(())
    }
}

impl StreamEvent {
    /// The stream the event belongs to.
    pub fn stream(&self) -> u32 {
        match self {
            StreamEvent::Batch { stream, .. }
            | StreamEvent::End { stream, .. }
            | StreamEvent::Error { stream, .. } => *stream,
        }
    }
}

/// The Arrow IPC end-of-stream marker: a continuation word and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Wraps a frame's payload as an Arrow buffer that releases the frame when dropped.
fn frame_buffer(frame: Frame) -> Buffer {
    let len = frame.bytes().len();
    if len == 0 {
        return Buffer::from_vec(Vec::<u8>::new());
    }
    let pointer = NonNull::from(frame.bytes()).cast::<u8>();
    // SAFETY: the pointer and length describe the frame's payload, which stays valid and
    // unmodified for as long as the frame lives; the buffer owns the frame through the
    // allocation, so the bytes outlive every slice of the buffer.
    unsafe {
        Buffer::from_custom_allocation(pointer, len, Arc::new(FrameAllocation { _frame: frame }))
    }
}

#[cfg(test)]
mod tests;
