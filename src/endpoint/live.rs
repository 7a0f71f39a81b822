//! The newest picture of the host: the latest socket table, the latest
//! `system` record of every tier, and what is derived from them.
//!
//! A `Live` is immutable once published; a new batch makes a new `Live`.
//! Everything derived (aggregates, the rendered `/metrics` body, rendered
//! snapshots) is computed at most once per `Live`, lazily, on the first
//! request that needs it — so publishing costs the pipeline a pointer swap,
//! and ten scrapers cost one render, not ten.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use serde::Serialize;

use super::per_socket::PerSocket;
use crate::config::EndpointSettings;
use crate::record::{Batch, STATE_COUNT, SocketRecord, StateCounts, SystemRecord, TcpState, Tier};

/// Most entries in each "top connections" list.
pub const TOP_MAX: usize = 100;

/// Upper bounds of the RTT histogram buckets, microseconds (+Inf implied).
/// From 25 µs: loopback and same-rack paths live below 100 µs.
pub const RTT_BOUNDS_US: &[u64] = &[
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// Upper bounds of the congestion-window histogram buckets, bytes.
pub const CWND_BOUNDS: &[u64] = &[
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
    16 << 20,
];

/// Slot of a tier in `Live::systems`; one-shot samples (`tier: None`) last.
pub const SYSTEM_SLOTS: usize = 5;

pub fn slot(tier: Option<Tier>) -> usize {
    match tier {
        Some(Tier::Fast) => 0,
        Some(Tier::Standard) => 1,
        Some(Tier::Slow) => 2,
        Some(Tier::Aggregate) => 3,
        None => 4,
    }
}

pub fn slot_name(slot: usize) -> &'static str {
    match slot {
        0 => "fast",
        1 => "standard",
        2 => "slow",
        3 => "aggregate",
        _ => "once",
    }
}

/// A distribution of sockets over fixed buckets. `counts` has one more
/// slot than `bounds` (the +Inf bucket) and is per bucket, not cumulative.
#[derive(Clone, Debug, Serialize)]
pub struct Histogram {
    #[serde(skip)]
    pub bounds: &'static [u64],
    /// Bucket upper bounds (inclusive), the unit is in the owner's name.
    pub le: &'static [u64],
    pub counts: Vec<u64>,
    pub sum: u64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            le: bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0,
            count: 0,
        }
    }

    fn observe(&mut self, v: u64) {
        let i = self.bounds.partition_point(|&b| b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum = self.sum.saturating_add(v);
        self.count += 1;
    }
}

/// Aggregates over the socket table, computed in one pass.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub sockets: u64,
    pub state_names: [&'static str; STATE_COUNT],
    pub state_counts: StateCounts,
    /// RTT of sockets that report one, microseconds.
    pub rtt_us: Histogram,
    /// Congestion window of sockets that report one, bytes.
    pub cwnd_bytes: Histogram,
    /// Retransmitted segments summed over sockets during the last interval.
    pub rexmit_delta_sum: u64,
    /// Sockets that retransmitted during the last interval.
    pub sockets_retransmitting: u64,
    /// Indices into the table, worst first (see `rank_rexmit`, `rank_rtt`).
    #[serde(skip)]
    pub top_rexmit: Vec<usize>,
    #[serde(skip)]
    pub top_rtt: Vec<usize>,
    /// Listeners whose accept queue is over 80 % of its backlog.
    pub listeners_nearly_full: u64,
    /// Indices of those listeners, fullest first (see `rank_fill`).
    #[serde(skip)]
    pub full_listeners: Vec<usize>,
}

impl Summary {
    pub fn of(sockets: &[SocketRecord]) -> Summary {
        let mut s = Summary {
            sockets: sockets.len() as u64,
            state_names: TcpState::ALL.map(TcpState::name),
            state_counts: [0; STATE_COUNT],
            rtt_us: Histogram::new(RTT_BOUNDS_US),
            cwnd_bytes: Histogram::new(CWND_BOUNDS),
            rexmit_delta_sum: 0,
            sockets_retransmitting: 0,
            top_rexmit: Vec::new(),
            top_rtt: Vec::new(),
            listeners_nearly_full: 0,
            full_listeners: Vec::new(),
        };
        let mut rexmit = Vec::new();
        let mut full = Vec::new();
        let mut rtt = Vec::new();
        for (i, r) in sockets.iter().enumerate() {
            s.state_counts[r.state.index()] += 1;
            if has_path(r.state) {
                if let Some(v) = r.rtt_us() {
                    s.rtt_us.observe(u64::from(v));
                    rtt.push(i);
                }
                if let Some(v) = r.cwnd() {
                    s.cwnd_bytes.observe(v);
                }
            }
            let d = r.rexmit_delta().unwrap_or(0);
            s.rexmit_delta_sum = s.rexmit_delta_sum.saturating_add(d);
            s.sockets_retransmitting += u64::from(d > 0);
            if d > 0 || r.rexmit().unwrap_or(0) > 0 {
                rexmit.push(i);
            }
            if accept_queue_nearly_full(r) {
                full.push(i);
            }
        }
        s.listeners_nearly_full = full.len() as u64;
        s.full_listeners = top_n(full, TOP_MAX, |i| rank_fill(&sockets[i]));
        s.top_rexmit = top_n(rexmit, TOP_MAX, |i| rank_rexmit(&sockets[i]));
        s.top_rtt = top_n(rtt, TOP_MAX, |i| rank_rtt(&sockets[i]));
        s
    }
}

/// States in which a socket has a peer and therefore a meaningful RTT and
/// congestion window (not LISTEN, not the TIME_WAIT/CLOSED remnants).
pub fn has_path(st: TcpState) -> bool {
    !matches!(st, TcpState::Listen | TcpState::TimeWait | TcpState::Closed)
}

/// Worse first: recent retransmits, then lifetime retransmits, then RTT.
pub fn rank_rexmit(r: &SocketRecord) -> (u64, u64, u32) {
    (
        r.rexmit_delta().unwrap_or(0),
        r.rexmit().unwrap_or(0),
        r.rtt_us().unwrap_or(0),
    )
}

/// A listener whose accept queue holds more than 80 % of its backlog:
/// new connections are about to be dropped (Linux admits backlog + 1, so
/// a queue over the backlog, and any queue at backlog 0, counts too).
pub fn accept_queue_nearly_full(r: &SocketRecord) -> bool {
    match (r.accept_queue(), r.accept_backlog()) {
        (Some(q), Some(b)) => u64::from(q) * 5 > u64::from(b) * 4,
        _ => false,
    }
}

/// Fuller first: queue per backlog (in thousandths), then the queue.
pub fn rank_fill(r: &SocketRecord) -> (u64, u32) {
    let q = r.accept_queue().unwrap_or(0);
    let b = r.accept_backlog().unwrap_or(0).max(1);
    (u64::from(q) * 1000 / u64::from(b), q)
}

/// Worse first: RTT, then its variance.
pub fn rank_rtt(r: &SocketRecord) -> (u32, u32) {
    (r.rtt_us().unwrap_or(0), r.rttvar_us().unwrap_or(0))
}

/// The `n` candidates with the highest key, highest first; ties keep table
/// order so the lists are stable between renders.
pub fn top_n<K: Ord>(mut idx: Vec<usize>, n: usize, key: impl Fn(usize) -> K) -> Vec<usize> {
    let cmp = |a: &usize, b: &usize| key(*b).cmp(&key(*a)).then(a.cmp(b));
    if idx.len() > n && n > 0 {
        idx.select_nth_unstable_by(n - 1, cmp);
        idx.truncate(n);
    }
    idx.truncate(n);
    idx.sort_by(cmp);
    idx
}

/// The newest state of the host, as the endpoint serves it.
pub struct Live {
    /// Bumped by every publish and every reconfigure.
    pub generation: u64,
    pub settings: Arc<EndpointSettings>,
    /// The latest batch carrying the socket table (fast tier or one-shot).
    pub table: Option<Arc<Batch>>,
    /// The latest batch with a `system` record, per tier slot.
    pub systems: [Option<Arc<Batch>>; SYSTEM_SLOTS],
    /// Segments retransmitted by the sampled sockets, summed over every
    /// socket-table sample since the agent started.
    pub socket_retransmits_total: u64,
    /// Rows of `table` with per-socket series (when configured).
    pub per_socket: PerSocket,
    summary: OnceLock<Summary>,
    metrics: OnceLock<Bytes>,
    /// Rendered snapshots by (socket rows, top entries); a few variants,
    /// each rendered once however many requests want it at the same time.
    snapshots: Mutex<Vec<SnapshotSlot>>,
}

type SnapshotSlot = ((usize, usize), Arc<OnceLock<Bytes>>);

/// Distinct snapshot queries rendered per sample. More are refused (the
/// caller answers 503) so that many different queries at once cannot make
/// the agent hold many copies of a big table.
pub const SNAPSHOT_VARIANTS: usize = 8;

impl Live {
    pub fn empty(settings: Arc<EndpointSettings>) -> Live {
        Live {
            generation: 0,
            settings,
            table: None,
            systems: Default::default(),
            socket_retransmits_total: 0,
            per_socket: PerSocket::default(),
            summary: OnceLock::new(),
            metrics: OnceLock::new(),
            snapshots: Mutex::new(Vec::new()),
        }
    }

    /// The next state after `batch`.
    pub fn with_batch(&self, batch: Arc<Batch>) -> Live {
        let mut next = self.derive(self.settings.clone());
        if matches!(batch.tier, Some(Tier::Fast) | None) {
            let rexmits: u64 = batch.sockets.iter().filter_map(|r| r.rexmit_delta()).sum();
            next.socket_retransmits_total = next.socket_retransmits_total.wrapping_add(rexmits);
            if self.settings.per_socket_metrics {
                next.per_socket = PerSocket::choose(
                    self.per_socket.keys(self.sockets()),
                    &batch.sockets,
                    self.settings.per_socket_metrics_limit,
                );
            }
            next.table = Some(batch.clone());
        }
        if batch.system.is_some() {
            let i = slot(batch.tier);
            next.systems[i] = Some(batch);
        }
        next
    }

    /// The socket-table batch, once this state is no longer served (the
    /// same batch may also sit in `systems`, which is let go here).
    pub fn into_table(self) -> Option<Arc<Batch>> {
        self.table
    }

    /// The same data under new settings (derived renders start afresh).
    pub fn derive(&self, settings: Arc<EndpointSettings>) -> Live {
        Live {
            generation: self.generation.wrapping_add(1),
            settings,
            table: self.table.clone(),
            systems: self.systems.clone(),
            socket_retransmits_total: self.socket_retransmits_total,
            per_socket: self.per_socket.clone(),
            summary: OnceLock::new(),
            metrics: OnceLock::new(),
            snapshots: Mutex::new(Vec::new()),
        }
    }

    pub fn sockets(&self) -> &[SocketRecord] {
        self.table.as_deref().map_or(&[], |b| b.sockets.as_slice())
    }

    pub fn summary(&self) -> &Summary {
        self.summary.get_or_init(|| Summary::of(self.sockets()))
    }

    /// The `system` record that goes with the socket table, else the newest.
    pub fn system(&self) -> Option<&SystemRecord> {
        if let Some(sys) = self.table.as_deref().and_then(|b| b.system.as_ref()) {
            return Some(sys);
        }
        self.newest_system(|_| true)
    }

    /// The newest `system` record (by `ts`) satisfying `want`.
    pub fn newest_system(&self, want: impl Fn(&SystemRecord) -> bool) -> Option<&SystemRecord> {
        self.systems
            .iter()
            .filter_map(|b| b.as_deref().and_then(|b| b.system.as_ref()))
            .filter(|s| want(s))
            .max_by_key(|s| s.ts)
    }

    pub fn metrics_body(&self, render: impl FnOnce(&Live) -> Bytes) -> Bytes {
        self.metrics.get_or_init(|| render(self)).clone()
    }

    /// The rendered snapshot for `key`, rendering it if this is the first
    /// request; `None` when this sample already has `SNAPSHOT_VARIANTS`
    /// variants, unless `always` (the few standard queries: the default,
    /// the dashboard's, the whole table), which nobody can crowd out.
    pub fn snapshot_body(
        &self,
        key: (usize, usize),
        always: bool,
        render: impl FnOnce(&Live) -> Bytes,
    ) -> Option<Bytes> {
        let cell = {
            let mut cache = self.snapshots.lock().ok()?;
            match cache.iter().find(|(k, _)| *k == key) {
                Some((_, c)) => c.clone(),
                None if always || cache.len() < SNAPSHOT_VARIANTS => {
                    let c = Arc::new(OnceLock::new());
                    cache.push((key, c.clone()));
                    c
                }
                None => return None,
            }
        };
        // Rendered outside the cache lock: other variants need not wait.
        Some(cell.get_or_init(|| render(self)).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(port: u16, state: TcpState, rtt: Option<u32>, rexmit_delta: u64) -> SocketRecord {
        let mut r = SocketRecord::new(
            1,
            format!("127.0.3.1:{port}").parse().unwrap(),
            "127.0.3.2:443".parse().unwrap(),
            state,
        );
        r.set().rtt_us(rtt);
        r.set().cwnd(Some(14480));
        r.set().rexmit_delta(Some(rexmit_delta));
        r.set().rexmit(Some(rexmit_delta * 2));
        r
    }

    #[test]
    fn summary_counts_buckets_and_ranks() {
        let socks = vec![
            sock(1, TcpState::Established, Some(100), 0), // le 100
            sock(2, TcpState::Established, Some(101), 3), // le 250
            sock(3, TcpState::Established, Some(9_000_000), 1), // +Inf
            sock(4, TcpState::Listen, Some(5), 0),        // no path: not in histograms
            sock(5, TcpState::TimeWait, None, 0),
        ];
        let s = Summary::of(&socks);
        assert_eq!(s.sockets, 5);
        assert_eq!(s.state_counts[TcpState::Established.index()], 3);
        assert_eq!(s.rtt_us.count, 3);
        assert_eq!(s.rtt_us.counts[2], 1); // le 100
        assert_eq!(s.rtt_us.counts[3], 1); // le 250
        assert_eq!(*s.rtt_us.counts.last().unwrap(), 1);
        assert_eq!(s.cwnd_bytes.count, 3);
        assert_eq!(s.rexmit_delta_sum, 4);
        assert_eq!(s.sockets_retransmitting, 2);
        assert_eq!(s.top_rexmit, vec![1, 2]);
        assert_eq!(s.top_rtt, vec![2, 1, 0]);
    }

    #[test]
    fn socket_retransmits_add_up_over_samples_and_survive_reconfigure() {
        let settings = Arc::new(crate::config::EndpointConfig::default().validate().unwrap());
        let batch = |deltas: &[u64]| {
            Arc::new(Batch {
                tier: Some(Tier::Fast),
                ts: 0,
                seq: 0,
                interval_ms: 1000,
                system: None,
                sockets: deltas
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| sock(i as u16, TcpState::Established, None, d))
                    .collect(),
                closes: Vec::new(),
            })
        };
        let a = Live::empty(settings.clone()).with_batch(batch(&[3, 0]));
        let b = a.with_batch(batch(&[1, 4]));
        assert_eq!(b.socket_retransmits_total, 8);
        // A slow-tier batch carries no table: nothing added.
        let mut slow = (*batch(&[100])).clone();
        slow.tier = Some(Tier::Slow);
        let c = b.with_batch(Arc::new(slow)).derive(settings);
        assert_eq!(c.socket_retransmits_total, 8);
    }

    fn listener(port: u16, queue: Option<u32>, backlog: Option<u32>) -> SocketRecord {
        let mut r = sock(port, TcpState::Listen, None, 0);
        r.set().accept_queue(queue);
        r.set().accept_backlog(backlog);
        r
    }

    #[test]
    fn listeners_over_80_percent_full_are_listed_fullest_first() {
        let socks = vec![
            listener(1, Some(9), Some(10)),  // 90 %
            listener(2, Some(8), Some(10)),  // exactly 80 %: not over
            listener(3, Some(5), Some(4)),   // Linux admits backlog + 1
            listener(4, Some(0), Some(0)),   // empty
            listener(5, Some(1), Some(0)),   // backlog 0 with one waiting
            listener(6, None, None),         // platform without queues
            listener(7, Some(41), Some(50)), // 82 %
            sock(8, TcpState::Established, Some(100), 0),
        ];
        let s = Summary::of(&socks);
        assert_eq!(s.listeners_nearly_full, 4);
        assert_eq!(s.full_listeners, vec![2, 4, 0, 6]);
    }

    #[test]
    fn top_n_is_partial_and_ordered() {
        let keys = [5u32, 1, 9, 9, 3, 7];
        let top = top_n((0..keys.len()).collect(), 3, |i| keys[i]);
        assert_eq!(top, vec![2, 3, 5]);
        assert!(top_n(vec![], 3, |i| i).is_empty());
    }
}
