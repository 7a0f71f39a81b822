//! JSON Lines to standard output, for foreground use (`dir = "-"`).

use std::io::Write;

use super::Encoder;
use super::json::JsonEncoder;
use super::sink::{Sink, SinkError, Written};
use crate::record::Batch;

pub struct StdoutSink {
    encoder: JsonEncoder,
    buf: Vec<u8>,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            encoder: JsonEncoder::new("-"),
            buf: Vec::new(),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

impl Sink for StdoutSink {
    fn write_batch(&mut self, batch: &Batch) -> Written {
        self.buf.clear();
        let mut n = 0u64;
        let buf = &mut self.buf;
        self.encoder.encode(batch, &mut |_, rec| {
            buf.extend_from_slice(rec);
            n += 1;
        });
        let mut out = std::io::stdout().lock();
        // Whole batch in one write_all: a pipe reader sees whole lines.
        match out.write_all(&self.buf).and_then(|_| out.flush()) {
            Ok(()) => Written {
                written: n,
                failed: 0,
            },
            Err(_) => Written {
                written: 0,
                failed: n,
            },
        }
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn flush_sync(&mut self) -> Result<(), SinkError> {
        std::io::stdout().lock().flush()?;
        Ok(())
    }
}
