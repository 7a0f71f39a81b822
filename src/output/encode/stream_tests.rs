//! The streaming writers write what the whole-batch writers write, in
//! pieces no larger than a chunk and a line, and (but for the last) no
//! smaller than a chunk: a write per line would cost a system call each.

use std::net::SocketAddr;

use super::{STREAM_CHUNK, csv, json};
use crate::record::{Batch, SocketRecord, SystemRecord, TcpState};

/// A test double for stdout: keeps the bytes, the largest single write
/// and the number of writes.
#[derive(Default)]
struct RecordingWriter {
    bytes: Vec<u8>,
    largest_write: usize,
    writes: usize,
}

impl RecordingWriter {
    /// Every write but the last carried at least a chunk.
    fn assert_whole_chunks(&self) {
        let most = self.bytes.len() / STREAM_CHUNK + 1;
        assert!(
            self.writes <= most,
            "{} writes for {} bytes: some wrote less than a chunk",
            self.writes,
            self.bytes.len()
        );
    }
}

impl std::io::Write for RecordingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.largest_write = self.largest_write.max(buf.len());
        self.writes += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Enough sockets for several chunks of either format.
fn big_batch() -> Batch {
    let local: SocketAddr = "192.0.2.1:443".parse().unwrap();
    let sockets = (0..20_000u32)
        .map(|i| {
            let remote =
                SocketAddr::from(([198, 51, 100, (i % 250) as u8], (i % 60_000) as u16 + 1));
            SocketRecord::new(1_000 + u64::from(i), local, remote, TcpState::Established)
        })
        .collect();
    Batch {
        tier: None,
        ts: 1,
        seq: 0,
        interval_ms: 0,
        system: Some(SystemRecord {
            ts: 1,
            total_sockets: 20_000,
            ..SystemRecord::default()
        }),
        sockets,
        closes: Vec::new(),
    }
}

#[test]
fn json_streams_the_same_bytes_in_bounded_pieces() {
    let batch = big_batch();
    let mut whole = Vec::new();
    json::write_batch(&batch, &mut whole);
    assert!(
        whole.len() > 4 * STREAM_CHUNK,
        "the test batch spans chunks"
    );
    let mut w = RecordingWriter::default();
    json::write_batch_to(&batch, &mut w).unwrap();
    assert_eq!(w.bytes, whole);
    assert!(
        w.largest_write <= STREAM_CHUNK + 4096,
        "one write of {} bytes",
        w.largest_write
    );
    w.assert_whole_chunks();
}

#[test]
fn csv_streams_the_same_bytes_in_bounded_pieces() {
    let batch = big_batch();
    let mut whole = Vec::new();
    csv::write_batch(&batch, &mut whole);
    assert!(
        whole.len() > 4 * STREAM_CHUNK,
        "the test batch spans chunks"
    );
    let mut w = RecordingWriter::default();
    csv::write_batch_to(&batch, &mut w).unwrap();
    assert_eq!(w.bytes, whole);
    assert!(
        w.largest_write <= STREAM_CHUNK + 4096,
        "one write of {} bytes",
        w.largest_write
    );
    w.assert_whole_chunks();
}
