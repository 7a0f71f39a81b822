//! Per-socket state between fast-tier samples: counter deltas, age, and
//! the process join.
//!
//! Keyed by the stable socket identity (`sock_id`: Linux socket cookie,
//! FreeBSD `inp_gencnt`), never by the 4-tuple alone: 4-tuples are reused,
//! and a reused tuple is a new connection that must start fresh rather than
//! yield a negative or huge delta. A record without a `sock_id` is keyed by
//! its 4-tuple plus inode (when known); that can confuse a reused tuple
//! within one interval, which is why every live source provides `sock_id`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::platform::{KernelIdHash, KernelIdHasher, ProcessInfo, ProcessMap};
use crate::record::{DELTA_COUNTERS, SocketRecord};

/// A socket's identity as a map key: the kernel's id, or (sources without
/// one) a keyed digest of 4-tuple plus inode, tagged apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Id(u64),
    Tuple(u64),
}

impl Key {
    pub(crate) fn of(r: &SocketRecord) -> Key {
        match r.sock_id() {
            Some(id) => Key::Id(id),
            None => {
                // A remote peer chooses its tuple: std's keyed SipHash keeps
                // crafted tuples from piling into one bucket.
                static KEYED: OnceLock<RandomState> = OnceLock::new();
                let sip = KEYED.get_or_init(RandomState::new);
                Key::Tuple(sip.hash_one((r.local, r.remote, r.inode())))
            }
        }
    }
}

/// The cumulative counters a delta is computed for: every counter of the
/// field table that has a `_delta` field, in table order.
const COUNTERS: usize = DELTA_COUNTERS;

/// The last value of each of `N` counters, and whether the source reported
/// it. One flag per counter: any number of counters fits.
#[derive(Clone, Copy)]
struct LastCounters<const N: usize> {
    value: [u64; N],
    present: [bool; N],
}

impl<const N: usize> LastCounters<N> {
    const NONE: LastCounters<N> = LastCounters {
        value: [0; N],
        present: [false; N],
    };

    fn remember(&mut self, now: [Option<u64>; N]) {
        for (i, v) in now.into_iter().enumerate() {
            self.value[i] = v.unwrap_or(0);
            self.present[i] = v.is_some();
        }
    }

    fn get(&self, i: usize) -> Option<u64> {
        self.present[i].then_some(self.value[i])
    }
}

/// A fingerprint of the 4-tuple, to notice one identity on another tuple
/// (the kernel reusing an id). Unkeyed is fine: it is only ever compared
/// with the same socket's previous fingerprint, never used to place keys.
fn tuple_fingerprint(r: &SocketRecord) -> u64 {
    fn feed(h: &mut KernelIdHasher, a: &SocketAddr) {
        match a {
            SocketAddr::V4(v4) => h.write_u64(u64::from(v4.ip().to_bits()) << 16 | 4),
            SocketAddr::V6(v6) => {
                let bits = v6.ip().to_bits();
                h.write_u64(bits as u64);
                h.write_u64((bits >> 64) as u64);
            }
        }
        h.write_u64(u64::from(a.port()));
    }
    let mut h = KernelIdHasher::default();
    feed(&mut h, &r.local);
    feed(&mut h, &r.remote);
    h.finish()
}

/// One tracked socket. Kept small (~150 bytes): at 40,000 sockets the
/// whole table is walked every second and counts against the RSS budget.
struct Slot {
    key: Key,
    /// Sample generation in which this socket was last seen; 0 = free slot.
    seen: u64,
    first_seen_ns: u64,
    tuple: u64,
    last: LastCounters<COUNTERS>,
    /// The process map's answer for this socket, remembered until the map
    /// is replaced (`ProcessMap::generation`; 0 = not asked yet): the
    /// slots are walked in order while the map would be probed at random.
    owner: Option<ProcessInfo>,
    owner_generation: u64,
    /// Where this slot stands in `DeltaStore::order`, to pick up the walk
    /// after an index lookup.
    pos: u32,
    /// Index of this socket's record in the sample it was last seen in
    /// (unlike `pos`, never renumbered by `compact`).
    last_index: u32,
}

impl Slot {
    fn baseline(&mut self, ts: u64, tuple: u64, now: [Option<u64>; COUNTERS], generation: u64) {
        self.seen = generation;
        self.first_seen_ns = ts;
        self.tuple = tuple;
        self.last.remember(now);
        self.owner = None;
        self.owner_generation = 0;
    }
}

/// What one `apply` found, for health reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub new: usize,
    pub evicted: usize,
    /// Counters that went backwards and were re-baselined.
    pub resets: usize,
    /// Second sightings of one socket in one sample, dropped.
    pub duplicates: usize,
}

/// Slots live in a dense vector that never moves a live socket, filled in
/// the order sockets first appear. The kernel dumps in a stable order, so
/// each record is first checked against the slot that followed the
/// previous record in the last sample (`order`): a sequential walk. Only
/// when that guess is wrong (a new socket, a gap) is the id → slot index
/// probed, at random and so at a cache miss each.
#[derive(Default)]
pub struct DeltaStore {
    index: HashMap<Key, u32, KernelIdHash>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    generation: u64,
    /// Slots in the order the last sample listed them, and the same being
    /// built for this sample (kept to reuse the allocation).
    order: Vec<u32>,
    next_order: Vec<u32>,
    /// Sockets the last `apply` found gone: the index of each one's record
    /// in the sample before it.
    gone: Vec<u32>,
}

impl DeltaStore {
    pub fn new() -> DeltaStore {
        DeltaStore::default()
    }

    /// Sockets currently tracked (equals the live socket count after each
    /// `apply`).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The sockets the last [`apply`](Self::apply) found gone, as indices
    /// into the sample applied before it, in no particular order.
    pub fn gone(&self) -> &[u32] {
        &self.gone
    }

    /// One complete fast-tier sample: fill deltas and `age_ms` on every
    /// record, join the owning process from `procs`, and forget sockets
    /// that are gone. The first sight of a socket has `age_ms` 0 and no
    /// deltas (there is no earlier value to subtract).
    ///
    /// A socket listed twice in one sample is kept once, as first listed:
    /// Linux resumes a sock_diag dump that spans several reads by its
    /// position in a hash chain, so a connection closing during the dump
    /// can shift a live one into the next read a second time.
    pub fn apply(
        &mut self,
        ts: u64,
        sockets: &mut Vec<SocketRecord>,
        procs: Option<&ProcessMap>,
    ) -> ApplyStats {
        self.generation += 1;
        let generation = self.generation;
        let mut stats = ApplyStats::default();
        // Distinct tracked sockets seen in this sample.
        let mut seen = 0;
        let mut cursor = 0usize;
        self.next_order.clear();
        self.gone.clear();
        let mut duplicate = Vec::new();
        for (index, r) in sockets.iter_mut().enumerate() {
            let now = r.delta_counters();
            let key = Key::of(r);
            let tuple = tuple_fingerprint(r);
            // Every slot in `order` is live (evictions rebuild it), so a
            // matching key there is this socket's slot.
            let guess = self
                .order
                .get(cursor)
                .copied()
                .filter(|&i| self.slots[i as usize].key == key);
            let i = match guess {
                Some(i) => {
                    cursor += 1;
                    i
                }
                None => match self.index.get(&key) {
                    Some(&i) => {
                        cursor = self.slots[i as usize].pos as usize + 1;
                        i
                    }
                    None => {
                        let i = self.alloc(key);
                        self.index.insert(key, i);
                        // Fresh slot: falls through to the new-baseline arm.
                        self.slots[i as usize].seen = 0;
                        i
                    }
                },
            };
            let slot = &mut self.slots[i as usize];
            if slot.seen == generation {
                duplicate.push(index);
                continue;
            }
            seen += 1;
            // Only a hint (checked against the key before use), so setting
            // it now, before later records' lookups, is harmless.
            slot.pos = self.next_order.len() as u32;
            slot.last_index = self.next_order.len() as u32;
            self.next_order.push(i);
            // The same identity on another 4-tuple is not the same
            // connection (identity reused by the kernel): a new baseline,
            // as for a new socket.
            if slot.seen != 0 && slot.tuple == tuple {
                let mut d = [None; COUNTERS];
                for (i, delta) in d.iter_mut().enumerate() {
                    *delta = match (now[i], slot.last.get(i)) {
                        (Some(n), Some(l)) if n >= l => Some(n - l),
                        (Some(_), Some(_)) => {
                            stats.resets += 1;
                            None
                        }
                        _ => None,
                    };
                }
                r.set_deltas(d);
                r.set()
                    .age_ms(Some(ts.saturating_sub(slot.first_seen_ns) / 1_000_000));
                slot.last.remember(now);
                slot.seen = generation;
            } else {
                stats.new += 1;
                r.set_deltas([None; COUNTERS]);
                r.set().age_ms(Some(0));
                slot.baseline(ts, tuple, now, generation);
            }
            if let Some(map) = procs {
                if slot.owner_generation != map.generation() {
                    slot.owner = map.owner(r).cloned();
                    slot.owner_generation = map.generation();
                }
                if let Some(owner) = &slot.owner {
                    owner.apply_to(r);
                }
            }
        }
        if !duplicate.is_empty() {
            stats.duplicates = duplicate.len();
            let mut index = 0;
            let mut next = duplicate.iter().peekable();
            sockets.retain(|_| {
                let keep = next.next_if_eq(&&index).is_none();
                index += 1;
                keep
            });
        }
        std::mem::swap(&mut self.order, &mut self.next_order);
        if seen < self.index.len() {
            stats.evicted = self.evict(generation);
        }
        stats
    }

    /// A free slot for `key` (contents to be set by the caller).
    fn alloc(&mut self, key: Key) -> u32 {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize].key = key;
            return i;
        }
        self.slots.push(Slot {
            key,
            seen: 0,
            first_seen_ns: 0,
            tuple: 0,
            last: LastCounters::NONE,
            owner: None,
            owner_generation: 0,
            pos: 0,
            last_index: 0,
        });
        // Slot numbers fit u32: a host has far fewer than 4 billion sockets.
        (self.slots.len() - 1) as u32
    }

    /// Free the slots not seen in `generation`; returns how many.
    fn evict(&mut self, generation: u64) -> usize {
        let mut evicted = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.seen != 0 && s.seen != generation {
                self.index.remove(&s.key);
                self.gone.push(s.last_index);
                s.seen = 0;
                self.free.push(i as u32);
                evicted += 1;
            }
        }
        // Give memory back once the socket count has fallen well below
        // what the table was sized for: rebuild it densely.
        if self.slots.len() > 1024 && self.index.len() < self.slots.len() / 4 {
            self.compact();
        }
        evicted
    }

    fn compact(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        self.slots = slots.into_iter().filter(|s| s.seen != 0).collect();
        // `collect` reuses the old allocation in place: release the excess.
        self.slots.shrink_to_fit();
        self.free = Vec::new();
        self.index = HashMap::with_capacity_and_hasher(self.slots.len(), KernelIdHash::default());
        for (i, s) in self.slots.iter_mut().enumerate() {
            self.index.insert(s.key, i as u32);
            s.pos = i as u32;
        }
        // Slot numbers changed: the sequence is rebuilt in dump order by
        // the next sample.
        self.order = (0..self.slots.len() as u32).collect();
        self.next_order = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ProcessInfo;
    use crate::record::TcpState;
    use std::sync::Arc;

    fn sock(id: Option<u64>, lport: u16, rexmit: u64, bytes: u64) -> SocketRecord {
        let mut r = SocketRecord::new(
            0,
            SocketAddr::from(([127, 0, 0, 1], lport)),
            "127.0.0.1:80".parse().unwrap(),
            TcpState::Established,
        );
        r.set().sock_id(id);
        r.set().rexmit(Some(rexmit));
        r.set().ooo(Some(0));
        r.set().bytes_acked(Some(bytes));
        r
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn deltas_and_age() {
        let mut st = DeltaStore::new();
        let mut v = vec![sock(Some(1), 1000, 2, 100)];
        let s = st.apply(10 * S, &mut v, None);
        assert_eq!(
            (s.new, v[0].age_ms(), v[0].rexmit_delta()),
            (1, Some(0), None)
        );
        let mut v = vec![sock(Some(1), 1000, 5, 600)];
        st.apply(11 * S + 500_000_000, &mut v, None);
        assert_eq!(v[0].rexmit_delta(), Some(3));
        assert_eq!(v[0].ooo_delta(), Some(0));
        assert_eq!(v[0].bytes_acked_delta(), Some(500));
        assert_eq!(v[0].zerowin_delta(), None, "absent counter, absent delta");
        assert_eq!(v[0].age_ms(), Some(1500));
    }

    #[test]
    fn reused_tuple_with_new_id_starts_fresh() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut vec![sock(Some(1), 1000, 50, 5000)], None);
        // Same 4-tuple, new identity, smaller counters: a new connection.
        let mut v = vec![sock(Some(2), 1000, 1, 10)];
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!((s.new, s.evicted, s.resets), (1, 1, 0));
        assert_eq!(v[0].rexmit_delta(), None);
        assert_eq!(v[0].age_ms(), Some(0));
        assert_eq!(st.len(), 1);
    }

    #[test]
    fn same_id_on_another_tuple_starts_fresh() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut vec![sock(Some(1), 1000, 50, 5000)], None);
        let mut v = vec![sock(Some(1), 2000, 60, 6000)];
        st.apply(2 * S, &mut v, None);
        assert_eq!((v[0].rexmit_delta(), v[0].age_ms()), (None, Some(0)));
    }

    /// Only the address changes (same ports, same id): still another
    /// connection, for IPv4 and IPv6 alike.
    #[test]
    fn same_id_on_another_address_starts_fresh() {
        for (a, b) in [
            ("127.0.0.1:1000", "127.0.0.2:1000"),
            ("[2001:db8::1]:1000", "[2001:db8::2]:1000"),
            // Differing in the high half of the address only.
            ("[2001:db8::1]:1000", "[2001:db9::1]:1000"),
        ] {
            let mut st = DeltaStore::new();
            let mut r = sock(Some(1), 1000, 50, 5000);
            r.local = a.parse().unwrap();
            st.apply(S, &mut vec![r.clone()], None);
            r.local = b.parse().unwrap();
            r.set().rexmit(Some(60));
            let mut v = vec![r];
            st.apply(2 * S, &mut v, None);
            assert_eq!(
                (v[0].rexmit_delta(), v[0].age_ms()),
                (None, Some(0)),
                "{a} -> {b}"
            );
        }
    }

    #[test]
    fn counter_going_backwards_rebaselines() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut vec![sock(Some(7), 1000, 10, 1000)], None);
        let mut v = vec![sock(Some(7), 1000, 4, 1500)];
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!(s.resets, 1);
        assert_eq!(v[0].rexmit_delta(), None, "no negative or wrapped delta");
        assert_eq!(
            v[0].bytes_acked_delta(),
            Some(500),
            "other counters unaffected"
        );
        let mut v = vec![sock(Some(7), 1000, 6, 1500)];
        st.apply(3 * S, &mut v, None);
        assert_eq!(
            v[0].rexmit_delta(),
            Some(2),
            "new baseline is the lower value"
        );
        assert_eq!(v[0].age_ms(), Some(2000), "age is kept");
    }

    #[test]
    fn gone_sockets_are_evicted_and_memory_follows() {
        let mut st = DeltaStore::new();
        let mut v: Vec<_> = (0..10_000)
            .map(|i| sock(Some(i), 1000 + (i % 60000) as u16, 0, 0))
            .collect();
        st.apply(S, &mut v, None);
        assert_eq!(st.len(), 10_000);
        assert!(!st.is_empty());
        let cap = st.slots.capacity();
        let mut v: Vec<_> = (0..10)
            .map(|i| sock(Some(i), 1000 + i as u16, 0, 0))
            .collect();
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!((st.len(), s.evicted), (10, 9_990));
        assert!(
            st.slots.capacity() < cap / 4,
            "{} vs {cap}",
            st.slots.capacity()
        );
        st.apply(3 * S, &mut Vec::new(), None);
        assert!(st.is_empty());
    }

    #[test]
    fn without_sock_id_keyed_by_tuple_and_inode() {
        let mut st = DeltaStore::new();
        let mut a = sock(None, 1000, 1, 0);
        a.set().inode(Some(55));
        st.apply(S, &mut vec![a.clone()], None);
        let mut b = a.clone();
        b.set().rexmit(Some(4));
        let mut v = vec![b.clone()];
        st.apply(2 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta(), Some(3));
        b.set().inode(Some(56));
        let mut v = vec![b];
        st.apply(3 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta(), None, "new inode, new socket");
    }

    #[test]
    fn a_socket_listed_twice_in_one_sample_is_kept_once() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut vec![sock(Some(1), 1000, 1, 0)], None);
        let mut v = vec![
            sock(Some(1), 1000, 3, 0),
            sock(Some(2), 2000, 5, 0),
            sock(Some(1), 1000, 9, 0),
        ];
        let stats = st.apply(2 * S, &mut v, None);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(v.len(), 2, "the second listing is dropped");
        assert_eq!((v[0].sock_id(), v[0].rexmit_delta()), (Some(1), Some(2)));
        assert_eq!(v[1].sock_id(), Some(2));
        assert_eq!(st.len(), 2);
        // The first listing set the baseline, not the dropped one.
        let mut v = vec![sock(Some(1), 1000, 4, 0)];
        st.apply(3 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta(), Some(1));
        // Socket 2 is gone, and its close record points at its place in
        // the deduplicated sample.
        assert_eq!(st.gone(), &[1]);
    }

    #[test]
    fn a_freed_slot_does_not_leak_its_counters_into_a_new_socket() {
        let mut st = DeltaStore::new();
        st.apply(
            S,
            &mut vec![sock(Some(1), 1, 0, 0), sock(Some(2), 2, 90, 900)],
            None,
        );
        st.apply(2 * S, &mut vec![sock(Some(1), 1, 0, 0)], None);
        let mut v = vec![sock(Some(1), 1, 0, 0), sock(Some(3), 2, 95, 950)];
        let s = st.apply(3 * S, &mut v, None);
        assert_eq!((s.new, s.evicted), (1, 0));
        assert_eq!((v[1].rexmit_delta(), v[1].age_ms()), (None, Some(0)));
        assert_eq!(v[0].age_ms(), Some(2000));
        assert_eq!(st.len(), 2);
    }

    /// The model's view of a sample: each identity once, as first listed.
    fn first_listings<T>(sample: &[T], id: impl Fn(&T) -> u64) -> Vec<&T> {
        let mut listed = std::collections::HashSet::new();
        sample.iter().filter(|s| listed.insert(id(s))).collect()
    }

    proptest::proptest! {
        /// Against a plain map of the rules: any sequence of samples (ids
        /// coming and going, tuples changing, counters moving either way)
        /// gives the same deltas, ages and tracked count.
        #[test]
        fn matches_a_reference_model(
            samples in proptest::collection::vec(
                proptest::collection::vec((0u64..24, 0u16..3, 0u64..50), 0..30),
                1..12,
            )
        ) {
            let mut st = DeltaStore::new();
            // id -> (first seen, port, last rexmit)
            let mut model: HashMap<u64, (u64, u16, u64)> = HashMap::new();
            for (n, sample) in samples.iter().enumerate() {
                let ts = (n as u64 + 1) * S;
                let mut v: Vec<_> = sample
                    .iter()
                    .map(|&(id, port, rexmit)| sock(Some(id), 1000 + port, rexmit, 0))
                    .collect();
                st.apply(ts, &mut v, None);
                let mut next: HashMap<u64, (u64, u16, u64)> = HashMap::new();
                let kept = first_listings(sample, |s| s.0);
                proptest::prop_assert_eq!(v.len(), kept.len());
                for (r, &&(id, port, rexmit)) in v.iter().zip(&kept) {
                    let prev = model.get(&id).filter(|p| p.1 == port);
                    let (want_delta, first) = match prev {
                        Some(&(first, _, last)) => ((rexmit >= last).then(|| rexmit - last), first),
                        None => (None, ts),
                    };
                    proptest::prop_assert_eq!(r.rexmit_delta(), want_delta);
                    proptest::prop_assert_eq!(r.age_ms(), Some((ts - first) / 1_000_000));
                    next.insert(id, (first, port, rexmit));
                }
                model = next;
                proptest::prop_assert_eq!(st.len(), model.len());
            }
        }
    }

    /// Each delta counter by name, read and written straight from the
    /// fields rather than through the table-generated accessors the store
    /// uses, so a store that mixes counters up disagrees with this list.
    type Get = fn(&SocketRecord) -> Option<u64>;
    type Set = fn(&mut SocketRecord, Option<u64>);
    const COUNTERS_BY_NAME: [(&str, &str, Get, Set, Get); 7] = [
        (
            "rexmit",
            "rexmit_delta",
            |r| r.rexmit(),
            |r, v| {
                r.set().rexmit(v);
            },
            |r| r.rexmit_delta(),
        ),
        (
            "ooo",
            "ooo_delta",
            |r| r.ooo(),
            |r, v| {
                r.set().ooo(v);
            },
            |r| r.ooo_delta(),
        ),
        (
            "zerowin",
            "zerowin_delta",
            |r| r.zerowin(),
            |r, v| {
                r.set().zerowin(v);
            },
            |r| r.zerowin_delta(),
        ),
        (
            "bytes_acked",
            "bytes_acked_delta",
            |r| r.bytes_acked(),
            |r, v| {
                r.set().bytes_acked(v);
            },
            |r| r.bytes_acked_delta(),
        ),
        (
            "bytes_received",
            "bytes_received_delta",
            |r| r.bytes_received(),
            |r, v| {
                r.set().bytes_received(v);
            },
            |r| r.bytes_received_delta(),
        ),
        (
            "segs_out",
            "segs_out_delta",
            |r| r.segs_out(),
            |r, v| {
                r.set().segs_out(v);
            },
            |r| r.segs_out_delta(),
        ),
        (
            "segs_in",
            "segs_in_delta",
            |r| r.segs_in(),
            |r, v| {
                r.set().segs_in(v);
            },
            |r| r.segs_in_delta(),
        ),
    ];

    /// The list above names exactly the table's counters and their
    /// deltas: a counter added to the table fails here until the model
    /// below covers it.
    #[test]
    fn the_reference_model_names_every_table_counter() {
        let table: Vec<(&str, &str)> = crate::record::FIELDS
            .iter()
            .filter_map(|f| match f.kind {
                crate::record::FieldKind::Counter { delta } => Some((f.name, delta)),
                _ => None,
            })
            .collect();
        let model: Vec<(&str, &str)> = COUNTERS_BY_NAME.iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(model, table);
    }

    /// A record whose counters take values from disjoint ranges (counter
    /// `i` lives in `[i * 1000, i * 1000 + 60)`), so a delta computed from
    /// the wrong counter, or written to the wrong field, cannot match.
    fn sock_with_counters(id: u64, port: u16, raw: &[Option<u64>]) -> SocketRecord {
        let mut r = sock(Some(id), 1000 + port, 0, 0);
        for (i, c) in COUNTERS_BY_NAME.iter().enumerate() {
            (c.3)(&mut r, raw[i].map(|v| i as u64 * 1000 + v));
        }
        r
    }

    proptest::proptest! {
        /// Every counter against a plain model of the rules, each counter
        /// with its own values and its own presence: the delta of counter
        /// `c` is `now - last` when both are known and `now >= last`,
        /// absent otherwise (and on first sight or a moved tuple); a
        /// repeated identity within one sample is dropped.
        #[test]
        fn every_counter_matches_a_reference_model(
            samples in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        0u64..12,
                        0u16..2,
                        proptest::collection::vec(proptest::option::weighted(0.85, 0u64..60), 7),
                    ),
                    0..16,
                ),
                1..10,
            )
        ) {
            let mut st = DeltaStore::new();
            // id -> (port, counter values as written into the record)
            let mut model: HashMap<u64, (u16, Vec<Option<u64>>)> = HashMap::new();
            for (n, sample) in samples.iter().enumerate() {
                let ts = (n as u64 + 1) * S;
                let mut v: Vec<_> = sample
                    .iter()
                    .map(|(id, port, raw)| sock_with_counters(*id, *port, raw))
                    .collect();
                st.apply(ts, &mut v, None);
                let mut next: HashMap<u64, (u16, Vec<Option<u64>>)> = HashMap::new();
                let kept = first_listings(sample, |s| s.0);
                proptest::prop_assert_eq!(v.len(), kept.len());
                for (r, (id, port, _)) in v.iter().zip(kept) {
                    let now: Vec<Option<u64>> = COUNTERS_BY_NAME.iter().map(|c| (c.2)(r)).collect();
                    let prev = model.get(id).filter(|p| p.0 == *port);
                    for (i, c) in COUNTERS_BY_NAME.iter().enumerate() {
                        let want = match (prev.and_then(|p| p.1[i]), now[i]) {
                            (Some(last), Some(n)) if n >= last => Some(n - last),
                            _ => None,
                        };
                        proptest::prop_assert_eq!((c.4)(r), want, "{} of socket {}", c.1, id);
                    }
                    next.insert(*id, (*port, now));
                }
                model = next;
            }
        }
    }

    #[test]
    fn the_join_follows_a_replaced_process_map() {
        let owner = |pid, cmd: &str| ProcessInfo {
            pid,
            fd: 3,
            uid: None,
            command: Arc::from(cmd),
        };
        let mut st = DeltaStore::new();
        let mut r = sock(Some(1), 1000, 0, 0);
        r.set().proc_key(Some(99));
        let mut map = ProcessMap::new();
        map.insert(99, owner(10, "old"));
        let mut v = vec![r.clone()];
        st.apply(S, &mut v, Some(&map));
        assert_eq!(
            (v[0].pid(), v[0].command().as_deref()),
            (Some(10), Some("old"))
        );
        // Same map again: the remembered answer.
        let mut v = vec![r.clone()];
        st.apply(2 * S, &mut v, Some(&map));
        assert_eq!(v[0].pid(), Some(10));
        // A new map (the socket passed to another process): the new owner.
        let mut map = ProcessMap::new();
        map.insert(99, owner(20, "new"));
        let mut v = vec![r.clone()];
        st.apply(3 * S, &mut v, Some(&map));
        assert_eq!(
            (v[0].pid(), v[0].command().as_deref()),
            (Some(20), Some("new"))
        );
        // A map that no longer knows the socket: no owner, not a stale one.
        let mut v = vec![r.clone()];
        st.apply(4 * S, &mut v, Some(&ProcessMap::new()));
        assert_eq!((v[0].pid(), v[0].command().as_deref()), (None, None));
        // A map changed in place after the join is a new generation too.
        map.insert(98, owner(30, "other"));
        map.insert(99, owner(5, "lower pid"));
        let mut v = vec![r];
        st.apply(5 * S, &mut v, Some(&map));
        assert_eq!(v[0].pid(), Some(5));
    }

    #[test]
    fn process_join() {
        let mut map = ProcessMap::new();
        map.insert(
            99,
            ProcessInfo {
                pid: 42,
                fd: 7,
                uid: Some(0),
                command: Arc::from("nginx"),
            },
        );
        let mut r = sock(Some(1), 1000, 0, 0);
        r.set().proc_key(Some(99));
        let mut v = vec![r];
        DeltaStore::new().apply(S, &mut v, Some(&map));
        assert_eq!(
            (v[0].pid(), v[0].fd(), v[0].command().as_deref()),
            (Some(42), Some(7), Some("nginx"))
        );
    }

    /// Presence is one flag per counter: with far more counters than
    /// the bits of a byte, each keeps its own value and presence.
    #[test]
    fn many_counters_keep_their_own_presence() {
        const N: usize = 70;
        let now: [Option<u64>; N] =
            std::array::from_fn(|i| (i % 3 != 0).then_some(i as u64 * 1000));
        let mut last = LastCounters::<N>::NONE;
        last.remember(now);
        for (i, v) in now.iter().enumerate() {
            assert_eq!(last.get(i), *v, "counter {i}");
        }
        last.remember([None; N]);
        assert!((0..N).all(|i| last.get(i).is_none()));
    }

    /// Every counter of the table with a delta gets one from the store.
    #[test]
    fn every_table_counter_gets_its_delta() {
        let mut st = DeltaStore::new();
        let mut v = vec![SocketRecord::every_field_set(1)];
        st.apply(S, &mut v, None);
        let first = v.pop().unwrap();
        assert_eq!(first.deltas(), [None; COUNTERS], "first sight: no deltas");
        let mut later = SocketRecord::every_field_set(3);
        later.set().sock_id(first.sock_id());
        let mut v = vec![later];
        st.apply(2 * S, &mut v, None);
        let later = v.pop().unwrap();
        let (before, after) = (first.delta_counters(), later.delta_counters());
        let want: [Option<u64>; COUNTERS] =
            std::array::from_fn(|i| Some(after[i].unwrap() - before[i].unwrap()));
        assert_eq!(later.deltas(), want);
        const { assert!(COUNTERS > 0) };
    }

    /// The table is rebuilt densely exactly when it has more than 1024
    /// slots and fewer than a quarter of them hold a live socket: just
    /// below either threshold the freed slots are kept for reuse.
    #[test]
    fn compaction_thresholds_are_1024_slots_and_a_quarter_full() {
        // Fill `slots` sockets, keep the first `live`; the slot count after
        // that sample says whether the table was rebuilt.
        fn slots_after(slots: u64, live: u64) -> usize {
            let mut st = DeltaStore::new();
            let mut v: Vec<_> = (0..slots).map(|i| sock(Some(i), 1, 0, 0)).collect();
            st.apply(S, &mut v, None);
            assert_eq!(st.slots.len() as u64, slots);
            let mut v: Vec<_> = (0..live).map(|i| sock(Some(i), 1, 0, 0)).collect();
            let s = st.apply(2 * S, &mut v, None);
            assert_eq!((st.len() as u64, s.evicted as u64), (live, slots - live));
            st.slots.len()
        }
        // 1024 slots is not "more than 1024", however empty.
        assert_eq!(slots_after(1024, 1), 1024, "1024 slots, 1 live: kept");
        assert_eq!(slots_after(1025, 1), 1, "1025 slots, 1 live: rebuilt");
        // 1028 / 4 = 257: exactly a quarter is not fewer than a quarter.
        assert_eq!(slots_after(1028, 257), 1028, "a quarter live: kept");
        assert_eq!(slots_after(1028, 256), 256, "under a quarter: rebuilt");
        assert_eq!(slots_after(2000, 1000), 2000, "half live: kept");
    }
}
