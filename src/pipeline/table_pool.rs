//! One spare socket table, handed from the sinks back to the fast tier.
//!
//! A 40,000-socket table is ~35 MiB. Allocated afresh every tick, each of
//! its pages is a new page the kernel must fault in and zero: measured at
//! 10–14 % of the daemon's CPU per fast tick. So the sink that drops the
//! last reference to a fast batch gives its (cleared) table back here, and
//! the next poll fills that memory again.
//!
//! At most one table is kept, and one far larger than what it last held
//! is let go, so memory still follows the live socket count.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::record::{Batch, SocketRecord};

/// A table this much larger than its last fill is freed rather than kept.
const SHRINK_FACTOR: usize = 4;
/// Small tables are not worth pooling (nor worth shrinking over).
const MIN_POOLED: usize = 1024;

#[derive(Default)]
struct Shelf {
    spare: Option<Vec<SocketRecord>>,
    /// A table was handed out and has not come back yet.
    out: bool,
}

#[derive(Clone, Default)]
pub struct TablePool {
    shelf: Arc<(Mutex<Shelf>, Condvar)>,
}

impl TablePool {
    pub fn new() -> TablePool {
        TablePool::default()
    }

    /// An empty table: the spare if there is one, else a new one.
    pub fn take(&self) -> Vec<SocketRecord> {
        self.take_waiting(Duration::ZERO)
    }

    /// Like [`TablePool::take`], but when the last table handed out is
    /// still being written, wait up to `limit` for it to come back rather
    /// than fill a second table: two live tables are the agent's peak.
    /// Runs on a blocking thread.
    pub fn take_waiting(&self, limit: Duration) -> Vec<SocketRecord> {
        let (lock, returned) = &*self.shelf;
        let Ok(mut shelf) = lock.lock() else {
            return Vec::new();
        };
        let deadline = Instant::now() + limit;
        while shelf.spare.is_none() && shelf.out {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            shelf = match returned.wait_timeout(shelf, left) {
                Ok((s, _)) => s,
                Err(_) => return Vec::new(),
            };
        }
        shelf.out = true;
        shelf.spare.take().unwrap_or_default()
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
            shelf.out = false;
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

    #[test]
    fn the_last_holder_returns_the_table_empty_and_the_poll_reuses_it() {
        let pool = TablePool::new();
        let b = batch(2000, 2048);
        let other_sink = Arc::clone(&b);
        pool.recycle(b);
        assert_eq!(pool.spare_capacity(), None, "still held by another sink");
        pool.recycle(other_sink);
        assert_eq!(pool.spare_capacity(), Some(2048));
        let t = pool.take();
        assert!(t.is_empty());
        assert_eq!(t.capacity(), 2048);
        assert_eq!(pool.spare_capacity(), None, "taken");
        assert_eq!(pool.take().capacity(), 0, "nothing spare: a new table");
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
    fn a_poll_waits_for_the_table_in_flight_instead_of_filling_a_second() {
        let pool = TablePool::new();
        let mut first = pool.take();
        first.reserve(4096);
        let capacity = first.capacity();
        let addr = "127.0.0.1:1".parse().unwrap();
        first.resize(
            2000,
            SocketRecord::new(1, addr, addr, TcpState::Established),
        );
        let giver = pool.clone();
        let sink = std::thread::spawn(move || {
            // The sink finishes its write a little later.
            std::thread::sleep(std::time::Duration::from_millis(50));
            giver.give(first);
        });
        let second = pool.take_waiting(Duration::from_secs(30));
        assert_eq!(second.capacity(), capacity, "the same table, not a new one");
        sink.join().unwrap();
        // Nothing comes back: the wait ends at its limit with a new table.
        let started = Instant::now();
        let third = pool.take_waiting(Duration::from_millis(100));
        assert_eq!(third.capacity(), 0);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
