//! The per-poll `system` line: totals, state distribution, system TCP
//! counters and the agent's own health.
//!
//! The fields are listed once, in `system_fields.rs`; this file turns that
//! list into the struct and its JSON view.

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

#[cfg(test)]
use super::field_samples::Sample;
use super::socket::Absent;
use super::system_fields::system_fields;
use super::{StateCounts, TcpCounterDeltas, TcpCounters, Tier};

macro_rules! system_record {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident;
    )*) => {
        /// One `system` line. Generated from the field table
        /// (`system_fields.rs`).
        #[derive(Clone, Debug, Default)]
        pub struct SystemRecord {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        /// The JSON line's object: fields in table order, absent values left
        /// out, a `flat` group's members as keys of their own.
        impl Serialize for SystemRecord {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                $( serialize_system!(m, $kind, stringify!($name), &self.$name); )*
                m.end()
            }
        }

        #[cfg(test)]
        impl SystemRecord {
            /// Every field set, values derived from `seed` and the field's
            /// place in the table.
            pub(crate) fn every_field_set(seed: u64) -> SystemRecord {
                let mut k = 0u64;
                SystemRecord {
                    $( $name: {
                        k += 1;
                        Sample::every(seed, k)
                    }, )*
                }
            }

            /// A record whose fields are each random, and with `all` never
            /// absent.
            pub(crate) fn random(rng: &mut super::field_samples::Rng, all: bool) -> SystemRecord {
                SystemRecord {
                    $( $name: Sample::random(rng, all), )*
                }
            }
        }
    };
}

macro_rules! serialize_system {
    ($m:ident, flat, $key:expr, $v:expr) => {
        for (key, value) in $v.iter() {
            if let Some(value) = value {
                $m.serialize_entry(key, &value)?;
            }
        }
    };
    ($m:ident, states, $key:expr, $v:expr) => {
        $m.serialize_entry($key, $v)?
    };
    ($m:ident, $kind:ident, $key:expr, $v:expr) => {
        if !Absent::is_absent($v) {
            $m.serialize_entry($key, $v)?;
        }
    };
}

system_fields!(system_record);

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

    #[test]
    fn counters_are_flat_keys_in_table_order() {
        let mut rec = SystemRecord::default();
        rec.counters.set("drops", 3);
        rec.deltas.set("drops_delta", 1);
        rec.poll_us = Some(9);
        let line = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            line,
            r#"{"ts":0,"interval_ms":0,"total_sockets":0,"state_counts":[0,0,0,0,0,0,0,0,0,0,0],"drops":3,"drops_delta":1,"poll_us":9}"#
        );
    }
}
