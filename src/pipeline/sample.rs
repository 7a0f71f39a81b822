//! What a tier's poll hands to the delta store: only what that tier adds.

use crate::platform::{ProcessMap, ScanStats};
use crate::record::{SocketRecord, StateCounts, TcpCounters, Tier};

/// Sockets per state and their total, for the whole host (before filters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub total: u64,
    pub state_counts: StateCounts,
    /// Counted from a scan the kernel flagged as changed while it was read.
    pub inconsistent: bool,
}

#[derive(Debug)]
pub enum Payload {
    /// Fast: the (filtered) socket table, plus the host-wide census.
    Sockets {
        sockets: Vec<SocketRecord>,
        census: Census,
        scan: ScanStats,
    },
    /// Standard: process attribution and system counters (each absent when
    /// it could not be read; the failure is logged).
    Standard {
        procs: Option<ProcessMap>,
        counters: Option<TcpCounters>,
        census: Option<Census>,
    },
    /// Slow: the state distribution.
    States { census: Census },
    /// Aggregate: counters and census for the system summary.
    Aggregate {
        counters: Option<TcpCounters>,
        census: Option<Census>,
    },
}

#[derive(Debug)]
pub struct Sample {
    pub tier: Tier,
    /// Nanoseconds since the Unix epoch when the poll started.
    pub ts: u64,
    pub interval_ms: u64,
    /// Time the poll took, microseconds.
    pub poll_us: u64,
    pub payload: Payload,
}

impl Sample {
    /// Output records this sample will become (for drop accounting).
    pub fn record_count(&self) -> u64 {
        match &self.payload {
            Payload::Sockets { sockets, .. } => sockets.len() as u64 + 1,
            _ => 1,
        }
    }
}
