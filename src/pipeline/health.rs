//! The agent's own health counters, shared by every task and reported in
//! each `system` line and in the exit summary. Nothing is dropped, skipped
//! or lost without one of these moving.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Health {
    /// Ticks skipped because the tier's previous poll was still running.
    pub skipped_ticks: AtomicU64,
    /// Records dropped because a sink had stopped or was stuck in a write.
    pub dropped: AtomicU64,
    /// Records a sink failed to write.
    pub write_errors: AtomicU64,
    /// Kernel records skipped as malformed.
    pub parse_errors: AtomicU64,
    /// Socket-table scans the kernel flagged as changed while read.
    pub scans_inconsistent: AtomicU64,
    /// Polls that failed outright (each logged).
    pub poll_errors: AtomicU64,
    /// Records the delta store handed to the sinks (the `produced` count of
    /// the exit summary).
    pub produced: AtomicU64,
    /// Sockets the delta store tracks after the latest fast sample.
    pub tracked_sockets: AtomicU64,
    /// The agent's resident size against `agent.memory_limit`.
    pub memory: super::memory_guard::MemoryGuard,
    /// Batches waiting in `[[nats]]` spools, and dropped from full ones.
    pub stream: std::sync::Arc<crate::output::stream::StreamCounters>,
}

impl Health {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}

/// Per-sink counters, in records (`system` and `socket` lines) for every
/// format: a protobuf message carrying a poll counts as that poll's records.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Records routed to this sink (less the socket lines a
    /// `sockets = "changed"` output leaves out, and close records an
    /// output with `closes = false` does not write).
    pub offered: AtomicU64,
    pub written: AtomicU64,
    pub failed: AtomicU64,
    /// Records dropped because this sink had stopped or was stuck.
    pub dropped: AtomicU64,
    /// Rotations that failed (not records: each is retried next batch).
    pub rotate_failures: AtomicU64,
}
