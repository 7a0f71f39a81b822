//! What the daemon's sink tasks drive: one `Sink` per `[[output]]`, each
//! in its own thread (writes block), opened from its config.

use crate::config::OutputConfig;
use crate::record::Batch;

pub mod compress;
pub mod dir_lock;
pub mod file;

pub mod rotation;
pub(crate) mod safe_open;
pub mod stdout;

use crate::output::{OutputError, Part};
use file::{FileSink, FileSinkConfig, new_encoder};
use stdout::StdoutSink;

/// Records written and records lost by one `write_batch`. The unit is the
/// record of the batch (a `system` line or a `socket` line) for every
/// format: a protobuf message holding a whole poll counts its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub written: u64,
    pub failed: u64,
    /// Rotations that failed while writing the batch (file sinks).
    pub rotate_failures: u64,
    /// Compressions of rotated files that failed since the last batch
    /// (each retried later; the plain file stays).
    pub compress_failures: u64,
}

/// A blocking destination for batches.
pub trait Sink: Send {
    /// Write every record of one part of a poll ([`Part::WHOLE`] for a
    /// poll in one piece), never a partial record; count the ones that
    /// could not be written.
    fn write_part(&mut self, part: &Batch, which: Part) -> Written;
    /// Write every record of `batch`, a poll in one piece.
    fn write_batch(&mut self, batch: &Batch) -> Written {
        self.write_part(batch, Part::WHOLE)
    }
    /// Close and reopen the active files (after newsyslog renamed them).
    fn reopen(&mut self) -> Result<(), SinkError>;
    /// Flush and fsync everything written so far.
    fn flush_sync(&mut self) -> Result<(), SinkError>;
    /// Whoever reads this sink has gone for good (a closed pipe): the
    /// agent stops, as a Unix filter does.
    fn reader_gone(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
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

/// Open the sink an `[[output]]` describes, creating its directory, after
/// the same checks `check-config` runs.
pub fn open(cfg: &OutputConfig) -> Result<Box<dyn Sink>, SinkError> {
    if cfg.is_stdout() {
        return Ok(Box::new(StdoutSink::new()));
    }
    let problems = crate::config::preflight::check(cfg);
    if !problems.is_empty() {
        return Err(OutputError::Config(problems.join("; ")).into());
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
            compress: cfg.compress,
        },
    )?;
    Ok(Box::new(sink))
}

impl Sink for FileSink {
    fn write_part(&mut self, part: &Batch, which: Part) -> Written {
        let r = FileSink::write_part(self, part, which);
        Written {
            rotate_failures: r.rotate_failures,
            compress_failures: r.compress_failures,
            ..self.held.settle(part, which, r.written, r.failed)
        }
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(FileSink::reopen(self)?)
    }

    fn flush_sync(&mut self) -> Result<(), SinkError> {
        Ok(FileSink::flush_sync(self)?)
    }
}

/// Records of a poll's parts that went into no output record yet: an
/// encoder whose record is the whole poll (protobuf) writes it with the
/// last part, and its records are counted then.
#[derive(Debug, Default)]
pub(crate) struct HeldRecords(u64);

impl HeldRecords {
    /// Records written and lost, in the batch's records, for one part of
    /// which `written` + `failed` output records came out.
    pub(crate) fn settle(
        &mut self,
        part: &Batch,
        which: Part,
        written: u64,
        failed: u64,
    ) -> Written {
        self.0 += part.record_count() as u64;
        if written + failed == 0 && !which.last {
            return Written::default();
        }
        in_records(written, failed, std::mem::take(&mut self.0))
    }
}

/// Turn counts of encoder records (lines, or one protobuf message per
/// poll) into records of the batch. Every encoder emits either one record
/// per batch record or one for the whole batch, so this is exact for both.
fn in_records(written: u64, failed: u64, records: u64) -> Written {
    let emitted = written + failed;
    if emitted == 0 || emitted == records {
        return Written {
            written,
            failed,
            ..Written::default()
        };
    }
    let written = records * written / emitted;
    Written {
        written,
        failed: records - written,
        ..Written::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Format;
    use crate::output::proto::testdata;
    use crate::output::proto::{Origin, write_batch};

    #[test]
    fn a_protobuf_poll_in_parts_is_one_message_counted_in_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let enc = new_encoder(Format::Proto, "p").unwrap();
        let mut sink = FileSink::open(enc, file::FileSinkConfig::new(dir.path())).unwrap();
        let whole = testdata::batch(7, 15, true);
        let part = |range: std::ops::Range<usize>, first: bool, last: bool| Batch {
            system: if first { whole.system.clone() } else { None },
            sockets: whole.sockets[range].to_vec(),
            closes: if last {
                whole.closes.clone()
            } else {
                Vec::new()
            },
            ..whole.clone()
        };
        let parts = [
            (0..5, true, false),
            (5..10, false, false),
            (10..15, false, true),
        ];
        let got: Vec<Written> = parts
            .into_iter()
            .map(|(range, first, last)| {
                let b = part(range, first, last);
                Sink::write_part(&mut sink, &b, Part { first, last })
            })
            .collect();
        let total = whole.record_count() as u64;
        assert_eq!(
            got.iter()
                .map(|w| (w.written, w.failed))
                .collect::<Vec<_>>(),
            [(0, 0), (0, 0), (total, 0)],
            "the records of the earlier parts are counted with the message"
        );
        Sink::flush_sync(&mut sink).unwrap();
        let mut want = Vec::new();
        write_batch(&whole, &Origin::this_host(), &mut want);
        assert_eq!(std::fs::read(dir.path().join("p.pb")).unwrap(), want);
    }

    #[test]
    fn lines_in_parts_are_counted_as_each_part_is_written() {
        let mut held = HeldRecords::default();
        let b = testdata::batch(3, 4, true);
        let n = b.record_count() as u64;
        let which = |first, last| Part { first, last };
        assert_eq!(held.settle(&b, which(true, false), n, 0).written, n);
        assert_eq!(held.settle(&b, which(false, false), n - 1, 1).failed, 1);
        assert_eq!(held.settle(&b, which(false, true), n, 0).written, n);
    }

    #[test]
    fn counts_are_in_batch_records_whatever_the_encoder_emits() {
        // One protobuf message for a batch of 41 records.
        assert_eq!(
            in_records(1, 0, 41),
            Written {
                written: 41,
                failed: 0,
                ..Written::default()
            }
        );
        assert_eq!(
            in_records(0, 1, 41),
            Written {
                written: 0,
                failed: 41,
                ..Written::default()
            }
        );
        // One line per record: as counted.
        assert_eq!(
            in_records(30, 11, 41),
            Written {
                written: 30,
                failed: 11,
                ..Written::default()
            }
        );
    }
}
