//! The result cache: query results and stage outputs kept as memory-mapped Arrow IPC files,
//! keyed by a hash of the plan and of its inputs' versions, so that a repeat is served from disk
//! at memory speed and a query edited only at the top re-reads its unchanged sub-plans.
//!
//! - [`key`] encodes plans and input versions and decides what may be cached.
//! - [`entry`] writes and reads one entry file (temp file + rename, checksum, zero-copy mmap).
//! - [`index`] orders entries by last use for eviction.
//! - [`ops`] holds the operators that serve (`CachedScanExec`) and record (`CacheRecordExec`)
//!   entries, whole or in one part per task of a worker stage.
//! - [`exec`] holds the query planners that put them into plans, before and after
//!   datafusion-distributed cuts stages.
//! - [`codec`] sends them to worker processes inside stage plans.
//!
//! Several processes may share one folder: entries are immutable once renamed into place, a
//! per-key `flock` keeps two processes from computing the same entry, readers take no lock, and
//! eviction only unlinks.

mod codec;
mod entry;
mod exec;
mod index;
pub mod key;
mod ops;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use codec::CacheCodec;
pub use exec::{CacheEvent, CacheTrace};
pub(crate) use exec::{CachingQueryPlanner, ResultPlanner};
pub use key::{Reuse, reuse_property};
pub(crate) use ops::CachedScanExec;

/// The default size cap of a cache folder.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 1 << 30;

const ENTRY_SUFFIX: &str = ".arrow";
const STATS_FILE: &str = "stats";
const LOCKS: &str = "locks";
const PINS: &str = "pins";
/// A random name the folder gets when it is first opened: a worker records into or reads from
/// the folder its coordinator names only if it finds this same name there (a worker on another
/// host finds no folder, or another one, at that path).
const FOLDER_ID: &str = "folder-id";
/// Counters kept in the stats file, in order.
const COUNTERS: usize = 6;

/// What the cache has done, summed over every process that used its folder since it was last
/// cleared, with what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries in the folder now.
    pub entries: u64,
    /// Bytes of those entries.
    pub bytes: u64,
    /// Queries answered from a stored result.
    pub hits: u64,
    /// Queries that could be cached but had no entry (their result was computed).
    pub misses: u64,
    /// Queries that may not be cached (volatile functions, writes, unversioned inputs, ...).
    pub bypassed: u64,
    /// Sub-plans (stage outputs) read from an entry instead of being computed.
    pub reused_subplans: u64,
    /// Entries found corrupt or truncated, dropped and recomputed.
    pub dropped_corrupt: u64,
    /// Entries evicted to stay under the size cap.
    pub evicted: u64,
}

impl std::fmt::Display for CacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "entries: {}\nbytes: {}\nhits: {}\nmisses: {}\nbypassed: {}\nreused sub-plans: {}\n\
             dropped corrupt: {}\nevicted: {}",
            self.entries,
            self.bytes,
            self.hits,
            self.misses,
            self.bypassed,
            self.reused_subplans,
            self.dropped_corrupt,
            self.evicted
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Counter {
    Hits = 0,
    Misses = 1,
    Bypassed = 2,
    ReusedSubplans = 3,
    DroppedCorrupt = 4,
    Evicted = 5,
}

/// One cache folder and its size cap.
#[derive(Debug)]
pub struct ResultCache {
    dir: PathBuf,
    /// The folder's [`FOLDER_ID`].
    id: String,
    max_bytes: u64,
    /// Bytes written since the last eviction scan (eviction runs when this could pass the cap).
    written: AtomicU64,
}

impl ResultCache {
    /// Opens (creating it with mode 0700) the cache folder `dir`, capped at `max_bytes`, and
    /// removes temporary files left by writers that died.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> std::io::Result<ResultCache> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        create_private_dir(&dir.join(LOCKS))?;
        create_private_dir(&dir.join(PINS))?;
        let cache = ResultCache {
            id: folder_id(&dir)?,
            dir,
            max_bytes,
            written: AtomicU64::new(0),
        };
        cache.sweep_dead_writers()?;
        Ok(cache)
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder's id (see [`FOLDER_ID`]).
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The size cap in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The counters and what the folder holds now.
    pub fn stats(&self) -> std::io::Result<CacheStats> {
        let counters = self.update_counters(None)?;
        let (entries, bytes) = self
            .list_entries()?
            .iter()
            .fold((0, 0), |(n, total), (_, size, _)| (n + 1, total + size));
        Ok(CacheStats {
            entries,
            bytes,
            hits: counters[Counter::Hits as usize],
            misses: counters[Counter::Misses as usize],
            bypassed: counters[Counter::Bypassed as usize],
            reused_subplans: counters[Counter::ReusedSubplans as usize],
            dropped_corrupt: counters[Counter::DroppedCorrupt as usize],
            evicted: counters[Counter::Evicted as usize],
        })
    }

    /// Removes every entry (readers that map one keep reading it) and resets the counters;
    /// returns what the folder held before.
    pub fn clear(&self) -> std::io::Result<CacheStats> {
        let before = self.stats()?;
        for (name, _, _) in self.list_entries()? {
            remove_if_present(&self.entry_path(&name))?;
        }
        self.sweep_dead_writers()?;
        let path = self.dir.join(STATS_FILE);
        let file = lock_file(&path)?;
        file.set_len(0)?;
        Ok(before)
    }

    fn entry_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{ENTRY_SUFFIX}"))
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.join(LOCKS).join(format!("{name}.lock"))
    }

    /// Adds one to `counter` in the shared stats file (best effort: statistics never fail a
    /// query).
    fn count(&self, counter: Counter) {
        let _ = self.update_counters(Some(counter));
    }

    /// Reads the counters, adding one to `counter` under the file's lock.
    fn update_counters(&self, counter: Option<Counter>) -> std::io::Result<[u64; COUNTERS]> {
        let mut file = lock_file(&self.dir.join(STATS_FILE))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut counters = [0u64; COUNTERS];
        for (slot, chunk) in counters.iter_mut().zip(bytes.chunks_exact(8)) {
            *slot = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        if let Some(counter) = counter {
            counters[counter as usize] += 1;
            let out: Vec<u8> = counters.iter().flat_map(|c| c.to_le_bytes()).collect();
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&out)?;
        }
        Ok(counters)
    }

    /// The entries in the folder: name (without suffix), size and last use (mtime, ns).
    fn list_entries(&self) -> std::io::Result<Vec<(String, u64, u64)>> {
        use std::os::unix::fs::MetadataExt;
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str().and_then(|n| n.strip_suffix(ENTRY_SUFFIX)) else {
                continue;
            };
            let Ok(meta) = item.metadata() else { continue };
            let stamp = (meta.mtime().max(0) as u64) * 1_000_000_000 + meta.mtime_nsec() as u64;
            entries.push((name.to_string(), meta.len(), stamp));
        }
        Ok(entries)
    }

    /// Removes the temporary files and pins of processes that are gone.
    fn sweep_dead_writers(&self) -> std::io::Result<()> {
        sweep_dead(&self.dir, entry::TEMP_SUFFIX)?;
        sweep_dead(&self.dir.join(PINS), PIN_SUFFIX)
    }

    /// Hard-links entry `name` under `pins/`, so that a worker process can still open it by
    /// that path after eviction unlinked the entry. The link goes when the returned pin drops
    /// (or, if this process dies, at the next sweep). `None` if the entry is gone.
    fn pin(&self, name: &str) -> Option<Pin> {
        static NONCE: AtomicU64 = AtomicU64::new(0);
        let path = self.dir.join(PINS).join(format!(
            "{name}.{}.{}{PIN_SUFFIX}",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::hard_link(self.entry_path(name), &path)
            .inspect_err(|error| log::debug!("cannot pin cache entry {name}: {error}"))
            .ok()?;
        Some(Pin { path })
    }

    /// Evicts least-recently-used entries until the folder fits the cap, keeping `keep`.
    fn evict(&self, keep: &str) {
        let Ok(entries) = self.list_entries() else {
            return;
        };
        let mut index = index::LruIndex::default();
        let mut keep = Some(keep);
        for (name, size, stamp) in entries {
            // An entry larger than the whole cap is not kept either.
            if Some(name.as_str()) == keep && size > self.max_bytes {
                keep = None;
            }
            index.insert(&name, size, stamp);
        }
        for name in index.evict_to(self.max_bytes, keep) {
            if remove_if_present(&self.entry_path(&name)).is_ok() {
                self.count(Counter::Evicted);
            }
        }
        log::debug!(
            "result cache {}: {} entries, {} bytes after eviction",
            self.dir.display(),
            index.len(),
            index.total()
        );
    }

    /// Notes `bytes` newly written under `name`, evicting when the folder may pass the cap.
    fn committed(&self, name: &str, bytes: u64) {
        let written = self.written.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // Other processes write too, so scan at least every eighth of the cap.
        if written >= self.max_bytes / 8 || bytes >= self.max_bytes / 8 {
            self.written.store(0, Ordering::Relaxed);
            self.evict(name);
        }
    }

    /// Looks up the entry `name` for `key`: served, missing, or dropped because it was corrupt.
    fn lookup(&self, name: &str, key: &[u8]) -> Lookup {
        let path = self.entry_path(name);
        match entry::open(&path, key) {
            Ok(found) => {
                touch(&path);
                Lookup::Hit(Arc::new(found))
            }
            Err(entry::EntryError::Missing) => Lookup::Miss,
            Err(entry::EntryError::OtherKey) => Lookup::Collision,
            Err(error) => {
                log::warn!("dropping cache entry {}: {error}", path.display());
                let _ = remove_if_present(&path);
                self.count(Counter::DroppedCorrupt);
                Lookup::Dropped(error.to_string())
            }
        }
    }
}

/// The folder's id, given to it now if it has none.
fn folder_id(dir: &Path) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(FOLDER_ID);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(std::io::Error::other)?;
    let id: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
    // Written to a temporary file and linked into place, so that a reader never sees half an
    // id, and of two processes naming a new folder at once, the first link wins.
    let temp = dir.join(format!(
        "{FOLDER_ID}.{}{}",
        std::process::id(),
        entry::TEMP_SUFFIX
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(id.as_bytes())?;
    drop(file);
    let linked = std::fs::hard_link(&temp, &path);
    remove_if_present(&temp)?;
    match linked {
        Ok(()) => Ok(id),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(&path).map(|id| id.trim().to_string())
        }
        Err(error) => Err(error),
    }
}

/// Whether `dir` is the cache folder whose id is `id` (as this process sees it).
pub(crate) fn is_folder(dir: &Path, id: &str) -> bool {
    std::fs::read_to_string(dir.join(FOLDER_ID)).is_ok_and(|found| found.trim() == id)
}

/// The cache in folder `dir`, opened once per process: worker processes record and serve stage
/// outputs in the folder their coordinator named.
fn shared(dir: &Path, max_bytes: u64) -> std::io::Result<Arc<ResultCache>> {
    static OPENED: std::sync::Mutex<Vec<Arc<ResultCache>>> = std::sync::Mutex::new(Vec::new());
    let mut opened = OPENED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(cache) = opened
        .iter()
        .find(|cache| cache.dir == dir && cache.max_bytes == max_bytes)
    {
        return Ok(cache.clone());
    }
    let cache = Arc::new(ResultCache::open(dir, max_bytes)?);
    opened.push(cache.clone());
    Ok(cache)
}

const PIN_SUFFIX: &str = ".pin";

/// A hard link keeping one entry's file reachable by path for the length of a query.
#[derive(Debug)]
struct Pin {
    path: PathBuf,
}

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = remove_if_present(&self.path);
    }
}

/// Removes the files in `dir` ending in `suffix` whose names carry (after the first dot) the
/// id of a process that is gone.
fn sweep_dead(dir: &Path, suffix: &str) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(suffix) {
            continue;
        }
        let pid = name
            .split('.')
            .nth(1)
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_none_or(|pid| !crate::shm::process_is_running(pid)) {
            remove_if_present(&item.path())?;
        }
    }
    Ok(())
}

/// Decodes `bytes` as an entry file, ignoring the outcome: the fuzz target's entry point
/// (`fuzz/fuzz_targets/cache_entry.rs`). Returns the rows decoded, if the bytes were an entry.
#[doc(hidden)]
pub fn fuzz_decode_entry(bytes: &[u8]) -> Option<usize> {
    let buffer = datafusion::arrow::buffer::Buffer::from_vec(bytes.to_vec());
    entry::decode(buffer, None).ok().map(|entry| entry.rows)
}

enum Lookup {
    Hit(Arc<entry::Entry>),
    Miss,
    /// Another key hashed to the same name: never served, never overwritten.
    Collision,
    Dropped(String),
}

/// An exclusive `flock` on a key's lock file, released when dropped.
#[derive(Debug)]
struct KeyLock {
    _file: File,
}

/// Takes the lock at `path` if no one holds it.
fn try_lock(path: &Path) -> std::io::Result<Option<KeyLock>> {
    let file = open_private(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(KeyLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// How often a query waiting for another process's entry checks again.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// Waits (asynchronously, so that the wait can be cancelled) for the lock at `path`.
async fn lock(path: &Path) -> std::io::Result<KeyLock> {
    loop {
        if let Some(lock) = try_lock(path)? {
            return Ok(lock);
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// Opens `path` for reading and writing and takes a blocking exclusive lock on it.
fn lock_file(path: &Path) -> std::io::Result<File> {
    let file = open_private(path)?;
    file.lock()?;
    Ok(file)
}

fn open_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// Creates `dir` and its parents; a folder dfshm creates is readable by its owner only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "exists and is not a folder",
        ));
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Records a use of the entry at `path` in its mtime (the LRU order); best effort.
fn touch(path: &Path) {
    if let Ok(file) = File::open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// How to turn the cache off, for errors that suggest it: the option's name on each surface.
pub(crate) const TURN_OFF: &str = "turn the result cache off (`EngineBuilder::no_cache` in the \
     library, `--no-cache` in the dfshm shell, no `dfshm.cache_dir` option for the ADBC driver)";

#[cfg(test)]
mod tests;
