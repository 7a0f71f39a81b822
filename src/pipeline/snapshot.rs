//! A one-shot sample of every tier at once, for `netpulse once` and
//! `netpulse replay`.

use std::time::Instant;

use tracing::warn;

use crate::platform::{ScanStats, Source, SourceError};
use crate::record::{Batch, SystemRecord, count_states, now_ns};

/// Sockets joined with their processes, and a `system` record whose
/// `state_counts` sum to `total_sockets`. Only the socket scan is fatal:
/// a process map or counters that cannot be read are logged and left
/// absent.
pub fn collect_all(source: &mut dyn Source) -> Result<(Batch, ScanStats), SourceError> {
    let started = Instant::now();
    let ts = now_ns();
    let mut sockets = Vec::new();
    let stats = source.sockets(ts, &mut sockets)?;

    let processes_unreadable = match source.processes() {
        Ok(map) => {
            sockets.iter_mut().for_each(|s| map.attribute(s));
            map.unreadable_processes()
        }
        Err(e) => {
            warn!("process attribution unavailable: {e}");
            None
        }
    };
    let counters = source.counters().unwrap_or_else(|e| {
        warn!("system TCP counters unavailable: {e}");
        Default::default()
    });

    let system = SystemRecord {
        ts,
        interval_ms: 0,
        total_sockets: sockets.len() as u64,
        state_counts: count_states(sockets.iter().map(|s| s.state)),
        counters,
        poll_us: Some(started.elapsed().as_micros() as u64),
        parse_errors: Some(stats.skipped),
        scans_inconsistent: Some(u64::from(stats.inconsistent)),
        processes_unreadable,
        ..SystemRecord::default()
    };
    Ok((
        Batch {
            closes: Vec::new(),
            tier: None,
            ts,
            seq: 0,
            interval_ms: 0,
            system: Some(system),
            sockets,
        },
        stats,
    ))
}
