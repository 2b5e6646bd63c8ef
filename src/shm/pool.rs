//! A pool of shared-memory segments lent again after use, so that steady-state work maps and
//! faults in no fresh pages.
//!
//! A segment goes back to the pool when its loan drops, keeping whatever pages its last user
//! touched. It is lent again only once the pool's `reusable` test passes for it (the layer above
//! decides: a ring is reusable once the process it was sent to has unmapped it), so a peer still
//! writing into an old loan can never scribble over a new one. The pool is bounded: it keeps at
//! most its idle budget in returned segments (oldest dropped first), and a segment idle for longer
//! than the pool's idle time is unmapped by a sweeper thread that runs only while something idles.
//! Lending never fails for lack of room: with no reusable segment of the asked size, a new one
//! is made.
//!
//! The process a segment is sent to pools its mappings the same way ([`SegmentPool::open`]): a
//! received segment it mapped before, and kept idle, is matched by its file and lent again
//! instead of being mapped anew, so a peer that sends the same pooled segment query after query
//! costs neither side a mapping or a page fault. Those idle mappings keep the sender's memory
//! alive, so such a pool's idle time should not be longer than the sender's.

use super::segment::{Segment, SegmentCreateError, SegmentIdentity, SegmentOpenError};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Idle {
    segment: Segment,
    since: Instant,
    /// The file of a received segment ([`SegmentPool::open`]); `None`: one this pool made.
    received: Option<SegmentIdentity>,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Returned segments, oldest first.
    idle: VecDeque<Idle>,
    idle_bytes: usize,
    in_use_segments: usize,
    in_use_bytes: usize,
    created: u64,
    reused: u64,
    sweeping: bool,
}

#[derive(Debug)]
struct PoolInner {
    name: String,
    idle_budget_bytes: usize,
    idle_for: Duration,
    reusable: fn(&Segment) -> bool,
    state: Mutex<PoolState>,
}

/// Counters of a pool, for tests and observability. Bytes are segment sizes (address space);
/// how much of it is resident depends on what the segments' users touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Returned segments kept for reuse.
    pub idle_segments: usize,
    /// Bytes of those.
    pub idle_bytes: usize,
    /// Segments lent and not yet returned.
    pub in_use_segments: usize,
    /// Bytes of those.
    pub in_use_bytes: usize,
    /// Segments made (or, for received ones, mapped) since the pool started.
    pub created: u64,
    /// Loans served by an idle segment.
    pub reused: u64,
}

/// A shared, cloneable handle on a segment pool.
#[derive(Debug, Clone)]
pub struct SegmentPool {
    inner: Arc<PoolInner>,
}

impl SegmentPool {
    /// A pool of segments labelled `name` that keeps at most `idle_budget_bytes` of returned
    /// segments, each for at most `idle_for`, and lends one again only when `reusable` holds.
    pub fn new(
        name: &str,
        idle_budget_bytes: usize,
        idle_for: Duration,
        reusable: fn(&Segment) -> bool,
    ) -> SegmentPool {
        SegmentPool {
            inner: Arc::new(PoolInner {
                name: name.to_string(),
                idle_budget_bytes,
                idle_for,
                reusable,
                state: Mutex::new(PoolState::default()),
            }),
        }
    }

    /// A segment of `bytes` (rounded up to pages): the most recently returned reusable one of
    /// that size, or a new one whose pages are allocated as they are first touched.
    pub fn acquire(&self, bytes: usize) -> Result<PooledSegment, SegmentCreateError> {
        let bytes = bytes.next_multiple_of(super::page_size());
        self.lend(
            |idle| {
                idle.received.is_none()
                    && idle.segment.len() == bytes
                    && (self.inner.reusable)(&idle.segment)
            },
            || Segment::create_lazy(&self.inner.name, bytes),
            None,
        )
    }

    /// Maps `fd`, a segment received from another process (checked as [`Segment::open`] does),
    /// or lends the mapping of the same file that this pool keeps idle from an earlier receipt,
    /// closing `fd`. The pool's `reusable` test is not asked: the sender decides when to send a
    /// segment again. Received segments are never lent by [`SegmentPool::acquire`].
    pub fn open(&self, fd: OwnedFd) -> Result<PooledSegment, SegmentOpenError> {
        let (identity, len) = Segment::identify(&fd)?;
        self.lend(
            |idle| idle.received == Some(identity),
            move || Segment::map_received(fd, len),
            Some(identity),
        )
    }

    /// Lends the most recently returned idle segment that `fits`, else one `make` makes (outside
    /// the lock); `received` names the file of a received one.
    fn lend<E>(
        &self,
        fits: impl Fn(&Idle) -> bool,
        make: impl FnOnce() -> Result<Segment, E>,
        received: Option<SegmentIdentity>,
    ) -> Result<PooledSegment, E> {
        let mut state = self.inner.state.lock();
        let found = state.idle.iter().rposition(fits);
        let segment = match found.and_then(|index| state.idle.remove(index)) {
            Some(idle) => {
                state.idle_bytes -= idle.segment.len();
                state.reused += 1;
                idle.segment
            }
            None => {
                drop(state);
                let segment = make()?;
                state = self.inner.state.lock();
                state.created += 1;
                segment
            }
        };
        state.in_use_segments += 1;
        state.in_use_bytes += segment.len();
        Ok(PooledSegment {
            segment: Some(segment),
            pool: self.inner.clone(),
            received,
        })
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        let state = self.inner.state.lock();
        PoolStats {
            idle_segments: state.idle.len(),
            idle_bytes: state.idle_bytes,
            in_use_segments: state.in_use_segments,
            in_use_bytes: state.in_use_bytes,
            created: state.created,
            reused: state.reused,
        }
    }

    /// Unmaps every idle segment now (a host that wants its memory back before the idle time).
    pub fn clear(&self) {
        let dropped = {
            let mut state = self.inner.state.lock();
            state.idle_bytes = 0;
            std::mem::take(&mut state.idle)
        };
        drop(dropped);
    }
}

impl PoolInner {
    /// Takes the idle segments older than the idle time out of the pool, for the caller to drop
    /// outside the lock; says whether any are left.
    fn expire(&self, state: &mut PoolState, now: Instant) -> (Vec<Idle>, bool) {
        let mut expired = Vec::new();
        while let Some(oldest) = state.idle.front() {
            if now.duration_since(oldest.since) < self.idle_for {
                break;
            }
            let oldest = state.idle.pop_front().expect("just looked");
            state.idle_bytes -= oldest.segment.len();
            expired.push(oldest);
        }
        (expired, !state.idle.is_empty())
    }
}

/// Unmaps what idles too long, every half idle time, until nothing idles (or the pool is gone).
fn sweep(pool: Weak<PoolInner>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut state = pool.state.lock();
        let (expired, more) = pool.expire(&mut state, Instant::now());
        if !more {
            state.sweeping = false;
        }
        drop(state);
        drop(expired);
        if !more {
            return;
        }
    }
}

/// A segment on loan from a pool; dropping it returns it.
#[derive(Debug)]
pub struct PooledSegment {
    segment: Option<Segment>,
    pool: Arc<PoolInner>,
    received: Option<SegmentIdentity>,
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
        let pool = &self.pool;
        let len = segment.len();
        let mut state = pool.state.lock();
        state.in_use_segments -= 1;
        state.in_use_bytes -= len;
        let mut dropped = Vec::new();
        if len > pool.idle_budget_bytes {
            dropped.push(segment);
        } else {
            while state.idle_bytes + len > pool.idle_budget_bytes {
                let oldest = state
                    .idle
                    .pop_front()
                    .expect("idle bytes imply idle segments");
                state.idle_bytes -= oldest.segment.len();
                dropped.push(oldest.segment);
            }
            state.idle_bytes += len;
            state.idle.push_back(Idle {
                segment,
                since: Instant::now(),
                received: self.received,
            });
            if !state.sweeping {
                let weak = Arc::downgrade(pool);
                let every = (pool.idle_for / 2).max(Duration::from_millis(1));
                let started = std::thread::Builder::new()
                    .name("dfshm-pool-sweep".into())
                    .spawn(move || sweep(weak, every));
                // Without a sweeper (no thread to be had) idle segments still go at the budget.
                state.sweeping = started.is_ok();
            }
        }
        drop(state);
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always(_: &Segment) -> bool {
        true
    }

    fn never(_: &Segment) -> bool {
        false
    }

    #[test]
    fn a_returned_segment_is_reused_not_recreated() {
        let pool = SegmentPool::new("test", 1 << 20, Duration::from_secs(60), always);
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
    fn a_segment_its_peer_still_holds_is_not_lent_again() {
        let pool = SegmentPool::new("test", 1 << 20, Duration::from_secs(60), never);
        drop(pool.acquire(8192).unwrap());
        let _second = pool.acquire(8192).unwrap();
        let stats = pool.stats();
        assert_eq!(
            (stats.created, stats.reused, stats.idle_segments),
            (2, 0, 1)
        );
    }

    #[test]
    fn the_idle_budget_bounds_what_is_kept_oldest_going_first() {
        let pool = SegmentPool::new("test", 2 * 8192, Duration::from_secs(60), always);
        let loans: Vec<_> = (0..3).map(|_| pool.acquire(8192).unwrap()).collect();
        let newest = loans[2].base();
        assert_eq!(pool.stats().in_use_bytes, 3 * 8192);
        drop(loans);
        let stats = pool.stats();
        assert_eq!((stats.idle_segments, stats.idle_bytes), (2, 2 * 8192));
        // Lent most recently returned first.
        assert_eq!(pool.acquire(8192).unwrap().base(), newest);
        pool.clear();
        assert_eq!(pool.stats().idle_bytes, 0);
    }

    #[test]
    fn a_segment_received_again_is_lent_its_first_mapping() {
        let pool = SegmentPool::new("received", 1 << 20, Duration::from_secs(60), always);
        let sent = Segment::create("test", 8192).unwrap();
        let receive = |segment: &Segment| {
            let fd = segment.fd().try_clone_to_owned().unwrap();
            pool.open(fd).unwrap()
        };
        let first = receive(&sent);
        let address = first.base();
        drop(first);
        let again = receive(&sent);
        assert_eq!(again.base(), address);
        // SAFETY: both mappings are of live 8192-byte segments; only this thread touches them.
        unsafe { sent.base().as_ptr().write(7) };
        // SAFETY: as above.
        assert_eq!(unsafe { again.base().as_ptr().read() }, 7);
        let other = Segment::create("test", 8192).unwrap();
        let another = receive(&other);
        assert_ne!(another.base(), address);
        let received = [address, another.base()];
        drop((again, another));
        let stats = pool.stats();
        assert_eq!(
            (stats.created, stats.reused, stats.idle_segments),
            (2, 1, 2)
        );
        // A received segment belongs to its sender: never lent for a ring of this process.
        assert!(!received.contains(&pool.acquire(8192).unwrap().base()));
    }

    #[test]
    fn idle_segments_are_unmapped_after_the_idle_time() {
        let pool = SegmentPool::new("test", 1 << 20, Duration::from_millis(20), always);
        drop(pool.acquire(8192).unwrap());
        assert_eq!(pool.stats().idle_segments, 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.stats().idle_segments > 0 {
            assert!(Instant::now() < deadline, "the sweeper never unmapped it");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !pool.inner.state.lock().sweeping,
            "the sweeper stops when nothing idles"
        );
    }
}
