//! One cache entry on disk: an Arrow IPC file (64-byte aligned) followed by the full key bytes and
//! a fixed trailer with a BLAKE3 checksum. Written to a temporary file and renamed into place only
//! when complete; read back through `mmap` and decoded without copying.
//!
//! ```text
//! [ Arrow IPC file: schema, batches, footer ]  ipc_len bytes, starts at offset 0
//! [ zero padding to a multiple of 8 ]
//! [ key bytes ]                                 key_len bytes at key_offset
//! [ trailer: magic "DFSHMCE1", format u32, partitions u32, ipc_len u64, key_offset u64,
//!   key_len u64, batches u64, blake3 of everything before the checksum (32 bytes) ]
//! ```
//!
//! The IPC footer's custom metadata `dfshm.batch_partitions` lists, for each batch in file order,
//! the output partition it belongs to; batches of one partition keep their order.
//!
//! An entry file is never modified after the rename: eviction unlinks it, so a reader that still
//! maps it keeps valid memory. (A file truncated behind dfshm's back while mapped would fault.)

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::convert::fb_to_schema;
use datafusion::arrow::ipc::reader::{FileDecoder, read_footer_length};
use datafusion::arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use datafusion::arrow::ipc::{MetadataVersion, root_as_footer};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"DFSHMCE1";
const FORMAT: u32 = 1;
/// Bytes of the fixed trailer at the end of every entry file.
pub(crate) const TRAILER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 32;
/// Alignment of every buffer in the IPC body, so that decoding never copies.
const ALIGNMENT: usize = 64;
const BATCH_PARTITIONS: &str = "dfshm.batch_partitions";

/// Why an entry could not be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EntryError {
    /// The file does not exist (a miss, or evicted meanwhile).
    #[error("no such entry")]
    Missing,
    /// The file exists but is not a complete, intact entry.
    #[error("corrupt cache entry: {0}")]
    Corrupt(String),
    /// The entry is intact but was written for other key bytes (a hash collision).
    #[error("the entry belongs to a different key")]
    OtherKey,
    /// The file could not be read.
    #[error("cannot read cache entry: {0}")]
    Io(#[from] std::io::Error),
}

fn corrupt(what: impl Into<String>) -> EntryError {
    EntryError::Corrupt(what.into())
}

/// A decoded entry: its batches per output partition, sharing the mapped file's memory.
#[derive(Debug)]
pub(crate) struct Entry {
    pub schema: SchemaRef,
    pub partitions: Vec<Vec<RecordBatch>>,
    /// Bytes of the entry file.
    pub bytes: u64,
    pub rows: usize,
}

/// A read-only mapping of a whole file (memmap2's raw mapping: it hands out the address, and
/// the Arrow buffers made from it borrow the bytes).
pub(crate) struct Mmap {
    map: memmap2::MmapRaw,
}

impl std::fmt::Debug for Mmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmap")
            .field("len", &self.map.len())
            .finish()
    }
}

impl Mmap {
    /// Maps all of `file` read-only.
    pub(crate) fn map(file: &File) -> std::io::Result<Mmap> {
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "empty file",
            ));
        }
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)?;
        Ok(Mmap { map })
    }

    /// The mapping as an Arrow buffer that keeps the mapping alive (no copy).
    pub(crate) fn into_buffer(self: Arc<Self>) -> Buffer {
        let len = self.map.len();
        let ptr = NonNull::new(self.map.as_mut_ptr()).expect("a mapping is never at address 0");
        // SAFETY: `ptr` is valid for `len` bytes while the owner (`self`, moved into the buffer's
        // deallocation) lives, and the memory is never written: the mapping is read-only, and
        // entry files are only ever unlinked, never written after their rename.
        unsafe { Buffer::from_custom_allocation(ptr, len, self) }
    }
}

/// Opens, verifies and decodes the entry at `path`, which must have been written for `key`.
pub(crate) fn open(path: &Path, key: &[u8]) -> Result<Entry, EntryError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(EntryError::Missing);
        }
        Err(error) => return Err(error.into()),
    };
    let map = Arc::new(Mmap::map(&file).map_err(|error| {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            corrupt("empty file")
        } else {
            EntryError::Io(error)
        }
    })?);
    decode(map.into_buffer(), Some(key))
}

struct Trailer {
    partitions: usize,
    ipc_len: usize,
    key_offset: usize,
    key_len: usize,
    batches: usize,
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn parse_trailer(bytes: &[u8]) -> Result<Trailer, EntryError> {
    if bytes.len() < TRAILER_LEN {
        return Err(corrupt("shorter than its trailer"));
    }
    let start = bytes.len() - TRAILER_LEN;
    let trailer = &bytes[start..];
    if &trailer[..8] != MAGIC {
        return Err(corrupt("no trailer magic (truncated or not a dfshm entry)"));
    }
    if read_u32(trailer, 8) != FORMAT {
        return Err(corrupt(format!(
            "format {} (this dfshm reads {FORMAT})",
            read_u32(trailer, 8)
        )));
    }
    let checksum_at = TRAILER_LEN - 32;
    let computed = blake3::hash(&bytes[..start + checksum_at]);
    if computed.as_bytes() != &trailer[checksum_at..] {
        return Err(corrupt("checksum mismatch"));
    }
    let size = |value: u64| usize::try_from(value).map_err(|_| corrupt("length overflow"));
    let parsed = Trailer {
        partitions: read_u32(trailer, 12) as usize,
        ipc_len: size(read_u64(trailer, 16))?,
        key_offset: size(read_u64(trailer, 24))?,
        key_len: size(read_u64(trailer, 32))?,
        batches: size(read_u64(trailer, 40))?,
    };
    let key_end = parsed
        .key_offset
        .checked_add(parsed.key_len)
        .ok_or_else(|| corrupt("key length overflow"))?;
    if parsed.ipc_len > parsed.key_offset || key_end != start || parsed.partitions == 0 {
        return Err(corrupt("inconsistent trailer"));
    }
    Ok(parsed)
}

/// Verifies and decodes an entry held in `buffer` (the whole file). With `key`, the stored key
/// bytes must equal it. Every batch shares `buffer`'s memory. Never panics on any input.
pub(crate) fn decode(buffer: Buffer, key: Option<&[u8]>) -> Result<Entry, EntryError> {
    let bytes = buffer.as_slice();
    let trailer = parse_trailer(bytes)?;
    if let Some(key) = key
        && &bytes[trailer.key_offset..trailer.key_offset + trailer.key_len] != key
    {
        return Err(EntryError::OtherKey);
    }
    let ipc = buffer.slice_with_length(0, trailer.ipc_len);
    let (schema, batches) = decode_ipc(&ipc).map_err(|error| corrupt(error.to_string()))?;
    if batches.len() != trailer.batches {
        return Err(corrupt("batch count differs from the trailer"));
    }
    let mut partitions = vec![Vec::new(); trailer.partitions];
    let mut rows = 0;
    for (partition, batch) in batches {
        let slot = partitions
            .get_mut(partition)
            .ok_or_else(|| corrupt("batch of a partition out of range"))?;
        rows += batch.num_rows();
        slot.push(batch);
    }
    Ok(Entry {
        schema,
        partitions,
        bytes: bytes.len() as u64,
        rows,
    })
}

/// Decodes an Arrow IPC file held in `ipc`, zero-copy (alignment required), with each batch's
/// partition from the footer metadata.
fn decode_ipc(ipc: &Buffer) -> Result<(SchemaRef, Vec<(usize, RecordBatch)>), ArrowError> {
    let bad = |what: &str| ArrowError::IpcError(what.to_string());
    let len = ipc.len();
    if len < 10 {
        return Err(bad("IPC file too short"));
    }
    let tail: [u8; 10] = ipc[len - 10..].try_into().expect("10 bytes");
    let footer_len = read_footer_length(tail)?;
    let footer_start = (len - 10)
        .checked_sub(footer_len)
        .ok_or_else(|| bad("footer longer than the file"))?;
    let footer = root_as_footer(&ipc[footer_start..len - 10])
        .map_err(|error| ArrowError::IpcError(format!("footer: {error}")))?;
    let schema = Arc::new(fb_to_schema(
        footer.schema().ok_or_else(|| bad("no schema"))?,
    ));
    let partitions: Vec<usize> = footer
        .custom_metadata()
        .into_iter()
        .flatten()
        .find(|pair| pair.key() == Some(BATCH_PARTITIONS))
        .and_then(|pair| pair.value())
        .ok_or_else(|| bad("no batch partition list"))?
        .split(',')
        .filter(|text| !text.is_empty())
        .map(|text| text.parse().map_err(|_| bad("bad batch partition list")))
        .collect::<Result<_, _>>()?;
    let mut decoder =
        FileDecoder::new(schema.clone(), footer.version()).with_require_alignment(true);
    let block_buffer = |block: &datafusion::arrow::ipc::Block| -> Result<Buffer, ArrowError> {
        let start = usize::try_from(block.offset()).map_err(|_| bad("negative block offset"))?;
        let length = usize::try_from(block.metaDataLength())
            .ok()
            .zip(usize::try_from(block.bodyLength()).ok())
            .and_then(|(meta, body)| meta.checked_add(body))
            .ok_or_else(|| bad("bad block length"))?;
        if start
            .checked_add(length)
            .is_none_or(|end| end > footer_start)
        {
            return Err(bad("block beyond the file"));
        }
        Ok(ipc.slice_with_length(start, length))
    };
    for block in footer.dictionaries().iter().flatten() {
        decoder.read_dictionary(block, &block_buffer(block)?)?;
    }
    let blocks = footer.recordBatches().ok_or_else(|| bad("no batch list"))?;
    if blocks.len() != partitions.len() {
        return Err(bad("batch partition list does not match the batches"));
    }
    let mut batches = Vec::with_capacity(blocks.len());
    for (block, partition) in blocks.iter().zip(partitions) {
        let batch = decoder
            .read_record_batch(block, &block_buffer(block)?)?
            .ok_or_else(|| bad("empty batch message"))?;
        batches.push((partition, batch));
    }
    Ok((schema, batches))
}

/// A `Write` that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one entry into a temporary file; [`EntryWriter::commit`] renames it into place, and
/// dropping an uncommitted writer removes the temporary file.
pub(crate) struct EntryWriter {
    writer: Option<FileWriter<Hashing<BufWriter<File>>>>,
    temp: PathBuf,
    partitions: usize,
    batch_partitions: Vec<u32>,
    committed: bool,
}

impl std::fmt::Debug for EntryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryWriter")
            .field("temp", &self.temp)
            .field("batches", &self.batch_partitions.len())
            .finish()
    }
}

/// The suffix of temporary entry files: never read as entries.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// The name of a temporary file for the entry named `name`, unique to this process and writer.
pub(crate) fn temp_name(name: &str) -> String {
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    format!(
        "{name}.{}.{:016x}{TEMP_SUFFIX}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    )
}

impl EntryWriter {
    /// Starts an entry of `partitions` output partitions in a new temporary file `temp`.
    pub(crate) fn create(
        temp: PathBuf,
        schema: &SchemaRef,
        partitions: usize,
    ) -> Result<EntryWriter, ArrowError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        let sink = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            written: 0,
        };
        let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)?;
        let writer = match FileWriter::try_new_with_options(sink, schema, options) {
            Ok(writer) => writer,
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
        };
        Ok(EntryWriter {
            writer: Some(writer),
            temp,
            partitions,
            batch_partitions: Vec::new(),
            committed: false,
        })
    }

    /// Bytes written so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(0, |writer| writer.get_ref().written)
    }

    /// Appends `batch` of output partition `partition`.
    pub(crate) fn write(
        &mut self,
        partition: usize,
        batch: &RecordBatch,
    ) -> Result<(), ArrowError> {
        let writer = self.writer.as_mut().expect("writer is open until commit");
        writer.write(batch)?;
        self.batch_partitions.push(partition as u32);
        Ok(())
    }

    /// Finishes the file with `key`, makes it durable and renames it to `path`; returns its size.
    pub(crate) fn commit(mut self, key: &[u8], path: &Path) -> Result<u64, ArrowError> {
        let mut writer = self.writer.take().expect("writer is open until commit");
        let list = self
            .batch_partitions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        writer.write_metadata(BATCH_PARTITIONS, list);
        writer.finish()?;
        let mut sink = writer.into_inner()?;
        let ipc_len = sink.written;
        let padding = (8 - (ipc_len % 8) as usize) % 8;
        sink.write_all(&[0u8; 8][..padding])?;
        let key_offset = ipc_len + padding as u64;
        sink.write_all(key)?;
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(MAGIC);
        trailer.extend_from_slice(&FORMAT.to_le_bytes());
        trailer.extend_from_slice(&(self.partitions as u32).to_le_bytes());
        trailer.extend_from_slice(&ipc_len.to_le_bytes());
        trailer.extend_from_slice(&key_offset.to_le_bytes());
        trailer.extend_from_slice(&(key.len() as u64).to_le_bytes());
        trailer.extend_from_slice(&(self.batch_partitions.len() as u64).to_le_bytes());
        sink.write_all(&trailer)?;
        let checksum = sink.hasher.finalize();
        sink.write_all(checksum.as_bytes())?;
        let size = sink.written;
        let file = sink
            .inner
            .into_inner()
            .map_err(|error| ArrowError::from(error.into_error()))?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, path)?;
        self.committed = true;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(size)
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        if !self.committed {
            self.writer = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
