//! pcblist's `t_rcvtime` wraps. The kernel exports the time since the last
//! segment arrived as `1000 * (ticks - t_rcvtime) / hz` in 32-bit unsigned
//! arithmetic, so the product wraps every 2^32 / hz milliseconds (about
//! 71.6 minutes at hz = 1000): a keepalive connection idle for two hours
//! reads about 48 minutes. One value cannot show whether it wrapped.
//!
//! Over successive scans it can. Between two scans a connection either
//! received nothing, and its value grew by the time between the scans
//! (less the horizon when it wrapped), or received a segment, and its value
//! is then below that time, hence exact. So a value is trusted from the
//! scan that shows a segment arriving, or from the first scan of a
//! connection opened after the previous scan, until a scan shows it
//! wrapping; untrusted values are left out. The kernel module computes
//! the time in 64 bits and needs none of this.

use std::collections::HashMap;

use crate::platform::KernelIdHash;
use crate::record::SocketRecord;

/// Jitter allowed when comparing a value with the one expected from the
/// previous scan: the scan's timestamp is taken before the table is read,
/// and the kernel counts in ticks.
const SLACK_MS: u64 = 250;

struct Track {
    /// Scan time and value the last time this connection was seen.
    at_ms: u64,
    idle_ms: u64,
    trusted: bool,
    /// The scan that last saw it, to forget connections that are gone.
    scan: u64,
}

pub struct IdleWrap {
    hz: u32,
    horizon_ms: u64,
    by_id: HashMap<u64, Track, KernelIdHash>,
    /// Time and TCP generation of the previous scan.
    previous: Option<(u64, u64)>,
    scan: u64,
}

impl IdleWrap {
    /// For a kernel running at `hz` ticks per second.
    pub fn new(hz: u32) -> IdleWrap {
        let hz = hz.max(1);
        IdleWrap {
            hz,
            horizon_ms: (1u64 << 32) / u64::from(hz),
            by_id: HashMap::default(),
            previous: None,
            scan: 0,
        }
    }

    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// Milliseconds after which the kernel's value wraps.
    #[cfg(test)]
    fn horizon_ms(&self) -> u64 {
        self.horizon_ms
    }

    /// One scan's records, taken at `now_ms` from a table of TCP generation
    /// `generation`: `idle_ms` is left out where it may have wrapped.
    pub fn apply(&mut self, now_ms: u64, generation: u64, recs: &mut [SocketRecord]) {
        self.scan += 1;
        let horizon = self.horizon_ms;
        // A connection with a larger id than the previous scan's generation
        // opened after that scan, so it is younger than the time since.
        let opened_after = |id: u64| {
            self.previous.is_some_and(|(at, generation)| {
                id > generation && now_ms.saturating_sub(at) + SLACK_MS < horizon
            })
        };
        for r in recs.iter_mut() {
            let (Some(id), Some(idle)) = (r.sock_id(), r.idle_ms()) else {
                continue;
            };
            let idle = u64::from(idle);
            let trusted = match self.by_id.get(&id) {
                None => opened_after(id),
                Some(t) => {
                    let dt = now_ms.saturating_sub(t.at_ms);
                    let expected = t.idle_ms + dt;
                    if dt + SLACK_MS >= horizon {
                        // Too long between scans to tell a wrap from a segment.
                        false
                    } else if expected + SLACK_MS >= horizon
                        && idle.abs_diff(expected.saturating_sub(horizon)) <= SLACK_MS
                    {
                        false // wrapped
                    } else if idle + SLACK_MS < expected {
                        true // a segment arrived since the last scan
                    } else {
                        t.trusted
                    }
                }
            };
            self.by_id.insert(
                id,
                Track {
                    at_ms: now_ms,
                    idle_ms: idle,
                    trusted,
                    scan: self.scan,
                },
            );
            if !trusted {
                r.set().idle_ms(None);
            }
        }
        let scan = self.scan;
        self.by_id.retain(|_, t| t.scan == scan);
        self.previous = Some((now_ms, generation));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    /// A pcblist record reduced to what matters here.
    fn rec(id: u64, idle_ms: u32) -> SocketRecord {
        let mut r = SocketRecord::new(
            0,
            "10.0.0.1:22".parse().unwrap(),
            "10.0.0.2:50000".parse().unwrap(),
            TcpState::Established,
        );
        r.set().sock_id(Some(id));
        r.set().idle_ms(Some(idle_ms));
        r
    }

    /// The kernel's arithmetic: `1000 * ticks / hz`, 32-bit unsigned.
    fn kernel_idle(true_ms: u64, hz: u64) -> u32 {
        let ticks = true_ms * hz / 1000;
        ((ticks * 1000) as u32 as u64 / hz) as u32
    }

    fn scan(
        w: &mut IdleWrap,
        now_ms: u64,
        generation: u64,
        recs: &[(u64, u32)],
    ) -> Vec<Option<u32>> {
        let mut v: Vec<_> = recs.iter().map(|&(id, idle)| rec(id, idle)).collect();
        w.apply(now_ms, generation, &mut v);
        v.iter().map(|r| r.idle_ms()).collect()
    }

    #[test]
    fn the_horizon_is_where_the_kernel_wraps() {
        let w = IdleWrap::new(1000);
        assert_eq!(w.horizon_ms(), 4_294_967);
        // Two hours idle reads about 48 minutes at hz = 1000.
        assert_eq!(kernel_idle(7_200_000, 1000), 2_905_032);
        assert_eq!(IdleWrap::new(100).horizon_ms(), 42_949_672);
        // A zero rate (unreadable) cannot divide by zero.
        assert_eq!(
            (IdleWrap::new(0).hz(), IdleWrap::new(0).horizon_ms()),
            (1, 1 << 32)
        );
    }

    #[test]
    fn a_value_of_unknown_history_is_left_out_until_a_segment_arrives() {
        let mut w = IdleWrap::new(1000);
        // Already open when the agent started: 2 h idle reads ~48 min.
        assert_eq!(
            scan(&mut w, 10_000, 100, &[(50, kernel_idle(7_200_000, 1000))]),
            vec![None]
        );
        // Still nothing received one second later.
        assert_eq!(
            scan(&mut w, 11_000, 100, &[(50, kernel_idle(7_201_000, 1000))]),
            vec![None]
        );
        // A segment arrived 300 ms ago: exact from now on.
        assert_eq!(scan(&mut w, 12_000, 100, &[(50, 300)]), vec![Some(300)]);
        assert_eq!(scan(&mut w, 13_000, 100, &[(50, 1_300)]), vec![Some(1_300)]);
    }

    #[test]
    fn a_connection_opened_after_the_last_scan_is_trusted_until_it_wraps() {
        let mut w = IdleWrap::new(1000);
        assert_eq!(scan(&mut w, 0, 100, &[]), vec![]);
        // inp_gencnt 101 > generation 100 of the previous scan: new.
        assert_eq!(scan(&mut w, 1_000, 101, &[(101, 900)]), vec![Some(900)]);
        let mut t = 0;
        // Idle from then on, scanned every minute until past the horizon.
        let mut last = None;
        while t < 5_000_000 {
            t += 60_000;
            let true_idle = 900 + t;
            last = scan(
                &mut w,
                1_000 + t,
                101,
                &[(101, kernel_idle(true_idle, 1000))],
            )[0];
            if true_idle < 4_294_967 {
                assert_eq!(
                    last,
                    Some(kernel_idle(true_idle, 1000)),
                    "before the wrap, at {t}"
                );
            }
        }
        assert_eq!(last, None, "past the horizon the value is left out");
        // Until a segment arrives.
        assert_eq!(scan(&mut w, 5_100_000, 101, &[(101, 20)]), vec![Some(20)]);
    }

    #[test]
    fn a_busy_connection_scanned_every_second_is_trusted() {
        let mut w = IdleWrap::new(1000);
        assert_eq!(
            scan(&mut w, 0, 9, &[(5, 12)]),
            vec![None],
            "history unknown"
        );
        assert_eq!(scan(&mut w, 1_000, 9, &[(5, 40)]), vec![Some(40)]);
        assert_eq!(scan(&mut w, 2_000, 9, &[(5, 3)]), vec![Some(3)]);
    }

    #[test]
    fn a_long_gap_between_scans_trusts_nothing_and_gone_connections_are_forgotten() {
        let mut w = IdleWrap::new(1000);
        scan(&mut w, 0, 1, &[]);
        assert_eq!(scan(&mut w, 1_000, 2, &[(2, 10)]), vec![Some(10)]);
        // The agent was stopped for two hours.
        assert_eq!(scan(&mut w, 7_201_000, 2, &[(2, 5)]), vec![None]);
        scan(&mut w, 7_202_000, 2, &[]);
        assert!(w.by_id.is_empty());
    }

    #[test]
    fn the_rate_is_kept() {
        assert_eq!(IdleWrap::new(1000).hz(), 1000);
        assert_eq!(IdleWrap::new(128).hz(), 128);
    }

    /// A socket first seen after a scan is trusted only if its id is newer
    /// than that scan's generation (the generation itself was already
    /// there) and the time since that scan is safely inside the horizon.
    #[test]
    fn opened_after_needs_a_newer_id_and_a_gap_inside_the_horizon() {
        let h = IdleWrap::new(1000).horizon_ms();
        let first_seen = |now_ms: u64, id: u64| {
            let mut w = IdleWrap::new(1000);
            scan(&mut w, 0, 100, &[]);
            scan(&mut w, now_ms, 100, &[(id, 500)])[0]
        };
        assert_eq!(first_seen(1_000, 101), Some(500));
        assert_eq!(first_seen(1_000, 100), None, "the generation itself");
        assert_eq!(first_seen(1_000, 7), None, "an old socket");
        assert_eq!(first_seen(h - SLACK_MS - 1, 101), Some(500));
        assert_eq!(first_seen(h - SLACK_MS, 101), None, "at the horizon");
    }

    /// Each rule's boundary, on a connection whose last value was trusted
    /// (or, for the last rule, not yet trusted), scanned once more.
    #[test]
    fn every_rule_holds_up_to_its_boundary_and_not_past_it() {
        let h = IdleWrap::new(1000).horizon_ms();
        // Unknown history at 0 (5 s idle), then a segment: trusted at 1 s
        // with `idle0`; the value `idle` read `dt` later.
        let after = |idle0: u32, dt: u64, idle: u32| {
            let mut w = IdleWrap::new(1000);
            assert_eq!(scan(&mut w, 0, 100, &[(5, 5_000)]), vec![None]);
            assert_eq!(scan(&mut w, 1_000, 100, &[(5, idle0)]), vec![Some(idle0)]);
            scan(&mut w, 1_000 + dt, 100, &[(5, idle)])[0]
        };
        // A gap within the slack of the horizon cannot tell a wrap from a
        // segment, whatever the value.
        assert_eq!(after(0, h - SLACK_MS - 1, 1_000), Some(1_000));
        assert_eq!(after(0, h - SLACK_MS, 1_000), None, "gap at the horizon");
        // A value near where the old one wraps to, once the expected value
        // is within the slack of the horizon, is taken as the wrap.
        assert_eq!(after(300, h - 551, 100), Some(100));
        assert_eq!(after(300, h - 550, 100), None, "may have wrapped");
        // Not yet trusted: a value well below the expected one shows a
        // segment; within the slack of it, nothing arrived.
        let second = |idle: u32| {
            let mut w = IdleWrap::new(1000);
            scan(&mut w, 0, 100, &[(5, 5_000)]);
            scan(&mut w, 1_000, 100, &[(5, idle)])[0]
        };
        assert_eq!(second(5_749), Some(5_749), "a segment 251 ms short");
        assert_eq!(second(5_750), None, "within the slack: no segment");
    }
}
