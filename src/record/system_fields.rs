//! The one list of `system` record fields. The `SystemRecord` struct, its
//! JSON line, its CSV columns, its protobuf encoder and the conversions to
//! and from the generated protobuf types are generated from it, so a
//! system field is named here once (and where it is computed).
//!
//! Each row reads `name: Type = tag, kind;` where
//! - `name` is the Rust field, the JSON key and the CSV column;
//! - `tag` is its field number in `SystemRecord` of `proto/tcpstats.proto`;
//! - `kind` is one of
//!   - `value`: written as its type says (an `Option` is left out when
//!     absent; the `u64` timestamp is a `fixed64` on the wire);
//!   - `count`: a `u64` always written; a plain `uint64` on the wire;
//!   - `states`: the per-state counts, a JSON array, one CSV column per
//!     state, a packed repeated field;
//!   - `flat`: a group of counters (`TcpCounters`, `TcpCounterDeltas`)
//!     whose members are JSON keys and CSV columns of their own and one
//!     nested `TcpCounters` message on the wire.
//!
//! Rows are in output order; protobuf tags rise with them. New fields go
//! at the end, with the next free number.

/// Calls `$then! { rows }` with every system field row, in output order;
/// `system_fields!(then, tokens...)` puts `tokens...` before the rows.
#[rustfmt::skip]
macro_rules! system_fields {
    ($then:ident $(, $($pre:tt)*)?) => {
        $then! {
            $($($pre)*)?
            /// Nanoseconds since the Unix epoch.
            ts: u64 = 1, value;
            tier: Option<Tier> = 2, value;
            interval_ms: u64 = 3, count;
            total_sockets: u64 = 4, count;
            /// Sockets per state, FreeBSD `TCPS_*` order (see `TcpState`).
            state_counts: StateCounts = 5, states;

            /// Counter values since boot, where read this poll.
            counters: TcpCounters = 6, flat;
            /// Change over the window, where a previous sample exists.
            deltas: TcpCounterDeltas = 7, flat;
            /// Retransmitted per sent segment over the window.
            retransmit_rate: Option<f64> = 8, value;
            /// Duplicate per received segment over the window.
            dup_rate: Option<f64> = 9, value;

            // The agent's own health.
            /// Time this poll spent collecting, microseconds.
            poll_us: Option<u64> = 10, value;
            /// Ticks skipped since start because the previous one was still busy.
            skipped_ticks: Option<u64> = 11, value;
            /// Samples dropped since start (full queues).
            dropped: Option<u64> = 12, value;
            /// Failed writes since start (full disk, I/O errors).
            write_errors: Option<u64> = 13, value;
            /// Kernel records skipped as malformed since start.
            parse_errors: Option<u64> = 14, value;
            /// Sockets the delta store tracks (follows the live, filtered count).
            tracked_sockets: Option<u64> = 15, value;

            // What a socket-table poll left out of this output.
            /// Host name, so a line shipped elsewhere says where it came from.
            host: Option<Arc<str>> = 16, value;
            /// Socket lines this output wrote for the poll.
            sockets_written: Option<u64> = 17, value;
            /// Sockets left out because nothing but the clock changed since
            /// their last line (`sockets = "changed"`).
            sockets_unchanged: Option<u64> = 18, value;
            /// Sockets that left the table this poll (each has a `close`
            /// record unless the output has `closes = false`).
            closed: Option<u64> = 19, value;
            /// The agent's resident size at its last check, bytes (where
            /// the platform reports it).
            memory_bytes: Option<u64> = 24, value;
            /// Batches waiting in `[[nats]]` spools for the server's
            /// acknowledgement (only with a `[[nats]]` output).
            stream_spooled: Option<u64> = 25, value;
            /// Batches dropped from full `[[nats]]` spools since start.
            stream_dropped: Option<u64> = 26, value;
            /// Socket-table scans since start that the kernel flagged as
            /// changed while they were read, so they may mix two moments
            /// (FreeBSD generation mismatch, Linux `NLM_F_DUMP_INTR`, macOS
            /// generation mismatch).
            scans_inconsistent: Option<u64> = 27, value;
            /// Processes whose descriptors the latest process scan could not
            /// read (macOS without root); their sockets have no owner.
            processes_unreadable: Option<u64> = 28, value;
        }
    };
}
pub(crate) use system_fields;

/// The field names, in output order, for code that reasons about them.
macro_rules! system_field_names {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident;
    )*) => {
        /// Every system field (a `flat` group by its own name), in output order.
        pub const SYSTEM_FIELDS: &[(&str, u32)] = &[$((stringify!($name), $tag)),*];
    };
}
system_fields!(system_field_names);

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_tags_rise_in_order() {
        let names: HashSet<&str> = SYSTEM_FIELDS.iter().map(|f| f.0).collect();
        assert_eq!(names.len(), SYSTEM_FIELDS.len());
        let tags: Vec<u32> = SYSTEM_FIELDS.iter().map(|f| f.1).collect();
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
    }
}
