//! `sockets = "changed"`: which socket lines of a poll an output writes.
//!
//! A socket gets a line when it is first seen, when its state (every
//! written field of the field table but the clock-driven ones) differs
//! from its last line in this output, and when its heartbeat falls due.
//! So a reader that keeps the last line per socket, and drops a socket at
//! its `close`, has every socket's state at every poll.
//!
//! Per socket this keeps a 64-bit keyed digest of the state written last,
//! not the line itself: ~40 bytes a socket instead of ~500.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use super::delta::Key;
use crate::record::Batch;

/// What this output last wrote for one socket.
struct Written {
    fingerprint: u64,
    /// Write a line at this poll time (ns) even if nothing changed.
    heartbeat_due: u64,
    /// The poll that last saw the socket, to forget sockets whose close
    /// this output never got (a dropped batch).
    seen: u64,
}

/// One output's memory of what it wrote.
pub struct ChangeFilter {
    heartbeat_ns: u64,
    written: HashMap<Key, Written>,
    /// Keys of the state digest (random per filter: a peer cannot aim at a
    /// collision).
    keys: RandomState,
    polls: u64,
    /// Reused list of the indices to write.
    keep: Vec<u32>,
}

/// The sockets of one poll an output writes.
pub struct Selection<'a> {
    /// Indices into the batch's sockets, in order.
    pub indices: &'a [u32],
    pub unchanged: u64,
}

impl ChangeFilter {
    pub fn new(heartbeat: Duration) -> ChangeFilter {
        ChangeFilter {
            heartbeat_ns: u64::try_from(heartbeat.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            written: HashMap::new(),
            keys: RandomState::new(),
            polls: 0,
            keep: Vec::new(),
        }
    }

    /// Sockets this filter remembers.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Choose the socket lines of `batch` to write, and forget the sockets
    /// it closes.
    pub fn select(&mut self, batch: &Batch) -> Selection<'_> {
        self.polls += 1;
        let poll = self.polls;
        let ts = batch.ts;
        self.keep.clear();
        for c in &batch.closes {
            self.written.remove(&Key::of(c));
        }
        for (i, r) in batch.sockets.iter().enumerate() {
            let fingerprint = r.state_fingerprint(&self.keys);
            let key = Key::of(r);
            let write = match self.written.get_mut(&key) {
                Some(w) if w.seen == poll => {
                    // A second record with one identity in one poll (a
                    // source glitch): written only if it differs.
                    let changed = w.fingerprint != fingerprint;
                    w.fingerprint = fingerprint;
                    changed
                }
                Some(w) => {
                    w.seen = poll;
                    if w.fingerprint != fingerprint || ts >= w.heartbeat_due {
                        w.fingerprint = fingerprint;
                        w.heartbeat_due = ts.saturating_add(self.heartbeat_ns);
                        true
                    } else {
                        false
                    }
                }
                None => {
                    // First heartbeat somewhere within one heartbeat, so
                    // sockets first seen together (at start, after a
                    // reload) do not all fall due in the same poll.
                    let spread = self.keys.hash_one(key) % self.heartbeat_ns;
                    self.written.insert(
                        key,
                        Written {
                            fingerprint,
                            heartbeat_due: ts.saturating_add(spread.max(1)),
                            seen: poll,
                        },
                    );
                    true
                }
            };
            if write {
                self.keep.push(i as u32);
            }
        }
        if self.written.len() > batch.sockets.len() {
            // Sockets gone without a close reaching us.
            self.written.retain(|_, w| w.seen == poll);
        }
        let unchanged = (batch.sockets.len() - self.keep.len()) as u64;
        Selection {
            indices: &self.keep,
            unchanged,
        }
    }
}

/// The batch an output writes: `batch` with only the chosen socket lines
/// (and no close records without `closes`), its system line counting what
/// was left out. `None` when the batch is written as it is.
pub fn narrow(
    batch: &Batch,
    filter: Option<&mut ChangeFilter>,
    closes: bool,
) -> Option<Arc<Batch>> {
    let drop_closes = !closes && !batch.closes.is_empty();
    if filter.is_none() && !drop_closes {
        return None;
    }
    // Only socket-table polls have sockets to leave out.
    let is_table = batch
        .system
        .as_ref()
        .is_some_and(|s| s.sockets_written.is_some())
        || !batch.sockets.is_empty()
        || !batch.closes.is_empty();
    if !is_table {
        return None;
    }
    let mut system = batch.system.clone();
    let sockets = match filter {
        Some(f) => {
            let sel = f.select(batch);
            if let Some(sys) = &mut system {
                sys.sockets_written = Some(sel.indices.len() as u64);
                sys.sockets_unchanged = Some(sel.unchanged);
            }
            sel.indices
                .iter()
                .map(|&i| batch.sockets[i as usize].clone())
                .collect()
        }
        None => batch.sockets.clone(),
    };
    Some(Arc::new(Batch {
        tier: batch.tier,
        ts: batch.ts,
        seq: batch.seq,
        interval_ms: batch.interval_ms,
        system,
        sockets,
        closes: if closes {
            batch.closes.clone()
        } else {
            Vec::new()
        },
    }))
}
