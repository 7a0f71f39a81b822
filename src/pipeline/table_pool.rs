//! The fast tier's socket tables: at most [`TABLE_BUDGET`] alive at once,
//! and the one the sinks are done with handed back for reuse.
//!
//! A 40,000-socket table is ~35 MiB. Allocated afresh every tick, each of
//! its pages is a new page the kernel must fault in and zero: measured at
//! 10–14 % of the daemon's CPU per fast tick. So the sink that drops the
//! last reference to a fast batch gives its (cleared) table back here, and
//! the next poll fills that memory again.
//!
//! Tables are the agent's largest allocation, so their number is capped
//! (the budget): one, so a poll waits for the sinks to finish writing the
//! last table before it fills it again; two when the HTTP endpoint keeps
//! the latest batch for its clients. A poll that finds the budget used up
//! until its next tick (sinks slower than the interval on a busy host)
//! skips that tick (counted) rather than fill another table. A table is counted from the moment a poll takes it
//! until its batch is dropped, wherever that happens, so a batch that never
//! comes back through [`TablePool::recycle`] cannot use up the budget.
//!
//! At most one spare is kept, and one far larger than what it last held
//! is let go, so memory still follows the live socket count.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::record::{Batch, SocketRecord};

/// Socket tables alive at once, unless [`TablePool::set_budget`] says
/// otherwise: the one the sinks write is the one the next poll fills.
pub const TABLE_BUDGET: usize = 1;
/// A table this much larger than its last fill is freed rather than kept.
const SHRINK_FACTOR: usize = 4;
/// Small tables are not worth pooling (nor worth shrinking over).
const MIN_POOLED: usize = 1024;
/// A batch dropped without being recycled wakes nobody: waiters look
/// again this often.
const RECHECK: Duration = Duration::from_millis(20);
/// A table still held this long after its poll is held by a sink stuck in
/// a write (declared so after `sink_task::STUCK_AFTER`, its later batches
/// dropped and counted). It stops counting against the budget, so one
/// stuck output costs its tables but does not stop the others.
pub const HELD_BY_STUCK_SINK: Duration = Duration::from_secs(15);
const _: () = assert!(HELD_BY_STUCK_SINK.as_secs() > super::sink_task::STUCK_AFTER.as_secs());

struct Shelf {
    /// Most tables alive at once.
    budget: usize,
    spare: Option<Vec<SocketRecord>>,
    /// Tables taken by a poll whose batch the delta store has not built
    /// yet.
    filling: usize,
    /// Fast batches built from taken tables, and when; a dead one is a
    /// table gone.
    batches: Vec<(Weak<Batch>, Instant)>,
    /// Tables allocated rather than reused (for tests and figures).
    allocated: u64,
}

impl Default for Shelf {
    fn default() -> Shelf {
        Shelf {
            budget: TABLE_BUDGET,
            spare: None,
            filling: 0,
            batches: Vec::new(),
            allocated: 0,
        }
    }
}

impl Shelf {
    /// Tables that count against the budget: being filled, or in a batch
    /// still alive and younger than [`HELD_BY_STUCK_SINK`].
    fn alive(&mut self) -> usize {
        self.batches.retain(|(b, _)| b.strong_count() > 0);
        let held = self
            .batches
            .iter()
            .filter(|(_, since)| since.elapsed() < HELD_BY_STUCK_SINK)
            .count();
        self.filling + held
    }
}

#[derive(Clone, Default)]
pub struct TablePool {
    shelf: Arc<(Mutex<Shelf>, Condvar)>,
}

impl TablePool {
    pub fn new() -> TablePool {
        TablePool::default()
    }

    /// Allow `tables` alive at once (at least one): two while something
    /// other than the sinks keeps the latest batch.
    pub fn set_budget(&self, tables: usize) {
        if let Ok(mut shelf) = self.shelf.0.lock() {
            shelf.budget = tables.max(1);
        }
        self.shelf.1.notify_all();
    }

    /// An empty table for a poll to fill: the spare if there is one, else a
    /// new one while fewer than the budget are alive; else wait for
    /// one to come back until `deadline`, and `None` if none did (the
    /// caller skips its tick). Blocks: runs on a blocking thread.
    ///
    /// The caller hands the filled table to the delta store, which calls
    /// [`TablePool::register`] on its batch, or calls
    /// [`TablePool::abandon`] if the table never gets there.
    pub fn take_within(&self, deadline: Instant) -> Option<Vec<SocketRecord>> {
        let (lock, returned) = &*self.shelf;
        let mut shelf = lock.lock().ok()?;
        loop {
            if let Some(table) = shelf.spare.take() {
                shelf.filling += 1;
                return Some(table);
            }
            if shelf.alive() < shelf.budget {
                shelf.filling += 1;
                shelf.allocated += 1;
                return Some(Vec::new());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            shelf = returned.wait_timeout(shelf, left.min(RECHECK)).ok()?.0;
        }
    }

    /// The delta store built `batch` from a table taken here: from now on
    /// the table counts as alive until the batch is dropped.
    pub fn register(&self, batch: &Arc<Batch>) {
        if let Ok(mut shelf) = self.shelf.0.lock() {
            shelf.filling = shelf.filling.saturating_sub(1);
            shelf.batches.retain(|(b, _)| b.strong_count() > 0);
            shelf.batches.push((Arc::downgrade(batch), Instant::now()));
        }
    }

    /// A taken table will never reach the delta store (its poll failed or
    /// its sample was dropped).
    pub fn abandon(&self) {
        if let Ok(mut shelf) = self.shelf.0.lock() {
            shelf.filling = shelf.filling.saturating_sub(1);
        }
        self.shelf.1.notify_all();
    }

    /// Tables allocated rather than reused since the start.
    pub fn allocated(&self) -> u64 {
        self.shelf.0.lock().map(|s| s.allocated).unwrap_or(0)
    }

    /// Called by a holder of a batch once it is done with it: when that
    /// was the last reference, the batch's table becomes the spare.
    pub fn recycle(&self, batch: Arc<Batch>) {
        let Ok(batch) = Arc::try_unwrap(batch) else {
            return; // someone else still reads it; they drop it later
        };
        self.give(batch.sockets);
    }

    fn give(&self, mut table: Vec<SocketRecord>) {
        let used = table.len();
        let keep =
            table.capacity() >= MIN_POOLED && table.capacity() <= SHRINK_FACTOR * used.max(1);
        // Dropping the records (their `Arc<str>` command names) here, on
        // the sink's thread, keeps that work off the next poll.
        table.clear();
        let (lock, returned) = &*self.shelf;
        if let Ok(mut shelf) = lock.lock() {
            if keep
                && shelf
                    .spare
                    .as_ref()
                    .is_none_or(|s| s.capacity() < table.capacity())
            {
                shelf.spare = Some(table);
            }
        }
        returned.notify_all();
    }

    /// Make every batch look `by` older.
    #[cfg(test)]
    fn backdate(&self, by: Duration) {
        for (_, since) in &mut self.shelf.0.lock().unwrap().batches {
            *since -= by;
        }
    }

    #[cfg(test)]
    fn spare_capacity(&self) -> Option<usize> {
        self.shelf.0.lock().ok()?.spare.as_ref().map(Vec::capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    fn batch(n: usize, capacity: usize) -> Arc<Batch> {
        let mut sockets = Vec::with_capacity(capacity);
        let addr = "127.0.0.1:1".parse().unwrap();
        sockets.resize(n, SocketRecord::new(1, addr, addr, TcpState::Established));
        Arc::new(Batch {
            closes: Vec::new(),
            tier: None,
            ts: 1,
            seq: 0,
            interval_ms: 1000,
            system: None,
            sockets,
        })
    }

    fn now() -> Instant {
        Instant::now()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    /// A batch built from `table`, registered as the delta store does.
    fn built(pool: &TablePool, mut table: Vec<SocketRecord>, n: usize) -> Arc<Batch> {
        let addr = "127.0.0.1:1".parse().unwrap();
        table.resize(n, SocketRecord::new(1, addr, addr, TcpState::Established));
        let b = Arc::new(Batch {
            closes: Vec::new(),
            tier: None,
            ts: 1,
            seq: 0,
            interval_ms: 1000,
            system: None,
            sockets: table,
        });
        pool.register(&b);
        b
    }

    #[test]
    fn the_last_holder_returns_the_table_empty_and_the_poll_reuses_it() {
        let pool = TablePool::new();
        pool.set_budget(2);
        let b = batch(2000, 2048);
        let other_sink = Arc::clone(&b);
        pool.recycle(b);
        assert_eq!(pool.spare_capacity(), None, "still held by another sink");
        pool.recycle(other_sink);
        assert_eq!(pool.spare_capacity(), Some(2048));
        let t = pool.take_within(now()).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.capacity(), 2048);
        assert_eq!(pool.spare_capacity(), None, "taken");
        let fresh = pool.take_within(now()).unwrap();
        assert_eq!(fresh.capacity(), 0, "nothing spare: a new table");
        assert_eq!(pool.allocated(), 1);
    }

    #[test]
    fn tables_far_larger_than_their_contents_and_tiny_ones_are_let_go() {
        let pool = TablePool::new();
        pool.recycle(batch(100, 4096));
        assert_eq!(pool.spare_capacity(), None, "the socket count fell 40x");
        pool.recycle(batch(10, 16));
        assert_eq!(pool.spare_capacity(), None, "too small to matter");
        pool.recycle(batch(1500, 2000));
        pool.recycle(batch(1000, 1500));
        assert_eq!(pool.spare_capacity(), Some(2000), "one spare, the larger");
    }

    #[test]
    fn with_a_budget_of_two_a_third_table_is_never_filled() {
        let pool = TablePool::new();
        pool.set_budget(2);
        // The batch kept for close records, and the one being written.
        let kept = built(&pool, pool.take_within(now()).unwrap(), 2000);
        let writing = built(&pool, pool.take_within(now()).unwrap(), 2000);
        assert_eq!(pool.allocated(), 2);
        let started = Instant::now();
        let limit = Duration::from_millis(100);
        assert!(
            pool.take_within(started + limit).is_none(),
            "a third table while two are alive"
        );
        assert!(started.elapsed() >= limit, "gave up before its deadline");
        // The sink finishes a little later: the poll gets that table.
        let capacity = writing.sockets.capacity();
        let giver = pool.clone();
        let sink = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            giver.recycle(writing);
        });
        let table = pool
            .take_within(soon())
            .expect("the table the sink gave back");
        assert_eq!(table.capacity(), capacity, "the same table, not a new one");
        sink.join().unwrap();
        assert_eq!(pool.allocated(), 2);
        drop(kept);
    }

    #[test]
    fn by_default_the_poll_refills_the_table_the_sinks_wrote() {
        let pool = TablePool::new();
        let writing = built(&pool, pool.take_within(now()).unwrap(), 2000);
        let capacity = writing.sockets.capacity();
        assert!(
            pool.take_within(Instant::now() + Duration::from_millis(50))
                .is_none(),
            "a second table while the sinks write the first"
        );
        let giver = pool.clone();
        let sink = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            giver.recycle(writing);
        });
        let table = pool
            .take_within(soon())
            .expect("the table the sink gave back");
        assert_eq!(table.capacity(), capacity);
        sink.join().unwrap();
        assert_eq!(pool.allocated(), 1);
    }

    #[test]
    fn a_table_held_by_a_stuck_sink_stops_counting_against_the_budget() {
        let pool = TablePool::new();
        let stuck = built(&pool, pool.take_within(now()).unwrap(), 10);
        assert!(pool.take_within(now()).is_none());
        pool.backdate(HELD_BY_STUCK_SINK);
        assert!(
            pool.take_within(now()).is_some(),
            "a stuck sink's table stops every output"
        );
        drop(stuck);
    }

    #[test]
    fn a_batch_dropped_without_recycling_frees_its_place_in_the_budget() {
        let pool = TablePool::new();
        pool.set_budget(2);
        let a = built(&pool, pool.take_within(now()).unwrap(), 10);
        let b = built(&pool, pool.take_within(now()).unwrap(), 10);
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(b); // e.g. a stream client's copy, never recycled
        });
        assert!(pool.take_within(soon()).is_some(), "the budget leaked");
        dropper.join().unwrap();
        drop(a);
    }

    #[test]
    fn an_abandoned_table_frees_its_place_in_the_budget() {
        let pool = TablePool::new();
        pool.set_budget(2);
        let _kept = built(&pool, pool.take_within(now()).unwrap(), 10);
        let lost = pool.take_within(now()).unwrap();
        assert!(pool.take_within(now()).is_none());
        drop(lost);
        pool.abandon(); // its poll failed
        assert!(pool.take_within(now()).is_some());
    }
}
