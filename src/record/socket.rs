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

/// Declares the struct: required and address fields as public fields,
/// every optional field as its bare value (`Slot::Raw`) plus a bit of
/// `present`. An `Option<u64>` costs 16 bytes, its bare value 8 and a bit:
/// the table of a 40,000-socket host is the agent's largest structure.
macro_rules! socket_record_struct {
    (@acc [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, required, $timing:ident;
        $($rest:tt)*
    ) => {
        socket_record_struct! { @acc [$($acc)* $(#[$doc])* pub $name: $ty,] $($rest)* }
    };
    (@acc [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, addr($($arg:tt)*), $timing:ident;
        $($rest:tt)*
    ) => {
        socket_record_struct! { @acc [$($acc)* $(#[$doc])* pub $name: $ty,] $($rest)* }
    };
    (@acc [$($acc:tt)*]
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
        $($rest:tt)*
    ) => {
        socket_record_struct! { @acc [$($acc)* $(#[$doc])* $name: <$ty as Slot>::Raw,] $($rest)* }
    };
    (@acc [$($acc:tt)*]) => {
        /// A per-socket sample. [`SocketRecord::new`] gives an all-absent
        /// record; sources fill what they know. Generated from the field
        /// table (`socket_fields.rs`): an optional field is read with the
        /// method of its name (`r.cwnd()`) and written through
        /// [`SocketRecord::set`] (`r.set().cwnd(Some(10))`).
        #[derive(Clone)]
        pub struct SocketRecord {
            /// Which optional fields hold a value, one bit each ([`Bit`]).
            present: u128,
            $($acc)*
        }
    };
}
socket_fields!(socket_record_struct, @acc []);

/// Reads a field as the table types it (optional fields as `Option`).
macro_rules! load {
    (required, $r:ident, $name:ident, $ty:ty) => {
        $r.$name
    };
    (addr, $r:ident, $name:ident, $ty:ty) => {
        $r.$name
    };
    ($kind:ident, $r:ident, $name:ident, $ty:ty) => {
        <$ty as Slot>::load($r.present & Bit::$name.mask() != 0, &$r.$name)
    };
}

/// A field's content in a blank record.
macro_rules! blank {
    (required, $ty:ty) => {
        <$ty as Required>::BLANK
    };
    (addr, $ty:ty) => {
        <$ty as Required>::BLANK
    };
    ($kind:ident, $ty:ty) => {
        <$ty as Slot>::empty()
    };
}

/// A setter for an optional field; none for the others (plain fields).
macro_rules! setter {
    (required, $name:ident, $ty:ty) => {};
    (addr, $name:ident, $ty:ty) => {};
    ($kind:ident, $name:ident, $ty:ty) => {
        #[inline(always)]
        pub fn $name(&mut self, value: $ty) -> &mut Self {
            if Slot::store(value, &mut self.0.$name) {
                self.0.present |= Bit::$name.mask();
            } else {
                self.0.present &= !Bit::$name.mask();
            }
            self
        }
    };
}

macro_rules! socket_record {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        /// Each field's bit in `SocketRecord::present`.
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum Bit {
            $($name,)*
        }

        impl Bit {
            #[inline(always)]
            const fn mask(self) -> u128 {
                1 << self as u32
            }
        }

        const _: () = assert!([$(stringify!($name)),*].len() <= 128, "present has 128 bits");

        impl SocketRecord {
            /// Every field blank: absent, or zero for the few always present.
            pub(crate) fn blank() -> SocketRecord {
                SocketRecord { present: 0, $( $name: blank!($kind, $ty), )* }
            }

            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $name(&self) -> $ty {
                    load!($kind, self, $name, $ty)
                }
            )*
        }

        impl SetFields<'_> {
            $( setter!($kind, $name, $ty); )*
        }

        impl std::fmt::Debug for SocketRecord {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("SocketRecord")
                    $( .field(stringify!($name), &self.$name()) )*
                    .finish()
            }
        }

        /// Serde's view, as `#[derive(Serialize)]` with absent fields
        /// skipped would write it (the reference the fast JSON writer is
        /// tested against).
        impl Serialize for SocketRecord {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut len = 0;
                $( if serialized!($kind) && !Absent::is_absent(&self.$name()) { len += 1; } )*
                let mut st = s.serialize_struct("SocketRecord", len)?;
                $(
                    if serialized!($kind) && !Absent::is_absent(&self.$name()) {
                        serialize_field!($kind, st, stringify!($name), &self.$name());
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

/// Writes a record's optional fields: `r.set().cwnd(Some(10)).mss(None)`.
pub struct SetFields<'a>(&'a mut SocketRecord);

impl SocketRecord {
    /// The setters of the optional fields, one method per field.
    #[inline(always)]
    pub fn set(&mut self) -> SetFields<'_> {
        SetFields(self)
    }
}

/// Serializes as its `Display` text (`"ip:port"`, `"[ip%scope]:port"`).
struct AsDisplay<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for AsDisplay<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// How an optional field is stored: its bare value, with presence kept
/// apart (a bit of `present`).
pub trait Slot: Sized {
    type Raw: Clone;
    /// The bare value of an absent field.
    fn empty() -> Self::Raw;
    fn load(present: bool, raw: &Self::Raw) -> Self;
    /// Stores the value, if any; whether there was one.
    fn store(self, raw: &mut Self::Raw) -> bool;
}

macro_rules! copy_slots {
    ($($t:ty = $empty:expr),*) => {$(
        impl Slot for Option<$t> {
            type Raw = $t;
            fn empty() -> $t {
                $empty
            }
            #[inline(always)]
            fn load(present: bool, raw: &$t) -> Self {
                if present { Some(*raw) } else { None }
            }
            #[inline(always)]
            fn store(self, raw: &mut $t) -> bool {
                match self {
                    Some(v) => {
                        *raw = v;
                        true
                    }
                    None => false,
                }
            }
        }
    )*};
}
copy_slots!(
    u8 = 0,
    u32 = 0,
    u64 = 0,
    i32 = 0,
    f64 = 0.0,
    Tier = Tier::Fast,
    ShortName = ShortName::default()
);

/// A command line is shared, not copied: the `Option` costs nothing here
/// (the pointer's niche), so it is kept as it is.
impl Slot for Option<Arc<str>> {
    type Raw = Option<Arc<str>>;
    fn empty() -> Self::Raw {
        None
    }
    #[inline(always)]
    fn load(present: bool, raw: &Self::Raw) -> Self {
        if present { raw.clone() } else { None }
    }
    #[inline(always)]
    fn store(self, raw: &mut Self::Raw) -> bool {
        *raw = self;
        raw.is_some()
    }
}

/// The always-present fields: their value in a blank record, and never
/// left out of an output (see [`Absent`]).
trait Required {
    const BLANK: Self;
}

impl Required for u64 {
    const BLANK: u64 = 0;
}

impl Required for SocketAddr {
    const BLANK: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::UNSPECIFIED,
        0,
    ));
}

impl Required for TcpState {
    const BLANK: TcpState = TcpState::Closed;
}

/// Whether a value is left out of the outputs.
pub(super) trait Absent {
    fn is_absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl<T: Required> Absent for T {
    fn is_absent(&self) -> bool {
        false
    }
}

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
                [$(self.$counter()),*]
            }

            /// Every `_delta` field, in [`SocketRecord::delta_counters`]'s order.
            pub fn deltas(&self) -> [Option<u64>; DELTA_COUNTERS] {
                [$(self.$delta()),*]
            }

            /// Set every `_delta` field, in [`SocketRecord::delta_counters`]'s order.
            pub fn set_deltas(&mut self, deltas: [Option<u64>; DELTA_COUNTERS]) {
                let [$($delta),*] = deltas;
                self.set()$(.$delta($delta))*;
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
        let snd = pct(self.snd_buf_used(), self.snd_buf_hiwat());
        let rcv = pct(self.rcv_buf_used(), self.rcv_buf_hiwat());
        self.set().snd_buf_pct(snd).rcv_buf_pct(rcv);
    }
}

/// Sets any field: a plain field by assignment, an optional one by its
/// setter (`set_field!(kind, record, name, value)`, for code generated
/// from the table).
macro_rules! set_field {
    (required, $r:ident, $name:ident, $v:expr) => {
        $r.$name = $v
    };
    (addr, $r:ident, $name:ident, $v:expr) => {
        $r.$name = $v
    };
    ($kind:ident, $r:ident, $name:ident, $v:expr) => {
        $r.set().$name($v)
    };
}
pub(crate) use set_field;

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
                let mut r = SocketRecord::blank();
                $(
                    k += 1;
                    set_field!($kind, r, $name, Sample::every(seed, k));
                )*
                r
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
                {
                    let mut r = SocketRecord::blank();
                    $( set_field!($kind, r, $name, Sample::random(rng, all)); )*
                    r
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
        if bit(0) { self.set().tier(None); }
        if bit(1) { self.set().sock_id(None); }
        if bit(2) { self.set().cc(None); }
        if bit(3) { self.set().command(None); }
        if bit(4) { self.set().snd_buf_pct(None); }
        if bit(5) { self.set().rtt_us(None); }
        if bit(6) { self.set().cwnd(None); }
        if bit(7) { let fd = self.fd().map(|fd| -fd); self.set().fd(fd); }
        if bit(8) { self.set().fd(None); }
        if bit(9) { self.set().stack(None); }
        if bit(10) { self.set().uid(None); }
        if bit(11) { self.set().pid(None); }
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
        r.set().proc_key(Some(0xfffff80012345678));
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""local":"[2001:db8::1]:443""#), "{j}");
        assert!(!j.contains("proc_key") && !j.contains(&0xfffff80012345678u64.to_string()));
    }

    /// The socket table is the agent's largest structure: an optional
    /// field costs its bare value and a bit, not an `Option` (which made a
    /// record about 890 bytes).
    #[test]
    fn a_record_keeps_presence_in_bits() {
        assert!(std::mem::size_of::<SocketRecord>() <= 560);
        let mut r = rec();
        r.set()
            .cwnd(Some(0))
            .mss(Some(1448))
            .command(Some("nginx".into()));
        assert_eq!(
            (r.cwnd(), r.mss(), r.ssthresh()),
            (Some(0), Some(1448), None)
        );
        assert_eq!(r.command().as_deref(), Some("nginx"));
        r.set().cwnd(None).command(None);
        assert_eq!((r.cwnd(), r.mss(), r.command()), (None, Some(1448), None));
    }

    #[test]
    fn buffer_percentages() {
        let mut r = rec();
        r.set()
            .snd_buf_used(Some(0))
            .snd_buf_hiwat(Some(65536))
            .rcv_buf_used(Some(8061))
            .rcv_buf_hiwat(Some(65536));
        r.derive_buffer_pcts();
        assert_eq!(r.snd_buf_pct(), Some(0.0));
        assert_eq!(r.rcv_buf_pct(), Some(12.3));
        r.set().rcv_buf_hiwat(Some(0));
        r.derive_buffer_pcts();
        assert_eq!(r.rcv_buf_pct(), None);
    }
}
