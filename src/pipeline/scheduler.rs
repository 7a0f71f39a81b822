//! One tokio task per tier: ticks aligned to wall-clock multiples of the
//! interval (so a fleet's samples line up), the blocking poll on its own
//! thread, and a tick that falls due while the previous poll still runs
//! skipped and counted, never queued.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::filter::SocketFilter;
use super::health::Health;
use super::log_limit::LogLimit;
use super::poll::poll;
use super::sample::Sample;
use super::start_gate::{StartGate, StartTurn};
use super::table_pool::TablePool;
use crate::platform::{Source, SourceError};
use crate::record::{Tier, now_ns};

/// What a tier task runs with; replaced on reload.
#[derive(Clone, Debug)]
pub struct TierSettings {
    pub enabled: bool,
    pub interval: Duration,
    pub filter: Arc<SocketFilter>,
}

/// Longest a fast poll waits for a socket table to come back from the
/// sinks (never past its next tick), so an abandoned poll's thread does
/// not hold up the exit for long.
const TABLE_WAIT_MAX: Duration = Duration::from_secs(2);

/// How a poll ended. Moved once per poll, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Polled {
    Done(Result<Sample, SourceError>),
    /// Every socket table the agent may hold was still in use until the
    /// next tick: the tick is skipped rather than another table filled.
    NoTable,
}

type PollResult = (Box<dyn Source>, Polled);

/// The next wall-clock multiple of `interval` (ns since the epoch) after
/// both `now_ns` and the `last` tick fired, so a timer that fires a hair
/// early never runs one tick twice, and an interval change lines up at once.
pub fn next_tick(now_ns: u64, interval: Duration, last: Option<u64>) -> u64 {
    let iv = interval.as_nanos().clamp(1, u64::MAX as u128) as u64;
    let after = now_ns.max(last.unwrap_or(0));
    (after / iv).saturating_add(1).saturating_mul(iv)
}

/// The tier's loop. The first poll runs at once (so the process map and
/// counter baselines exist from the start), as soon as `gate` gives this
/// tier its turn, then on aligned ticks.
#[allow(clippy::too_many_arguments)]
pub async fn run_tier(
    tier: Tier,
    source: Box<dyn Source>,
    mut settings: watch::Receiver<TierSettings>,
    tx: mpsc::Sender<Sample>,
    health: Arc<Health>,
    stop: CancellationToken,
    tables: TablePool,
    gate: StartGate,
) {
    let mut source = Some(source);
    // Held from the first tick until the first poll is done.
    let mut turn: Option<StartTurn> = None;
    let mut inflight: Option<JoinHandle<PollResult>> = None;
    let mut last_tick: Option<u64> = None;
    let mut first = true;
    let mut skip_log = LogLimit::default();
    let mut err_log = LogLimit::default();
    // A queue slot reserved before each poll: a finished poll always has
    // room, and a full pipeline shows up as skipped ticks, never as
    // samples thrown away after the work was done.
    let mut permit: Option<mpsc::OwnedPermit<Sample>> = None;
    loop {
        let s = settings.borrow_and_update().clone();
        let iv = s.interval;
        if !s.enabled && inflight.is_none() {
            turn = None; // a tier turned off hands its turn on
        }
        // (deadline, tick number) of the next poll, if the tier is enabled.
        let due = if !s.enabled || (first && turn.is_none()) {
            None
        } else if first {
            Some((Instant::now(), None))
        } else {
            let now = now_ns();
            let at_ns = next_tick(now, iv, last_tick);
            Some((
                Instant::now() + Duration::from_nanos(at_ns - now),
                Some(at_ns),
            ))
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            t = gate.turn(), if s.enabled && first && turn.is_none() => turn = Some(t),
            done = join(&mut inflight), if inflight.is_some() => {
                inflight = None;
                turn = None;
                match done {
                    Ok((src, Polled::NoTable)) => {
                        source = Some(src);
                        permit = None;
                        skipped(tier, iv, "the pipeline is still writing the last socket table", &health, &mut skip_log);
                    }
                    Ok((src, Polled::Done(result))) => {
                        source = Some(src);
                        match result {
                            Ok(sample) => match permit.take() {
                                Some(p) => {
                                    p.send(sample);
                                }
                                None => {
                                    Health::add(&health.dropped, sample.record_count());
                                    if tier == Tier::Fast {
                                        tables.abandon();
                                    }
                                }
                            },
                            Err(e) => {
                                if tier == Tier::Fast {
                                    tables.abandon();
                                }
                                poll_failed(tier, &e, &health, &mut err_log);
                            }
                        }
                    }
                    Err(e) => {
                        // The poll panicked: the source went with it.
                        warn!(tier = tier.name(), "poll task failed: {e}; this tier stops until restart");
                        Health::add(&health.poll_errors, 1);
                        if tier == Tier::Fast {
                            tables.abandon();
                        }
                    }
                }
            }
            r = settings.changed() => {
                if r.is_err() {
                    break;
                }
            }
            _ = sleep_until(due.map(|d| d.0)), if due.is_some() => {
                first = false;
                if let Some((_, k)) = due {
                    last_tick = k.or(last_tick);
                }
                let busy = if inflight.is_some() {
                    Some("the previous poll is still running")
                } else {
                    match tx.clone().try_reserve_owned() {
                        Ok(p) => {
                            permit = Some(p);
                            None
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            Some("the pipeline is still writing earlier samples")
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                };
                match (busy, source.take()) {
                    (None, Some(mut src)) => {
                        let filter = Arc::clone(&s.filter);
                        let ms = iv.as_millis() as u64;
                        let lean = health.memory.check();
                        let tables = tables.clone();
                        // A table may be waited for until the next tick.
                        let now = now_ns();
                        let to_next = Duration::from_nanos(next_tick(now, iv, last_tick) - now);
                        let deadline = std::time::Instant::now() + to_next.min(TABLE_WAIT_MAX);
                        inflight = Some(tokio::task::spawn_blocking(move || {
                            let table = match tier {
                                Tier::Fast => match tables.take_within(deadline) {
                                    Some(t) => t,
                                    None => return (src, Polled::NoTable),
                                },
                                _ => Vec::new(),
                            };
                            let r = poll(tier, src.as_mut(), &filter, ms, table, lean);
                            (src, Polled::Done(r))
                        }));
                    }
                    (Some(why), src) => {
                        source = src;
                        skipped(tier, iv, why, &health, &mut skip_log);
                    }
                    // The source was lost with a panicked poll (logged).
                    (None, None) => permit = None,
                }
                if inflight.is_none() {
                    turn = None;
                }
            }
        }
    }
    // A poll still running is abandoned: it is not a queued sample, and a
    // process scan of a large host could outlast the shutdown deadline.
    if inflight.is_some() {
        debug!(tier = tier.name(), "abandoning the poll in progress");
    }
}

async fn join(
    h: &mut Option<JoinHandle<PollResult>>,
) -> Result<PollResult, tokio::task::JoinError> {
    match h {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn skipped(tier: Tier, iv: Duration, why: &str, health: &Health, log: &mut LogLimit) {
    Health::add(&health.skipped_ticks, 1);
    if let Some(n) = log.allow() {
        warn!(
            tier = tier.name(),
            interval_ms = iv.as_millis() as u64,
            "tick skipped: {why} ({n} more skipped since last warning)"
        );
    }
}

fn poll_failed(tier: Tier, e: &SourceError, health: &Health, log: &mut LogLimit) {
    Health::add(&health.poll_errors, 1);
    if let Some(more) = log.allow() {
        warn!(
            tier = tier.name(),
            "poll failed: {e} ({more} more since last warning)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_wall_clock_and_never_repeat() {
        let s = Duration::from_secs(1);
        const G: u64 = 1_000_000_000;
        assert_eq!(next_tick(10_400_000_000, s, None), 11 * G);
        assert_eq!(next_tick(11 * G, s, None), 12 * G);
        // A timer that fired a hair early must not fire the same tick twice.
        assert_eq!(next_tick(11 * G - 1, s, Some(11 * G)), 12 * G);
        let m = Duration::from_secs(300);
        assert_eq!(next_tick(1_709_312_450 * G, m, None), 1_709_312_700 * G);
        // An interval change lines up with the new interval's multiples.
        let ms300 = Duration::from_millis(300);
        assert_eq!(
            next_tick(11 * G + 50_000_000, ms300, Some(11 * G)),
            11_100_000_000
        );
    }

    /// A test double whose census waits (bounded) for another poll to be
    /// running at the same time, and records how many ever ran at once.
    struct OverlapProbe {
        running: Arc<std::sync::atomic::AtomicUsize>,
        most: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Source for OverlapProbe {
        fn name(&self) -> &'static str {
            "overlap probe test double"
        }
        fn sockets(
            &mut self,
            _: u64,
            _: &mut Vec<crate::record::SocketRecord>,
        ) -> Result<crate::platform::ScanStats, SourceError> {
            Ok(Default::default())
        }
        fn sockets_in_parts(
            &mut self,
            _: u64,
            _: &mut dyn FnMut(&mut Vec<crate::record::SocketRecord>),
        ) -> Result<crate::platform::ScanStats, SourceError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            // Give a second poll the chance to start alongside this one.
            let until = std::time::Instant::now() + Duration::from_secs(1);
            while self.running.load(SeqCst) < 2 && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            self.most.fetch_max(self.running.load(SeqCst), SeqCst);
            self.running.fetch_sub(1, SeqCst);
            Ok(Default::default())
        }
        fn processes(&mut self) -> Result<crate::platform::ProcessMap, SourceError> {
            Ok(Default::default())
        }
        fn counters(&mut self) -> Result<crate::record::TcpCounters, SourceError> {
            Ok(Default::default())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_polls_run_one_after_another() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel(8);
        let health = Arc::new(Health::default());
        let stop = CancellationToken::new();
        let gate = StartGate::new();
        let filter = Arc::new(SocketFilter::new(&Default::default()));
        let mut keep = Vec::new();
        let mut tasks = Vec::new();
        for tier in [Tier::Slow, Tier::Aggregate, Tier::Standard] {
            let (stx, srx) = watch::channel(TierSettings {
                enabled: true,
                interval: Duration::from_secs(3600),
                filter: Arc::clone(&filter),
            });
            keep.push(stx);
            let src = OverlapProbe {
                running: Arc::clone(&running),
                most: Arc::clone(&most),
            };
            tasks.push(tokio::spawn(run_tier(
                tier,
                Box::new(src),
                srx,
                tx.clone(),
                Arc::clone(&health),
                stop.clone(),
                TablePool::new(),
                gate.clone(),
            )));
        }
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("every tier's first poll within 30 s")
                .expect("a sample");
        }
        stop.cancel();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            most.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "first polls overlapped"
        );
    }

    /// A test double whose table is `n` established sockets.
    struct TableSource {
        n: u16,
    }

    impl Source for TableSource {
        fn name(&self) -> &'static str {
            "fixed table test double"
        }
        fn sockets(
            &mut self,
            ts: u64,
            out: &mut Vec<crate::record::SocketRecord>,
        ) -> Result<crate::platform::ScanStats, SourceError> {
            for port in 1..=self.n {
                let local = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let remote = "127.0.0.1:80".parse().unwrap();
                let mut r = crate::record::SocketRecord::new(
                    ts,
                    local,
                    remote,
                    crate::record::TcpState::Established,
                );
                r.set().sock_id(Some(u64::from(port)));
                out.push(r);
            }
            Ok(Default::default())
        }
        fn sockets_in_parts(
            &mut self,
            _: u64,
            _: &mut dyn FnMut(&mut Vec<crate::record::SocketRecord>),
        ) -> Result<crate::platform::ScanStats, SourceError> {
            Ok(Default::default())
        }
        fn processes(&mut self) -> Result<crate::platform::ProcessMap, SourceError> {
            Ok(Default::default())
        }
        fn counters(&mut self) -> Result<crate::record::TcpCounters, SourceError> {
            Ok(Default::default())
        }
    }

    /// Sinks slower than the tick (a busy host): the fast tier skips ticks
    /// (counted) instead of filling more than the budgeted tables.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_sinks_make_the_fast_tier_skip_ticks_not_fill_more_tables() {
        use super::super::store::Store;
        use super::super::table_pool::TABLE_BUDGET;
        let (tx, mut rx) = mpsc::channel(8);
        let health = Arc::new(Health::default());
        let stop = CancellationToken::new();
        let tables = TablePool::new();
        let (_keep, srx) = watch::channel(TierSettings {
            enabled: true,
            interval: Duration::from_millis(50),
            filter: Arc::new(SocketFilter::new(&Default::default())),
        });
        let tier = tokio::spawn(run_tier(
            Tier::Fast,
            Box::new(TableSource { n: 2000 }),
            srx,
            tx,
            Arc::clone(&health),
            stop.clone(),
            tables.clone(),
            StartGate::new(),
        ));
        // The real delta store (it keeps the last batch for close records),
        // and a TEST DOUBLE sink that takes 300 ms, six ticks, per batch.
        let mut store = Store::new(Vec::new(), Arc::clone(&health)).with_tables(tables.clone());
        let mut writers = Vec::new();
        for _ in 0..6 {
            let sample = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("a fast sample within 30 s")
                .expect("the tier is running");
            let batch = store.next(sample);
            assert_eq!(batch.sockets.len(), 2000);
            let pool = tables.clone();
            writers.push(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                pool.recycle(batch);
            }));
        }
        stop.cancel();
        tier.await.unwrap();
        for w in writers {
            w.join().unwrap();
        }
        assert!(
            tables.allocated() <= TABLE_BUDGET as u64,
            "{} tables allocated, budget {TABLE_BUDGET}",
            tables.allocated()
        );
        assert!(
            Health::get(&health.skipped_ticks) > 0,
            "ticks the sinks could not keep up with must be counted as skipped"
        );
    }
}
