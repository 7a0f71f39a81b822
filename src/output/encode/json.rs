//! JSON Lines, the primary format. A `system` line, then one `socket` line
//! per socket, each a complete JSON object with `type` first.

use serde::Serialize;

use super::json_socket::{write_close, write_socket};
use super::line_writer::LineWriter;
use crate::output::{Encoder, RecordOut, Stream};
use crate::record::Batch;

/// Append `{"type":"<kind>",...}\n` for one record to `out`.
pub fn write_line<T: Serialize>(kind: &str, rec: &T, out: &mut Vec<u8>) {
    let start = out.len();
    // Every record has at least `ts`, so it serializes as `{"ts":...}`:
    // write the type tag first, then the record minus its opening brace,
    // straight into `out` (no temporary string, no shifting the line).
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",");
    let mut body = WithoutFirstByte {
        out: &mut *out,
        skipped: false,
    };
    // Records are plain data with string keys; serializing them cannot fail.
    if serde_json::to_writer(&mut body, rec).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
}

/// Appends everything written to it except the very first byte.
struct WithoutFirstByte<'a> {
    out: &'a mut Vec<u8>,
    skipped: bool,
}

impl std::io::Write for WithoutFirstByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let rest = match (self.skipped, buf.split_first()) {
            (false, Some((_, rest))) => {
                self.skipped = true;
                rest
            }
            _ => buf,
        };
        self.out.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Append a whole batch as JSON lines.
pub fn write_batch(batch: &Batch, out: &mut Vec<u8>) {
    if let Some(sys) = &batch.system {
        write_line("system", sys, out);
    }
    // One writer for all the lines: its space is made once per batch.
    let mut w = LineWriter::from_vec(std::mem::take(out));
    for s in &batch.sockets {
        write_socket(s, &mut w);
    }
    for s in &batch.closes {
        write_close(s, &mut w);
    }
    *out = w.into_vec();
}

/// Write a whole batch as JSON lines to `w`, [`super::STREAM_CHUNK`] bytes
/// at a time: a large table is never encoded whole in memory.
pub fn write_batch_to(batch: &Batch, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut out = Vec::new();
    if let Some(sys) = &batch.system {
        write_line("system", sys, &mut out);
    }
    let mut lines = LineWriter::from_vec(out);
    for s in &batch.sockets {
        write_socket(s, &mut lines);
        if lines.len() >= super::STREAM_CHUNK {
            w.write_all(lines.as_bytes())?;
            lines.clear();
        }
    }
    w.write_all(lines.as_bytes())
}

/// JSON Lines into one file family.
pub struct JsonEncoder {
    streams: [Stream; 1],
    /// The system line (serde).
    line: Vec<u8>,
}

impl JsonEncoder {
    pub fn new(file_name: impl Into<String>) -> JsonEncoder {
        JsonEncoder {
            streams: [Stream {
                file_name: file_name.into(),
                header: Vec::new(),
            }],
            line: Vec::with_capacity(1024),
        }
    }
}

impl Encoder for JsonEncoder {
    fn streams(&self) -> &[Stream] {
        &self.streams
    }

    fn encode_into(&mut self, batch: &Batch, out: &mut dyn RecordOut) {
        if let Some(sys) = &batch.system {
            self.line.clear();
            write_line("system", sys, &mut self.line);
            out.begin(0).extend_from_slice(&self.line);
            out.end(0);
        }
        for s in &batch.sockets {
            write_socket(s, out.begin(0));
            out.end(0);
        }
        for s in &batch.closes {
            write_close(s, out.begin(0));
            out.end(0);
        }
    }

    fn record_terminator(&self) -> Option<u8> {
        Some(b'\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch appended after earlier bytes: those bytes, the system line,
    /// then every socket's line exactly as serde writes it.
    #[test]
    fn a_batch_is_its_lines_after_what_was_there() {
        let mut sockets: Vec<SocketRecord> = (0..50).map(SocketRecord::every_field_set).collect();
        sockets[7]
            .set()
            .command(Some(std::sync::Arc::from("a \"quoted\"\n name")));
        sockets[9].local = "[fe80::1%3]:22".parse().unwrap();
        let batch = Batch {
            closes: Vec::new(),
            tier: None,
            ts: 5,
            seq: 0,
            interval_ms: 1000,
            system: Some(SystemRecord::default()),
            sockets,
        };
        let mut want = b"earlier\n".to_vec();
        write_line("system", batch.system.as_ref().unwrap(), &mut want);
        for s in &batch.sockets {
            write_line("socket", s, &mut want);
        }
        let mut out = b"earlier\n".to_vec();
        write_batch(&batch, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
    use crate::record::{SocketRecord, SystemRecord, TcpState};

    #[test]
    fn lines_start_with_type_and_end_with_newline() {
        let mut sys = SystemRecord {
            ts: 5,
            interval_ms: 1000,
            total_sockets: 1,
            ..SystemRecord::default()
        };
        sys.state_counts[TcpState::Established.index()] = 1;
        let batch = Batch {
            closes: Vec::new(),
            tier: None,
            ts: 5,
            seq: 0,
            interval_ms: 1000,
            system: Some(sys),
            sockets: vec![SocketRecord::new(
                5,
                "10.0.0.1:5".parse().unwrap(),
                "[::1]:6".parse().unwrap(),
                TcpState::Established,
            )],
        };
        let mut out = Vec::new();
        write_batch(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(r#"{"type":"system","ts":5,"#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(r#"{"type":"socket","ts":5,"#),
            "{}",
            lines[1]
        );
        for l in lines {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        let mut enc = JsonEncoder::new("x.jsonl");
        let names: Vec<(&str, &[u8])> = enc
            .streams()
            .iter()
            .map(|s| (s.file_name.as_str(), &s.header[..]))
            .collect();
        assert_eq!(names, [("x.jsonl", &b""[..])], "one file, no header");
        // The file sinks cut a torn last line at this byte.
        let terminator = enc.record_terminator();
        let mut n = 0;
        enc.encode(&batch, &mut |s, b| {
            assert_eq!(s, 0);
            assert_eq!(b.last(), Some(&b'\n'));
            assert_eq!(b.last().copied(), terminator);
            n += 1;
        });
        assert_eq!(n, 2);
    }
}
