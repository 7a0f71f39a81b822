//! Batch → length-delimited `netpulse.v1.Batch`, written straight from the
//! records.
//!
//! Building the generated structs first would cost several allocations per
//! socket (address bytes, names, command); a poll of a busy host has tens
//! of thousands of sockets every second. This writes the same bytes prost
//! would (fields in number order, proto3 defaults omitted, `optional`
//! fields whenever present) with two reused buffers and no allocation per
//! record. `encode_via_prost` is the straightforward reference; the tests
//! require both to produce identical bytes.

use std::net::SocketAddr;
use std::sync::Arc;

use prost::Message;

use super::convert::{counters_to_pb, deltas_to_pb, tier_to_pb, to_pb};
use super::{Origin, pb};
use crate::output::{Encoder, Part, RecordOut, Stream};
use crate::record::{
    Batch, FieldInfo, ShortName, SocketRecord, StateCounts, SystemRecord, TcpCounterDeltas,
    TcpCounters, TcpState, Tier, socket_fields, system_fields,
};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// Longest varint: a u64 takes at most 10 bytes.
const MAX_VARINT: usize = 10;

#[inline(always)]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline(always)]
fn key(out: &mut Vec<u8>, tag: u32, wire_type: u32) {
    varint(out, u64::from(tag << 3 | wire_type));
}

/// proto3 implicit-presence scalar: zero is not written.
#[inline(always)]
fn uint(out: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        key(out, tag, VARINT);
        varint(out, v);
    }
}

#[inline(always)]
fn opt_u64(out: &mut Vec<u8>, tag: u32, v: Option<u64>) {
    if let Some(v) = v {
        key(out, tag, VARINT);
        varint(out, v);
    }
}

#[inline(always)]
fn opt_u32(out: &mut Vec<u8>, tag: u32, v: Option<u32>) {
    opt_u64(out, tag, v.map(u64::from));
}

/// `int32`: negative values are sign-extended to 64 bits on the wire.
#[inline(always)]
fn opt_i32(out: &mut Vec<u8>, tag: u32, v: Option<i32>) {
    opt_u64(out, tag, v.map(|v| i64::from(v) as u64));
}

#[inline(always)]
fn fixed64(out: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        key(out, tag, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[inline(always)]
fn opt_f64(out: &mut Vec<u8>, tag: u32, v: Option<f64>) {
    if let Some(v) = v {
        key(out, tag, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// `bytes` / `string` with implicit presence: empty is not written.
#[inline(always)]
fn bytes(out: &mut Vec<u8>, tag: u32, v: &[u8]) {
    if !v.is_empty() {
        opt_bytes(out, tag, Some(v));
    }
}

/// `optional string`: written whenever present, even when empty.
#[inline(always)]
fn opt_bytes(out: &mut Vec<u8>, tag: u32, v: Option<&[u8]>) {
    if let Some(v) = v {
        key(out, tag, LEN);
        varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }
}

/// A nested message: key, length, then the body already in `body`.
#[inline(always)]
fn nested(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
    key(out, tag, LEN);
    varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Encodes batches; owns the buffers it reuses between calls.
struct Writer {
    /// The message being built, after `MAX_VARINT` bytes kept free for its
    /// length prefix (written last, right before the body: no copy).
    msg: Vec<u8>,
    /// One nested record at a time (its length precedes it on the wire).
    rec: Vec<u8>,
    /// Length of the last message: how much of `msg` is worth keeping.
    last_len: usize,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            msg: Vec::new(),
            rec: Vec::with_capacity(1024),
            last_len: 0,
        }
    }

    /// The length-delimited message for `batch` (a slice of `self.msg`).
    fn delimited(&mut self, batch: &Batch, origin: &Origin) -> &[u8] {
        self.begin(batch, origin);
        self.add(batch);
        self.finish()
    }

    /// Starts the message of a poll: its header and system record.
    fn begin(&mut self, batch: &Batch, origin: &Origin) {
        // Typical socket records are 200-400 bytes: one reservation up
        // front instead of repeated doubling of a multi-megabyte buffer.
        let estimate = MAX_VARINT + 512 + batch.sockets.len() * 384;
        if self.msg.capacity() > (1 << 20).max(4 * estimate).max(4 * self.last_len) {
            // One unusually large poll (the first of a `changed` output
            // holds every socket) should not pin its buffer for ever.
            self.msg = Vec::new();
        }
        self.msg.clear();
        self.msg.reserve(estimate);
        self.msg.resize(MAX_VARINT, 0);

        // Header (always present: gap detection needs `seq`).
        let r = &mut self.rec;
        r.clear();
        bytes(r, 1, origin.host.as_bytes());
        bytes(r, 2, origin.platform.as_bytes());
        uint(r, 3, tier_to_pb(batch.tier) as u64);
        uint(r, 4, batch.interval_ms);
        fixed64(r, 5, batch.ts);
        uint(r, 6, batch.seq);
        bytes(r, 7, origin.agent_version.as_bytes());
        nested(&mut self.msg, 1, &self.rec);

        if let Some(sys) = &batch.system {
            self.rec.clear();
            system_body(sys, &mut self.rec);
            nested(&mut self.msg, 2, &self.rec);
        }
    }

    /// Appends `batch`'s socket and close records. The parts of one poll
    /// (sockets in parts, closes with the last) come out in field order,
    /// so their concatenation is the bytes of the whole poll.
    fn add(&mut self, batch: &Batch) {
        for s in &batch.sockets {
            self.rec.clear();
            socket_body(s, &mut self.rec);
            nested(&mut self.msg, 3, &self.rec);
        }
        for s in &batch.closes {
            self.rec.clear();
            socket_body(s, &mut self.rec);
            nested(&mut self.msg, 4, &self.rec);
        }
    }

    /// The message begun last, length prefix and all.
    fn finish(&mut self) -> &[u8] {
        // Length prefix, right-aligned against the body.
        let body_len = (self.msg.len() - MAX_VARINT) as u64;
        let mut prefix = Vec::with_capacity(MAX_VARINT);
        varint(&mut prefix, body_len);
        let start = MAX_VARINT - prefix.len();
        self.msg[start..MAX_VARINT].copy_from_slice(&prefix);
        self.last_len = self.msg.len() - start;
        &self.msg[start..]
    }
}

/// Puts one system field: a `count` is a plain `uint64`, everything else
/// goes as its type says ([`WireValue`]).
macro_rules! put_system {
    ($out:ident, $v:expr, $tag:literal, count) => {
        uint($out, $tag, $v)
    };
    ($out:ident, $v:expr, $tag:literal, $kind:ident) => {
        WireValue::put(&$v, $out, $tag)
    };
}

macro_rules! system_body {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident;
    )*) => {
        /// Every system field in tag order (the table's order).
        fn system_body(s: &SystemRecord, out: &mut Vec<u8>) {
            $( put_system!(out, s.$name, $tag, $kind); )*
        }
    };
}
system_fields!(system_body);

/// The per-state counts: packed repeated `uint64`, every slot written.
impl WireValue for StateCounts {
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        let len: usize = self.iter().map(|&c| varint_len(c)).sum();
        key(out, tag, LEN);
        varint(out, len as u64);
        for &c in self {
            varint(out, c);
        }
    }
}

/// A counter group: a nested `TcpCounters` message, left out when no
/// counter was read. Once per batch: the generated struct is cheap here.
fn put_counters(m: Option<pb::TcpCounters>, out: &mut Vec<u8>, tag: u32) {
    if let Some(m) = m {
        key(out, tag, LEN);
        varint(out, m.encoded_len() as u64);
        m.encode_raw(out);
    }
}

impl WireValue for TcpCounters {
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        put_counters(counters_to_pb(self), out, tag);
    }
}

impl WireValue for TcpCounterDeltas {
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        put_counters(deltas_to_pb(self), out, tag);
    }
}

/// Bytes `v` takes as a varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// How a socket field's type goes on the wire, as `proto/tcpstats.proto`
/// declares it: `optional` scalars whenever present, the always-present
/// fields with implicit presence.
trait WireValue {
    fn put(&self, out: &mut Vec<u8>, tag: u32);
}

/// The timestamp: `fixed64`.
impl WireValue for u64 {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        fixed64(out, tag, *self);
    }
}

impl WireValue for Option<u64> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_u64(out, tag, *self);
    }
}

impl WireValue for Option<u32> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_u32(out, tag, *self);
    }
}

/// Window scales: `uint32` on the wire.
impl WireValue for Option<u8> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_u32(out, tag, self.map(u32::from));
    }
}

impl WireValue for Option<i32> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_i32(out, tag, *self);
    }
}

impl WireValue for Option<f64> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_f64(out, tag, *self);
    }
}

impl WireValue for Option<ShortName> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_bytes(out, tag, self.as_ref().map(|n| n.as_str().as_bytes()));
    }
}

impl WireValue for Option<Arc<str>> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        opt_bytes(out, tag, self.as_deref().map(str::as_bytes));
    }
}

/// The `Tier` enum, 0 (unspecified) when absent.
impl WireValue for Option<Tier> {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        uint(out, tag, tier_to_pb(*self) as u64);
    }
}

/// The `TcpState` enum: FreeBSD's state number.
impl WireValue for TcpState {
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>, tag: u32) {
        uint(out, tag, self.index() as u64);
    }
}

/// One field of the table onto the wire. An address is its bytes and its
/// port here (`tag`, `tag + 1`); its scope id goes last ([`put_scope`]).
macro_rules! put_field {
    ($out:ident, $r:ident, $name:ident, $tag:literal, addr($($arg:tt)*)) => {
        put_addr($out, $tag, &$r.$name)
    };
    // Never leaves the process (a kernel address on FreeBSD).
    ($out:ident, $r:ident, $name:ident, $tag:literal, hidden) => {};
    ($out:ident, $r:ident, $name:ident, $tag:literal, $kind:ident $(($($arg:tt)*))?) => {
        WireValue::put(&$r.$name(), $out, $tag)
    };
}

/// An address's IPv6 scope id, under the tag the table gives it.
macro_rules! put_scope {
    ($out:ident, $r:ident, $name:ident, addr($scope:literal $($pb:ident)*)) => {
        uint($out, $scope, u64::from(scope_id(&$r.$name)))
    };
    ($out:ident, $r:ident, $name:ident, $kind:ident $(($($arg:tt)*))?) => {};
}

macro_rules! socket_body {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        /// Every field in tag order (the table's order), the scope ids
        /// (tags 70 and 71) among them where their tags fall.
        fn socket_body(r: &SocketRecord, out: &mut Vec<u8>) {
            $(
                put_field!(out, r, $name, $tag, $kind $(($($arg)*))?);
                // A constant comparison: compiled away but for one field.
                if $tag == SCOPES_AFTER_TAG {
                    put_scopes(r, out);
                }
            )*
        }

        /// The IPv6 scope ids of the addresses.
        #[inline(always)]
        fn put_scopes(r: &SocketRecord, out: &mut Vec<u8>) {
            $( put_scope!(out, r, $name, $kind $(($($arg)*))?); )*
        }
    };
}
socket_fields!(socket_body);

/// The field after which the scope ids go on the wire.
const SCOPES_AFTER_TAG: u32 = FieldInfo::last_tag_before_scopes();

/// Network-order address bytes under `tag`, the port under `tag + 1`.
#[inline(always)]
fn put_addr(out: &mut Vec<u8>, tag: u32, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => bytes(out, tag, &v4.ip().octets()),
        SocketAddr::V6(v6) => bytes(out, tag, &v6.ip().octets()),
    }
    uint(out, tag + 1, u64::from(a.port()));
}

#[inline(always)]
fn scope_id(a: &SocketAddr) -> u32 {
    match a {
        SocketAddr::V4(_) => 0,
        SocketAddr::V6(v6) => v6.scope_id(),
    }
}

/// Append `batch` as one length-delimited `netpulse.v1.Batch` to `out`
/// (`netpulse once --format proto`).
pub fn write_batch(batch: &Batch, origin: &Origin, out: &mut Vec<u8>) {
    out.extend_from_slice(Writer::new().delimited(batch, origin));
}

/// One `netpulse.v1.Batch` per call, without the length prefix, for
/// outputs whose transport frames each message itself (a NATS message);
/// the message is a slice of the writer's own buffer, never copied out.
pub struct MessageWriter {
    writer: Writer,
    /// Where in `writer.msg` the last message is.
    last: std::ops::Range<usize>,
}

impl Default for MessageWriter {
    fn default() -> Self {
        MessageWriter {
            writer: Writer::new(),
            last: 0..0,
        }
    }
}

impl MessageWriter {
    /// The message for `batch`, valid until the next call.
    pub fn message(&mut self, batch: &Batch, origin: &Origin) -> &[u8] {
        let mut body = self.writer.delimited(batch, origin);
        // The writer's own prefix: always a whole varint.
        let _ = prost::encoding::decode_varint(&mut body);
        let len = body.len();
        let end = self.writer.msg.len();
        self.last = end - len..end;
        &self.writer.msg[self.last.clone()]
    }

    /// The message the last `message` call made (empty after a release).
    pub fn last(&self) -> &[u8] {
        self.writer.msg.get(self.last.clone()).unwrap_or_default()
    }

    /// Let go of a buffer grown past `keep` bytes (a rare large batch
    /// should not pin its memory until the next one).
    pub fn release_above(&mut self, keep: usize) {
        if self.writer.msg.capacity() > keep {
            self.writer.msg = Vec::new();
            self.last = 0..0;
        }
    }
}

/// The same bytes as `write_batch`, built the simple way: generated
/// structs, then `prost::Message::encode_length_delimited`. The reference
/// the fast path is tested and benchmarked against.
pub fn encode_via_prost(batch: &Batch, origin: &Origin, out: &mut Vec<u8>) {
    let m = to_pb(batch, origin);
    out.reserve(m.encoded_len() + MAX_VARINT);
    // Encoding into a Vec grows it as needed; it cannot run out of space.
    let _ = m.encode_length_delimited(out);
}

/// Protobuf into one file family: each batch is ONE `emit`, so a sink
/// never splits a message across files.
pub struct ProtoEncoder {
    streams: [Stream; 1],
    origin: Origin,
    writer: Writer,
}

impl ProtoEncoder {
    /// Batches stamped with this host's origin (`Origin::this_host`).
    pub fn new(file_name: impl Into<String>) -> ProtoEncoder {
        ProtoEncoder::with_origin(file_name, Origin::this_host())
    }

    pub fn with_origin(file_name: impl Into<String>, origin: Origin) -> ProtoEncoder {
        ProtoEncoder {
            streams: [Stream {
                file_name: file_name.into(),
                header: Vec::new(),
            }],
            origin,
            writer: Writer::new(),
        }
    }
}

impl Encoder for ProtoEncoder {
    fn streams(&self) -> &[Stream] {
        &self.streams
    }

    fn encode_into(&mut self, batch: &Batch, out: &mut dyn RecordOut) {
        out.begin(0)
            .extend_from_slice(self.writer.delimited(batch, &self.origin));
        out.end(0);
    }

    /// One message a poll, gathered from its parts: the first part begins
    /// it, the last writes it.
    fn encode_part_into(&mut self, part: &Batch, which: Part, out: &mut dyn RecordOut) {
        if which.first {
            self.writer.begin(part, &self.origin);
        }
        self.writer.add(part);
        if which.last {
            out.begin(0).extend_from_slice(self.writer.finish());
            out.end(0);
        }
    }

    fn length_delimited(&self) -> bool {
        true
    }
}

/// Test helpers shared by this module's tests and the stream tests.
#[cfg(test)]
pub(crate) mod testdata {
    use crate::record::{Batch, SocketRecord, SystemRecord, Tier};

    pub use crate::record::field_samples::Rng;

    /// A socket record with every field set (or, without `all`, each field
    /// present at random) to values that stress the encoding.
    pub fn socket(rng: &mut Rng, all: bool) -> SocketRecord {
        SocketRecord::random(rng, all)
    }

    /// A system record with every field set, or each present at random.
    pub fn system(rng: &mut Rng, all: bool) -> SystemRecord {
        SystemRecord::random(rng, all)
    }

    pub fn batch(seed: u64, sockets: usize, all: bool) -> Batch {
        let mut rng = Rng(seed | 1);
        Batch {
            tier: [None, Some(Tier::Fast), Some(Tier::Slow)][(seed % 3) as usize],
            ts: rng.value(),
            seq: rng.value(),
            interval_ms: rng.value(),
            system: (all || rng.next() % 2 == 0).then(|| system(&mut rng, all)),
            sockets: (0..sockets).map(|_| socket(&mut rng, all)).collect(),
            closes: (0..sockets / 2).map(|_| socket(&mut rng, all)).collect(),
        }
    }

    /// What the JSON sink writes for `batch`.
    pub fn json(batch: &Batch) -> String {
        let mut out = Vec::new();
        crate::output::json::write_batch(batch, &mut out);
        String::from_utf8(out).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    fn origin() -> Origin {
        Origin {
            host: "host-a".into(),
            platform: "freebsd".into(),
            agent_version: "9.9.9".into(),
        }
    }

    #[test]
    fn one_large_poll_does_not_pin_its_buffer_but_steady_large_polls_keep_it() {
        let mut enc = ProtoEncoder::with_origin("x", origin());
        let big = batch(1, 20_000, true);
        enc.encode(&big, &mut |_, _| {});
        let held = enc.writer.msg.capacity();
        assert!(held > 4 << 20, "a 20,000-socket message in {held} bytes");
        let at = enc.writer.msg.as_ptr();
        enc.encode(&big, &mut |_, _| {});
        assert_eq!(
            enc.writer.msg.as_ptr(),
            at,
            "reallocated for a poll of the same size"
        );
        // The first small poll after a large one may still use its buffer;
        // the next gives it back.
        for seq in 2..4 {
            enc.encode(&batch(seq, 10, true), &mut |_, _| {});
        }
        let now = enc.writer.msg.capacity();
        assert!(now <= 1 << 20, "{now} bytes kept after small polls");
    }

    #[test]
    fn fast_path_bytes_equal_prost_bytes() {
        for seed in 0..200 {
            for all in [true, false] {
                let b = batch(seed, (seed % 7) as usize, all);
                let mut fast = Vec::new();
                write_batch(&b, &origin(), &mut fast);
                let mut reference = Vec::new();
                encode_via_prost(&b, &origin(), &mut reference);
                assert_eq!(fast, reference, "seed {seed} all {all}");
            }
        }
    }

    #[test]
    fn a_message_is_the_delimited_bytes_without_their_prefix() {
        let mut w = MessageWriter::default();
        for seed in 0..20 {
            let b = batch(seed, (seed * 13 % 200) as usize, seed % 2 == 0);
            let mut delimited = Vec::new();
            write_batch(&b, &origin(), &mut delimited);
            let mut body = &delimited[..];
            let len = prost::encoding::decode_varint(&mut body).unwrap();
            assert_eq!(len as usize, body.len());
            assert_eq!(w.message(&b, &origin()), body, "seed {seed}");
            assert_eq!(w.last(), body);
        }
    }

    #[test]
    fn a_message_writer_lets_go_of_a_large_buffer_only() {
        let mut w = MessageWriter::default();
        let small = batch(1, 2, true);
        let big = batch(2, 5000, true);
        w.message(&big, &origin());
        assert!(w.writer.msg.capacity() > 1 << 20);
        w.release_above(1 << 20);
        assert_eq!(w.writer.msg.capacity(), 0, "a large buffer is let go");
        assert!(w.last().is_empty());
        w.message(&small, &origin());
        let kept = w.writer.msg.capacity();
        w.release_above(1 << 20);
        assert_eq!(w.writer.msg.capacity(), kept, "a small buffer is kept");
        assert!(!w.last().is_empty());
    }

    #[test]
    fn empty_batch_and_empty_origin_still_frame() {
        let b = Batch {
            closes: Vec::new(),
            tier: None,
            ts: 0,
            seq: 0,
            interval_ms: 0,
            system: None,
            sockets: Vec::new(),
        };
        let mut fast = Vec::new();
        write_batch(&b, &Origin::default(), &mut fast);
        // Length 2: the header field, present and empty.
        assert_eq!(fast, [2, 0x0a, 0]);
        let mut reference = Vec::new();
        encode_via_prost(&b, &Origin::default(), &mut reference);
        assert_eq!(fast, reference);
    }

    #[test]
    fn encoder_emits_one_message_per_batch() {
        let mut enc = ProtoEncoder::with_origin("x.pb", origin());
        assert_eq!(enc.streams()[0].file_name, "x.pb");
        assert!(enc.streams()[0].header.is_empty());
        for n in [0, 1, 300] {
            let b = batch(n as u64, n, true);
            let mut emits = Vec::new();
            enc.encode(&b, &mut |s, bytes| emits.push((s, bytes.to_vec())));
            assert_eq!(emits.len(), 1);
            let mut want = Vec::new();
            write_batch(&b, &origin(), &mut want);
            assert_eq!(emits[0], (0, want));
        }
    }

    #[test]
    fn proc_key_is_never_written() {
        let mut b = batch(3, 5, true);
        let key = 0xffff_f800_1234_5678u64;
        for s in &mut b.sockets {
            s.set().proc_key(Some(key));
        }
        let mut out = Vec::new();
        write_batch(&b, &origin(), &mut out);
        let needle_le = key.to_le_bytes();
        let mut needle_varint = Vec::new();
        varint(&mut needle_varint, key);
        for n in [&needle_le[..], &needle_varint[..]] {
            assert!(!out.windows(n.len()).any(|w| w == n));
        }
    }

    /// The message buffer: the estimate (`MAX_VARINT` + 512 + 384 bytes
    /// per socket) is reserved at once; a buffer is kept between batches
    /// up to 16 MiB, and above that while it is at most four times the
    /// next batch's estimate; a larger one is let go.
    #[test]
    fn the_message_buffer_follows_the_estimate_and_lets_go_of_far_too_much() {
        let estimate = |sockets: usize| MAX_VARINT + 512 + sockets * 384;
        let mut small = batch(4, 3, false);
        small.closes.clear();
        let mut w = Writer::new();
        let len = w.delimited(&small, &origin()).len();
        assert!(len <= estimate(3), "the small batch fits its estimate");
        assert_eq!(w.msg.capacity(), estimate(3), "one reservation, exact");

        // The capacity left after encoding `b` into a buffer of `cap` bytes.
        let after = |cap: usize, b: &Batch| {
            let mut w = Writer::new();
            w.msg = Vec::with_capacity(cap);
            assert_eq!(w.msg.capacity(), cap);
            w.delimited(b, &origin());
            w.msg.capacity()
        };
        assert_eq!(after(1 << 20, &small), 1 << 20, "1 MiB is kept");
        assert_eq!(
            after((1 << 20) + 1, &small),
            estimate(3),
            "above 1 MiB a buffer for a small batch is let go"
        );
        // Up to four times the last message is kept, not a byte more.
        let mut w = Writer::new();
        w.last_len = 1 << 20;
        w.msg = Vec::with_capacity(4 << 20);
        w.delimited(&small, &origin());
        assert_eq!(
            w.msg.capacity(),
            4 << 20,
            "four times the last message is kept"
        );
        w.last_len = 1 << 20;
        w.msg = Vec::with_capacity((4 << 20) + 1);
        w.delimited(&small, &origin());
        assert_eq!(
            w.msg.capacity(),
            estimate(3),
            "more than four times it is let go"
        );

        // Records of the identity alone: well under 384 bytes each, so the
        // message fits its estimate.
        let mut big = small.clone();
        let local = "10.0.0.1:443".parse().unwrap();
        let remote = "10.0.0.2:50000".parse().unwrap();
        let one = SocketRecord::new(1, local, remote, TcpState::Established);
        big.sockets = vec![one; 11_000];
        let four = 4 * estimate(big.sockets.len());
        assert!(four > 16 << 20);
        assert_eq!(after(four, &big), four, "four times the estimate is kept");
        assert_eq!(
            after(four + 1, &big),
            estimate(big.sockets.len()),
            "more than four times the estimate is let go"
        );
    }

    #[test]
    fn a_message_writer_keeps_a_buffer_of_exactly_the_limit() {
        let mut w = MessageWriter::default();
        w.message(&batch(5, 4, true), &origin());
        let cap = w.writer.msg.capacity();
        w.release_above(cap);
        assert_eq!(w.writer.msg.capacity(), cap);
        assert!(!w.last().is_empty());
        w.release_above(cap - 1);
        assert_eq!(w.writer.msg.capacity(), 0);
    }

    /// The reference reserves its message and prefix at once, as the fast
    /// path does, so the benchmarks compare the encodings, not regrowth.
    #[test]
    fn the_reference_reserves_its_message_once() {
        let b = batch(6, 40, true);
        let mut out = Vec::new();
        encode_via_prost(&b, &origin(), &mut out);
        let want = to_pb(&b, &origin()).encoded_len() + MAX_VARINT;
        assert_eq!(out.capacity(), want);
    }
}
