//! Whether a socket's *state* changed between two samples: every written
//! field of the field table that is not clock-driven (`ts`, `age_ms`,
//! `idle_ms`, timers change with time alone and say nothing about the
//! connection). Generated from the table, so a new field takes part as soon
//! as it has its row.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use super::socket_fields::socket_fields;
use super::{ShortName, SocketRecord, TcpState, Tier};

/// A field value that can be fed to the state fingerprint.
trait StateValue {
    fn feed(&self, h: &mut impl Hasher);
}

macro_rules! state_value_via_hash {
    ($($t:ty),*) => {$(
        impl StateValue for $t {
            fn feed(&self, h: &mut impl Hasher) {
                std::hash::Hash::hash(self, h);
            }
        }
    )*};
}
state_value_via_hash!(u64, u32, u8, i32, SocketAddr, TcpState, Tier, ShortName);

impl StateValue for f64 {
    fn feed(&self, h: &mut impl Hasher) {
        h.write_u64(self.to_bits());
    }
}

impl StateValue for Arc<str> {
    fn feed(&self, h: &mut impl Hasher) {
        h.write(self.as_bytes());
        // Keeps "ab"+"c" apart from "a"+"bc" in the stream of fields.
        h.write_u8(0xff);
    }
}

impl<T: StateValue> StateValue for Option<T> {
    fn feed(&self, h: &mut impl Hasher) {
        match self {
            None => h.write_u8(0),
            Some(v) => {
                h.write_u8(1);
                v.feed(h);
            }
        }
    }
}

/// Feeds `$v` unless the row is clock-driven or never written.
macro_rules! feed_state {
    (hidden, $timing:ident, $v:expr, $h:ident) => {};
    ($kind:ident, clock, $v:expr, $h:ident) => {};
    ($kind:ident, state, $v:expr, $h:ident) => {
        StateValue::feed($v, &mut $h)
    };
}

macro_rules! state_fingerprint_fn {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        impl SocketRecord {
            /// A keyed 64-bit digest of every written, non-clock field:
            /// equal for two samples of a connection whose state did not
            /// change. `keys` comes from the caller so the digest cannot be
            /// steered by a peer choosing its values.
            pub fn state_fingerprint(&self, keys: &impl BuildHasher) -> u64 {
                let mut h = keys.build_hasher();
                $( feed_state!($kind, $timing, &self.$name(), h); )*
                h.finish()
            }
        }
    };
}
socket_fields!(state_fingerprint_fn);

#[cfg(test)]
mod tests {
    use std::hash::RandomState;

    use crate::record::{FIELDS, FieldInfo, set_field};

    use super::*;

    /// For each row of the table: `base` with that one field taken from
    /// `other` (name, record, whether the value differs).
    macro_rules! one_field_from {
        ($(
            $(#[$doc:meta])*
            $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
        )*) => {
            fn each_with_one_field_from(
                base: &SocketRecord,
                other: &SocketRecord,
            ) -> Vec<(&'static str, SocketRecord, bool)> {
                vec![$({
                    let mut r = base.clone();
                    set_field!($kind, r, $name, other.$name());
                    let differs = format!("{:?}", base.$name()) != format!("{:?}", other.$name());
                    (stringify!($name), r, differs)
                },)*]
            }
        };
    }
    socket_fields!(one_field_from);

    #[test]
    fn every_state_field_counts_and_no_clock_field_does() {
        let keys = RandomState::new();
        let r = SocketRecord::every_field_set(3);
        // A random record that differs from `r` in every written field.
        let other = (1..1000)
            .map(|seed| SocketRecord::random(&mut crate::record::field_samples::Rng(seed), true))
            .find(|o| {
                each_with_one_field_from(&r, o)
                    .iter()
                    .all(|(name, _, differs)| {
                        *differs || !FieldInfo::named(name).unwrap().is_written()
                    })
            })
            .expect("a record differing in every field");
        let fp = r.state_fingerprint(&keys);
        assert_eq!(fp, r.clone().state_fingerprint(&keys));
        let mut unexercised = Vec::new();
        for (name, changed, value_differs) in each_with_one_field_from(&r, &other) {
            let info = FieldInfo::named(name).unwrap();
            let should_count = value_differs && info.is_written() && !info.clock;
            let counted = changed.state_fingerprint(&keys) != fp;
            assert_eq!(counted, should_count, "field {name}");
            if info.is_written() && !value_differs {
                unexercised.push(name);
            }
        }
        // The two samples differ in every written field, so each was tried.
        assert_eq!(unexercised, Vec::<&str>::new());
        assert!(FIELDS.iter().any(|f| f.clock) && FIELDS.iter().any(|f| !f.clock));
    }

    #[test]
    fn absent_and_zero_differ() {
        let keys = RandomState::new();
        let mut a = SocketRecord::every_field_set(3);
        a.set().rexmit(None);
        let mut b = a.clone();
        b.set().rexmit(Some(0));
        assert_ne!(a.state_fingerprint(&keys), b.state_fingerprint(&keys));
    }
}
