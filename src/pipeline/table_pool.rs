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

use std::sync::{Arc, Mutex};

use crate::record::{Batch, SocketRecord};

/// A table this much larger than its last fill is freed rather than kept.
const SHRINK_FACTOR: usize = 4;
/// Small tables are not worth pooling (nor worth shrinking over).
const MIN_POOLED: usize = 1024;

#[derive(Clone, Default)]
pub struct TablePool {
    spare: Arc<Mutex<Option<Vec<SocketRecord>>>>,
}

impl TablePool {
    pub fn new() -> TablePool {
        TablePool::default()
    }

    /// An empty table: the spare if there is one, else a new one.
    pub fn take(&self) -> Vec<SocketRecord> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or_default()
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
        if table.capacity() < MIN_POOLED || table.capacity() > SHRINK_FACTOR * used.max(1) {
            return;
        }
        // Dropping the records (their `Arc<str>` command names) here, on
        // the sink's thread, keeps that work off the next poll.
        table.clear();
        if let Ok(mut spare) = self.spare.lock() {
            if spare
                .as_ref()
                .is_none_or(|s| s.capacity() < table.capacity())
            {
                *spare = Some(table);
            }
        }
    }

    #[cfg(test)]
    fn spare_capacity(&self) -> Option<usize> {
        self.spare.lock().ok()?.as_ref().map(Vec::capacity)
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
}
