//! What the daemon's sink tasks drive: one `Sink` per `[[output]]`, each
//! in its own thread (writes block), opened from its config.

use crate::config::OutputConfig;
use crate::record::Batch;

pub mod file;
pub mod rotation;
pub mod stdout;

use crate::output::OutputError;
use file::{FileSink, FileSinkConfig, new_encoder};
use stdout::StdoutSink;

/// Records written and records lost by one `write_batch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub written: u64,
    pub failed: u64,
}

/// A blocking destination for batches.
pub trait Sink: Send {
    /// Write every record of `batch`, never a partial record; count the
    /// ones that could not be written.
    fn write_batch(&mut self, batch: &Batch) -> Written;
    /// Close and reopen the active files (after newsyslog renamed them).
    fn reopen(&mut self) -> Result<(), SinkError>;
    /// Flush and fsync everything written so far.
    fn flush_sync(&mut self) -> Result<(), SinkError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Output(#[from] OutputError),
}

/// A short name for logs: `json:/var/log/netpulse/netpulse`.
pub fn describe(cfg: &OutputConfig) -> String {
    let fmt = format!("{:?}", cfg.format).to_lowercase();
    if cfg.is_stdout() {
        format!("{fmt}:stdout")
    } else {
        format!("{fmt}:{}", cfg.dir.join(&cfg.prefix).display())
    }
}

/// Open the sink an `[[output]]` describes, creating its directory.
pub fn open(cfg: &OutputConfig) -> Result<Box<dyn Sink>, SinkError> {
    if cfg.is_stdout() {
        return Ok(Box::new(StdoutSink::new()));
    }
    let encoder = new_encoder(cfg.format, &cfg.prefix)?;
    let sink = FileSink::open(
        encoder,
        FileSinkConfig {
            dir: cfg.dir.clone(),
            rotate_size: cfg.rotate_size,
            rotate_age: cfg.rotate_age,
            keep: cfg.keep,
            file_mode: cfg.file_mode,
        },
    )?;
    Ok(Box::new(sink))
}

impl Sink for FileSink {
    fn write_batch(&mut self, batch: &Batch) -> Written {
        let r = FileSink::write_batch(self, batch);
        Written {
            written: r.written,
            failed: r.failed,
        }
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(FileSink::reopen(self)?)
    }

    fn flush_sync(&mut self) -> Result<(), SinkError> {
        Ok(FileSink::flush_sync(self)?)
    }
}
