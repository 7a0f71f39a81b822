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
use crate::platform::{Source, SourceError};
use crate::record::{Tier, now_ns};

/// What a tier task runs with; replaced on reload.
#[derive(Clone, Debug)]
pub struct TierSettings {
    pub enabled: bool,
    pub interval: Duration,
    pub filter: Arc<SocketFilter>,
}

type PollResult = (Box<dyn Source>, Result<Sample, SourceError>);

/// Wall-clock tick number `k` (tick at `k * interval` since the epoch)
/// of the next tick after `now_ns`, strictly after `last`.
pub fn next_tick(now_ns: u64, interval: Duration, last: Option<u64>) -> u64 {
    let iv = interval.as_nanos().max(1) as u64;
    let k = now_ns / iv + 1;
    match last {
        Some(l) if k <= l => l + 1,
        _ => k,
    }
}

/// The tier's loop. The first poll runs at once (so the process map and
/// counter baselines exist from the start), then on aligned ticks. On
/// cancellation, a poll still running is finished and sent (the drain
/// includes it).
pub async fn run_tier(
    tier: Tier,
    source: Box<dyn Source>,
    mut settings: watch::Receiver<TierSettings>,
    tx: mpsc::Sender<Sample>,
    health: Arc<Health>,
    stop: CancellationToken,
) {
    let mut source = Some(source);
    let mut inflight: Option<JoinHandle<PollResult>> = None;
    let mut last_tick: Option<u64> = None;
    let mut first = true;
    let mut skip_log = LogLimit::default();
    let mut err_log = LogLimit::default();
    let mut drop_log = LogLimit::default();
    loop {
        let s = settings.borrow_and_update().clone();
        let iv = s.interval;
        // (deadline, tick number) of the next poll, if the tier is enabled.
        let due = if !s.enabled {
            None
        } else if first {
            Some((Instant::now(), None))
        } else {
            let now = now_ns();
            let k = next_tick(now, iv, last_tick);
            let at_ns = k.saturating_mul(iv.as_nanos() as u64);
            Some((
                Instant::now() + Duration::from_nanos(at_ns.saturating_sub(now)),
                Some(k),
            ))
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            done = join(&mut inflight), if inflight.is_some() => {
                inflight = None;
                match done {
                    Ok((src, result)) => {
                        source = Some(src);
                        match result {
                            Ok(sample) => send(&tx, sample, &health, &mut drop_log),
                            Err(e) => poll_failed(tier, &e, &health, &mut err_log),
                        }
                    }
                    Err(e) => {
                        // The poll panicked: the source went with it.
                        warn!(tier = tier.name(), "poll task failed: {e}; this tier stops until restart");
                        Health::add(&health.poll_errors, 1);
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
                match source.take() {
                    Some(mut src) => {
                        let filter = Arc::clone(&s.filter);
                        let ms = iv.as_millis() as u64;
                        inflight = Some(tokio::task::spawn_blocking(move || {
                            let r = poll(tier, src.as_mut(), &filter, ms);
                            (src, r)
                        }));
                    }
                    None if inflight.is_some() => {
                        Health::add(&health.skipped_ticks, 1);
                        if let Some(n) = skip_log.allow() {
                            warn!(tier = tier.name(), interval_ms = iv.as_millis() as u64,
                                "tick skipped: the previous poll is still running ({n} more skipped since last warning)");
                        }
                    }
                    None => {}
                }
            }
        }
    }
    if let Some(h) = inflight {
        if let Ok((_, Ok(sample))) = h.await {
            debug!(tier = tier.name(), "sending the last poll before shutdown");
            let n = sample.record_count();
            if tx.send(sample).await.is_err() {
                Health::add(&health.dropped, n);
            }
        }
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

fn send(tx: &mpsc::Sender<Sample>, sample: Sample, health: &Health, log: &mut LogLimit) {
    let n = sample.record_count();
    let tier = sample.tier;
    if let Err(e) = tx.try_send(sample) {
        Health::add(&health.dropped, n);
        if let Some(more) = log.allow() {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the delta store is behind",
                mpsc::error::TrySendError::Closed(_) => "the pipeline is shutting down",
            };
            warn!(
                tier = tier.name(),
                records = n,
                "sample dropped: {why} ({more} more since last warning)"
            );
        }
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
        assert_eq!(next_tick(10_400_000_000, s, None), 11);
        assert_eq!(next_tick(11_000_000_000, s, None), 12);
        // A timer that fired a hair early must not fire the same tick twice.
        assert_eq!(next_tick(10_999_999_999, s, Some(11)), 12);
        let m = Duration::from_secs(300);
        assert_eq!(
            next_tick(1_709_312_450_000_000_000, m, None) * 300,
            1_709_312_700
        );
    }
}
