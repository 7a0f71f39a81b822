//! The socket line written field by field, without serde's per-field
//! dispatch: the fast tier writes tens of thousands of these a second.
//!
//! The output is byte-for-byte what `json::write_line("socket", ..)` (the
//! serde path) writes; the tests hold the two to that. Keys and integers go
//! straight into a [`LineWriter`]; floats and strings, which are rare, go
//! through serde_json itself (same number format, same escaping).

use super::line_writer::{Cursor, LineWriter, SOCKET_ADDR_MAX_LEN, U64_MAX_LEN, whole_number};
use super::text_value::{Shape, Text, TextValue, WORD_MAX_LEN};
use super::written_fields::{written_fields, written_fields_of};
use crate::record::SocketRecord;

const OPEN: &[u8] = b"{\"type\":\"socket\"";
/// A close record has the socket line's fields under another type.
const OPEN_CLOSE: &[u8] = b"{\"type\":\"close\"";
// One bound serves both: the close opening is not the longer one.
const _: () = assert!(OPEN_CLOSE.len() <= OPEN.len());
const CLOSE: &[u8] = b"}\n";

/// Append `{"type":"socket",...}\n` for one socket to a `Vec` (the tests'
/// way in; batches use one [`LineWriter`] for all their lines).
#[cfg(test)]
pub fn write_socket_line(r: &SocketRecord, out: &mut Vec<u8>) {
    let mut w = LineWriter::from_vec(std::mem::take(out));
    write_socket(r, &mut w);
    *out = w.into_vec();
}

// One `,"field":value` per field; absent fields are left out, as serde's
// `skip_serializing_if` does. The bound adds up each field's longest form:
// a constant, plus the command's length.
macro_rules! line {
    ($($field:ident),*) => {
        /// Append `{"type":"socket",...}\n` for one socket.
        pub fn write_socket(r: &SocketRecord, w: &mut LineWriter) {
            write_typed(OPEN, r, w)
        }

        /// Append `{"type":"close",...}\n`: a socket gone, as last seen.
        pub fn write_close(r: &SocketRecord, w: &mut LineWriter) {
            write_typed(OPEN_CLOSE, r, w)
        }

        #[inline(always)]
        fn write_typed(open: &'static [u8], r: &SocketRecord, w: &mut LineWriter) {
            w.record(line_max_len(r), |c| {
                c.bytes(open);
                $( field(&r.$field(), concat!(",\"", stringify!($field), "\":").as_bytes(), c); )*
                c.bytes(CLOSE);
            });
        }

        /// Most bytes [`write_socket`] writes for `r`.
        #[inline(always)]
        fn line_max_len(r: &SocketRecord) -> usize {
            OPEN.len() + CLOSE.len() $(
                + concat!(",\"", stringify!($field), "\":").len()
                + max_len(&r.$field())
            )*
        }
    };
}
written_fields!(line);

/// Most bytes the JSON value of `v` takes.
#[inline(always)]
fn max_len<T: TextValue>(v: &T) -> usize {
    match T::SHAPE {
        Shape::Unsigned => U64_MAX_LEN,
        Shape::Signed => 1 + U64_MAX_LEN,
        // ryu's longest form is 24 bytes; a non-finite value is `null`.
        Shape::Float => 32,
        Shape::Word => WORD_MAX_LEN + 2,
        Shape::Str { fixed } => string_max_len(fixed + v.text_len()),
        Shape::Addr => SOCKET_ADDR_MAX_LEN + 2,
    }
}

/// `key` (`,"name":`) and the value; nothing when absent.
#[inline(always)]
fn field<T: TextValue>(v: &T, key: &[u8], c: &mut Cursor<'_>) {
    match v.text() {
        None => {}
        Some(Text::Unsigned(n)) => c.prefixed_u64(key, n),
        Some(Text::Signed(n)) => c.prefixed_i64(key, n),
        Some(t) => {
            c.bytes(key);
            value(t, c);
        }
    }
}

/// A present value, as serde_json writes it.
#[inline(always)]
fn value(t: Text<'_>, c: &mut Cursor<'_>) {
    match t {
        Text::Unsigned(n) => c.u64(n),
        Text::Signed(n) => c.i64(n),
        Text::Float(v) => match whole_number(v) {
            Some(i) => {
                c.i64(i);
                c.bytes(b".0");
            }
            None => float(v, c),
        },
        Text::Word(w) => {
            c.byte(b'"');
            c.bytes(w.as_bytes());
            c.byte(b'"');
        }
        Text::Str(s) => string(s, c),
        Text::Addr(a) => {
            c.byte(b'"');
            c.socket_addr(a);
            c.byte(b'"');
        }
    }
}

fn float(v: f64, c: &mut Cursor<'_>) {
    c.write_io(|out| serde_json::to_writer(out, &v).map_err(std::io::Error::from));
}

/// A JSON string as serde_json writes it. serde_json escapes exactly the
/// control characters, `"` and `\`; a string with none of them (names,
/// most commands) is copied between quotes here, any other goes through
/// serde_json itself. Kept out of line: strings are few, and inlining
/// this into the line writer bloats the hot number path.
#[inline(never)]
fn string(s: &str, c: &mut Cursor<'_>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        c.byte(b'"');
        c.bytes(s.as_bytes());
        c.byte(b'"');
    } else {
        c.write_io(|out| serde_json::to_writer(out, s).map_err(std::io::Error::from));
    }
}

/// Most bytes of a JSON string of `len` bytes: 6 (`\u00XX`) per byte, and
/// the quotes.
const fn string_max_len(len: usize) -> usize {
    6 * len + 2
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::output::json::write_line;
    use crate::record::{ShortName, TcpState, Tier};

    fn serde_line(r: &SocketRecord) -> String {
        let mut v = Vec::new();
        write_line("socket", r, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn fast_line(r: &SocketRecord) -> String {
        let mut v = Vec::new();
        write_socket_line(r, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn full(seed: u64) -> SocketRecord {
        let mut r = SocketRecord::every_field_set(seed);
        // Awkward strings and a zero float, for escaping and number format.
        r.set().stack(Some(ShortName::new("rack\"\\")));
        r.set().command(Some(Arc::from("a,\"b\"\n\u{1}é")));
        r.set().rcv_buf_pct(Some(0.0));
        r
    }

    #[test]
    fn every_field_matches_serde() {
        for seed in [0, 1, u64::MAX / 3, u64::MAX] {
            let r = full(seed);
            assert_eq!(fast_line(&r), serde_line(&r));
        }
        let bare = SocketRecord::new(
            7,
            "0.0.0.0:0".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            TcpState::Listen,
        );
        assert_eq!(fast_line(&bare), serde_line(&bare));
    }

    /// Sets a field to its longest written form.
    pub(crate) trait Longest {
        fn make_longest(&mut self);
    }

    macro_rules! longest {
        ($($t:ty = $v:expr),* $(,)?) => {$(
            impl Longest for $t {
                fn make_longest(&mut self) {
                    *self = $v;
                }
            }
        )*};
    }
    longest!(
        u64 = u64::MAX,
        Option<u64> = Some(u64::MAX),
        Option<u32> = Some(u32::MAX),
        Option<u8> = Some(u8::MAX),
        Option<i32> = Some(i32::MIN),
        // The longest `Display` and the longest ryu form.
        Option<f64> = Some(-2.2250738585072014e-308),
        SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"
            .parse()
            .unwrap(),
        TcpState = TcpState::ALL.into_iter().max_by_key(|s| s.name().len()).unwrap(),
        Option<Tier> = Tier::ALL.into_iter().max_by_key(|t| t.name().len()),
        // Control characters: the longest escapes (`\u0001`).
        Option<ShortName> = Some(ShortName::new(&"\u{1}".repeat(ShortName::CAPACITY))),
        Option<Arc<str>> = Some(Arc::from("\u{1}\"".repeat(50).as_str())),
    );

    /// Every field at its longest.
    pub(crate) fn longest_record() -> SocketRecord {
        let mut r = SocketRecord::every_field_set(1);
        macro_rules! make_longest {
            ($(
                $(#[$doc:meta])*
                $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
            )*) => {$(
                let mut v = r.$name();
                Longest::make_longest(&mut v);
                crate::record::set_field!($kind, r, $name, v);
            )*};
        }
        crate::record::socket_fields!(make_longest);
        r
    }

    /// Every value at its longest fits its bound, and so does the line:
    /// no line is ever written twice.
    #[test]
    fn the_bound_holds_for_the_longest_line() {
        let r = longest_record();
        macro_rules! each_value_fits {
            ($($field:ident),*) => {$(
                let mut w = LineWriter::default();
                w.record(4096, |c| value(r.$field().text().unwrap(), c));
                let len = w.as_bytes().len();
                assert!(len <= max_len(&r.$field()), "{}: {len}", stringify!($field));
            )*};
        }
        written_fields!(each_value_fits);
        let line = fast_line(&r);
        assert_eq!(line, serde_line(&r));
        assert!(
            line.len() <= line_max_len(&r),
            "{} > {}",
            line.len(),
            line_max_len(&r)
        );
    }

    #[test]
    fn every_ascii_character_in_strings_matches_serde() {
        let mut r = full(1);
        for b in 0..=0x7fu8 {
            let ch = char::from(b);
            r.set()
                .command(Some(Arc::from(format!("a{ch}b{ch}").as_str())));
            r.set().cc(Some(ShortName::new(&format!("{ch}"))));
            assert_eq!(fast_line(&r), serde_line(&r), "byte {b:#x}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any mix of present and absent fields, any addresses and
        /// strings: the same bytes as serde.
        #[test]
        fn any_record_matches_serde(
            seed in any::<u64>(),
            mask in any::<u64>(),
            v4 in any::<([u8; 4], u16)>(),
            v6 in any::<([u16; 8], u16)>(),
            cmd in ".{0,20}",
            pct in 0.0f64..100.0,
        ) {
            let mut r = full(seed);
            r.local = SocketAddr::from((v4.0, v4.1));
            r.remote = SocketAddr::from((std::net::Ipv6Addr::from(v6.0), v6.1));
            r.set().command(Some(Arc::from(cmd.as_str())));
            r.set().snd_buf_pct(Some(pct));
            r.knock_out(mask);
            prop_assert_eq!(fast_line(&r), serde_line(&r));
        }
    }
}
