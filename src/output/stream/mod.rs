//! Outputs that stream batches to a server instead of files: `[[nats]]`
//! (JetStream), with an on-disk spool for what is not acknowledged yet.

pub mod nats;
pub mod spool;
pub mod stop_grace;

use std::sync::atomic::AtomicU64;

/// The streaming outputs' counters, reported in every `system` line.
#[derive(Debug, Default)]
pub struct StreamCounters {
    /// Batches waiting in spools (or in memory for a spool to be free).
    pub spooled: AtomicU64,
    /// Batches dropped from full spools since start.
    pub dropped: AtomicU64,
    /// Streaming outputs running: the two counters are written only when
    /// there is one (or was, and something is left to report).
    pub outputs: AtomicU64,
    /// How long stopping publishers wait for acknowledgements.
    pub stop: stop_grace::StopGrace,
}

impl StreamCounters {
    /// `(stream_spooled, stream_dropped)` for a `system` line, or `None`
    /// when the agent never streamed.
    pub fn for_system_line(&self) -> Option<(u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let (spooled, dropped) = (self.spooled.load(Relaxed), self.dropped.load(Relaxed));
        (self.outputs.load(Relaxed) > 0 || spooled > 0 || dropped > 0).then_some((spooled, dropped))
    }
}
