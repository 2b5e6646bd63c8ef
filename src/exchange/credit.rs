//! Flow control of the exchange: every partition stream on a ring has a credit window, and the
//! windows of one query in one consuming process share the query's exchange budget.
//!
//! Credit is counted in a stream's data payload bytes (what `framing` reports on both ends).
//! The consumer grants a stream a running total of bytes the producer may have written; the
//! producer writes a piece of a batch only while what it wrote is below that total, so it runs
//! past its window by at most one piece (about an eighth of the ring). A stream whose consumer
//! does not read holds only its own window and never blocks its siblings on the same ring, which
//! keep flowing: joins and merges that read partitions in dependent orders cannot deadlock.
//!
//! Grants come back as the consumer takes batches: once less than half a window is
//! outstanding, it is topped up from the budget. What the budget lends is charged to the
//! consuming process's memory pool. A stream with nothing outstanding always gets at least
//! [`MIN_WINDOW`], budget or not: without it a stream refused by a full budget could never be
//! read again (that would be a deadlock traded for a bound), so the bound is the budget plus
//! one minimum window and one piece per open stream.
//!
//! The producer side is [`ProducerCredit`]: one running total and one wake-up per stream, raised
//! by the grant messages the consumer sends on the call's connection.

use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Bytes of credit one query may lend to the streams it reads in one process, unless
/// configured otherwise (engine `exchange_budget`, CLI `--exchange-budget`, ADBC
/// `dfshm.exchange_budget`).
pub const DEFAULT_EXCHANGE_BUDGET: usize = 64 << 20;

/// The least credit a stream with nothing outstanding is given, whatever the budget says.
pub(crate) const MIN_WINDOW: u64 = 16 << 10;

/// The most credit one stream has outstanding: more only buffers without adding speed (a
/// window of a few MiB already covers a ring round trip at memory bandwidth).
pub(crate) const MAX_WINDOW: u64 = 8 << 20;

/// The credit of one query in one consuming process.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    /// Bytes granted and not yet taken by consumers, over all streams.
    outstanding: u64,
    /// Streams holding credit.
    streams: u64,
    /// `outstanding`, charged to the memory pool.
    reservation: MemoryReservation,
}

/// The budgets of the queries this process reads exchanges of, by query id; an entry lives as
/// long as one of its streams does.
static BUDGETS: LazyLock<Mutex<HashMap<[u8; 16], Weak<Budget>>>> = LazyLock::new(Mutex::default);

impl Budget {
    /// The budget of query `query_id` in this process, created with `limit` bytes (charged to
    /// `pool`) by its first stream.
    pub(crate) fn of_query(
        query_id: [u8; 16],
        limit: usize,
        pool: &Arc<dyn MemoryPool>,
    ) -> Arc<Budget> {
        let mut budgets = BUDGETS.lock();
        if let Some(budget) = budgets.get(&query_id).and_then(Weak::upgrade) {
            return budget;
        }
        budgets.retain(|_, budget| budget.strong_count() > 0);
        let budget = Arc::new(Budget::new(limit, pool));
        budgets.insert(query_id, Arc::downgrade(&budget));
        budget
    }

    /// A budget of its own (not shared by query id).
    pub(crate) fn new(limit: usize, pool: &Arc<dyn MemoryPool>) -> Budget {
        Budget {
            limit: limit as u64,
            state: Mutex::new(BudgetState {
                outstanding: 0,
                streams: 0,
                reservation: MemoryConsumer::new("dfshm exchange credit").register(pool),
            }),
        }
    }

    /// The window each stream aims for with `streams` open: an equal share of the budget,
    /// within [`MIN_WINDOW`] and [`MAX_WINDOW`].
    fn window(&self, streams: u64) -> u64 {
        (self.limit / streams.max(1)).clamp(MIN_WINDOW, MAX_WINDOW)
    }

    /// Opens `count` streams that each start with the same credit; returns them and that
    /// credit (sent to the producer with the request).
    pub(crate) fn open(self: &Arc<Self>, count: usize) -> (Vec<StreamCredit>, u64) {
        let mut state = self.state.lock();
        state.streams += count as u64;
        let window = self.window(state.streams);
        let available = self.limit.saturating_sub(state.outstanding) / (count.max(1) as u64);
        let initial = window.min(available).max(MIN_WINDOW);
        let total = initial * count as u64;
        state.outstanding += total;
        // The first credit of a stream is what keeps it alive: charge it even past the pool's
        // limit (the pool then refuses other consumers, which spill or fail as they would).
        state.reservation.grow(total as usize);
        drop(state);
        let credits = (0..count)
            .map(|_| StreamCredit {
                budget: self.clone(),
                granted: initial,
                taken: 0,
            })
            .collect();
        (credits, initial)
    }

    /// Lends up to `wanted` more bytes; with `nothing_outstanding`, at least [`MIN_WINDOW`].
    fn lend(&self, wanted: u64, nothing_outstanding: bool) -> u64 {
        let mut state = self.state.lock();
        let mut lent = wanted.min(self.limit.saturating_sub(state.outstanding));
        if lent > 0 && state.reservation.try_grow(lent as usize).is_err() {
            lent = 0;
        }
        if lent == 0 && nothing_outstanding {
            lent = wanted.clamp(1, MIN_WINDOW);
            state.reservation.grow(lent as usize);
        }
        state.outstanding += lent;
        lent
    }

    fn repay(&self, bytes: u64) {
        let mut state = self.state.lock();
        let bytes = bytes.min(state.outstanding);
        state.outstanding -= bytes;
        state.reservation.shrink(bytes as usize);
    }

    fn close_stream(&self, outstanding: u64) {
        self.repay(outstanding);
        let mut state = self.state.lock();
        state.streams = state.streams.saturating_sub(1);
    }

    /// Bytes lent and not yet repaid.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> u64 {
        self.state.lock().outstanding
    }
}

/// The consumer's account of one stream: what it granted and what its reader took.
#[derive(Debug)]
pub(crate) struct StreamCredit {
    budget: Arc<Budget>,
    /// The running total granted to the producer.
    granted: u64,
    /// The running total of the stream's bytes the reader took.
    taken: u64,
}

impl StreamCredit {
    /// The reader took a batch that came with `bytes` of the stream. Returns a new running
    /// total to grant when the window needs topping up.
    pub(crate) fn took(&mut self, bytes: u64) -> Option<u64> {
        self.taken += bytes;
        self.budget
            .repay(bytes.min(self.granted.saturating_sub(self.taken - bytes)));
        let outstanding = self.granted.saturating_sub(self.taken);
        let window = self.budget.window(self.budget.state.lock().streams);
        if outstanding > window / 2 {
            return None;
        }
        let lent = self.budget.lend(window - outstanding, outstanding == 0);
        if lent == 0 {
            return None;
        }
        // What the producer wrote beyond its credit (at most one piece) is not lent again.
        self.granted = self.granted.max(self.taken) + lent;
        Some(self.granted)
    }
}

impl Drop for StreamCredit {
    fn drop(&mut self) {
        self.budget
            .close_stream(self.granted.saturating_sub(self.taken));
    }
}

/// The producer's side of the credit of one call's streams.
#[derive(Debug)]
pub(crate) struct ProducerCredit {
    streams: Vec<Granted>,
}

#[derive(Debug)]
struct Granted {
    total: AtomicU64,
    raised: Notify,
}

impl ProducerCredit {
    /// `count` streams that may each write `initial` bytes before their first grant.
    pub(crate) fn new(count: usize, initial: u64) -> ProducerCredit {
        ProducerCredit {
            streams: (0..count)
                .map(|_| Granted {
                    total: AtomicU64::new(initial),
                    raised: Notify::new(),
                })
                .collect(),
        }
    }

    /// The consumer granted stream `slot` a running total of `total` bytes.
    pub(crate) fn grant(&self, slot: usize, total: u64) {
        if let Some(stream) = self.streams.get(slot) {
            stream.total.fetch_max(total, Ordering::AcqRel);
            stream.raised.notify_waiters();
        }
    }

    /// Waits until stream `slot`, having written `written` bytes, may write more; returns how
    /// long it waited.
    pub(crate) async fn wait(&self, slot: usize, written: u64) -> Duration {
        let Some(stream) = self.streams.get(slot) else {
            return Duration::ZERO;
        };
        let mut started = None;
        loop {
            let raised = stream.raised.notified();
            tokio::pin!(raised);
            // Registered before the check, so a grant between the check and the wait wakes it.
            raised.as_mut().enable();
            if stream.total.load(Ordering::Acquire) > written {
                return started.map_or(Duration::ZERO, |at: Instant| at.elapsed());
            }
            started.get_or_insert_with(Instant::now);
            raised.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::UnboundedMemoryPool;

    fn pool() -> Arc<dyn MemoryPool> {
        Arc::new(UnboundedMemoryPool::default())
    }

    #[test]
    fn streams_share_the_budget_and_repay_what_their_readers_take() {
        let pool = pool();
        let budget = Arc::new(Budget::new(1 << 20, &pool));
        let (mut credits, initial) = budget.open(4);
        assert_eq!(initial, 256 << 10, "an equal share each");
        assert_eq!(budget.outstanding(), 1 << 20);
        assert_eq!(pool.reserved(), 1 << 20);
        // Taking less than half a window grants nothing yet.
        assert_eq!(credits[0].took(100 << 10), None);
        // Past half, the window is topped up to a full one ahead of what was taken.
        assert_eq!(credits[0].took(100 << 10), Some((200 << 10) + (256 << 10)));
        assert_eq!(budget.outstanding(), 1 << 20);
        drop(credits);
        assert_eq!(budget.outstanding(), 0);
        assert_eq!(pool.reserved(), 0);
    }

    #[test]
    fn a_stream_with_nothing_outstanding_gets_credit_even_from_an_exhausted_budget() {
        let pool = pool();
        let budget = Arc::new(Budget::new(64 << 10, &pool));
        let (mut credits, initial) = budget.open(8);
        assert_eq!(initial, MIN_WINDOW, "each stream starts with the minimum");
        let mut others = credits.split_off(1);
        // The whole minimum window arrived and was taken: the stream must not starve.
        let granted = credits[0].took(MIN_WINDOW).expect("a grant");
        assert!(granted > MIN_WINDOW);
        for credit in &mut others {
            assert!(credit.took(MIN_WINDOW).is_some());
        }
        assert!(budget.outstanding() <= 8 * MIN_WINDOW);
    }

    #[test]
    fn a_query_shares_one_budget_per_process_until_its_last_stream_ends() {
        let pool = pool();
        let id = *b"query-budget-id1";
        let first = Budget::of_query(id, 1 << 20, &pool);
        let again = Budget::of_query(id, 1 << 20, &pool);
        assert!(Arc::ptr_eq(&first, &again));
        drop((first, again));
        let fresh = Budget::of_query(id, 2 << 20, &pool);
        assert_eq!(fresh.limit, 2 << 20);
    }

    #[tokio::test]
    async fn a_producer_waits_for_credit_and_a_grant_wakes_it() {
        let credit = Arc::new(ProducerCredit::new(2, 100));
        assert_eq!(credit.wait(0, 99).await, Duration::ZERO);
        let waiting = tokio::spawn({
            let credit = credit.clone();
            async move { credit.wait(1, 100).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "no credit left: it waits");
        credit.grant(0, 1000);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            !waiting.is_finished(),
            "another stream's grant does not wake it"
        );
        credit.grant(1, 200);
        let waited = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken by its grant")
            .unwrap();
        assert!(waited >= Duration::from_millis(20));
    }
}
