//! `sockets = "changed"`: which socket lines of a poll an output writes.
//!
//! A socket gets a line when it is first seen, when its state (every
//! written field of the field table but the clock-driven ones) differs
//! from its last line in this output, and when its heartbeat falls due.
//! So a reader that keeps the last line per socket, and drops a socket at
//! its `close`, has every socket's state at every poll.
//!
//! Per socket this keeps a 64-bit keyed digest of the state written last,
//! not the line itself: ~90 bytes a socket (its slot, map entry and place
//! in the order) instead of ~500.
//!
//! Every socket of every poll passes through here, most of them unchanged,
//! so the per-socket work is kept to one digest with a cheap
//! multiply-based keyed hash (SipHash's many small writes were a tenth of
//! a 40,000-socket tick) and, for sockets in the kernel's usual order, no
//! map lookup at all (see [`ChangeFilter`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use super::delta::Key;
use crate::output::Part;
use crate::platform::KernelIdHash;
use crate::record::Batch;

/// What this output last wrote for one socket.
struct Written {
    key: Key,
    fingerprint: u64,
    /// Write a line at this poll time (ns) even if nothing changed.
    heartbeat_due: u64,
    /// The poll that last saw the socket, to forget sockets whose close
    /// this output never got (a dropped batch); 0 = a free slot.
    seen: u64,
    /// Where this slot stands in `ChangeFilter::order`.
    pos: u32,
}

/// One output's memory of what it wrote.
///
/// The entries live in slots that never move while their socket lives.
/// The kernel dumps its sockets in a stable order, so each record is first
/// checked against the slot that followed the previous record's in the
/// last poll (`order`): a sequential walk. The map is only asked for
/// sockets out of that order; probed for every socket, its random reads
/// were most of this filter's time.
pub struct ChangeFilter {
    heartbeat_ns: u64,
    slots: Vec<Written>,
    free: Vec<u32>,
    /// Keyed like the delta store: kernel ids are not a peer's choice, and
    /// a key without one is already a keyed digest.
    index: HashMap<Key, u32, KernelIdHash>,
    /// Slots in the order the last poll listed their sockets, and the one
    /// being built for this poll.
    order: Vec<u32>,
    next_order: Vec<u32>,
    /// Keys of the state digest (random per filter, never shown to anyone:
    /// a peer cannot aim at a collision).
    digest_keys: foldhash::quality::RandomState,
    /// Keys of the heartbeat spread.
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
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            order: Vec::new(),
            next_order: Vec::new(),
            digest_keys: foldhash::quality::RandomState::default(),
            keys: RandomState::new(),
            polls: 0,
            keep: Vec::new(),
        }
    }

    /// Sockets this filter remembers.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn forget(&mut self, key: &Key) {
        if let Some(slot) = self.index.remove(key) {
            self.slots[slot as usize].seen = 0;
            self.free.push(slot);
        }
    }

    /// The slot of `key`: the one at `*cursor` in the last poll's order if
    /// it holds `key`, else the map's answer. Moves `cursor` past it.
    fn find(&self, key: &Key, cursor: &mut usize) -> Option<u32> {
        if let Some(&slot) = self.order.get(*cursor) {
            let w = &self.slots[slot as usize];
            if w.seen != 0 && w.key == *key {
                *cursor += 1;
                return Some(slot);
            }
        }
        let slot = *self.index.get(key)?;
        *cursor = self.slots[slot as usize].pos as usize + 1;
        Some(slot)
    }

    /// Choose the socket lines of `batch` to write, and forget the sockets
    /// it closes.
    pub fn select(&mut self, batch: &Batch) -> Selection<'_> {
        self.polls += 1;
        let poll = self.polls;
        let ts = batch.ts;
        self.keep.clear();
        self.next_order.clear();
        for c in &batch.closes {
            self.forget(&Key::of(c));
        }
        let mut cursor = 0;
        for (i, r) in batch.sockets.iter().enumerate() {
            let fingerprint = r.state_fingerprint(&self.digest_keys);
            let key = Key::of(r);
            let write = match self.find(&key, &mut cursor) {
                Some(slot) if self.slots[slot as usize].seen == poll => {
                    // A second record with one identity in one poll (a
                    // source glitch): written only if it differs.
                    let w = &mut self.slots[slot as usize];
                    let changed = w.fingerprint != fingerprint;
                    w.fingerprint = fingerprint;
                    changed
                }
                Some(slot) => {
                    let w = &mut self.slots[slot as usize];
                    w.seen = poll;
                    w.pos = self.next_order.len() as u32;
                    self.next_order.push(slot);
                    if w.fingerprint != fingerprint || ts >= w.heartbeat_due {
                        w.fingerprint = fingerprint;
                        w.heartbeat_due = ts.saturating_add(self.heartbeat_ns);
                        true
                    } else {
                        false
                    }
                }
                None => {
                    // First heartbeat somewhere in the second half of one
                    // heartbeat, so sockets first seen together (at start,
                    // after a reload) do not all fall due in the same poll,
                    // and none falls due right after its first line.
                    let half = self.heartbeat_ns / 2;
                    let spread = half + self.keys.hash_one(key) % (self.heartbeat_ns - half);
                    let w = Written {
                        key,
                        fingerprint,
                        heartbeat_due: ts.saturating_add(spread.max(1)),
                        seen: poll,
                        pos: self.next_order.len() as u32,
                    };
                    let slot = match self.free.pop() {
                        Some(slot) => {
                            self.slots[slot as usize] = w;
                            slot
                        }
                        None => {
                            self.slots.push(w);
                            (self.slots.len() - 1) as u32
                        }
                    };
                    self.index.insert(key, slot);
                    self.next_order.push(slot);
                    true
                }
            };
            if write {
                self.keep.push(i as u32);
            }
        }
        std::mem::swap(&mut self.order, &mut self.next_order);
        if self.index.len() > batch.sockets.len() {
            // Sockets gone without a close reaching us.
            for (slot, w) in self.slots.iter_mut().enumerate() {
                if w.seen != 0 && w.seen != poll {
                    self.index.remove(&w.key);
                    w.seen = 0;
                    self.free.push(slot as u32);
                }
            }
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
/// was left out, handed to `write` in parts of at most `part` socket lines
/// (the system line with the first part, the close records with the last),
/// so no more than `part` records are ever copied at once: a poll where
/// every socket changed (the first one) would otherwise copy the whole
/// table. Writing the parts one after another gives the same lines in the
/// same order. Returns the records the narrowed batch holds, or `None`
/// when nothing was left out and `batch` is to be written as it is.
pub fn narrow_in_parts(
    batch: &Batch,
    filter: Option<&mut ChangeFilter>,
    closes: bool,
    part: usize,
    write: &mut dyn FnMut(&Batch, Part),
) -> Option<usize> {
    let drop_closes = !closes && !batch.closes.is_empty();
    if filter.is_none() && !drop_closes {
        return None;
    }
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
    let all: Vec<u32>;
    let indices: &[u32] = match filter {
        Some(f) => {
            let sel = f.select(batch);
            if let Some(sys) = &mut system {
                sys.sockets_written = Some(sel.indices.len() as u64);
                sys.sockets_unchanged = Some(sel.unchanged);
            }
            sel.indices
        }
        None => {
            all = (0..batch.sockets.len() as u32).collect();
            &all
        }
    };
    let closes = if closes { &batch.closes[..] } else { &[] };
    let total = usize::from(system.is_some()) + indices.len() + closes.len();
    let mut parts = indices.chunks(part.max(1)).peekable();
    let mut first = true;
    let mut sockets = Vec::new();
    loop {
        let chunk = parts.next().unwrap_or(&[]);
        let last = parts.peek().is_none();
        sockets.clear();
        sockets.extend(chunk.iter().map(|&i| batch.sockets[i as usize].clone()));
        let piece = Batch {
            tier: batch.tier,
            ts: batch.ts,
            seq: batch.seq,
            interval_ms: batch.interval_ms,
            system: if first { system.take() } else { None },
            sockets: std::mem::take(&mut sockets),
            closes: if last { closes.to_vec() } else { Vec::new() },
        };
        write(&piece, Part { first, last });
        sockets = piece.sockets;
        first = false;
        if last {
            return Some(total);
        }
    }
}

/// [`narrow_in_parts`] in one piece, for tests that look at the whole
/// narrowed batch.
#[cfg(test)]
fn narrow(batch: &Batch, filter: Option<&mut ChangeFilter>, closes: bool) -> Option<Batch> {
    let mut whole = None;
    narrow_in_parts(batch, filter, closes, usize::MAX, &mut |piece, _| {
        whole = Some(piece.clone());
    })?;
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{SocketRecord, SystemRecord, TcpState, Tier};

    const SEC: u64 = 1_000_000_000;

    fn sock(id: u64, bytes: u64, idle_ms: u32) -> SocketRecord {
        let mut r = SocketRecord::new(
            0,
            format!("127.0.0.1:{}", 1000 + id).parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            TcpState::Established,
        );
        r.set().sock_id(Some(id));
        r.set().bytes_acked(Some(bytes));
        r.set().idle_ms(Some(idle_ms));
        r
    }

    fn poll(ts: u64, sockets: Vec<SocketRecord>, closes: Vec<SocketRecord>) -> Batch {
        Batch {
            tier: Some(Tier::Fast),
            ts,
            seq: ts / SEC,
            interval_ms: 1000,
            system: Some(SystemRecord {
                ts,
                sockets_written: Some(sockets.len() as u64),
                sockets_unchanged: Some(0),
                ..SystemRecord::default()
            }),
            sockets,
            closes,
        }
    }

    fn written_ids(b: &Batch) -> Vec<u64> {
        b.sockets.iter().map(|s| s.sock_id().unwrap()).collect()
    }

    #[test]
    fn first_sight_and_state_changes_are_written_clock_changes_are_not() {
        let mut f = ChangeFilter::new(Duration::from_secs(3600));
        let first = poll(SEC, vec![sock(1, 10, 0), sock(2, 20, 0)], vec![]);
        let out = narrow(&first, Some(&mut f), true).unwrap();
        assert_eq!(written_ids(&out), [1, 2]);
        // Socket 1 only aged; socket 2 moved bytes.
        let second = poll(2 * SEC, vec![sock(1, 10, 900), sock(2, 25, 900)], vec![]);
        let out = narrow(&second, Some(&mut f), true).unwrap();
        assert_eq!(written_ids(&out), [2]);
        let sys = out.system.as_ref().unwrap();
        assert_eq!(
            (sys.sockets_written, sys.sockets_unchanged),
            (Some(1), Some(1))
        );
        assert_eq!(out.sockets[0].bytes_acked(), Some(25));
    }

    #[test]
    fn parts_write_the_same_lines_in_the_same_order_never_copying_more_than_a_part() {
        use crate::output::Encoder;
        use crate::output::encode::{json, proto};
        // Both filters see the same polls, so they choose the same lines.
        let (mut whole_f, mut parts_f) = (
            ChangeFilter::new(Duration::from_secs(3600)),
            ChangeFilter::new(Duration::from_secs(3600)),
        );
        let first = poll(SEC, (0..10).map(|i| sock(i, 1, 0)).collect(), vec![]);
        let second = poll(
            2 * SEC,
            (0..10).map(|i| sock(i, 1 + i % 3, 0)).collect(),
            vec![sock(77, 5, 0)],
        );
        let mut most_parts = 0;
        for (b, closes) in [(&first, true), (&second, true), (&second, false)] {
            let whole = narrow(b, Some(&mut whole_f), closes).unwrap();
            let mut expected = Vec::new();
            json::write_batch(&whole, &mut expected);
            let (mut got, mut largest, mut records) = (Vec::new(), 0, 0);
            let mut flags = Vec::new();
            // A protobuf message holds the whole poll: gathered from the
            // parts, it must be the message of the whole narrowed batch.
            let origin = proto::Origin::default();
            let mut pb = proto::ProtoEncoder::with_origin("x", origin.clone());
            let mut pb_out = Collect::default();
            let kept = narrow_in_parts(b, Some(&mut parts_f), closes, 3, &mut |piece, which| {
                largest = largest.max(piece.sockets.len());
                records += piece.record_count();
                flags.push((which.first, which.last));
                json::write_batch(piece, &mut got);
                pb.encode_part_into(piece, which, &mut pb_out);
            });
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap()
            );
            assert_eq!(kept, Some(whole.record_count()));
            assert_eq!(records, whole.record_count());
            assert!(largest <= 3, "a part of {largest} socket lines");
            let n = flags.len();
            most_parts = most_parts.max(n);
            let want: Vec<_> = (0..n).map(|i| (i == 0, i == n - 1)).collect();
            assert_eq!(flags, want, "first and last flags of the parts");
            let mut whole_pb = Vec::new();
            proto::write_batch(&whole, &origin, &mut whole_pb);
            assert_eq!(
                pb_out.0,
                vec![whole_pb],
                "one protobuf record, the whole poll's"
            );
        }
        assert!(
            most_parts >= 4,
            "the first poll comes in 4 parts, not {most_parts}"
        );
    }

    /// Test double of a sink's record buffer: keeps each record's bytes.
    #[derive(Default)]
    struct Collect(Vec<Vec<u8>>, crate::output::line_writer::LineWriter);

    impl crate::output::RecordOut for Collect {
        fn begin(&mut self, _: usize) -> &mut crate::output::line_writer::LineWriter {
            self.1.clear();
            &mut self.1
        }

        fn end(&mut self, _: usize) {
            self.0.push(self.1.as_bytes().to_vec());
        }
    }

    #[test]
    fn every_socket_gets_a_heartbeat_within_the_interval_spread_over_polls() {
        let heartbeat = Duration::from_secs(10);
        let mut f = ChangeFilter::new(heartbeat);
        let socks = |ts| (0..200).map(|i| sock(i, 7, (ts / SEC) as u32)).collect();
        let out = narrow(&poll(SEC, socks(SEC), vec![]), Some(&mut f), true).unwrap();
        assert_eq!(out.sockets.len(), 200);
        let mut last_line = vec![1u64; 200];
        let mut busiest_poll = 0;
        for t in 2..=40u64 {
            let out = narrow(&poll(t * SEC, socks(t * SEC), vec![]), Some(&mut f), true).unwrap();
            busiest_poll = busiest_poll.max(out.sockets.len());
            for id in written_ids(&out) {
                last_line[id as usize] = t;
            }
            for (id, &l) in last_line.iter().enumerate() {
                assert!(t - l <= 10, "socket {id} silent since {l} at {t}");
            }
        }
        // Spread: no poll writes anywhere near every socket.
        assert!(busiest_poll < 100, "{busiest_poll} heartbeats in one poll");
    }

    #[test]
    fn a_close_forgets_the_socket_and_closes_can_be_left_out() {
        let mut f = ChangeFilter::new(Duration::from_secs(3600));
        narrow(&poll(SEC, vec![sock(1, 1, 0)], vec![]), Some(&mut f), true);
        let gone = poll(2 * SEC, vec![], vec![sock(1, 1, 0)]);
        let out = narrow(&gone, Some(&mut f), true).unwrap();
        assert_eq!(out.closes.len(), 1);
        assert!(f.is_empty());
        let out = narrow(&gone, None, false).unwrap();
        assert!(out.closes.is_empty());
        assert!(
            narrow(&gone, None, true).is_none(),
            "all + closes: as it is"
        );
    }

    #[test]
    fn a_fresh_filter_writes_every_socket_once_then_changes_only() {
        // A reload that switches an output's mode starts a new filter.
        let socks = vec![sock(1, 1, 0), sock(2, 2, 0), sock(3, 3, 0)];
        let mut old = ChangeFilter::new(Duration::from_secs(3600));
        narrow(&poll(SEC, socks.clone(), vec![]), Some(&mut old), true);
        let mut fresh = ChangeFilter::new(Duration::from_secs(3600));
        let out = narrow(
            &poll(2 * SEC, socks.clone(), vec![]),
            Some(&mut fresh),
            true,
        )
        .unwrap();
        assert_eq!(written_ids(&out), [1, 2, 3]);
        let out = narrow(&poll(3 * SEC, socks, vec![]), Some(&mut fresh), true).unwrap();
        assert!(out.sockets.is_empty());
    }

    #[test]
    fn sockets_gone_without_a_close_are_forgotten() {
        let mut f = ChangeFilter::new(Duration::from_secs(3600));
        narrow(
            &poll(SEC, vec![sock(1, 1, 0), sock(2, 1, 0)], vec![]),
            Some(&mut f),
            true,
        );
        narrow(
            &poll(2 * SEC, vec![sock(2, 1, 0)], vec![]),
            Some(&mut f),
            true,
        );
        assert_eq!(f.len(), 1);
    }

    /// The choice a filter must make, written the plain way: one map from
    /// socket to the state last written, no slots, no order.
    struct Model {
        last: std::collections::HashMap<u64, (u64, u64)>,
        poll: u64,
    }

    impl Model {
        fn select(&mut self, b: &Batch) -> Vec<u64> {
            self.poll += 1;
            for c in &b.closes {
                self.last.remove(&c.sock_id().unwrap());
            }
            let mut out = Vec::new();
            for r in &b.sockets {
                let (id, state) = (r.sock_id().unwrap(), r.bytes_acked().unwrap());
                let write = match self.last.get(&id) {
                    Some(&(old, _)) => old != state,
                    None => true,
                };
                self.last.insert(id, (state, self.poll));
                if write {
                    out.push(id);
                }
            }
            if self.last.len() > b.sockets.len() {
                self.last.retain(|_, (_, seen)| *seen == self.poll);
            }
            out
        }
    }

    #[test]
    fn sockets_out_of_order_reused_slots_and_duplicates_choose_as_a_plain_map_does() {
        use crate::record::field_samples::Rng;
        // Polls as a kernel lists them: mostly the last poll's order, with
        // sockets that come and go (with and without a close), move in the
        // list, show up twice, and change state now and then. No heartbeat
        // falls due in the test.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut f = ChangeFilter::new(Duration::from_secs(86_400));
        let mut model = Model {
            last: Default::default(),
            poll: 0,
        };
        let mut live: Vec<(u64, u64)> = (0..300).map(|id| (id, 0)).collect();
        let mut next_id = 300;
        for t in 1..=200u64 {
            let mut closes = Vec::new();
            for _ in 0..rng.next() % 6 {
                if live.is_empty() {
                    break;
                }
                let (id, bytes) = live.remove((rng.next() % live.len() as u64) as usize);
                if rng.next() % 4 != 0 {
                    closes.push(sock(id, bytes, 0));
                }
            }
            for _ in 0..rng.next() % 6 {
                let at = (rng.next() % (live.len() as u64 + 1)) as usize;
                live.insert(at, (next_id, 0));
                next_id += 1;
            }
            if rng.next() % 3 == 0 && live.len() > 2 {
                let (a, b) = (
                    (rng.next() % live.len() as u64) as usize,
                    (rng.next() % live.len() as u64) as usize,
                );
                live.swap(a, b);
            }
            for s in &mut live {
                if rng.next() % 10 == 0 {
                    s.1 += 1;
                }
            }
            let mut sockets: Vec<_> = live.iter().map(|&(id, b)| sock(id, b, 0)).collect();
            if rng.next() % 5 == 0 && !live.is_empty() {
                let (id, b) = live[(rng.next() % live.len() as u64) as usize];
                let again = if rng.next() % 2 == 0 { b } else { b + 1000 };
                sockets.push(sock(id, again, 0));
            }
            let b = poll(t * SEC, sockets, closes);
            let expected = model.select(&b);
            let got = narrow(&b, Some(&mut f), true).unwrap();
            assert_eq!(written_ids(&got), expected, "poll {t}");
            assert_eq!(f.len(), model.last.len(), "poll {t}");
        }
    }
}
