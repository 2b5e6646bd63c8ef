//! A pool of pre-faulted segments reused across queries, bounded in total bytes.
//!
//! Creating and faulting in shared memory costs about 2.5 µs per 4 KiB page here, so segments
//! are made once and handed out again when returned. The pool never holds more than its byte
//! budget: `acquire` fails (with a message naming the budget) rather than grow past it, and
//! segments returned beyond the idle budget are unmapped.

use super::segment::{Segment, SegmentCreateError};
use parking_lot::Mutex;
use std::sync::Arc;

/// Why a segment could not be had from the pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolAcquireError {
    /// Handing out another segment would exceed the pool's budget.
    #[error(
        "the shared-memory pool is full: {in_use_bytes} of {budget_bytes} bytes are in use and \
         {wanted_bytes} more were asked for; raise the pool budget or run fewer queries at once"
    )]
    Exhausted {
        /// Bytes currently handed out.
        in_use_bytes: usize,
        /// The pool's budget.
        budget_bytes: usize,
        /// The size asked for.
        wanted_bytes: usize,
    },
    /// A new segment could not be created.
    #[error(transparent)]
    Create(#[from] SegmentCreateError),
}

#[derive(Debug)]
struct PoolState {
    idle: Vec<Segment>,
    idle_bytes: usize,
    in_use_bytes: usize,
    created: u64,
    reused: u64,
}

#[derive(Debug)]
struct PoolInner {
    name: String,
    budget_bytes: usize,
    state: Mutex<PoolState>,
}

/// Counters of a pool, for tests and observability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Segments waiting to be reused.
    pub idle_segments: usize,
    /// Bytes of idle segments.
    pub idle_bytes: usize,
    /// Bytes of segments handed out and not yet returned.
    pub in_use_bytes: usize,
    /// Segments created since the pool started.
    pub created: u64,
    /// Acquisitions served by reusing an idle segment.
    pub reused: u64,
}

/// A shared, cloneable handle on a segment pool.
#[derive(Debug, Clone)]
pub struct SegmentPool {
    inner: Arc<PoolInner>,
}

impl SegmentPool {
    /// A pool that hands out at most `budget_bytes` of segments at once (idle ones included).
    pub fn new(name: &str, budget_bytes: usize) -> SegmentPool {
        SegmentPool {
            inner: Arc::new(PoolInner {
                name: name.to_string(),
                budget_bytes,
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    idle_bytes: 0,
                    in_use_bytes: 0,
                    created: 0,
                    reused: 0,
                }),
            }),
        }
    }

    /// A segment of at least `bytes` (rounded to pages): an idle one of that size if there is one.
    pub fn acquire(&self, bytes: usize) -> Result<PooledSegment, PoolAcquireError> {
        let bytes = bytes.next_multiple_of(super::page_size());
        let mut state = self.inner.state.lock();
        if let Some(index) = state.idle.iter().position(|segment| segment.len() == bytes) {
            let segment = state.idle.swap_remove(index);
            state.idle_bytes -= bytes;
            state.in_use_bytes += bytes;
            state.reused += 1;
            return Ok(self.pooled(segment));
        }
        // Make room by dropping idle segments of other sizes before refusing.
        while state.in_use_bytes + state.idle_bytes + bytes > self.inner.budget_bytes {
            let Some(victim) = state.idle.pop() else {
                return Err(PoolAcquireError::Exhausted {
                    in_use_bytes: state.in_use_bytes,
                    budget_bytes: self.inner.budget_bytes,
                    wanted_bytes: bytes,
                });
            };
            state.idle_bytes -= victim.len();
        }
        state.in_use_bytes += bytes;
        state.created += 1;
        drop(state);
        match Segment::create(&self.inner.name, bytes) {
            Ok(segment) => Ok(self.pooled(segment)),
            Err(error) => {
                self.inner.state.lock().in_use_bytes -= bytes;
                Err(error.into())
            }
        }
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        let state = self.inner.state.lock();
        PoolStats {
            idle_segments: state.idle.len(),
            idle_bytes: state.idle_bytes,
            in_use_bytes: state.in_use_bytes,
            created: state.created,
            reused: state.reused,
        }
    }

    fn pooled(&self, segment: Segment) -> PooledSegment {
        PooledSegment {
            segment: Some(segment),
            pool: self.inner.clone(),
        }
    }
}

/// A segment on loan from a pool; dropping it returns it for reuse.
#[derive(Debug)]
pub struct PooledSegment {
    segment: Option<Segment>,
    pool: Arc<PoolInner>,
}

impl std::ops::Deref for PooledSegment {
    type Target = Segment;

    fn deref(&self) -> &Segment {
        self.segment.as_ref().expect("present until drop")
    }
}

impl Drop for PooledSegment {
    fn drop(&mut self) {
        let Some(segment) = self.segment.take() else {
            return;
        };
        let mut state = self.pool.state.lock();
        state.in_use_bytes -= segment.len();
        state.idle_bytes += segment.len();
        state.idle.push(segment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_segment_is_reused_not_recreated() {
        let pool = SegmentPool::new("test", 1 << 20);
        let first = pool.acquire(8192).unwrap();
        let address = first.base();
        drop(first);
        let second = pool.acquire(8192).unwrap();
        assert_eq!(second.base(), address);
        let stats = pool.stats();
        assert_eq!(
            (stats.created, stats.reused, stats.in_use_bytes),
            (1, 1, 8192)
        );
    }

    #[test]
    fn the_budget_bounds_segments_in_use_and_idle_ones_make_room() {
        let pool = SegmentPool::new("test", 4 * 4096);
        let a = pool.acquire(2 * 4096).unwrap();
        let _b = pool.acquire(2 * 4096).unwrap();
        let error = pool.acquire(4096).unwrap_err();
        assert!(error.to_string().contains("pool is full"), "{error}");
        drop(a);
        // An idle segment of another size is unmapped to make room.
        let _c = pool.acquire(4096).unwrap();
        let stats = pool.stats();
        assert_eq!((stats.idle_segments, stats.in_use_bytes), (0, 3 * 4096));
    }
}
