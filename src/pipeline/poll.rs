//! One poll of one tier against a blocking `Source`: collects only what
//! that tier adds (see docs/ARCHITECTURE.md, Tiers). Runs on a blocking thread.

use std::time::Instant;

use tracing::warn;

use super::filter::SocketFilter;
use super::sample::{Census, Payload, Sample};
use crate::platform::{Source, SourceError};
use crate::record::{SocketRecord, StateCounts, Tier, count_states, now_ns};

/// `lean`: the agent is past `agent.memory_limit`; skip the process scan
/// (the delta store keeps attributing with the last map).
pub fn poll(
    tier: Tier,
    source: &mut dyn Source,
    filter: &SocketFilter,
    interval_ms: u64,
    table: Vec<SocketRecord>,
    lean: bool,
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
                s.set().tier(Some(Tier::Fast));
                s.state
            }));
            let census = Census {
                total: sockets.len() as u64,
                state_counts,
                inconsistent: scan.inconsistent,
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
            procs: match lean {
                true => None,
                false => logged(tier, "process attribution", source.processes()),
            },
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
/// the socket table, taken a part at a time: the tiers that only count
/// never hold a second copy of the fast tier's table.
fn census(source: &mut dyn Source, ts: u64) -> Result<Census, SourceError> {
    if let Some(state_counts) = source.state_counts()? {
        return Ok(Census {
            total: state_counts.iter().sum(),
            state_counts,
            inconsistent: false,
        });
    }
    let mut state_counts = StateCounts::default();
    let scan = source.sockets_in_parts(ts, &mut |part| {
        let counts = count_states(part.iter().map(|s| s.state));
        state_counts
            .iter_mut()
            .zip(counts)
            .for_each(|(total, n)| *total += n);
    })?;
    Ok(Census {
        total: state_counts.iter().sum(),
        state_counts,
        inconsistent: scan.inconsistent,
    })
}

fn logged<T>(tier: Tier, what: &str, r: Result<T, SourceError>) -> Option<T> {
    r.map_err(|e| warn!(tier = tier.name(), "{what} unavailable this poll: {e}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{ProcessMap, ScanStats};
    use crate::record::{TcpCounters, TcpState};

    /// A test double that hands out its sockets only in parts: asking for
    /// the whole table fails the test.
    struct PartsOnlySource {
        parts: Vec<Vec<TcpState>>,
    }

    impl Source for PartsOnlySource {
        fn name(&self) -> &'static str {
            "parts-only test double"
        }
        fn sockets(&mut self, _: u64, _: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
            panic!("a census asked for the whole socket table");
        }
        fn sockets_in_parts(
            &mut self,
            _: u64,
            each: &mut dyn FnMut(&mut Vec<SocketRecord>),
        ) -> Result<ScanStats, SourceError> {
            let addr = "127.0.0.1:1".parse().unwrap();
            for states in &self.parts {
                let mut part: Vec<_> = states
                    .iter()
                    .map(|&st| SocketRecord::new(1, addr, addr, st))
                    .collect();
                each(&mut part);
            }
            Ok(ScanStats::default())
        }
        fn processes(&mut self) -> Result<ProcessMap, SourceError> {
            Ok(ProcessMap::default())
        }
        fn counters(&mut self) -> Result<TcpCounters, SourceError> {
            Ok(TcpCounters::default())
        }
    }

    #[test]
    fn the_slow_tier_counts_states_part_by_part() {
        use TcpState::*;
        let mut src = PartsOnlySource {
            parts: vec![
                vec![Listen, Established, Established],
                vec![TimeWait, Established],
            ],
        };
        let s = poll(
            Tier::Slow,
            &mut src,
            &SocketFilter::new(&Default::default()),
            60_000,
            Vec::new(),
            false,
        )
        .unwrap();
        let Payload::States { census } = s.payload else {
            panic!("the slow tier returned another payload");
        };
        assert_eq!(census.total, 5);
        assert_eq!(census.state_counts[Established.index()], 3);
        assert_eq!(census.state_counts[Listen.index()], 1);
        assert_eq!(census.state_counts[TimeWait.index()], 1);
    }

    #[test]
    fn past_the_memory_limit_the_standard_tier_skips_the_process_scan() {
        let filter = SocketFilter::new(&Default::default());
        let mut src = PartsOnlySource { parts: Vec::new() };
        for (lean, scanned) in [(false, true), (true, false)] {
            let s = poll(Tier::Standard, &mut src, &filter, 30_000, Vec::new(), lean).unwrap();
            let Payload::Standard { procs, census, .. } = s.payload else {
                panic!("the standard tier returned another payload");
            };
            assert_eq!(procs.is_some(), scanned, "lean = {lean}");
            assert!(census.is_some(), "the census is not optional");
        }
    }
}
