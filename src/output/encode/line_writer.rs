//! A reused byte buffer that one text record (a JSON line, a CSV row) is
//! written into, for the per-socket encoders.
//!
//! Why not `Vec::extend_from_slice`: a socket line is ~120 short pieces
//! (keys, digits). Each `extend_from_slice` of a slice whose length the
//! compiler does not know is a `memcpy` call, each does a capacity check
//! that may grow the `Vec`, and so the length lives in memory: every piece
//! waits for the previous one's store. Here instead:
//!
//! - the caller gives an upper bound of the record's size, the space is
//!   made once ([`LineWriter::record`]), and the pieces are written through
//!   a [`Cursor`] whose position stays in a register;
//! - a key written from a literal is a fixed-length copy the compiler turns
//!   into a couple of moves (the cursor methods are `#[inline(always)]`);
//! - numbers are written straight into place, two digits per table
//!   lookup, instead of into itoa's buffer and then copied;
//! - the buffer is kept as long as it has ever grown (bytes past the
//!   written ones are junk from earlier records, never shown), so it is
//!   never zero-filled again.
//!
//! Rare, variable-length values (escaped strings, floats, IPv6) go through
//! [`Cursor::write_io`] / [`Cursor::write_into`], which hand the exact
//! existing formatters the free space. A bound that is too small costs a
//! second attempt with more space, never wrong bytes.

use std::io::{self, Write};
use std::net::SocketAddr;

/// `"00" "01" … "99"`: two decimal digits per lookup.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Most bytes an unsigned decimal takes (`u64::MAX` has 20 digits).
pub const U64_MAX_LEN: usize = 20;

/// Longest `SocketAddr` `Display`:
/// `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535` (58 bytes).
pub const SOCKET_ADDR_MAX_LEN: usize = 58;

/// Times a record is retried with twice the space before it is given up
/// (nothing written): 2^8 times the bound, which is never that wrong.
const RETRIES: u32 = 8;

/// The buffer and the written length; see the module comment.
#[derive(Debug, Default)]
pub struct LineWriter {
    /// Written bytes are `buf[..len]`; the rest is free space (junk).
    buf: Vec<u8>,
    len: usize,
}

impl LineWriter {
    pub fn with_capacity(n: usize) -> LineWriter {
        LineWriter {
            buf: vec![0; n],
            len: 0,
        }
    }

    /// Continue after the bytes already in `v` (see [`LineWriter::into_vec`]).
    pub fn from_vec(v: Vec<u8>) -> LineWriter {
        LineWriter {
            len: v.len(),
            buf: v,
        }
    }

    /// The written bytes as a `Vec` (free space dropped).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }

    /// Bytes of space, written or free.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Start again from empty (the space is kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The bytes written since the last [`LineWriter::clear`].
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// How many bytes are written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget the bytes after the first `len` (the space is kept).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Append `bytes` as they are.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.record(bytes.len(), |c| c.bytes(bytes));
    }

    /// Append one record of at most `max` bytes, written by `write`. If
    /// `write` runs out of space after all (`max` was wrong), it is run
    /// again with twice the space.
    #[inline(always)]
    pub fn record(&mut self, max: usize, write: impl Fn(&mut Cursor<'_>)) {
        // No loop here: the compiler would hoist the record's loads out of
        // it and spill them. Retrying is out of line.
        if !self.attempt(max, &write) {
            self.retry(max, &write);
        }
    }

    #[cold]
    #[inline(never)]
    fn retry(&mut self, max: usize, write: &impl Fn(&mut Cursor<'_>)) {
        let mut room = max;
        for _ in 0..RETRIES {
            room = room.saturating_mul(2).max(256);
            if self.attempt(room, write) {
                return;
            }
        }
    }

    /// Write the record into at least `room` bytes of space; whether it fit.
    #[inline(always)]
    fn attempt(&mut self, room: usize, write: &impl Fn(&mut Cursor<'_>)) -> bool {
        // Slack for a number's fixed-size window at the very end.
        let need = self.len + room + U64_MAX_LEN;
        if self.buf.len() < need {
            self.grow(need);
        }
        let mut c = Cursor {
            buf: self.buf.get_mut(self.len..).unwrap_or_default(),
            pos: 0,
            full: false,
        };
        write(&mut c);
        if c.full {
            return false;
        }
        self.len += c.pos;
        true
    }

    /// Zero-fill up to `need` bytes. Only what is missing is filled, so a
    /// writer over a long `Vec` (a whole batch) costs one record's bound per
    /// record, not the whole `Vec`; the `Vec` doubles its capacity itself.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, need: usize) {
        self.buf.resize(need, 0);
    }
}

/// Writes one record into space made up front: no growing, no capacity
/// checks beyond the slice's own. Running out sets `full` (the record is
/// then redone with more space) instead of panicking.
pub struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
    full: bool,
}

impl Cursor<'_> {
    /// Append bytes. From a literal, the copy has a length known at compile
    /// time and needs no `memcpy` call.
    #[inline(always)]
    pub fn bytes(&mut self, s: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + s.len()) {
            Some(out) => {
                out.copy_from_slice(s);
                self.pos += s.len();
            }
            None => self.full = true,
        }
    }

    #[inline(always)]
    pub fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.pos) {
            Some(out) => {
                *out = b;
                self.pos += 1;
            }
            None => self.full = true,
        }
    }

    /// `v` in decimal, as `u64`'s `Display` (and itoa) write it.
    #[inline(always)]
    pub fn u64(&mut self, v: u64) {
        self.prefixed_u64(b"", v);
    }

    /// `prefix` (a key, a delimiter), then `v` in decimal: one length
    /// check for both.
    #[inline(always)]
    pub fn prefixed_u64(&mut self, prefix: &[u8], v: u64) {
        let k = prefix.len();
        // A fixed-size window for the digits keeps the length checks out
        // of the digit code; `LineWriter::record` leaves the slack for it.
        let Some(out) = self.buf.get_mut(self.pos..self.pos + k + U64_MAX_LEN) else {
            self.full = true;
            return;
        };
        let (head, digits) = out.split_at_mut(k);
        head.copy_from_slice(prefix);
        self.pos += k + decimal(digits, v);
    }

    /// `v` in decimal, `-` first if negative.
    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.prefixed_i64(b"", v);
    }

    /// `prefix`, then `v` in decimal.
    #[inline(always)]
    pub fn prefixed_i64(&mut self, prefix: &[u8], v: i64) {
        if v < 0 {
            self.bytes(prefix);
            self.prefixed_u64(b"-", v.unsigned_abs());
        } else {
            self.prefixed_u64(prefix, v.unsigned_abs());
        }
    }

    /// `ip:port`, IPv6 as `[addr]:port`: `SocketAddr`'s `Display`, with
    /// IPv4 (the common case) written without going through `fmt`. At most
    /// [`SOCKET_ADDR_MAX_LEN`] bytes.
    #[inline(always)]
    pub fn socket_addr(&mut self, a: &SocketAddr) {
        match a {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                self.u64(u64::from(a));
                for octet in [b, c, d] {
                    self.byte(b'.');
                    self.u64(u64::from(octet));
                }
                self.byte(b':');
                self.u64(u64::from(v4.port()));
            }
            SocketAddr::V6(_) => self.write_io(|out| write!(out, "{a}")),
        }
    }

    /// Let `f` write into the free space and return how many bytes it
    /// wrote, or `None` if the space was too small. For values written by
    /// an existing exact path (CSV quoting).
    pub fn write_into(&mut self, f: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let Some(free) = self.buf.get_mut(self.pos..) else {
            self.full = true;
            return;
        };
        let len = free.len();
        match f(free) {
            Some(n) => self.pos += n.min(len),
            None => self.full = true,
        }
    }

    /// [`Cursor::write_into`] through an `io::Write` (serde_json escaping,
    /// `Display`). Writing into a slice fails only when it is full.
    pub fn write_io(&mut self, f: impl FnOnce(&mut &mut [u8]) -> io::Result<()>) {
        self.write_into(|free| {
            let len = free.len();
            let mut rest = free;
            f(&mut rest).ok().map(|()| len - rest.len())
        });
    }
}

/// `v` if it is a whole number of modest size, other than `-0.0`: the
/// usual buffer percentage. Such a float is written as its integer (CSV,
/// `f64`'s `Display`) or the integer and `.0` (JSON, serde_json), without
/// the general float formatter, which costs several times as much.
#[inline(always)]
pub fn whole_number(v: f64) -> Option<i64> {
    // NaN and infinities have a NaN fraction and fail the first test.
    if v.fract() == 0.0 && v.abs() < 1e9 && !(v == 0.0 && v.is_sign_negative()) {
        Some(v as i64)
    } else {
        None
    }
}

/// Write `v` at the start of `out` (20 bytes or more); returns its length.
/// One and two digits (many counters) without working out the length.
#[inline(always)]
fn decimal(out: &mut [u8], v: u64) -> usize {
    if v < 10 {
        if let Some(d) = out.first_mut() {
            *d = b'0' + v as u8;
        }
        1
    } else if v < 100 {
        if let Some(d) = out.get_mut(..2) {
            d.copy_from_slice(pair(v as usize));
        }
        2
    } else {
        long_decimal(out, v)
    }
}

/// The two digits of `v` < 100.
#[inline(always)]
fn pair(v: usize) -> &'static [u8] {
    &DIGIT_PAIRS[2 * v..2 * v + 2]
}

/// Write `v` >= 100 at the start of `out`; returns its length. The length
/// comes first, then the digits go straight to their places, right to
/// left, four per division. Inlined: as a call it was 15% slower; digits
/// made in registers (SWAR) or in a scratch array copied as one block were
/// slower too (longer dependency chains, store-forwarding stalls).
#[inline(always)]
fn long_decimal(out: &mut [u8], mut v: u64) -> usize {
    let len = match v.checked_ilog10() {
        Some(log) => log as usize + 1,
        None => 1,
    };
    let Some(out) = out.get_mut(..len) else {
        return 0;
    };
    // `len` digits fill `out` exactly, so `i` stays in bounds.
    let mut i = len;
    while v >= 10_000 {
        let four = (v % 10_000) as usize;
        v /= 10_000;
        i -= 4;
        out[i..i + 2].copy_from_slice(pair(four / 100));
        out[i + 2..i + 4].copy_from_slice(pair(four % 100));
    }
    let mut v = v as usize;
    if v >= 100 {
        i -= 2;
        out[i..i + 2].copy_from_slice(pair(v % 100));
        v /= 100;
    }
    if v >= 10 {
        out[i - 2..i].copy_from_slice(pair(v));
    } else {
        out[i - 1] = b'0' + v as u8;
    }
    len
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddrV6};

    use proptest::prelude::*;

    use super::*;

    fn written(max: usize, f: impl Fn(&mut Cursor<'_>)) -> String {
        let mut w = LineWriter::default();
        w.record(max, f);
        String::from_utf8(w.as_bytes().to_vec()).unwrap()
    }

    fn decimal(v: u64) -> String {
        written(U64_MAX_LEN, |c| c.u64(v))
    }

    #[test]
    fn every_digit_count_boundary() {
        let mut p = 1u64;
        for _ in 0..19 {
            for v in [p - 1, p, p + 1, p * 9, p * 10 - 1] {
                assert_eq!(decimal(v), v.to_string());
            }
            p *= 10;
        }
        for v in [p - 1, p, u64::MAX - 1, u64::MAX] {
            assert_eq!(decimal(v), v.to_string());
        }
    }

    #[test]
    fn records_append_and_clear_keeps_nothing() {
        let mut w = LineWriter::with_capacity(0);
        let mut want = String::new();
        for i in 0..1000u64 {
            w.record(40, |c| {
                c.bytes(b",\"key\":");
                c.u64(i * 7919);
                c.byte(b'x');
                c.i64(-(i as i64));
            });
            want.push_str(&format!(",\"key\":{}x{}", i * 7919, -(i as i64)));
        }
        assert_eq!(w.as_bytes(), want.as_bytes());
        w.clear();
        w.record(2, |c| c.bytes(b"ab"));
        assert_eq!(w.as_bytes(), b"ab");
        assert_eq!(w.into_vec(), b"ab");
    }

    /// Records appended one writer at a time to a long `Vec` (as
    /// `from_vec`/`into_vec` per record do) fill only their own bound, so
    /// the `Vec` grows with what is written, not by doubling per record.
    #[test]
    fn appending_to_a_long_vec_grows_it_by_what_is_written() {
        let mut v = Vec::new();
        for i in 0..2000u64 {
            let mut w = LineWriter::from_vec(std::mem::take(&mut v));
            w.record(64, |c| {
                c.u64(i);
                c.byte(b'\n');
            });
            v = w.into_vec();
        }
        let want: String = (0..2000).map(|i| format!("{i}\n")).collect();
        assert_eq!(v, want.as_bytes());
        assert!(
            v.capacity() <= 2 * v.len() + 1024,
            "capacity {} for {} bytes",
            v.capacity(),
            v.len()
        );
    }

    #[test]
    fn truncate_and_extend_keep_the_written_bytes_straight() {
        let mut w = LineWriter::default();
        w.extend_from_slice(b"header\n");
        let start = w.len();
        w.record(8, |c| c.u64(12345));
        assert_eq!(w.as_bytes(), b"header\n12345");
        w.truncate(start);
        assert_eq!(
            (w.as_bytes(), w.len(), w.is_empty()),
            (&b"header\n"[..], 7, false)
        );
        w.truncate(100);
        assert_eq!(w.len(), 7, "truncate never lengthens");
        w.extend_from_slice(&[b'x'; 3000]);
        assert_eq!(w.len(), 3007);
        w.clear();
        assert!(w.is_empty());
    }

    #[test]
    fn a_too_small_bound_still_writes_everything() {
        let long = "x".repeat(5000);
        let mut w = LineWriter::from_vec(b"head:".to_vec());
        w.record(1, |c| {
            c.bytes(b"[");
            c.write_io(|out| out.write_all(long.as_bytes()));
            for i in 0..100 {
                c.u64(u64::MAX - i);
            }
            c.byte(b']');
        });
        let v = String::from_utf8(w.into_vec()).unwrap();
        let digits: String = (0..100).map(|i| (u64::MAX - i).to_string()).collect();
        assert_eq!(v, format!("head:[{long}{digits}]"));
    }

    #[test]
    fn a_writer_that_never_fits_writes_nothing() {
        let mut w = LineWriter::default();
        w.record(8, |c| c.write_into(|_| None));
        w.record(8, |c| c.bytes(b"ok"));
        assert_eq!(w.as_bytes(), b"ok");
    }

    /// The whole numbers taken off the float formatters' hands are written
    /// as `Display` and serde_json write them; the others are left to them.
    #[test]
    fn whole_numbers_are_written_as_the_float_formatters_write_them() {
        let mut checked = 0;
        let edges = [1e9 - 1.0, 999_999_937.0, 123_456_789.0];
        for v in (-100_000..=100_000).map(f64::from).chain(edges) {
            let i = whole_number(v).unwrap();
            assert_eq!(written(U64_MAX_LEN, |c| c.i64(i)), v.to_string());
            let json = written(U64_MAX_LEN + 2, |c| {
                c.i64(i);
                c.bytes(b".0");
            });
            assert_eq!(json, serde_json::to_string(&v).unwrap());
            checked += 1;
        }
        assert_eq!(checked, 200_004);
        for v in [
            -0.0,
            0.5,
            -2.25,
            1e9,
            -1e9,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(whole_number(v), None, "{v}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn numbers_and_addresses_match_display(
            a in any::<u64>(),
            b in any::<i64>(),
            shift in 0u32..64,
            v4 in any::<([u8; 4], u16)>(),
            v6 in any::<([u16; 8], u16, u32)>(),
        ) {
            let v4 = SocketAddr::from(v4);
            let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(v6.0), v6.1, 0, v6.2));
            let got = written(3 * U64_MAX_LEN + 2 * SOCKET_ADDR_MAX_LEN, |c| {
                c.u64(a >> shift);
                c.byte(b',');
                c.i64(b >> shift);
                c.byte(b',');
                c.socket_addr(&v4);
                c.byte(b',');
                c.socket_addr(&v6);
            });
            prop_assert_eq!(got, format!("{},{},{v4},{v6}", a >> shift, b >> shift));
        }
    }

    /// `with_capacity` makes the space up front: records that fit in it
    /// never move the buffer.
    #[test]
    fn space_made_up_front_is_written_in_place() {
        let mut w = LineWriter::with_capacity(4096);
        let start = w.buf.as_ptr();
        for i in 0..20u64 {
            w.record(64, |c| c.u64(i));
        }
        assert_eq!(w.as_bytes(), b"012345678910111213141516171819");
        assert_eq!(w.buf.as_ptr(), start, "the buffer never moved");
    }

    /// The space made for a record is its bound and one number's window
    /// past the bytes written, no more: a writer over a long `Vec` fills
    /// (zeroes) only that much per record.
    #[test]
    fn a_record_adds_only_its_bound_and_a_number_window() {
        let mut w = LineWriter::default();
        w.record(100, |c| c.bytes(b"abc"));
        assert_eq!(w.buf.len(), 100 + U64_MAX_LEN);
        w.record(200, |c| c.bytes(b"de"));
        assert_eq!(w.buf.len(), 3 + 200 + U64_MAX_LEN);
        assert_eq!(w.as_bytes(), b"abcde");
    }
}
