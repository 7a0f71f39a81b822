//! System-wide TCP counters, named alike on every platform.
//!
//! The first twelve names are FreeBSD's `struct tcpstat` members without
//! the `tcps_` prefix; later ones have plain names (`listen_overflows`),
//! each mapped to its platform counters where the meaning matches (Linux
//! in `platform/linux/snmp.rs`, FreeBSD and macOS through the names in their
//! `layout.rs`) and absent elsewhere.

use serde::Serialize;

macro_rules! tcp_counters {
    ($( $name:ident => $delta:ident ),* $(,)?) => {
        /// Counter values since boot. `None` where the platform has no such counter.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct TcpCounters {
            $(
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $name: Option<u64>,
            )*
        }

        /// Change of each counter over a window (`_delta` names).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct TcpCounterDeltas {
            $(
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $delta: Option<u64>,
            )*
        }

        impl TcpCounters {
            /// Every counter name, in output order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// `(name, value)` pairs, in output order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, Option<u64>)> {
                [$((stringify!($name), self.$name)),*].into_iter()
            }

            /// Set a counter by name; false when the name is not one of ours.
            pub fn set(&mut self, name: &str, value: u64) -> bool {
                match name {
                    $(stringify!($name) => { self.$name = Some(value); true })*
                    _ => false,
                }
            }

            /// `self - earlier` per counter. A counter that went backwards
            /// (reboot, wrap, module reload) has no delta rather than a
            /// negative or huge one.
            pub fn delta_since(&self, earlier: &TcpCounters) -> TcpCounterDeltas {
                TcpCounterDeltas {
                    $($delta: match (self.$name, earlier.$name) {
                        (Some(now), Some(then)) => now.checked_sub(then),
                        _ => None,
                    },)*
                }
            }
        }

        impl TcpCounterDeltas {
            /// Every delta name, in output order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($delta)),*];

            /// `(name, value)` pairs, in output order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, Option<u64>)> {
                [$((stringify!($delta), self.$delta)),*].into_iter()
            }

            /// Set a delta by name; false when the name is not one of ours.
            pub fn set(&mut self, name: &str, value: u64) -> bool {
                match name {
                    $(stringify!($delta) => { self.$delta = Some(value); true })*
                    _ => false,
                }
            }
        }
    };
}

/// The one list of system counters: calls `$then! { counter => delta, ... }`
/// with every counter and its `_delta` name, in output order (JSON keys,
/// CSV columns). The names are also the field names of the protobuf
/// `TcpCounters` message, whose conversion is generated from this list.
#[rustfmt::skip]
macro_rules! tcp_counter_rows {
    ($then:ident) => {
        $then! {
            connattempt => connattempt_delta,
            accepts => accepts_delta,
            connects => connects_delta,
            drops => drops_delta,
            sndtotal => sndtotal_delta,
            sndbyte => sndbyte_delta,
            sndrexmitpack => sndrexmitpack_delta,
            sndrexmitbyte => sndrexmitbyte_delta,
            rcvtotal => rcvtotal_delta,
            rcvbyte => rcvbyte_delta,
            rcvduppack => rcvduppack_delta,
            rcvbadsum => rcvbadsum_delta,
            listen_overflows => listen_overflows_delta,
            listen_drops => listen_drops_delta,
            resets_sent => resets_sent_delta,
            retransmit_timeouts => retransmit_timeouts_delta,
        }
    };
}
pub(crate) use tcp_counter_rows;

tcp_counter_rows!(tcp_counters);

impl TcpCounterDeltas {
    /// Retransmitted segments per segment sent over the window.
    pub fn retransmit_rate(&self) -> Option<f64> {
        ratio(self.sndrexmitpack_delta, self.sndtotal_delta)
    }

    /// Duplicate segments per segment received over the window.
    pub fn dup_rate(&self) -> Option<f64> {
        ratio(self.rcvduppack_delta, self.rcvtotal_delta)
    }
}

fn ratio(part: Option<u64>, whole: Option<u64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0 => Some(p as f64 / w as f64),
        (Some(_), Some(0)) => Some(0.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_rates() {
        let mut a = TcpCounters::default();
        let mut b = TcpCounters::default();
        assert!(a.set("sndtotal", 100));
        assert!(a.set("sndrexmitpack", 1));
        assert!(b.set("sndtotal", 300));
        assert!(b.set("sndrexmitpack", 5));
        assert!(b.set("rcvtotal", 7)); // absent before: no delta
        assert!(!b.set("nonsense", 1));
        let d = b.delta_since(&a);
        assert_eq!(d.sndtotal_delta, Some(200));
        assert_eq!(d.sndrexmitpack_delta, Some(4));
        assert_eq!(d.rcvtotal_delta, None);
        assert_eq!(d.retransmit_rate(), Some(0.02));
        assert_eq!(d.dup_rate(), None);
    }

    #[test]
    fn backwards_counter_has_no_delta() {
        let mut a = TcpCounters::default();
        let mut b = TcpCounters::default();
        a.set("drops", 10);
        b.set("drops", 3);
        assert_eq!(b.delta_since(&a).drops_delta, None);
    }

    #[test]
    fn names_match_fields() {
        assert_eq!(TcpCounters::NAMES.len(), 16);
        assert!(
            TcpCounterDeltas::NAMES
                .iter()
                .all(|n| n.ends_with("_delta"))
        );
    }
}
