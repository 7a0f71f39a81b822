//! The delta-store task: the single owner of per-socket state, the
//! latest process map and counter baselines. Turns tier samples into
//! batches and routes each to the sinks that take its tier.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::warn;

use super::delta::DeltaStore;
use super::health::Health;
use super::last_lines::LastLines;
use super::log_limit::LogLimit;
use super::publish::Publisher;
use super::sample::{Census, Payload, Sample};
use super::sink_task::{Refused, Route};
use super::table_pool::TablePool;
use crate::platform::ProcessMap;
use crate::record::{Batch, SystemRecord, TcpCounters, Tier};

/// Control messages, applied between samples.
pub enum Control {
    /// Replace the sink routes (reload). Dropping a route closes its sink.
    SetRoutes(Vec<Route>),
}

pub struct Store {
    deltas: DeltaStore,
    procs: Option<ProcessMap>,
    /// Counters at the previous poll of each tier, for window deltas.
    last_counters: [Option<TcpCounters>; 4],
    seq: [u64; 4],
    routes: Vec<Route>,
    health: Arc<Health>,
    drop_log: LogLimit,
    inconsistent_log: LogLimit,
    /// The live endpoint, handed every batch (never blocks).
    endpoint: Option<Box<dyn Publisher>>,
    /// Where the fast tier's tables come from: each fast batch is
    /// registered there (it counts against the table budget while alive),
    /// and a table this task or the endpoint lets go of last goes back.
    tables: Option<TablePool>,
    /// The last socket table, packed: where a socket that is gone now was
    /// last seen, for its close record.
    last_lines: LastLines,
    /// This host's name, on every system line.
    host: Option<Arc<str>>,
}

impl Store {
    pub fn new(routes: Vec<Route>, health: Arc<Health>) -> Store {
        Store {
            deltas: DeltaStore::new(),
            procs: None,
            last_counters: [None; 4],
            seq: [0; 4],
            routes,
            health,
            drop_log: LogLimit::default(),
            inconsistent_log: LogLimit::new(std::time::Duration::from_secs(60)),
            endpoint: None,
            tables: None,
            last_lines: LastLines::default(),
            host: Some(crate::output::proto::host_name())
                .filter(|h| !h.is_empty())
                .map(Arc::from),
        }
    }

    /// Also publish every batch to the live endpoint, and return the
    /// tables it lets go of to `tables`.
    pub fn with_endpoint(self, hub: Box<dyn Publisher>, tables: TablePool) -> Store {
        let mut store = self.with_tables(tables);
        store.endpoint = Some(hub);
        store
    }

    /// Register every fast batch with `tables`, the pool the fast tier
    /// takes its tables from, and give back the ones let go of here.
    pub fn with_tables(mut self, tables: TablePool) -> Store {
        self.tables = Some(tables);
        self
    }

    /// Runs until every tier has dropped its sender and the queue is
    /// empty, then drops the routes so the sinks drain and close.
    pub async fn run(
        mut self,
        mut samples: mpsc::Receiver<Sample>,
        mut ctl: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut ctl_open = true;
        loop {
            tokio::select! {
                biased;
                c = ctl.recv(), if ctl_open => match c {
                    Some(Control::SetRoutes(r)) => self.routes = r,
                    None => ctl_open = false,
                },
                s = samples.recv() => match s {
                    Some(s) => {
                        let batch = self.next(s);
                        self.route(batch).await;
                    }
                    None => break,
                },
            }
        }
    }

    /// The batch of one sample; a socket table's counts against the fast
    /// tier's table budget until it is dropped.
    pub fn next(&mut self, s: Sample) -> Arc<Batch> {
        let batch = Arc::new(self.batch(s));
        if batch.tier == Some(Tier::Fast) {
            if let Some(tables) = &self.tables {
                tables.register(&batch);
            }
        }
        batch
    }

    /// Build the output batch of one sample.
    pub fn batch(&mut self, s: Sample) -> Batch {
        let h = Arc::clone(&self.health);
        let i = s.tier as usize;
        let seq = self.seq[i];
        self.seq[i] += 1;
        let mut sys = SystemRecord {
            ts: s.ts,
            tier: Some(s.tier),
            interval_ms: s.interval_ms,
            poll_us: Some(s.poll_us),
            ..SystemRecord::default()
        };
        let mut sockets = Vec::new();
        let mut closes = Vec::new();
        match s.payload {
            Payload::Sockets {
                sockets: mut socks,
                census,
                scan,
            } => {
                Health::add(&h.parse_errors, scan.skipped);
                self.deltas.apply(s.ts, &mut socks, self.procs.as_ref());
                h.tracked_sockets.store(
                    self.deltas.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.set_census(&mut sys, s.tier, Some(census));
                closes = self
                    .deltas
                    .gone()
                    .iter()
                    .filter_map(|&i| self.last_lines.get(i as usize))
                    .map(|mut close| {
                        close.ts = s.ts;
                        close
                    })
                    .collect();
                // The next poll's close records come from this table.
                self.last_lines.keep(&socks);
                sys.sockets_written = Some(socks.len() as u64);
                sys.sockets_unchanged = Some(0);
                sys.closed = Some(closes.len() as u64);
                sockets = socks;
            }
            Payload::Standard {
                procs,
                counters,
                census,
            } => {
                if let Some(p) = procs {
                    self.procs = Some(p);
                }
                self.set_census(&mut sys, s.tier, census);
                self.set_counters(&mut sys, s.tier, counters);
            }
            Payload::States { census } => self.set_census(&mut sys, s.tier, Some(census)),
            Payload::Aggregate { counters, census } => {
                self.set_census(&mut sys, s.tier, census);
                self.set_counters(&mut sys, s.tier, counters);
            }
        }
        sys.skipped_ticks = Some(Health::get(&h.skipped_ticks));
        sys.dropped = Some(Health::get(&h.dropped));
        sys.write_errors = Some(Health::get(&h.write_errors));
        sys.parse_errors = Some(Health::get(&h.parse_errors));
        sys.scans_inconsistent = Some(Health::get(&h.scans_inconsistent));
        sys.processes_unreadable = self.procs.as_ref().and_then(|p| p.unreadable_processes());
        sys.tracked_sockets = Some(Health::get(&h.tracked_sockets));
        sys.host = self.host.clone();
        sys.memory_bytes = h.memory.resident();
        if let Some((spooled, dropped)) = h.stream.for_system_line() {
            sys.stream_spooled = Some(spooled);
            sys.stream_dropped = Some(dropped);
        }
        Batch {
            tier: Some(s.tier),
            ts: s.ts,
            seq,
            interval_ms: s.interval_ms,
            system: Some(sys),
            sockets,
            closes,
        }
    }

    fn set_counters(&mut self, sys: &mut SystemRecord, tier: Tier, counters: Option<TcpCounters>) {
        let Some(c) = counters else { return };
        sys.counters = c;
        if let Some(prev) = &self.last_counters[tier as usize] {
            sys.set_deltas_since(prev);
        }
        self.last_counters[tier as usize] = Some(c);
    }

    /// Hand the batch to every sink that takes its tier, waiting for queue
    /// space: a slow sink slows the pipeline (the tiers then skip ticks,
    /// counted) instead of losing records after they were collected; a
    /// stuck one loses them (counted) instead of stalling the others.
    async fn route(&mut self, batch: Arc<Batch>) {
        let Some(tier) = batch.tier else { return };
        let n = batch.record_count() as u64;
        Health::add(&self.health.produced, n);
        // Past agent.memory_limit the live view goes stale rather than
        // keep one more table alive.
        if let Some(hub) = self
            .endpoint
            .as_ref()
            .filter(|_| !self.health.memory.over())
        {
            if let (Some(old), Some(tables)) = (hub.publish(Arc::clone(&batch)), &self.tables) {
                // The sinks wrote it long ago; the endpoint held it last.
                tables.recycle(old);
            }
        }
        for r in &self.routes {
            if !r.tiers.contains(&tier) {
                continue;
            }
            Health::add(&r.stats.offered, n);
            if let Err(why) = r.offer(Arc::clone(&batch)).await {
                Health::add(&r.stats.dropped, n);
                Health::add(&self.health.dropped, n);
                let why = match why {
                    Refused::Stopped => "the sink has stopped (see earlier errors)",
                    Refused::Stuck => "the sink is stuck in a write",
                };
                if let Some(more) = self.drop_log.allow() {
                    warn!(sink = %r.name, records = n,
                        "batch dropped: {why}; {more} more since last warning");
                }
            }
        }
    }
}

impl Store {
    /// The census fields of a system line. Without a census (its poll
    /// failed) they stay 0 and the failure is in the log. A census from a
    /// scan the kernel flagged as changed mid-read is counted, and warned
    /// about once a minute at most.
    fn set_census(&mut self, sys: &mut SystemRecord, tier: Tier, census: Option<Census>) {
        let Some(c) = census else { return };
        sys.total_sockets = c.total;
        sys.state_counts = c.state_counts;
        if c.inconsistent {
            Health::add(&self.health.scans_inconsistent, 1);
            if let Some(more) = self.inconsistent_log.allow() {
                warn!(
                    tier = tier.name(),
                    "the socket table changed while it was read; this poll may mix two \
                     moments ({} such scans since start, {more} more since the last warning)",
                    Health::get(&self.health.scans_inconsistent)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{ProcessInfo, ScanStats};
    use crate::record::{SocketRecord, TcpState};

    fn counters(sndtotal: u64, rexmit: u64, rcvtotal: u64, dup: u64) -> TcpCounters {
        let mut c = TcpCounters::default();
        c.set("sndtotal", sndtotal);
        c.set("sndrexmitpack", rexmit);
        c.set("rcvtotal", rcvtotal);
        c.set("rcvduppack", dup);
        c
    }

    fn sample(tier: Tier, payload: Payload) -> Sample {
        Sample {
            tier,
            ts: 1_000_000_000,
            interval_ms: 300_000,
            poll_us: 7,
            payload,
        }
    }

    fn census(n: u64) -> Census {
        let mut state_counts = [0; 11];
        state_counts[TcpState::Established.index()] = n;
        Census {
            total: n,
            state_counts,
            inconsistent: false,
        }
    }

    #[test]
    fn inconsistent_scans_are_counted_since_start_on_every_line() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        let torn = |n| Census {
            inconsistent: true,
            ..census(n)
        };
        let sys = |b: Batch| b.system.unwrap();
        let first = sys(st.batch(fast(1, Vec::new())));
        assert_eq!(first.scans_inconsistent, Some(0));
        let mut torn_fast = fast(2, Vec::new());
        if let Payload::Sockets { census, .. } = &mut torn_fast.payload {
            *census = torn(0);
        }
        assert_eq!(sys(st.batch(torn_fast)).scans_inconsistent, Some(1));
        let slow = st.batch(sample(Tier::Slow, Payload::States { census: torn(4) }));
        assert_eq!(sys(slow).scans_inconsistent, Some(2));
        // A clean scan leaves the count where it was.
        assert_eq!(
            sys(st.batch(fast(3, Vec::new()))).scans_inconsistent,
            Some(2)
        );
    }

    #[test]
    fn unreadable_processes_of_the_latest_map_are_reported() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        let standard = |procs| Payload::Standard {
            procs: Some(procs),
            counters: None,
            census: None,
        };
        let before = st.batch(fast(1, Vec::new())).system.unwrap();
        assert_eq!(before.processes_unreadable, None, "no map yet");
        let mut map = ProcessMap::new();
        map.set_unreadable_processes(3);
        st.batch(sample(Tier::Standard, standard(map)));
        let after = st.batch(fast(2, Vec::new())).system.unwrap();
        assert_eq!(after.processes_unreadable, Some(3));
        // A source that does not count them leaves the field absent.
        st.batch(sample(Tier::Standard, standard(ProcessMap::new())));
        let linux_like = st.batch(fast(3, Vec::new())).system.unwrap();
        assert_eq!(linux_like.processes_unreadable, None);
    }

    #[test]
    fn aggregate_window_deltas_and_rates() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        let agg = |c| Payload::Aggregate {
            counters: Some(c),
            census: Some(census(3)),
        };
        let first = st.batch(sample(Tier::Aggregate, agg(counters(1000, 10, 500, 5))));
        let sys = first.system.unwrap();
        assert_eq!(
            (sys.deltas.sndtotal_delta, sys.retransmit_rate),
            (None, None)
        );
        assert_eq!((sys.total_sockets, sys.tier), (3, Some(Tier::Aggregate)));
        let second = st.batch(sample(Tier::Aggregate, agg(counters(3000, 30, 1500, 15))));
        let sys = second.system.unwrap();
        assert_eq!(second.seq, 1);
        assert_eq!(sys.deltas.sndtotal_delta, Some(2000));
        assert_eq!(sys.retransmit_rate, Some(0.01));
        assert_eq!(sys.dup_rate, Some(0.01));
        assert_eq!(sys.counters.sndtotal, Some(3000));
    }

    #[test]
    fn fast_batches_join_the_latest_process_map_and_report_health() {
        let health = Arc::new(Health::default());
        Health::add(&health.skipped_ticks, 2);
        let mut st = Store::new(Vec::new(), Arc::clone(&health));
        let mut procs = ProcessMap::new();
        procs.insert(
            77,
            ProcessInfo {
                pid: 4242,
                fd: 9,
                uid: None,
                command: Arc::from("postgres"),
            },
        );
        st.batch(sample(
            Tier::Standard,
            Payload::Standard {
                procs: Some(procs),
                counters: None,
                census: None,
            },
        ));
        let mut s = SocketRecord::new(
            0,
            "127.0.0.1:5432".parse().unwrap(),
            "127.0.0.1:40000".parse().unwrap(),
            TcpState::Established,
        );
        s.set().sock_id(Some(1));
        s.set().proc_key(Some(77));
        let fast = st.batch(sample(
            Tier::Fast,
            Payload::Sockets {
                sockets: vec![s],
                census: census(5),
                scan: ScanStats {
                    skipped: 3,
                    inconsistent: false,
                },
            },
        ));
        assert_eq!(fast.sockets[0].pid(), Some(4242));
        assert_eq!(fast.sockets[0].command().as_deref(), Some("postgres"));
        let sys = fast.system.unwrap();
        assert_eq!(sys.total_sockets, 5, "host-wide census, before the filter");
        assert_eq!(sys.tracked_sockets, Some(1));
        assert_eq!(sys.skipped_ticks, Some(2));
        assert_eq!(sys.parse_errors, Some(3));
        assert_eq!(sys.poll_us, Some(7));
    }

    fn fast(ts: u64, sockets: Vec<SocketRecord>) -> Sample {
        let n = sockets.len() as u64;
        Sample {
            tier: Tier::Fast,
            ts,
            interval_ms: 1000,
            poll_us: 1,
            payload: Payload::Sockets {
                sockets,
                census: census(n),
                scan: ScanStats::default(),
            },
        }
    }

    fn conn(id: u64, lport: u16, bytes: u64) -> SocketRecord {
        let mut s = SocketRecord::new(
            0,
            SocketAddr::from(([127, 0, 0, 1], lport)),
            "127.0.0.1:80".parse().unwrap(),
            TcpState::Established,
        );
        s.set().sock_id(Some(id));
        s.set().bytes_acked(Some(bytes));
        s
    }

    use std::net::SocketAddr;

    #[test]
    fn a_socket_gone_gets_a_close_with_its_last_values_and_this_polls_ts() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        st.next(fast(
            1_000_000_000,
            vec![conn(1, 5000, 10), conn(2, 5001, 20)],
        ));
        st.next(fast(
            2_000_000_000,
            vec![conn(1, 5000, 15), conn(2, 5001, 90)],
        ));
        let b = st.next(fast(3_000_000_000, vec![conn(1, 5000, 15)]));
        assert_eq!(b.closes.len(), 1);
        let c = &b.closes[0];
        assert_eq!(
            (c.sock_id(), c.bytes_acked(), c.ts),
            (Some(2), Some(90), 3_000_000_000)
        );
        assert_eq!(c.bytes_acked_delta(), Some(70));
        assert_eq!(
            c.age_ms(),
            Some(1000),
            "lifetime as seen: first to last sight"
        );
        let sys = b.system.as_ref().unwrap();
        assert_eq!((sys.closed, sys.sockets_written), (Some(1), Some(1)));
        assert!(sys.host.is_some());
        let b = st.next(fast(4_000_000_000, vec![conn(1, 5000, 15)]));
        assert!(b.closes.is_empty(), "closed once");
    }

    #[test]
    fn close_records_come_without_holding_the_last_socket_table() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        let first = st.next(fast(
            1_000_000_000,
            vec![conn(1, 5000, 10), conn(2, 5001, 20)],
        ));
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "the store still holds the table the sinks are done with"
        );
        drop(first);
        let b = st.next(fast(2_000_000_000, vec![conn(1, 5000, 15)]));
        assert_eq!(b.closes.len(), 1);
        assert_eq!(
            (b.closes[0].sock_id(), b.closes[0].bytes_acked()),
            (Some(2), Some(20))
        );
    }

    #[test]
    fn a_reused_tuple_with_a_new_id_closes_the_old_connection() {
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        st.next(fast(1_000_000_000, vec![conn(1, 5000, 500)]));
        let b = st.next(fast(2_000_000_000, vec![conn(2, 5000, 3)]));
        assert_eq!(b.closes.len(), 1);
        assert_eq!(b.closes[0].sock_id(), Some(1));
        assert_eq!(b.closes[0].bytes_acked(), Some(500));
        assert_eq!(b.sockets[0].sock_id(), Some(2));
        assert_eq!(b.sockets[0].age_ms(), Some(0), "a new connection");
    }

    #[test]
    fn closes_survive_a_compaction_of_the_delta_store() {
        // Thousands gone at once shrink the store; the survivors gone the
        // poll after must still close with their own values.
        let mut st = Store::new(Vec::new(), Arc::new(Health::default()));
        let many: Vec<_> = (0..3000).map(|i| conn(i, 1000 + i as u16, i)).collect();
        st.next(fast(1_000_000_000, many));
        // Listed in another order than first seen: compaction numbers the
        // slots by first sight, the closes must follow the listing.
        let few: Vec<_> = (0..10)
            .rev()
            .map(|i| conn(i, 1000 + i as u16, i + 7))
            .collect();
        let b = st.next(fast(2_000_000_000, few.clone()));
        assert_eq!(b.closes.len(), 2990);
        let b = st.next(fast(3_000_000_000, few[..5].to_vec()));
        let mut closed: Vec<_> = b
            .closes
            .iter()
            .map(|c| (c.sock_id().unwrap(), c.bytes_acked()))
            .collect();
        closed.sort();
        assert_eq!(closed, (0..5).map(|i| (i, Some(i + 7))).collect::<Vec<_>>());
    }

    /// TEST DOUBLE: records what the store publishes and hands back a
    /// table batch when it has one, as the endpoint does.
    struct RecordingPublisher {
        seen: std::sync::Mutex<Vec<u64>>,
    }

    impl Publisher for RecordingPublisher {
        fn publish(&self, batch: Arc<Batch>) -> Option<Arc<Batch>> {
            self.seen.lock().unwrap().push(batch.seq);
            None
        }
    }

    /// Sequence numbers of the batches the endpoint was handed, for three
    /// aggregate samples through a running store.
    fn published(health: Arc<Health>) -> Vec<u64> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let publisher = Arc::new(RecordingPublisher {
            seen: std::sync::Mutex::new(Vec::new()),
        });
        struct Shared(Arc<RecordingPublisher>);
        impl Publisher for Shared {
            fn publish(&self, batch: Arc<Batch>) -> Option<Arc<Batch>> {
                self.0.publish(batch)
            }
        }
        let store = Store::new(Vec::new(), health)
            .with_endpoint(Box::new(Shared(Arc::clone(&publisher))), TablePool::new());
        let (tx, rx) = mpsc::channel(4);
        let (_ctl, ctl_rx) = mpsc::unbounded_channel();
        rt.block_on(async {
            let run = tokio::spawn(store.run(rx, ctl_rx));
            for _ in 0..3 {
                let agg = Payload::Aggregate {
                    counters: Some(counters(1, 0, 1, 0)),
                    census: Some(census(1)),
                };
                tx.send(sample(Tier::Aggregate, agg)).await.unwrap();
            }
            drop(tx);
            run.await.unwrap();
        });
        std::mem::take(&mut *publisher.seen.lock().unwrap())
    }

    #[test]
    fn every_routed_batch_reaches_the_publisher() {
        assert_eq!(published(Arc::new(Health::default())), [0, 1, 2]);
    }

    #[test]
    fn past_the_memory_limit_the_endpoint_is_not_fed() {
        let health = Arc::new(Health::default());
        health.memory.set_limit(Some(64 << 20));
        assert!(health.memory.note(128 << 20));
        assert_eq!(published(health), Vec::<u64>::new());
    }

    #[test]
    fn the_system_line_carries_the_resident_size_last_read() {
        let health = Arc::new(Health::default());
        let mut st = Store::new(Vec::new(), Arc::clone(&health));
        let slow = || Payload::States { census: census(1) };
        let before = st.batch(sample(Tier::Slow, slow()));
        assert_eq!(before.system.unwrap().memory_bytes, None, "not read yet");
        health.memory.note(48 << 20);
        let after = st.batch(sample(Tier::Slow, slow()));
        assert_eq!(after.system.unwrap().memory_bytes, Some(48 << 20));
    }
}
