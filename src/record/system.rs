//! The per-poll `system` line: totals, state distribution, system TCP
//! counters and the agent's own health.

use std::sync::Arc;

use serde::Serialize;

use super::{StateCounts, TcpCounterDeltas, TcpCounters, Tier};

#[derive(Clone, Debug, Default, Serialize)]
pub struct SystemRecord {
    /// Nanoseconds since the Unix epoch.
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    pub interval_ms: u64,
    pub total_sockets: u64,
    /// Sockets per state, FreeBSD `TCPS_*` order (see `TcpState`).
    pub state_counts: StateCounts,

    /// Counter values since boot, where read this poll.
    #[serde(flatten)]
    pub counters: TcpCounters,
    /// Change over the window, where a previous sample exists.
    #[serde(flatten)]
    pub deltas: TcpCounterDeltas,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmit_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup_rate: Option<f64>,

    // The agent's own health.
    /// Time this poll spent collecting, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_us: Option<u64>,
    /// Ticks skipped since start because the previous one was still busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_ticks: Option<u64>,
    /// Samples dropped since start (full queues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// Failed writes since start (full disk, I/O errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_errors: Option<u64>,
    /// Kernel records skipped as malformed since start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_errors: Option<u64>,
    /// Sockets the delta store tracks (follows the live, filtered count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracked_sockets: Option<u64>,

    // What a socket-table poll left out of this output.
    /// Host name, so a line shipped elsewhere says where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Arc<str>>,
    /// Socket lines this output wrote for the poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets_written: Option<u64>,
    /// Sockets left out because nothing but the clock changed since their
    /// last line (`sockets = "changed"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets_unchanged: Option<u64>,
    /// Sockets that left the table this poll (each has a `close` record
    /// unless the output has `closes = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<u64>,
    /// The agent's resident size at its last check, bytes (where the
    /// platform reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Batches waiting in `[[nats]]` spools for the server's acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_spooled: Option<u64>,
    /// Batches dropped from full `[[nats]]` spools since start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_dropped: Option<u64>,
}

impl SystemRecord {
    /// Fill `deltas`, `retransmit_rate` and `dup_rate` from an earlier
    /// counter sample.
    pub fn set_deltas_since(&mut self, earlier: &TcpCounters) {
        self.deltas = self.counters.delta_since(earlier);
        self.retransmit_rate = self.deltas.retransmit_rate();
        self.dup_rate = self.deltas.dup_rate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_system_line() {
        let rec = SystemRecord {
            ts: 1709312400000000000,
            interval_ms: 1000,
            total_sockets: 47,
            state_counts: [0, 3, 0, 0, 38, 2, 1, 0, 0, 1, 2],
            ..SystemRecord::default()
        };
        let mut j = serde_json::to_value(&rec).unwrap();
        j.as_object_mut()
            .unwrap()
            .insert("type".into(), "system".into());
        let want: serde_json::Value = serde_json::from_str(
            r#"{"type":"system","ts":1709312400000000000,"interval_ms":1000,"total_sockets":47,"state_counts":[0,3,0,0,38,2,1,0,0,1,2]}"#,
        )
        .unwrap();
        assert_eq!(j, want);
    }
}
