//! Outputs: encoders turn batches into bytes; sinks put the bytes
//! somewhere (stdout, rotated files).

pub mod encode;
mod error;
pub mod sink;
pub mod stream;

pub use crate::config::Format;
pub use encode::{csv, json, line_writer, proto};

pub use error::OutputError;

use crate::record::Batch;
use line_writer::LineWriter;

/// One family of files an encoder writes (`socket.csv`, `netpulse.jsonl`).
#[derive(Clone, Debug)]
pub struct Stream {
    /// File name of the active file of this family, e.g. `netpulse.jsonl`.
    pub file_name: String,
    /// Bytes at the top of every file of the family (the CSV header row).
    pub header: Vec<u8>,
}

/// Turns batches into whole records of bytes. Sinks never split what one
/// `emit` call hands them across two files.
pub trait Encoder: Send {
    /// The file families, indexed by the `stream` argument of `emit`.
    fn streams(&self) -> &[Stream];

    /// Encode a batch into `out`: each record (a JSON or CSV line, a
    /// length-delimited protobuf message) is appended to the buffer
    /// `out.begin(stream)` returns, then `out.end(stream)` is called.
    fn encode_into(&mut self, batch: &Batch, out: &mut dyn RecordOut);

    /// Encode one part of a poll handed over in parts ([`Part`]). Records
    /// that stand alone (a JSON or CSV line) are written as the part
    /// comes; an encoder whose record is the whole poll (a protobuf
    /// `Batch`) gathers the parts and writes the record with the last.
    fn encode_part_into(&mut self, part: &Batch, _which: Part, out: &mut dyn RecordOut) {
        self.encode_into(part, out)
    }

    /// Encode a batch, calling `emit(stream, bytes)` once per record.
    fn encode(&mut self, batch: &Batch, emit: &mut dyn FnMut(usize, &[u8])) {
        self.encode_into(
            batch,
            &mut EachRecord {
                buf: LineWriter::default(),
                emit,
            },
        );
    }

    /// The byte every record ends with, if there is one (`\n` for JSON Lines
    /// and CSV). File sinks use it to cut a torn last record left by a
    /// crash before appending to an existing file.
    fn record_terminator(&self) -> Option<u8> {
        None
    }

    /// Whether each record is a varint length-delimited message (protobuf):
    /// file sinks then cut a torn last message by walking the length
    /// prefixes, as they cut a torn line at its terminator.
    fn length_delimited(&self) -> bool {
        false
    }
}

/// Which part of a poll a batch is, when a poll is handed to an output in
/// parts (`sockets = "changed"` copies at most a part's socket lines at a
/// time): the system line comes with the first part, the close records
/// with the last, and the parts together hold the poll's lines in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub first: bool,
    pub last: bool,
}

impl Part {
    /// A poll in one piece.
    pub const WHOLE: Part = Part {
        first: true,
        last: true,
    };
}

/// Where an encoder puts records. File sinks hand out their own write
/// buffers, so a record is written once, in place, instead of being built
/// in the encoder and copied. One record at a time: `end` comes before the
/// next `begin`.
pub trait RecordOut {
    /// The buffer the next record of `stream` is appended to.
    fn begin(&mut self, stream: usize) -> &mut LineWriter;

    /// What was appended since `begin` is one whole record of `stream`.
    fn end(&mut self, stream: usize);
}

/// [`Encoder::encode`]'s adapter: each record in a scratch buffer, handed
/// to `emit`.
struct EachRecord<'a> {
    buf: LineWriter,
    emit: &'a mut dyn FnMut(usize, &[u8]),
}

impl RecordOut for EachRecord<'_> {
    fn begin(&mut self, _: usize) -> &mut LineWriter {
        self.buf.clear();
        &mut self.buf
    }

    fn end(&mut self, stream: usize) {
        (self.emit)(stream, self.buf.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::Format;
    use super::sink::file::new_encoder;

    /// The config checks collisions with `Format::active_file_names`; the
    /// encoders must write exactly those files.
    #[test]
    fn encoders_write_the_file_names_the_config_checks() {
        for format in [Format::Json, Format::Csv, Format::Proto] {
            let enc = new_encoder(format, "pre").unwrap();
            let names: Vec<String> = enc.streams().iter().map(|s| s.file_name.clone()).collect();
            assert_eq!(names, format.active_file_names("pre"), "{format:?}");
        }
    }
}
