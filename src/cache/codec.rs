//! How the cache's operators travel to worker processes inside datafusion-distributed's stage
//! plans: a [`PhysicalExtensionCodec`] registered on the coordinator and on every worker.
//!
//! An encoded operator is a tag byte, a JSON header, the entry's key bytes and (for a scan) its
//! schema as an Arrow IPC stream. Entries are named by path: the cache folder (and its id, which
//! a remote worker on another host does not find there) for a recording, the coordinator's pins
//! for a scan (which only runs on this host's workers, see `coordinator::placement`).

use super::ops::{CacheRecordExec, CachedScanExec, Recording, Source};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

const SCAN: u8 = 1;
const RECORD: u8 = 2;

/// Encodes [`CachedScanExec`] and [`CacheRecordExec`] for worker processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheCodec;

#[derive(Serialize, Deserialize)]
struct ScanHeader {
    paths: Vec<PathBuf>,
    name: String,
    operator: String,
    rows: usize,
    bytes: u64,
    partitions: usize,
}

#[derive(Serialize, Deserialize)]
struct RecordHeader {
    dir: PathBuf,
    /// The folder's id: a worker that finds another folder (or none) at `dir` runs the
    /// sub-plan without recording it (a remote worker on another host).
    folder: String,
    max_bytes: u64,
    budget: u64,
    name: String,
    tasks: usize,
    partitions: usize,
    subplan: bool,
}

fn codec_error(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("result cache codec: {what}"))
}

/// Appends `tag`, the JSON `header` and the length-prefixed `key` to `buf`.
fn put(buf: &mut Vec<u8>, tag: u8, header: &impl Serialize, key: &[u8]) -> Result<()> {
    let header = serde_json::to_vec(header).map_err(codec_error)?;
    buf.push(tag);
    buf.extend_from_slice(&(header.len() as u64).to_le_bytes());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&(key.len() as u64).to_le_bytes());
    buf.extend_from_slice(key);
    Ok(())
}

/// Reads a length-prefixed slice from the front of `buf`.
fn take<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8]> {
    let too_short = || codec_error("truncated operator");
    let (len, rest) = buf.split_first_chunk::<8>().ok_or_else(too_short)?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| too_short())?;
    if rest.len() < len {
        return Err(too_short());
    }
    let (slice, rest) = rest.split_at(len);
    *buf = rest;
    Ok(slice)
}

fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

fn schema_from(bytes: &[u8]) -> Result<SchemaRef> {
    Ok(StreamReader::try_new(std::io::Cursor::new(bytes), None)?.schema())
}

impl PhysicalExtensionCodec for CacheCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (&tag, mut rest) = buf.split_first().ok_or_else(|| codec_error("empty"))?;
        let header = take(&mut rest)?;
        let key = take(&mut rest)?.to_vec();
        match tag {
            SCAN => {
                let header: ScanHeader = serde_json::from_slice(header).map_err(codec_error)?;
                Ok(CachedScanExec::decoded(
                    header.paths,
                    key,
                    header.name,
                    schema_from(rest)?,
                    header.operator,
                    header.rows,
                    header.bytes,
                    header.partitions,
                ))
            }
            RECORD => {
                let header: RecordHeader = serde_json::from_slice(header).map_err(codec_error)?;
                let [input] = inputs else {
                    return Err(codec_error("a recording needs one input"));
                };
                // A worker that cannot use the folder runs the sub-plan without recording it.
                if !super::is_folder(&header.dir, &header.folder) {
                    log::debug!(
                        "the cache folder {} is not on this host; not recording",
                        header.dir.display()
                    );
                    return Ok(input.clone());
                }
                let cache = match super::shared(&header.dir, header.max_bytes) {
                    Ok(cache) => cache,
                    Err(error) => {
                        log::warn!(
                            "cannot open cache folder {}: {error}; not recording",
                            header.dir.display()
                        );
                        return Ok(input.clone());
                    }
                };
                let recording = Recording::decoded(
                    cache,
                    key,
                    header.name,
                    header.tasks,
                    header.partitions,
                    header.budget,
                );
                Ok(CacheRecordExec::wrap(
                    input.clone(),
                    recording,
                    header.subplan,
                ))
            }
            other => Err(codec_error(format!("unknown operator tag {other}"))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<CachedScanExec>() {
            let Source::Parts(parts) = &scan.source else {
                return Err(codec_error(
                    "an entry mapped by the coordinator cannot be sent to a worker",
                ));
            };
            let header = ScanHeader {
                paths: parts.paths.clone(),
                name: scan.name.clone(),
                operator: scan.operator.clone(),
                rows: scan.rows,
                bytes: scan.bytes,
                partitions: scan.properties().partitioning.partition_count(),
            };
            put(buf, SCAN, &header, &parts.key)?;
            buf.extend_from_slice(&schema_bytes(&scan.schema)?);
            return Ok(());
        }
        if let Some(record) = node.downcast_ref::<CacheRecordExec>() {
            let recording = &record.recording;
            let header = RecordHeader {
                dir: recording.cache.dir.clone(),
                folder: recording.cache.id().to_string(),
                max_bytes: recording.cache.max_bytes,
                budget: recording.budget,
                name: recording.name.clone(),
                tasks: recording.tasks,
                partitions: recording.partitions,
                subplan: record.subplan,
            };
            return put(buf, RECORD, &header, &recording.key);
        }
        Err(DataFusionError::NotImplemented(format!(
            "the result cache's codec does not encode {}",
            node.name()
        )))
    }
}
