//! What one tick of one tier produces and every sink consumes.

use super::{SocketRecord, SystemRecord, Tier};

/// One poll's records. Sinks write the `system` line (if any) first, then
/// the socket lines.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The tier that produced it; `None` for a one-shot sample of every
    /// tier at once (`netpulse once`, `netpulse replay`).
    pub tier: Option<Tier>,
    /// Nanoseconds since the Unix epoch when the poll started.
    pub ts: u64,
    /// Per-tier sequence number, from 0, for gap detection downstream.
    pub seq: u64,
    pub interval_ms: u64,
    pub system: Option<SystemRecord>,
    pub sockets: Vec<SocketRecord>,
    /// Sockets gone since the previous socket-table poll: each as its last
    /// socket line showed it, with `ts` of this poll. Written as `close`
    /// records after the socket lines.
    pub closes: Vec<SocketRecord>,
}

impl Batch {
    /// Number of output records (lines) this batch holds.
    pub fn record_count(&self) -> usize {
        self.sockets.len() + self.closes.len() + usize::from(self.system.is_some())
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
