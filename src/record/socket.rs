//! One TCP socket as every platform reports it and every output writes it.
//!
//! The fields themselves are listed once, in `socket_fields.rs`; this
//! file turns that list into the struct. Field names and units are the
//! user's contract: units are in the name (`_us`, `_ms`, bytes otherwise)
//! and a value the source cannot provide is `None`, which the outputs
//! leave out entirely.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

#[cfg(test)]
use super::field_samples::Sample;
use super::socket_fields::socket_fields;
use super::{ShortName, TcpState, Tier};

/// ssthresh as written when the kernel reports "no threshold yet"
/// (Linux `TCP_INFINITE_SSTHRESH`, FreeBSD's initial maximum): the
/// documented `2147483647`, never a product that overflowed.
pub const SSTHRESH_INFINITE: u64 = 0x7fff_ffff;

macro_rules! socket_record {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        /// A per-socket sample. [`SocketRecord::new`] gives an all-absent
        /// record; sources fill what they know. Generated from the field
        /// table (`socket_fields.rs`).
        #[derive(Clone, Debug)]
        pub struct SocketRecord {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl SocketRecord {
            /// Every field blank: absent, or zero for the few always present.
            fn blank() -> SocketRecord {
                SocketRecord { $( $name: Blank::blank(), )* }
            }
        }

        /// Serde's view, as `#[derive(Serialize)]` with absent fields
        /// skipped would write it (the reference the fast JSON writer is
        /// tested against).
        impl Serialize for SocketRecord {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut len = 0;
                $( if serialized!($kind) && !Blank::is_absent(&self.$name) { len += 1; } )*
                let mut st = s.serialize_struct("SocketRecord", len)?;
                $(
                    if serialized!($kind) && !Blank::is_absent(&self.$name) {
                        serialize_field!($kind, st, stringify!($name), &self.$name);
                    }
                )*
                st.end()
            }
        }
    };
}

macro_rules! serialized {
    (hidden) => {
        false
    };
    ($kind:ident) => {
        true
    };
}

macro_rules! serialize_field {
    (addr, $st:ident, $key:expr, $v:expr) => {
        $st.serialize_field($key, &AsDisplay($v))?
    };
    ($kind:ident, $st:ident, $key:expr, $v:expr) => {
        $st.serialize_field($key, $v)?
    };
}

socket_fields!(socket_record);

/// Serializes as its `Display` text (`"ip:port"`, `"[ip%scope]:port"`).
struct AsDisplay<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for AsDisplay<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// A field's value before a source fills it.
pub(super) trait Blank {
    fn blank() -> Self;
    fn is_absent(&self) -> bool;
}

impl<T> Blank for Option<T> {
    fn blank() -> Self {
        None
    }
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

/// The always-present fields, set by [`SocketRecord::new`].
macro_rules! blank_required {
    ($($t:ty = $v:expr),*) => {$(
        impl Blank for $t {
            fn blank() -> Self {
                $v
            }
            fn is_absent(&self) -> bool {
                false
            }
        }
    )*};
}
blank_required!(
    u64 = 0,
    SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0)),
    TcpState = TcpState::Closed
);

/// Calls `$then!(counter => delta, ...)` for every counter with a delta,
/// in table order.
macro_rules! delta_pairs {
    (@acc $then:ident [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, delta($counter:ident), $timing:ident;
        $($rest:tt)*
    ) => {
        delta_pairs! { @acc $then [$($acc)* $counter => $name,] $($rest)* }
    };
    (@acc $then:ident [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
        $($rest:tt)*
    ) => {
        delta_pairs! { @acc $then [$($acc)*] $($rest)* }
    };
    (@acc $then:ident [$($acc:tt)*]) => {
        $then! { $($acc)* }
    };
}

macro_rules! counter_access {
    ($($counter:ident => $delta:ident,)*) => {
        /// Cumulative counters that have a `_delta` field.
        pub const DELTA_COUNTERS: usize = [$(stringify!($delta)),*].len();

        impl SocketRecord {
            /// The counters that have deltas, in table order.
            pub fn delta_counters(&self) -> [Option<u64>; DELTA_COUNTERS] {
                [$(self.$counter),*]
            }

            /// Every `_delta` field, in [`SocketRecord::delta_counters`]'s order.
            pub fn deltas(&self) -> [Option<u64>; DELTA_COUNTERS] {
                [$(self.$delta),*]
            }

            /// Set every `_delta` field, in [`SocketRecord::delta_counters`]'s order.
            pub fn set_deltas(&mut self, deltas: [Option<u64>; DELTA_COUNTERS]) {
                let [$($delta),*] = deltas;
                $(self.$delta = $delta;)*
            }
        }
    };
}

socket_fields!(delta_pairs, @acc counter_access []);

impl SocketRecord {
    /// An all-absent record with the identity every source knows.
    pub fn new(ts: u64, local: SocketAddr, remote: SocketAddr, state: TcpState) -> SocketRecord {
        SocketRecord {
            ts,
            local,
            remote,
            state,
            ..SocketRecord::blank()
        }
    }

    /// Fill `snd_buf_pct` / `rcv_buf_pct` from used and high-water marks,
    /// rounded to one decimal. Absent when either is unknown
    /// or the high-water mark is zero.
    pub fn derive_buffer_pcts(&mut self) {
        self.snd_buf_pct = pct(self.snd_buf_used, self.snd_buf_hiwat);
        self.rcv_buf_pct = pct(self.rcv_buf_used, self.rcv_buf_hiwat);
    }
}

#[cfg(test)]
impl SocketRecord {
    /// Every field set, values derived from `seed` and the field's place
    /// in the table: a new field is set here without a line of its own.
    pub(crate) fn every_field_set(seed: u64) -> SocketRecord {
        macro_rules! every {
            ($(
                $(#[$doc:meta])*
                $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
            )*) => {{
                let mut k = 0u64;
                SocketRecord {
                    $( $name: {
                        k += 1;
                        Sample::every(seed, k)
                    }, )*
                }
            }};
        }
        socket_fields!(every)
    }

    /// A record whose fields are each random, and with `all` never
    /// absent: values that stress the encodings.
    pub(crate) fn random(rng: &mut super::field_samples::Rng, all: bool) -> SocketRecord {
        macro_rules! random {
            ($(
                $(#[$doc:meta])*
                $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
            )*) => {
                SocketRecord {
                    $( $name: Sample::random(rng, all), )*
                }
            };
        }
        socket_fields!(random)
    }

    /// Knock fields out (or flip them) by the bits of `mask`, so one
    /// proptest input covers present and absent fields in any mix.
    #[rustfmt::skip]
    pub(crate) fn knock_out(&mut self, mask: u64) {
        let bit = |i: u32| mask & (1 << i) != 0;
        if bit(0) { self.tier = None; }
        if bit(1) { self.sock_id = None; }
        if bit(2) { self.cc = None; }
        if bit(3) { self.command = None; }
        if bit(4) { self.snd_buf_pct = None; }
        if bit(5) { self.rtt_us = None; }
        if bit(6) { self.cwnd = None; }
        if bit(7) { self.fd = self.fd.map(|fd| -fd); }
        if bit(8) { self.fd = None; }
        if bit(9) { self.stack = None; }
        if bit(10) { self.uid = None; }
        if bit(11) { self.pid = None; }
        if bit(12) { std::mem::swap(&mut self.local, &mut self.remote); }
    }
}

fn pct(used: Option<u32>, hiwat: Option<u32>) -> Option<f64> {
    match (used, hiwat) {
        (Some(u), Some(h)) if h > 0 => Some((u as f64 * 1000.0 / h as f64).round() / 10.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> SocketRecord {
        SocketRecord::new(
            1_709_312_400_000_000_000,
            "192.168.1.5:52341".parse().unwrap(),
            "151.101.1.69:443".parse().unwrap(),
            TcpState::Established,
        )
    }

    #[test]
    fn absent_fields_are_left_out() {
        let j = serde_json::to_string(&rec()).unwrap();
        assert_eq!(
            j,
            r#"{"ts":1709312400000000000,"local":"192.168.1.5:52341","remote":"151.101.1.69:443","state":"ESTABLISHED"}"#
        );
    }

    #[test]
    fn ipv6_is_bracketed_and_proc_key_hidden() {
        let mut r = rec();
        r.local = "[2001:db8::1]:443".parse().unwrap();
        r.proc_key = Some(0xfffff80012345678);
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""local":"[2001:db8::1]:443""#), "{j}");
        assert!(!j.contains("proc_key") && !j.contains(&0xfffff80012345678u64.to_string()));
    }

    #[test]
    fn buffer_percentages() {
        let mut r = rec();
        r.snd_buf_used = Some(0);
        r.snd_buf_hiwat = Some(65536);
        r.rcv_buf_used = Some(8061);
        r.rcv_buf_hiwat = Some(65536);
        r.derive_buffer_pcts();
        assert_eq!(r.snd_buf_pct, Some(0.0));
        assert_eq!(r.rcv_buf_pct, Some(12.3));
        r.rcv_buf_hiwat = Some(0);
        r.derive_buffer_pcts();
        assert_eq!(r.rcv_buf_pct, None);
    }
}
