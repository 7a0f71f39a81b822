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

use crate::platform::{KernelIdHash, ProcessMap};
use crate::record::SocketRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Id(u64),
    Tuple(SocketAddr, SocketAddr, Option<u64>),
}

/// Kernel ids go to the map's fast hasher as they are; a 4-tuple, which a
/// remote peer can choose, is first condensed by std's keyed SipHash so
/// crafted tuples cannot pile into one bucket.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Id(id) => state.write_u64(*id),
            Key::Tuple(local, remote, inode) => {
                static KEYED: OnceLock<RandomState> = OnceLock::new();
                let sip = KEYED.get_or_init(RandomState::new);
                // The variant tag keeps a tuple's digest from equalling an id.
                state.write_u64(!0);
                state.write_u64(sip.hash_one((local, remote, inode)));
            }
        }
    }
}

impl Key {
    fn of(r: &SocketRecord) -> Key {
        match r.sock_id {
            Some(id) => Key::Id(id),
            None => Key::Tuple(r.local, r.remote, r.inode),
        }
    }
}

/// The cumulative counters a delta is computed for, in a fixed order.
const COUNTERS: usize = 7;

fn counters(r: &SocketRecord) -> [Option<u64>; COUNTERS] {
    [
        r.rexmit,
        r.ooo,
        r.zerowin,
        r.bytes_acked,
        r.bytes_received,
        r.segs_out,
        r.segs_in,
    ]
}

fn set_deltas(r: &mut SocketRecord, d: [Option<u64>; COUNTERS]) {
    r.rexmit_delta = d[0];
    r.ooo_delta = d[1];
    r.zerowin_delta = d[2];
    r.bytes_acked_delta = d[3];
    r.bytes_received_delta = d[4];
    r.segs_out_delta = d[5];
    r.segs_in_delta = d[6];
}

struct Entry {
    first_seen_ns: u64,
    local: SocketAddr,
    remote: SocketAddr,
    last: [Option<u64>; COUNTERS],
    /// Sample generation in which this socket was last seen.
    seen: u64,
}

/// What one `apply` found, for health reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub new: usize,
    pub evicted: usize,
    /// Counters that went backwards and were re-baselined.
    pub resets: usize,
}

#[derive(Default)]
pub struct DeltaStore {
    entries: HashMap<Key, Entry, KernelIdHash>,
    generation: u64,
}

impl DeltaStore {
    pub fn new() -> DeltaStore {
        DeltaStore::default()
    }

    /// Sockets currently tracked (equals the live socket count after each
    /// `apply`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One complete fast-tier sample: fill deltas and `age_ms` on every
    /// record, join the owning process from `procs`, and forget sockets
    /// that are gone. The first sight of a socket has `age_ms` 0 and no
    /// deltas (there is no earlier value to subtract).
    pub fn apply(
        &mut self,
        ts: u64,
        sockets: &mut [SocketRecord],
        procs: Option<&ProcessMap>,
    ) -> ApplyStats {
        self.generation += 1;
        let generation = self.generation;
        let mut stats = ApplyStats::default();
        for r in sockets.iter_mut() {
            if let Some(map) = procs {
                map.attribute(r);
            }
            let now = counters(r);
            let key = Key::of(r);
            match self.entries.get_mut(&key) {
                // The same identity on another 4-tuple is not the same
                // connection (identity reused by the kernel): start fresh.
                Some(e) if e.local == r.local && e.remote == r.remote && e.seen < generation => {
                    let mut d = [None; COUNTERS];
                    for i in 0..COUNTERS {
                        d[i] = match (now[i], e.last[i]) {
                            (Some(n), Some(l)) if n >= l => Some(n - l),
                            (Some(_), Some(_)) => {
                                stats.resets += 1;
                                None
                            }
                            _ => None,
                        };
                    }
                    set_deltas(r, d);
                    r.age_ms = Some(ts.saturating_sub(e.first_seen_ns) / 1_000_000);
                    e.last = now;
                    e.seen = generation;
                }
                _ => {
                    // New socket, reused identity, or a duplicate within one
                    // sample (a source bug we tolerate): new baseline.
                    stats.new += 1;
                    set_deltas(r, [None; COUNTERS]);
                    r.age_ms = Some(0);
                    self.entries.insert(
                        key,
                        Entry {
                            first_seen_ns: ts,
                            local: r.local,
                            remote: r.remote,
                            last: now,
                            seen: generation,
                        },
                    );
                }
            }
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| e.seen == generation);
        stats.evicted = before - self.entries.len();
        // Give memory back once the socket count has fallen well below
        // what the table was sized for.
        if self.entries.capacity() > 1024 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        stats
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
        r.sock_id = id;
        r.rexmit = Some(rexmit);
        r.ooo = Some(0);
        r.bytes_acked = Some(bytes);
        r
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn deltas_and_age() {
        let mut st = DeltaStore::new();
        let mut v = vec![sock(Some(1), 1000, 2, 100)];
        let s = st.apply(10 * S, &mut v, None);
        assert_eq!((s.new, v[0].age_ms, v[0].rexmit_delta), (1, Some(0), None));
        let mut v = vec![sock(Some(1), 1000, 5, 600)];
        st.apply(11 * S + 500_000_000, &mut v, None);
        assert_eq!(v[0].rexmit_delta, Some(3));
        assert_eq!(v[0].ooo_delta, Some(0));
        assert_eq!(v[0].bytes_acked_delta, Some(500));
        assert_eq!(v[0].zerowin_delta, None, "absent counter, absent delta");
        assert_eq!(v[0].age_ms, Some(1500));
    }

    #[test]
    fn reused_tuple_with_new_id_starts_fresh() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut [sock(Some(1), 1000, 50, 5000)], None);
        // Same 4-tuple, new identity, smaller counters: a new connection.
        let mut v = vec![sock(Some(2), 1000, 1, 10)];
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!((s.new, s.evicted, s.resets), (1, 1, 0));
        assert_eq!(v[0].rexmit_delta, None);
        assert_eq!(v[0].age_ms, Some(0));
        assert_eq!(st.len(), 1);
    }

    #[test]
    fn same_id_on_another_tuple_starts_fresh() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut [sock(Some(1), 1000, 50, 5000)], None);
        let mut v = vec![sock(Some(1), 2000, 60, 6000)];
        st.apply(2 * S, &mut v, None);
        assert_eq!((v[0].rexmit_delta, v[0].age_ms), (None, Some(0)));
    }

    #[test]
    fn counter_going_backwards_rebaselines() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut [sock(Some(7), 1000, 10, 1000)], None);
        let mut v = vec![sock(Some(7), 1000, 4, 1500)];
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!(s.resets, 1);
        assert_eq!(v[0].rexmit_delta, None, "no negative or wrapped delta");
        assert_eq!(
            v[0].bytes_acked_delta,
            Some(500),
            "other counters unaffected"
        );
        let mut v = vec![sock(Some(7), 1000, 6, 1500)];
        st.apply(3 * S, &mut v, None);
        assert_eq!(
            v[0].rexmit_delta,
            Some(2),
            "new baseline is the lower value"
        );
        assert_eq!(v[0].age_ms, Some(2000), "age is kept");
    }

    #[test]
    fn gone_sockets_are_evicted_and_memory_follows() {
        let mut st = DeltaStore::new();
        let mut v: Vec<_> = (0..10_000)
            .map(|i| sock(Some(i), 1000 + (i % 60000) as u16, 0, 0))
            .collect();
        st.apply(S, &mut v, None);
        assert_eq!(st.len(), 10_000);
        let cap = st.entries.capacity();
        let mut v: Vec<_> = (0..10)
            .map(|i| sock(Some(i), 1000 + i as u16, 0, 0))
            .collect();
        let s = st.apply(2 * S, &mut v, None);
        assert_eq!((st.len(), s.evicted), (10, 9_990));
        assert!(
            st.entries.capacity() < cap / 4,
            "{} vs {cap}",
            st.entries.capacity()
        );
        st.apply(3 * S, &mut [], None);
        assert!(st.is_empty());
    }

    #[test]
    fn without_sock_id_keyed_by_tuple_and_inode() {
        let mut st = DeltaStore::new();
        let mut a = sock(None, 1000, 1, 0);
        a.inode = Some(55);
        st.apply(S, &mut [a.clone()], None);
        let mut b = a.clone();
        b.rexmit = Some(4);
        let mut v = vec![b.clone()];
        st.apply(2 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta, Some(3));
        b.inode = Some(56);
        let mut v = vec![b];
        st.apply(3 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta, None, "new inode, new socket");
    }

    #[test]
    fn duplicate_identity_in_one_sample_is_not_a_delta() {
        let mut st = DeltaStore::new();
        st.apply(S, &mut [sock(Some(1), 1000, 1, 0)], None);
        let mut v = vec![sock(Some(1), 1000, 3, 0), sock(Some(1), 1000, 9, 0)];
        st.apply(2 * S, &mut v, None);
        assert_eq!(v[0].rexmit_delta, Some(2));
        assert_eq!(v[1].rexmit_delta, None);
        assert_eq!(st.len(), 1);
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
        r.proc_key = Some(99);
        let mut v = vec![r];
        DeltaStore::new().apply(S, &mut v, Some(&map));
        assert_eq!(
            (v[0].pid, v[0].fd, v[0].command.as_deref()),
            (Some(42), Some(7), Some("nginx"))
        );
    }
}
