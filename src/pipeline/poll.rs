//! One poll of one tier against a blocking `Source`: collects only what
//! that tier adds (see docs/ARCHITECTURE.md, Tiers). Runs on a blocking thread.

use std::time::Instant;

use tracing::warn;

use super::filter::SocketFilter;
use super::sample::{Census, Payload, Sample};
use crate::platform::{Source, SourceError};
use crate::record::{SocketRecord, Tier, count_states, now_ns};

pub fn poll(
    tier: Tier,
    source: &mut dyn Source,
    filter: &SocketFilter,
    interval_ms: u64,
    table: Vec<SocketRecord>,
) -> Result<Sample, SourceError> {
    let started = Instant::now();
    let ts = now_ns();
    let payload = match tier {
        Tier::Fast => {
            let mut sockets = table;
            sockets.clear();
            let scan = source.sockets(ts, &mut sockets)?;
            // One pass over the (large) table for both the census and the
            // tier mark.
            let state_counts = count_states(sockets.iter_mut().map(|s| {
                s.tier = Some(Tier::Fast);
                s.state
            }));
            let census = Census {
                total: sockets.len() as u64,
                state_counts,
            };
            if !filter.is_pass_all() {
                sockets.retain(|s| filter.keep(s));
            }
            Payload::Sockets {
                sockets,
                census,
                scan,
            }
        }
        Tier::Standard => Payload::Standard {
            procs: logged(tier, "process attribution", source.processes()),
            counters: logged(tier, "system TCP counters", source.counters()),
            census: logged(tier, "state counts", census(source, ts)),
        },
        Tier::Slow => Payload::States {
            census: census(source, ts)?,
        },
        Tier::Aggregate => Payload::Aggregate {
            counters: logged(tier, "system TCP counters", source.counters()),
            census: logged(tier, "state counts", census(source, ts)),
        },
    };
    Ok(Sample {
        tier,
        ts,
        interval_ms,
        poll_us: started.elapsed().as_micros() as u64,
        payload,
    })
}

/// The kernel's own per-state counts where it keeps them, else a count of
/// the socket table.
fn census(source: &mut dyn Source, ts: u64) -> Result<Census, SourceError> {
    if let Some(state_counts) = source.state_counts()? {
        return Ok(Census {
            total: state_counts.iter().sum(),
            state_counts,
        });
    }
    let mut sockets: Vec<SocketRecord> = Vec::new();
    source.sockets(ts, &mut sockets)?;
    Ok(Census {
        total: sockets.len() as u64,
        state_counts: count_states(sockets.iter().map(|s| s.state)),
    })
}

fn logged<T>(tier: Tier, what: &str, r: Result<T, SourceError>) -> Option<T> {
    r.map_err(|e| warn!(tier = tier.name(), "{what} unavailable this poll: {e}"))
        .ok()
}
