//! JSON Lines to standard output, for foreground use (`dir = "-"`).

use std::io::Write;

use super::{Sink, SinkError, Written};
use crate::output::json::JsonEncoder;
use crate::output::line_writer::LineWriter;
use crate::output::{Encoder, Part, RecordOut};
use crate::record::Batch;

pub struct StdoutSink {
    encoder: JsonEncoder,
    buf: LineWriter,
    /// The reader closed the pipe (EPIPE): nothing will be read again.
    reader_gone: bool,
}

/// Every record into one buffer, counted.
struct Lines<'a> {
    buf: &'a mut LineWriter,
    records: u64,
}

impl RecordOut for Lines<'_> {
    fn begin(&mut self, _: usize) -> &mut LineWriter {
        self.buf
    }

    fn end(&mut self, _: usize) {
        self.records += 1;
    }
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            encoder: JsonEncoder::new("-"),
            buf: LineWriter::default(),
            reader_gone: false,
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

impl Sink for StdoutSink {
    /// JSON lines stand alone: a part is written as it comes.
    fn write_part(&mut self, batch: &Batch, _which: Part) -> Written {
        self.buf.clear();
        let mut lines = Lines {
            buf: &mut self.buf,
            records: 0,
        };
        self.encoder.encode_into(batch, &mut lines);
        let n = lines.records;
        let mut out = std::io::stdout().lock();
        // Whole batch in one write_all: a pipe reader sees whole lines.
        match out.write_all(self.buf.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Written {
                written: n,
                failed: 0,
                ..Written::default()
            },
            Err(e) => {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    self.reader_gone = true;
                }
                Written {
                    written: 0,
                    failed: n,
                    ..Written::default()
                }
            }
        }
    }

    fn reader_gone(&self) -> bool {
        self.reader_gone
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn flush_sync(&mut self) -> Result<(), SinkError> {
        std::io::stdout().lock().flush()?;
        Ok(())
    }
}
