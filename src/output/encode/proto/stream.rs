//! Reading a stream of length-delimited batches back.
//!
//! A stream is `varint(len) message varint(len) message ...`. The decoder
//! yields each complete message as it goes, so a file cut off mid-message
//! (agent killed, file still being written) still gives every batch before
//! the cut, then a `Truncated` error naming the byte offset. Memory is
//! bounded: a length above the limit is refused before reading, and the
//! buffer grows only with bytes actually read, so a corrupt length cannot
//! make it allocate gigabytes up front.

use std::io::{BufRead, ErrorKind, Read, Seek, SeekFrom};

use prost::Message;

use super::convert::{InvalidBatch, from_pb};
use super::{Origin, pb};
use crate::record::Batch;

/// Largest message accepted by default: 1 GiB, several times a poll of a
/// host with a million sockets (about 300 bytes each).
pub const DEFAULT_MAX_MESSAGE_LEN: u64 = 1 << 30;

/// Longest varint: 10 bytes for a u64.
const MAX_VARINT: usize = 10;

/// Why a stream could not be read further. Every variant names the byte
/// offset (from the start of the stream) of the message it is about.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "truncated message at byte offset {offset}: its length prefix says {expected} bytes but \
         the stream ends after {available}; the writer was stopped mid-write or the file is still \
         being written (every message before this offset is complete)"
    )]
    Truncated {
        offset: u64,
        expected: u64,
        available: u64,
    },
    #[error(
        "truncated length prefix at byte offset {offset}: the stream ends inside it; the writer \
         was stopped mid-write (every message before this offset is complete)"
    )]
    TruncatedPrefix { offset: u64 },
    #[error(
        "corrupt length prefix at byte offset {offset}: not a varint of at most 10 bytes; this is \
         not a netpulse protobuf stream (netpulse decode reads files of `format = \"proto\"`) or \
         it is damaged here"
    )]
    BadPrefix { offset: u64 },
    #[error(
        "message at byte offset {offset} claims {len} bytes, more than the {max}-byte limit; the \
         stream is corrupt here or is not a netpulse protobuf stream"
    )]
    TooLong { offset: u64, len: u64, max: u64 },
    #[error(
        "message at byte offset {offset} ({len} bytes) is not a valid netpulse.v1.Batch: {cause}; \
         the stream is corrupt here or is not a netpulse protobuf stream"
    )]
    Protobuf {
        offset: u64,
        len: u64,
        cause: prost::DecodeError,
    },
    #[error("message at byte offset {offset}: {cause}; the stream is corrupt here")]
    Invalid { offset: u64, cause: InvalidBatch },
    #[error("reading the stream at byte offset {offset}: {cause}")]
    Io { offset: u64, cause: std::io::Error },
}

impl DecodeError {
    /// Byte offset of the message (its length prefix) the error is about.
    pub fn offset(&self) -> u64 {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::TruncatedPrefix { offset }
            | DecodeError::BadPrefix { offset }
            | DecodeError::TooLong { offset, .. }
            | DecodeError::Protobuf { offset, .. }
            | DecodeError::Invalid { offset, .. }
            | DecodeError::Io { offset, .. } => *offset,
        }
    }

    /// The stream ended inside a message: what came before is complete.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            DecodeError::Truncated { .. } | DecodeError::TruncatedPrefix { .. }
        )
    }
}

/// One batch read back from a stream.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Byte offset of the message's length prefix in the stream.
    pub offset: u64,
    /// The header fields the JSON lines do not carry.
    pub origin: Origin,
    pub batch: Batch,
}

/// Iterates over the batches of a stream. After the first error it yields
/// nothing more (the framing cannot be trusted past it).
pub struct StreamDecoder<R> {
    reader: R,
    offset: u64,
    max_len: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> StreamDecoder<R> {
    /// `reader`: a `BufReader<File>`, `&[u8]`, stdin's lock...
    pub fn new(reader: R) -> StreamDecoder<R> {
        StreamDecoder {
            reader,
            offset: 0,
            max_len: DEFAULT_MAX_MESSAGE_LEN,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Refuse messages longer than `max` bytes.
    pub fn with_max_message_len(mut self, max: u64) -> StreamDecoder<R> {
        self.max_len = max;
        self
    }

    /// Bytes consumed so far: the offset of the next message.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn read_byte(&mut self) -> Result<Option<u8>, std::io::Error> {
        loop {
            match self.reader.fill_buf() {
                Ok([]) => return Ok(None),
                Ok(&[b, ..]) => {
                    self.reader.consume(1);
                    return Ok(Some(b));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next message's length and prefix size; `None` at a clean end.
    fn read_prefix(&mut self) -> Result<Option<(u64, u64)>, DecodeError> {
        let offset = self.offset;
        let io = |source| DecodeError::Io {
            offset,
            cause: source,
        };
        let mut value = 0u64;
        for i in 0..MAX_VARINT {
            let Some(b) = self.read_byte().map_err(io)? else {
                return if i == 0 {
                    Ok(None)
                } else {
                    Err(DecodeError::TruncatedPrefix { offset })
                };
            };
            // The 10th byte may only hold the top bit of a u64.
            if i == MAX_VARINT - 1 && b > 1 {
                return Err(DecodeError::BadPrefix { offset });
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(Some((value, i as u64 + 1)));
            }
        }
        Err(DecodeError::BadPrefix { offset })
    }

    fn next_message(&mut self) -> Result<Option<Decoded>, DecodeError> {
        let offset = self.offset;
        let Some((len, prefix_len)) = self.read_prefix()? else {
            return Ok(None);
        };
        if len > self.max_len {
            return Err(DecodeError::TooLong {
                offset,
                len,
                max: self.max_len,
            });
        }
        self.buf.clear();
        // Grows with the bytes that arrive, not with what `len` claims.
        let got = (&mut self.reader)
            .take(len)
            .read_to_end(&mut self.buf)
            .map_err(|source| DecodeError::Io {
                offset,
                cause: source,
            })? as u64;
        if got < len {
            return Err(DecodeError::Truncated {
                offset,
                expected: len,
                available: got,
            });
        }
        self.offset += prefix_len + len;
        let m = pb::Batch::decode(self.buf.as_slice()).map_err(|source| DecodeError::Protobuf {
            offset,
            len,
            cause: source,
        })?;
        let (origin, batch) = from_pb(m).map_err(|source| DecodeError::Invalid {
            offset,
            cause: source,
        })?;
        Ok(Some(Decoded {
            offset,
            origin,
            batch,
        }))
    }
}

impl<R: BufRead> Iterator for StreamDecoder<R> {
    type Item = Result<Decoded, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_message() {
            Ok(Some(d)) => Some(Ok(d)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Length of the longest prefix of a stream of `len` bytes that holds only
/// whole messages (framing only: each length prefix and the bytes it
/// announces are present). A file sink cuts an existing file back to this
/// before appending, so a message torn by a crash or power loss is dropped
/// instead of swallowing the messages written after it. Reads only the
/// prefixes, seeking over the bodies.
pub fn whole_messages_len<R: Read + Seek>(file: &mut R, len: u64) -> std::io::Result<u64> {
    let mut r = std::io::BufReader::with_capacity(16 * 1024, file);
    r.seek(SeekFrom::Start(0))?;
    let mut pos = 0u64;
    loop {
        let mut value = 0u64;
        let mut prefix = 0u64;
        let complete = loop {
            let mut b = [0u8; 1];
            if prefix as usize == MAX_VARINT || r.read(&mut b)? == 0 {
                break false;
            }
            value |= u64::from(b[0] & 0x7f) << (7 * prefix);
            prefix += 1;
            if b[0] & 0x80 == 0 {
                break true;
            }
        };
        let end = pos.saturating_add(prefix).saturating_add(value);
        if !complete || end > len {
            return Ok(pos);
        }
        r.seek_relative(value as i64)?;
        pos = end;
        if pos == len {
            return Ok(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::super::convert::{Problem, RecordRef, to_pb};
    use super::super::encode::testdata::{batch, json};
    use super::super::encode::write_batch;
    use super::*;

    fn origin() -> Origin {
        Origin {
            host: "h".into(),
            platform: "linux".into(),
            agent_version: "0.1.0".into(),
        }
    }

    /// A stream of `n` batches and the offset of each message.
    fn stream(n: u64, sockets: usize) -> (Vec<Batch>, Vec<u8>, Vec<u64>) {
        let batches: Vec<Batch> = (0..n).map(|i| batch(i, sockets, i % 2 == 0)).collect();
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for b in &batches {
            offsets.push(bytes.len() as u64);
            write_batch(b, &origin(), &mut bytes);
        }
        (batches, bytes, offsets)
    }

    fn decode_all(bytes: &[u8]) -> (Vec<Decoded>, Option<DecodeError>) {
        let mut ok = Vec::new();
        for item in StreamDecoder::new(bytes) {
            match item {
                Ok(d) => ok.push(d),
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    }

    #[test]
    fn round_trip_is_exact() {
        let (batches, bytes, offsets) = stream(40, 9);
        let (decoded, err) = decode_all(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(decoded.len(), batches.len());
        for ((d, b), off) in decoded.iter().zip(&batches).zip(&offsets) {
            assert_eq!(d.offset, *off);
            assert_eq!(d.origin, origin());
            assert_eq!(
                (d.batch.tier, d.batch.ts, d.batch.seq),
                (b.tier, b.ts, b.seq)
            );
            assert_eq!(d.batch.interval_ms, b.interval_ms);
            assert_eq!(json(&d.batch), json(b));
            // Floats bit for bit, not only as JSON prints them.
            for (x, y) in d.batch.sockets.iter().zip(&b.sockets) {
                assert_eq!(
                    x.snd_buf_pct().map(f64::to_bits),
                    y.snd_buf_pct().map(f64::to_bits)
                );
                assert_eq!(
                    x.rcv_buf_pct().map(f64::to_bits),
                    y.rcv_buf_pct().map(f64::to_bits)
                );
                assert_eq!(x.local, y.local);
                assert_eq!(x.remote, y.remote);
                assert_eq!(x.proc_key(), None);
            }
        }
    }

    /// Where each message of `stream`'s output ends: the next one's start,
    /// and the end of the bytes for the last.
    fn message_ends(offsets: &[u64], bytes: &[u8]) -> Vec<u64> {
        offsets
            .iter()
            .skip(1)
            .copied()
            .chain([bytes.len() as u64])
            .collect()
    }

    #[test]
    fn every_cut_point_yields_the_complete_messages_then_truncation() {
        let (batches, bytes, offsets) = stream(3, 2);
        let ends = message_ends(&offsets, &bytes);
        for cut in 0..=bytes.len() as u64 {
            let (decoded, err) = decode_all(&bytes[..cut as usize]);
            let complete = ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(decoded.len(), complete, "cut {cut}");
            for (d, b) in decoded.iter().zip(&batches) {
                assert_eq!(json(&d.batch), json(b));
            }
            if cut == 0 || ends.contains(&cut) {
                assert!(err.is_none(), "cut {cut}: {err:?}");
            } else {
                let e = err.expect("a truncation error");
                assert!(e.is_truncation(), "cut {cut}: {e}");
                assert_eq!(e.offset(), offsets[complete], "cut {cut}");
                assert!(
                    e.to_string()
                        .contains(&format!("offset {}", offsets[complete]))
                );
            }
        }
    }

    #[test]
    fn absurd_length_is_refused_and_nothing_big_is_allocated() {
        let mut bytes = Vec::new();
        super::super::encode::write_batch(&batch(1, 1, true), &origin(), &mut bytes);
        let first = bytes.len() as u64;
        // 2^40 bytes claimed.
        bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        let (ok, err) = decode_all(&bytes);
        assert_eq!(ok.len(), 1);
        match err {
            Some(DecodeError::TooLong { offset, len, .. }) => {
                assert_eq!((offset, len), (first, 1 << 40))
            }
            other => panic!("{other:?}"),
        }
        // Under the limit but far beyond the data: grows only with the data.
        let claim = [0x80, 0x80, 0x80, 0x80, 0x02, 1, 2, 3]; // 2^29 bytes
        let mut dec = StreamDecoder::new(&claim[..]);
        match dec.next() {
            Some(Err(DecodeError::Truncated {
                offset: 0,
                expected,
                available: 3,
            })) => assert_eq!(expected, 1 << 29),
            other => panic!("{other:?}"),
        }
        assert!(dec.buf.capacity() < 1 << 20, "{}", dec.buf.capacity());
        assert!(dec.next().is_none());
    }

    #[test]
    fn overlong_varint_is_a_bad_prefix() {
        let (ok, err) = decode_all(&[0xff; 11]);
        assert!(ok.is_empty());
        assert!(
            matches!(err, Some(DecodeError::BadPrefix { offset: 0 })),
            "{err:?}"
        );
        let mut ten = [0xff; 10];
        ten[9] = 0x02; // bit 64 set
        assert!(matches!(
            decode_all(&ten).1,
            Some(DecodeError::BadPrefix { offset: 0 })
        ));
    }

    #[test]
    fn garbage_message_is_a_protobuf_error_with_offset() {
        // Wire type 7 does not exist.
        let (ok, err) = decode_all(&[2, 0x0f, 0x00]);
        assert!(ok.is_empty());
        let e = err.unwrap();
        assert!(
            matches!(
                e,
                DecodeError::Protobuf {
                    offset: 0,
                    len: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not a valid netpulse.v1.Batch"));
    }

    /// Encode a valid batch as generated structs, break one field, and
    /// check the decoder names the record, the field and the problem.
    fn invalid(edit: impl FnOnce(&mut pb::Batch)) -> InvalidBatch {
        let mut m = to_pb(&batch(0, 3, true), &origin());
        edit(&mut m);
        let mut bytes = Vec::new();
        m.encode_length_delimited(&mut bytes).unwrap();
        match decode_all(&bytes) {
            (
                ok,
                Some(DecodeError::Invalid {
                    offset: 0,
                    cause: source,
                }),
            ) if ok.is_empty() => source,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_content_is_named() {
        let e = invalid(|m| m.sockets[1].local_addr = vec![1, 2, 3, 4, 5]);
        assert_eq!(e.record, RecordRef::Socket(1));
        assert_eq!(
            (e.field, e.problem.clone()),
            ("local_addr", Problem::AddressLength(5))
        );
        assert!(
            e.to_string()
                .contains("socket record 1: field `local_addr` is 5 bytes")
        );

        let e = invalid(|m| m.sockets[2].remote_port = 70000);
        assert_eq!(
            (e.field, e.problem),
            ("remote_port", Problem::PortAboveMax(70000))
        );
        let e = invalid(|m| m.sockets[0].state = 11);
        assert_eq!(
            (e.field, e.problem),
            ("state", Problem::UnknownEnumValue(11))
        );
        let e = invalid(|m| m.sockets[0].state = -1);
        assert_eq!(
            (e.field, e.problem),
            ("state", Problem::UnknownEnumValue(-1))
        );
        let e = invalid(|m| m.sockets[0].tier = 9);
        assert_eq!((e.record, e.field), (RecordRef::Socket(0), "tier"));
        let e = invalid(|m| m.sockets[0].snd_wscale = Some(256));
        assert_eq!(
            (e.field, e.problem),
            ("snd_wscale", Problem::ValueTooLarge(256))
        );
        let e = invalid(|m| m.header.as_mut().unwrap().tier = 5);
        assert_eq!((e.record, e.field), (RecordRef::Header, "tier"));
        let e = invalid(|m| m.header = None);
        assert_eq!((e.record, e.problem), (RecordRef::Batch, Problem::Missing));
        let e = invalid(|m| {
            m.system
                .as_mut()
                .unwrap()
                .state_counts
                .pop()
                .map(drop)
                .unwrap()
        });
        assert_eq!(
            (e.record, e.problem),
            (RecordRef::System, Problem::SlotCount(10))
        );
    }

    #[test]
    fn unknown_fields_from_a_newer_writer_are_skipped() {
        let (batches, mut bytes, _) = stream(1, 2);
        // Re-frame the message with an extra field 99 (varint 7) appended.
        let mut body = Vec::new();
        let mut src = &bytes[..];
        let len = prost::encoding::decode_varint(&mut src).unwrap() as usize;
        body.extend_from_slice(&src[..len]);
        body.extend_from_slice(&[0x98, 0x06, 7]);
        bytes.clear();
        prost::encoding::encode_varint(body.len() as u64, &mut bytes);
        bytes.extend_from_slice(&body);
        let (ok, err) = decode_all(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(json(&ok[0].batch), json(&batches[0]));
    }

    #[test]
    fn whole_messages_len_finds_the_last_complete_message() {
        let (_, bytes, offsets) = stream(4, 3);
        let ends = message_ends(&offsets, &bytes);
        for cut in 0..=bytes.len() as u64 {
            let mut f = std::io::Cursor::new(&bytes[..cut as usize]);
            let keep = whole_messages_len(&mut f, cut).unwrap();
            let want = ends
                .iter()
                .copied()
                .filter(|&e| e <= cut)
                .max()
                .unwrap_or(0);
            assert_eq!(keep, want, "cut {cut}");
        }
        // Garbage: an over-long varint keeps nothing.
        let mut f = std::io::Cursor::new([0xffu8; 12]);
        assert_eq!(whole_messages_len(&mut f, 12).unwrap(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Arbitrary bytes: never a panic, and every error has an offset
        /// inside the input.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (_, err) = decode_all(&bytes);
            if let Some(e) = err {
                prop_assert!(e.offset() <= bytes.len() as u64);
                prop_assert!(!e.to_string().is_empty());
            }
        }

        /// The sink's tail repair on arbitrary bytes: never a panic, and
        /// what it keeps frames cleanly (no truncation when read back).
        #[test]
        fn whole_messages_len_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let len = bytes.len() as u64;
            let keep = whole_messages_len(&mut std::io::Cursor::new(&bytes), len).unwrap();
            prop_assert!(keep <= len);
            let (_, err) = decode_all(&bytes[..keep as usize]);
            prop_assert!(!err.as_ref().is_some_and(DecodeError::is_truncation), "{:?}", err);
        }

        /// A valid stream with bytes overwritten: never a panic; messages
        /// before the first damaged one decode exactly.
        #[test]
        fn damaged_stream_never_panics(
            seed in 0u64..1000,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let (batches, mut bytes, offsets) = stream(3 + seed % 3, (seed % 4) as usize);
            let mut first_damage = bytes.len();
            for (i, v) in edits {
                let i = i.index(bytes.len());
                bytes[i] = v;
                first_damage = first_damage.min(i);
            }
            let (ok, _) = decode_all(&bytes);
            let ends = offsets.iter().skip(1).copied().chain([u64::MAX]);
            let intact = ends.take_while(|&end| end <= first_damage as u64).count();
            prop_assert!(ok.len() >= intact, "{} < {}", ok.len(), intact);
            for (d, b) in ok.iter().zip(&batches).take(intact) {
                prop_assert_eq!(json(&d.batch), json(b));
            }
        }

        /// Random batches survive the round trip exactly.
        #[test]
        fn random_batches_round_trip(seed in any::<u64>(), n in 0usize..6, all in any::<bool>()) {
            let b = batch(seed, n, all);
            let mut bytes = Vec::new();
            write_batch(&b, &origin(), &mut bytes);
            let (ok, err) = decode_all(&bytes);
            prop_assert!(err.is_none());
            prop_assert_eq!(ok.len(), 1);
            prop_assert_eq!(json(&ok[0].batch), json(&b));
        }
    }

    /// A test double: a reader over `bytes` whose every other call fails
    /// with `Interrupted`, as a read cut short by a signal does.
    struct InterruptedEveryOtherCall<'a> {
        bytes: &'a [u8],
        interrupt: bool,
    }

    impl InterruptedEveryOtherCall<'_> {
        fn interrupted(&mut self) -> bool {
            self.interrupt = !self.interrupt;
            self.interrupt
        }
    }

    impl Read for InterruptedEveryOtherCall<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.interrupted() {
                return Err(ErrorKind::Interrupted.into());
            }
            self.bytes.read(buf)
        }
    }

    impl BufRead for InterruptedEveryOtherCall<'_> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            if self.interrupted() {
                return Err(ErrorKind::Interrupted.into());
            }
            Ok(self.bytes)
        }

        fn consume(&mut self, n: usize) {
            self.bytes = &self.bytes[n..];
        }
    }

    /// An interrupted read is retried, not taken for a broken stream, and
    /// the decoder's offset moves to the end of each message it yields.
    #[test]
    fn interrupted_reads_are_retried_and_the_offset_follows_each_message() {
        let (batches, bytes, offsets) = stream(3, 2);
        let ends = message_ends(&offsets, &bytes);
        let reader = InterruptedEveryOtherCall {
            bytes: &bytes,
            interrupt: false,
        };
        let mut dec = StreamDecoder::new(reader);
        assert_eq!(dec.offset(), 0);
        for ((b, &start), &end) in batches.iter().zip(&offsets).zip(&ends) {
            let d = dec.next().expect("a message").expect("no error");
            assert_eq!((d.offset, json(&d.batch)), (start, json(b)));
            assert_eq!(dec.offset(), end);
        }
        assert!(dec.next().is_none());
    }

    /// A test double: a reader that always fails with `error`.
    struct AlwaysFails(ErrorKind);

    impl Read for AlwaysFails {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
    }

    impl BufRead for AlwaysFails {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            Err(self.0.into())
        }

        fn consume(&mut self, _: usize) {}
    }

    #[test]
    fn a_read_error_other_than_interrupted_ends_the_stream() {
        let mut dec = StreamDecoder::new(AlwaysFails(ErrorKind::PermissionDenied));
        match dec.next() {
            Some(Err(DecodeError::Io { offset: 0, cause })) => {
                assert_eq!(cause.kind(), ErrorKind::PermissionDenied)
            }
            other => panic!("{other:?}"),
        }
        assert!(dec.next().is_none());
    }

    /// The tenth byte of a length prefix may carry bit 63: that is a
    /// whole varint (a length refused as too long), not a corrupt prefix.
    #[test]
    fn a_length_with_bit_63_is_too_long_not_a_bad_prefix() {
        let mut ten = [0x80; 10];
        ten[9] = 0x01;
        match decode_all(&ten) {
            (ok, Some(DecodeError::TooLong { offset: 0, len, .. })) if ok.is_empty() => {
                assert_eq!(len, 1 << 63)
            }
            other => panic!("{other:?}"),
        }
    }

    /// The limit is inclusive: a message of exactly the limit is read, one
    /// byte more is refused.
    #[test]
    fn a_message_of_exactly_the_limit_is_read() {
        let (batches, bytes, _) = stream(1, 3);
        let mut body = &bytes[..];
        let len = prost::encoding::decode_varint(&mut body).unwrap();
        let mut dec = StreamDecoder::new(&bytes[..]).with_max_message_len(len);
        let d = dec.next().expect("a message").expect("within the limit");
        assert_eq!(json(&d.batch), json(&batches[0]));
        let mut dec = StreamDecoder::new(&bytes[..]).with_max_message_len(len - 1);
        match dec.next() {
            Some(Err(DecodeError::TooLong {
                offset: 0,
                len: l,
                max,
            })) => {
                assert_eq!((l, max), (len, len - 1))
            }
            other => panic!("{other:?}"),
        }
    }
}
