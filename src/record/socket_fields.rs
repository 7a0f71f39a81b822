//! The one list of socket record fields. Everything that handles every
//! field — the `SocketRecord` struct and `new()`, the JSON and CSV writers,
//! the protobuf encoder and conversion, the delta store's counter list, the
//! test generators — is generated from it, so a field is named here once.
//! See `docs/ARCHITECTURE.md`, "The field table: adding a field".
//!
//! Each row reads `name: Type = tag, kind, timing;` where
//! - `name` is the Rust field, the JSON key and the CSV column;
//! - `tag` is its field number in `proto/tcpstats.proto`;
//! - `kind` is one of
//!   - `required`: always written (JSON/CSV), implicit presence in protobuf;
//!   - `value`: an `Option`, left out when absent;
//!   - `counter(delta_field)`: a cumulative counter; the delta store writes
//!     its change over the interval into `delta_field`;
//!   - `delta(counter_field)`: that change;
//!   - `addr(scope_tag addr_field port_field scope_field)`: a socket
//!     address, written as one string in JSON/CSV and as address bytes
//!     (`tag`), port (`tag + 1`) and IPv6 scope id (`scope_tag`) in
//!     protobuf, whose field names follow;
//!   - `hidden`: kept in memory, never written anywhere;
//! - `timing` is `clock` for a field that changes with time alone
//!   (timestamps, ages, timers) and `state` for everything else.
//!
//! Rows are in output order (JSON keys, CSV columns); protobuf tags rise
//! with them. How each type is written is decided by the type (traits in
//! `output::encode` and `output::encode::proto`), so a new `Option<u64>`
//! field needs nothing but its row.

/// Calls `$then! { rows }` with every socket field row, in output order;
/// `socket_fields!(then, tokens...)` puts `tokens...` before the rows.
#[rustfmt::skip]
macro_rules! socket_fields {
    ($then:ident $(, $($pre:tt)*)?) => {
        $then! {
            $($($pre)*)?
            /// Nanoseconds since the Unix epoch.
            ts: u64 = 1, required, clock;
            tier: Option<Tier> = 2, value, state;
            /// Stable identity: Linux socket cookie, FreeBSD `inp_gencnt`.
            sock_id: Option<u64> = 3, value, state;
            local: SocketAddr = 4, addr(70 local_addr local_port local_scope_id), state;
            remote: SocketAddr = 6, addr(71 remote_addr remote_port remote_scope_id), state;
            uid: Option<u32> = 8, value, state;
            /// Linux socket inode (as `ss -e` shows it).
            inode: Option<u64> = 9, value, state;
            state: TcpState = 10, required, state;

            // Windows, bytes.
            cwnd: Option<u64> = 11, value, state;
            ssthresh: Option<u64> = 12, value, state;
            mss: Option<u32> = 13, value, state;
            rcv_wnd: Option<u64> = 14, value, state;
            snd_wnd: Option<u64> = 15, value, state;
            snd_wscale: Option<u8> = 16, value, state;
            rcv_wscale: Option<u8> = 17, value, state;

            // Algorithm.
            cc: Option<ShortName> = 18, value, state;
            /// FreeBSD TCP stack (`freebsd`, `rack`, `bbr`).
            stack: Option<ShortName> = 19, value, state;

            // RTT, microseconds.
            rtt_us: Option<u32> = 20, value, state;
            rttvar_us: Option<u32> = 21, value, state;
            rto_us: Option<u32> = 22, value, state;
            rtt_min_us: Option<u32> = 23, value, state;

            // Sequence numbers (FreeBSD module).
            snd_una: Option<u32> = 24, value, state;
            snd_nxt: Option<u32> = 25, value, state;
            snd_max: Option<u32> = 26, value, state;
            rcv_nxt: Option<u32> = 27, value, state;
            rcv_adv: Option<u32> = 28, value, state;

            // Cumulative counters.
            /// Total retransmitted segments over the connection's life.
            rexmit: Option<u64> = 29, counter(rexmit_delta), state;
            /// Out-of-order segments received.
            ooo: Option<u64> = 30, counter(ooo_delta), state;
            /// Zero-window events (probes sent / windows advertised as zero).
            zerowin: Option<u64> = 31, counter(zerowin_delta), state;
            dsack_bytes: Option<u64> = 32, value, state;
            dsack_pack: Option<u64> = 33, value, state;
            bytes_sent: Option<u64> = 34, value, state;
            bytes_acked: Option<u64> = 35, counter(bytes_acked_delta), state;
            bytes_received: Option<u64> = 36, counter(bytes_received_delta), state;
            bytes_retrans: Option<u64> = 37, value, state;
            segs_out: Option<u64> = 38, counter(segs_out_delta), state;
            segs_in: Option<u64> = 39, counter(segs_in_delta), state;
            /// Segments currently unacknowledged / lost / retransmitted-in-flight.
            unacked: Option<u32> = 40, value, state;
            lost: Option<u32> = 41, value, state;
            retrans_out: Option<u32> = 42, value, state;
            /// Bytes per second, as the kernel estimates them.
            delivery_rate: Option<u64> = 43, value, state;
            pacing_rate: Option<u64> = 44, value, state;

            // Deltas over the tier interval (delta store).
            rexmit_delta: Option<u64> = 45, delta(rexmit), state;
            ooo_delta: Option<u64> = 46, delta(ooo), state;
            zerowin_delta: Option<u64> = 47, delta(zerowin), state;
            bytes_acked_delta: Option<u64> = 48, delta(bytes_acked), state;
            bytes_received_delta: Option<u64> = 49, delta(bytes_received), state;
            segs_out_delta: Option<u64> = 50, delta(segs_out), state;
            segs_in_delta: Option<u64> = 51, delta(segs_in), state;
            /// Milliseconds since the agent first saw this socket.
            age_ms: Option<u64> = 52, value, clock;

            // Timers, milliseconds until expiry.
            timer_rexmt_ms: Option<u32> = 53, value, clock;
            timer_persist_ms: Option<u32> = 54, value, clock;
            timer_keep_ms: Option<u32> = 55, value, clock;
            timer_2msl_ms: Option<u32> = 56, value, clock;
            timer_delack_ms: Option<u32> = 57, value, clock;
            /// Milliseconds since the last segment was received.
            idle_ms: Option<u32> = 58, value, clock;

            // Buffers, bytes.
            snd_buf_used: Option<u32> = 59, value, state;
            snd_buf_hiwat: Option<u32> = 60, value, state;
            rcv_buf_used: Option<u32> = 61, value, state;
            rcv_buf_hiwat: Option<u32> = 62, value, state;
            snd_buf_pct: Option<f64> = 63, value, state;
            rcv_buf_pct: Option<f64> = 64, value, state;
            /// Linux: bytes waiting in the send / receive queue (`ss` Send-Q/Recv-Q).
            snd_queue: Option<u32> = 65, value, state;
            rcv_queue: Option<u32> = 66, value, state;

            // Owning process (standard-tier join).
            pid: Option<u32> = 67, value, state;
            fd: Option<i32> = 68, value, state;
            command: Option<Arc<str>> = 69, value, state;

            // Listeners only.
            /// Connections waiting to be accepted (Linux `idiag_rqueue` of
            /// a listener, FreeBSD `so_qlen`).
            accept_queue: Option<u32> = 72, value, state;
            /// The most the accept queue holds: the `listen()` backlog as
            /// the kernel capped it (Linux `idiag_wqueue`, FreeBSD `so_qlimit`).
            accept_backlog: Option<u32> = 73, value, state;

            /// Key into the process map: Linux socket inode, FreeBSD kernel
            /// socket address (`xso_so`). A kernel address must never leave
            /// the process, so this is never written.
            proc_key: Option<u64> = 0, hidden, state;
        }
    };
}
pub(crate) use socket_fields;

/// What role a field plays, as data (see the module comment for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Required,
    Value,
    /// A cumulative counter; its change is written to the named field.
    Counter {
        delta: &'static str,
    },
    /// The change of the named counter over the tier interval.
    Delta {
        counter: &'static str,
    },
    /// A socket address; its IPv6 scope id has its own protobuf tag.
    Addr {
        scope_tag: u32,
    },
    Hidden,
}

/// One socket field, for code that reasons about fields at run time
/// (which fields changed between two samples, which are written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// Rust field, JSON key and CSV column.
    pub name: &'static str,
    /// Field number in `proto/tcpstats.proto`; 0 for a hidden field.
    pub tag: u32,
    pub kind: FieldKind,
    /// Changes with the passing of time alone (`ts`, `age_ms`, timers):
    /// a change of such a field says nothing about the connection.
    pub clock: bool,
}

macro_rules! field_kind {
    (required) => {
        FieldKind::Required
    };
    (value) => {
        FieldKind::Value
    };
    (counter($delta:ident)) => {
        FieldKind::Counter {
            delta: stringify!($delta),
        }
    };
    (delta($counter:ident)) => {
        FieldKind::Delta {
            counter: stringify!($counter),
        }
    };
    (addr($scope:literal $($pb:ident)*)) => {
        FieldKind::Addr { scope_tag: $scope }
    };
    (hidden) => {
        FieldKind::Hidden
    };
}

macro_rules! is_clock {
    (clock) => {
        true
    };
    (state) => {
        false
    };
}

macro_rules! field_infos {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        /// Every socket field, in output order.
        pub const FIELDS: &[FieldInfo] = &[$(
            FieldInfo {
                name: stringify!($name),
                tag: $tag,
                kind: field_kind!($kind $(($($arg)*))?),
                clock: is_clock!($timing),
            },
        )*];
    };
}
socket_fields!(field_infos);

impl FieldInfo {
    /// The field named `name`, if there is one.
    pub fn named(name: &str) -> Option<&'static FieldInfo> {
        FIELDS.iter().find(|f| f.name == name)
    }

    /// The last written field whose tag is below every address's scope-id
    /// tag: protobuf writes the scope ids right after it, so the fields
    /// go on the wire in tag order however many are added after it.
    pub const fn last_tag_before_scopes() -> u32 {
        let mut min_scope = u32::MAX;
        let mut i = 0;
        while i < FIELDS.len() {
            if let FieldKind::Addr { scope_tag } = FIELDS[i].kind {
                if scope_tag < min_scope {
                    min_scope = scope_tag;
                }
            }
            i += 1;
        }
        let mut last = 0;
        let mut i = 0;
        while i < FIELDS.len() {
            let f = &FIELDS[i];
            if !matches!(f.kind, FieldKind::Hidden) && f.tag < min_scope && f.tag > last {
                last = f.tag;
            }
            i += 1;
        }
        last
    }

    /// Whether the field appears in the outputs.
    pub fn is_written(&self) -> bool {
        self.kind != FieldKind::Hidden
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_written_tags_rise_in_order() {
        let names: HashSet<&str> = FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FIELDS.len());
        let tags: Vec<u32> = FIELDS
            .iter()
            .filter(|f| f.is_written())
            .map(|f| f.tag)
            .collect();
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
        assert_eq!(FieldInfo::last_tag_before_scopes(), 69);
    }

    #[test]
    fn counters_and_deltas_name_each_other() {
        let mut pairs = 0;
        for f in FIELDS {
            if let FieldKind::Counter { delta } = f.kind {
                let d = FieldInfo::named(delta).expect("delta field exists");
                assert_eq!(d.kind, FieldKind::Delta { counter: f.name });
                assert_eq!(delta, format!("{}_delta", f.name));
                pairs += 1;
            }
            if let FieldKind::Delta { counter } = f.kind {
                let c = FieldInfo::named(counter).expect("counter field exists");
                assert_eq!(c.kind, FieldKind::Counter { delta: f.name });
            }
        }
        assert!(pairs > 0);
    }

    #[test]
    fn clock_fields_are_the_time_driven_ones() {
        let clock: Vec<&str> = FIELDS.iter().filter(|f| f.clock).map(|f| f.name).collect();
        assert_eq!(
            clock,
            [
                "ts",
                "age_ms",
                "timer_rexmt_ms",
                "timer_persist_ms",
                "timer_keep_ms",
                "timer_2msl_ms",
                "timer_delack_ms",
                "idle_ms"
            ]
        );
        assert_eq!(FieldInfo::named("cwnd").map(|f| f.clock), Some(false));
    }
}
