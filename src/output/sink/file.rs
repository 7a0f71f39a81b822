//! Rotated output files with whole records only (blocking I/O; the daemon
//! runs one sink per task on a blocking thread).
//!
//! Each stream of the encoder (`netpulse.jsonl`, or `netpulse-system.csv`
//! and `netpulse-socket.csv`) has one active file with a stable name, so
//! `tail -F` and log shippers follow it. Guarantees:
//!
//! - **Whole records.** A record (one `begin`..`end` of
//!   [`crate::output::RecordOut`]) is never split across two
//!   files and never left half-written: when a write fails (ENOSPC, EIO) the
//!   file is truncated back to the end of the last complete record, the
//!   records that did not make it are counted in [`WriteReport::failed`],
//!   and the next batch tries again, so writing resumes by itself when space
//!   returns. A file found at start-up that ends in a torn record (power
//!   loss) is cut back to its last complete line before appending.
//! - **Header on every file.** The stream's header (the CSV header row) is
//!   the first thing in every file: new, rotated, re-created after a
//!   newsyslog rename, or an existing empty file. An existing non-empty file
//!   is appended to as it is, unless it starts with a different header (an
//!   upgrade changed the columns): then it is rotated away first.
//! - **Rotation** by size (a file never grows past `rotate_size` unless a
//!   single record is larger) and/or age: flush, fsync, rename to
//!   `<name>.<UTC stamp>` (see [`super::rotation`]), create a new active file,
//!   delete the oldest rotated files beyond `keep`.
//! - **Compression** of rotated files (`compress`) on the sink's own
//!   compressor thread, which the writer wakes and never waits for (see
//!   [`super::compress`]). The active file stays plain.
//! - **Following the name.** If the active file is renamed or deleted by
//!   someone else (newsyslog), the next batch notices and recreates it;
//!   [`FileSink::reopen`] (SIGHUP) does the same at once.
//! - **Regular files only.** Every open refuses a link, FIFO, device,
//!   directory or extra hard link at the name (see `sink::safe_open`);
//!   only such a checked file is ever repaired or truncated. One agent per
//!   directory (see `sink::dir_lock`).
//! - **Mode.** New files get exactly `file_mode` (default 0640), whatever the
//!   umask. Existing files keep the mode the operator gave them.
//! - **Buffering.** Encoders write records straight into a per-stream
//!   buffer (no copy), which is written out only where a record ends, and
//!   at least once per batch, so a reader sees whole batches promptly and
//!   never a record's first half on its own because of buffering.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::compress::Compressor;
use super::dir_lock::{DirLock, lock_dir};
use super::rotation;
use super::safe_open::open_regular;
pub use crate::config::Compression;
use crate::output::Part;
use crate::output::csv::CsvEncoder;
use crate::output::json::JsonEncoder;
use crate::output::line_writer::LineWriter;
use crate::output::proto::ProtoEncoder;
pub use crate::output::{Encoder, Format, OutputError, RecordOut};
use crate::record::Batch;

/// Buffered bytes per stream before a write (whole records only). Large
/// writes let the page cache take the data in large folios: at 40,000
/// sockets a tick, 1 MiB writes cost ~25 % less CPU per record than 64 KiB
/// ones (`cargo bench --bench output_files`: JSON sink 458 -> 342 ns,
/// CSV sink 339 -> 278 ns per record).
const BUF_CAP: usize = 1024 * 1024;

/// Where and how one output writes its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSinkConfig {
    /// Directory of the active and rotated files; created (mode 0750) if
    /// missing.
    pub dir: PathBuf,
    /// Rotate before a record would take the active file past this many
    /// bytes. `None`: no size limit.
    pub rotate_size: Option<u64>,
    /// Rotate an active file that holds records and is this old. `None`: no
    /// age limit.
    pub rotate_age: Option<Duration>,
    /// Rotated files kept per stream (at least 1); older ones are deleted.
    pub keep: usize,
    /// Permission bits of files netpulse creates (0640 by default).
    pub file_mode: u32,
    /// How rotated files are compressed (zstd by default).
    pub compress: Compression,
}

impl FileSinkConfig {
    pub const DEFAULT_ROTATE_SIZE: u64 = 64 * 1024 * 1024;
    pub const DEFAULT_ROTATE_AGE: Duration = Duration::from_secs(3600);
    pub const DEFAULT_KEEP: usize = 24;
    pub const DEFAULT_FILE_MODE: u32 = 0o640;

    /// The documented defaults (64 MiB, 1 h, keep 24, mode 0640, zstd) in
    /// `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> FileSinkConfig {
        FileSinkConfig {
            dir: dir.into(),
            rotate_size: Some(Self::DEFAULT_ROTATE_SIZE),
            rotate_age: Some(Self::DEFAULT_ROTATE_AGE),
            keep: Self::DEFAULT_KEEP,
            file_mode: Self::DEFAULT_FILE_MODE,
            compress: Compression::Zstd,
        }
    }

    fn validate(&self) -> Result<(), OutputError> {
        if self.file_mode & !0o777 != 0 {
            return Err(OutputError::Config(format!(
                "file_mode {:o} has bits beyond 0777; use permission bits such as \"0640\"",
                self.file_mode
            )));
        }
        if self.rotate_size == Some(0) {
            return Err(OutputError::Config(
                "rotate_size must be larger than 0; use e.g. \"64MiB\", or leave it out for no size limit".into(),
            ));
        }
        if self.keep == 0 {
            return Err(OutputError::Config(
                "keep must be at least 1; 0 would delete every rotated file as it is made".into(),
            ));
        }
        if self.rotate_age == Some(Duration::ZERO) {
            return Err(OutputError::Config(
                "rotate_age must be longer than 0; use e.g. \"1h\", or leave it out for no age limit".into(),
            ));
        }
        Ok(())
    }
}

/// Records of one [`FileSink::write_batch`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Records now in the files (handed to the kernel).
    pub written: u64,
    /// Records lost to write errors (counted, never half-written).
    pub failed: u64,
    /// Rotations that failed (each is tried again at the next batch; the
    /// active file keeps growing meanwhile).
    pub rotate_failures: u64,
    /// Compressions of rotated files that failed since the last batch (the
    /// plain file stays; retried later).
    pub compress_failures: u64,
}

/// The encoder for `format`, its files named after `prefix`:
/// Json → `<prefix>.jsonl`; Csv → `<prefix>-system.csv` and
/// `<prefix>-socket.csv`; Proto → `<prefix>.pb`.
pub fn new_encoder(format: Format, prefix: &str) -> Result<Box<dyn Encoder>, OutputError> {
    if prefix.is_empty() || prefix.contains('/') || prefix.starts_with('.') {
        return Err(OutputError::Config(format!(
            "file name prefix `{prefix}` must be a plain, non-hidden file name such as \"netpulse\""
        )));
    }
    match format {
        Format::Json => Ok(Box::new(JsonEncoder::new(format!("{prefix}.jsonl")))),
        Format::Csv => Ok(Box::new(CsvEncoder::new(prefix))),
        Format::Proto => Ok(Box::new(ProtoEncoder::new(format!("{prefix}.pb")))),
    }
}

/// Rotated files for every stream of one encoder. Blocking I/O.
pub struct FileSink {
    encoder: Box<dyn Encoder>,
    cfg: FileSinkConfig,
    files: Vec<ActiveFile>,
    last_error: Option<OutputError>,
    /// Takes a record for a stream the encoder does not have (an encoder
    /// bug): written nowhere, counted as failed.
    stray: LineWriter,
    /// Compresses rotated files (and finishes what a crash interrupted).
    /// Declared after `files`, dropped before the lock below.
    compressor: Compressor,
    /// This agent's claim on the directory, held while the sink is open.
    _lock: Arc<DirLock>,
    /// Records of a poll's earlier parts not yet in a written record.
    pub(super) held: super::HeldRecords,
}

/// The file sink's [`RecordOut`]: each stream's record goes straight into
/// its active file's buffer.
struct Appender<'a> {
    files: &'a mut [ActiveFile],
    cfg: &'a FileSinkConfig,
    report: &'a mut WriteReport,
    last_error: &'a mut Option<OutputError>,
    stray: &'a mut LineWriter,
    /// Where the record being written starts in its file's buffer.
    start: usize,
}

impl RecordOut for Appender<'_> {
    fn begin(&mut self, stream: usize) -> &mut LineWriter {
        match self.files.get_mut(stream) {
            Some(f) => {
                self.start = f.begin_record();
                &mut f.buf
            }
            None => {
                self.stray.clear();
                self.stray
            }
        }
    }

    fn end(&mut self, stream: usize) {
        match self.files.get_mut(stream) {
            Some(f) => f.end_record(self.start, self.cfg, self.report, self.last_error),
            // An encoder bug, not an I/O problem: count it all the same.
            None => self.report.failed += 1,
        }
    }
}

/// The output directory and its parents, mode 0750 where created.
fn create_dir(dir: &Path) -> Result<(), OutputError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(|source| OutputError::CreateDir {
            dir: dir.to_path_buf(),
            cause: source,
        })
}

impl FileSink {
    /// Create the directory if needed and open (or create) every stream's
    /// active file. An existing active file is appended to.
    pub fn open(encoder: Box<dyn Encoder>, cfg: FileSinkConfig) -> Result<FileSink, OutputError> {
        cfg.validate()?;
        create_dir(&cfg.dir)?;
        if cfg
            .dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            // The operator's choice; say once where the files really go.
            let resolved = std::fs::canonicalize(&cfg.dir).unwrap_or_else(|_| cfg.dir.clone());
            tracing::info!(
                dir = %cfg.dir.display(),
                resolved = %resolved.display(),
                "output directory is a symbolic link; writing into its target"
            );
        }
        let lock = lock_dir(&cfg.dir)?;
        let terminator = encoder.record_terminator();
        let length_delimited = encoder.length_delimited();
        let mut files = Vec::with_capacity(encoder.streams().len());
        for s in encoder.streams() {
            if s.file_name.is_empty() || s.file_name.contains('/') {
                return Err(OutputError::Config(format!(
                    "stream file name `{}` must be a plain file name",
                    s.file_name
                )));
            }
            let mut f = ActiveFile {
                name: s.file_name.clone(),
                path: cfg.dir.join(&s.file_name),
                header: s.header.clone(),
                terminator,
                // The only line format with a header row is CSV, whose
                // quoted fields may hold the terminator.
                quoted_fields: terminator.is_some() && !s.header.is_empty(),
                length_delimited,
                file: None,
                len: 0,
                born: Instant::now(),
                buf: LineWriter::with_capacity(BUF_CAP),
                ends: Vec::new(),
                head: 0,
                pending_truncate: None,
                failing: false,
                rotate_failed: false,
                rotation_failing: false,
                name_lost: false,
                rotated: false,
            };
            f.open(&cfg)?;
            if !f.header_matches() {
                // Written by a version with other columns: appending rows
                // under the old header would misalign every reader.
                tracing::info!(
                    path = %f.path.display(),
                    "header differs from this version's; rotating the file away"
                );
                let mut report = WriteReport::default();
                f.rotate(&cfg, &mut report, &mut None);
                if f.file.is_none() {
                    f.open(&cfg)?;
                }
            }
            // Put the header on disk now: readers of a new CSV file see
            // its columns before the first row.
            // A full disk is not fatal here: the header is retried with
            // the first record.
            f.start_file_if_empty();
            if let Err(e) = f.flush(&mut WriteReport::default()) {
                f.note_failure(e, &mut None);
            }
            rotation::prune(&cfg.dir, &f.name, cfg.keep).map_err(|source| OutputError::Rotate {
                path: f.path.clone(),
                cause: source,
            })?;
            files.push(f);
        }
        let names = files.iter().map(|f| f.name.clone()).collect();
        // Its first pass also compresses what rotated at start-up above.
        let compressor = Compressor::start(cfg.dir.clone(), names, cfg.compress, lock.clone())
            .map_err(|cause| OutputError::Compress {
                path: cfg.dir.clone(),
                cause,
            })?;
        Ok(FileSink {
            encoder,
            cfg,
            files,
            last_error: None,
            stray: LineWriter::default(),
            compressor,
            _lock: lock,
            held: super::HeldRecords::default(),
        })
    }

    /// Encode `batch` into the active files, rotating as needed, and write
    /// it out. Never fails as a whole: records that could not be written
    /// are counted in `failed` (and the cause is kept for
    /// [`FileSink::take_error`] and logged once per outage).
    pub fn write_batch(&mut self, batch: &Batch) -> WriteReport {
        self.write_part(batch, Part::WHOLE)
    }

    /// [`FileSink::write_batch`] for one part of a poll handed over in
    /// parts: an encoder whose record is the whole poll writes it with the
    /// last part.
    pub fn write_part(&mut self, batch: &Batch, which: Part) -> WriteReport {
        let mut report = WriteReport::default();
        let cfg = &self.cfg;
        let last_error = &mut self.last_error;
        for f in &mut self.files {
            f.rotate_failed = false;
            if f.replaced() {
                // newsyslog renamed it (its SIGHUP may still be on the way)
                // or someone deleted it: follow the name, like `tail -F`.
                // If the name cannot be opened, keep the old file.
                match f.open(cfg) {
                    Ok(()) => {
                        f.name_lost = false;
                        tracing::info!(
                            path = %f.path.display(),
                            "active file was renamed or removed; reopened it by name"
                        );
                    }
                    Err(e) => {
                        if !f.name_lost {
                            tracing::warn!("{e}; still writing to the renamed or removed file");
                        }
                        f.name_lost = true;
                        *last_error = Some(e);
                    }
                }
            }
            if f.file.is_none() {
                if let Err(e) = f.open(cfg) {
                    f.note_failure(e, last_error);
                }
            }
            let too_old = cfg.rotate_age.is_some_and(|age| f.born.elapsed() >= age);
            if too_old && f.holds_records() {
                f.rotate(cfg, &mut report, last_error);
            }
        }
        self.encoder.encode_part_into(
            batch,
            which,
            &mut Appender {
                files: &mut self.files,
                cfg,
                report: &mut report,
                last_error,
                stray: &mut self.stray,
                start: 0,
            },
        );
        let mut rotated = false;
        for f in &mut self.files {
            if let Err(e) = f.flush(&mut report) {
                f.note_failure(e, last_error);
            }
            rotated |= std::mem::take(&mut f.rotated);
        }
        if rotated {
            self.compressor.wake();
        }
        report.compress_failures = self.compressor.take_failures();
        report
    }

    /// Close and reopen every active file by name (SIGHUP after a
    /// newsyslog-style rename): a missing file is created with its header.
    /// A file that cannot be opened is reported and its old descriptor
    /// stays in use.
    pub fn reopen(&mut self) -> Result<(), OutputError> {
        let mut first = None;
        for f in &mut self.files {
            let mut report = WriteReport::default();
            // On failure the old file (if any) stays open and in use.
            let result = f
                .flush(&mut report)
                .map_err(|source| OutputError::Write {
                    path: f.path.clone(),
                    cause: source,
                })
                .and_then(|()| f.open(&self.cfg))
                .and_then(|()| {
                    f.start_file_if_empty();
                    f.flush(&mut report).map_err(|source| OutputError::Write {
                        path: f.path.clone(),
                        cause: source,
                    })
                });
            if let Err(e) = result {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Write out everything buffered and fsync every active file and the
    /// directory (shutdown drain).
    pub fn flush_sync(&mut self) -> Result<(), OutputError> {
        let mut first = None;
        for f in &mut self.files {
            let mut report = WriteReport::default();
            if let Err(source) = f.flush(&mut report) {
                first.get_or_insert(OutputError::Write {
                    path: f.path.clone(),
                    cause: source,
                });
            }
            if let Some(Err(source)) = f.file.as_ref().map(File::sync_data) {
                first.get_or_insert(OutputError::Sync {
                    path: f.path.clone(),
                    cause: source,
                });
            }
        }
        // Renames and creations are only durable once the directory is.
        if let Err(source) = File::open(&self.cfg.dir).and_then(|d| d.sync_all()) {
            first.get_or_insert(OutputError::Sync {
                path: self.cfg.dir.clone(),
                cause: source,
            });
        }
        first.map_or(Ok(()), Err)
    }

    /// The most recent error since the last call, for the caller's log or
    /// health report. Failures are also logged (once per outage).
    pub fn take_error(&mut self) -> Option<OutputError> {
        self.last_error.take()
    }

    /// Paths of the active files, one per stream.
    pub fn active_paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    pub fn config(&self) -> &FileSinkConfig {
        &self.cfg
    }
}

// The daemon moves each sink into its own blocking task.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<FileSink>();
};

/// One stream's active file and its buffer of whole records.
struct ActiveFile {
    name: String,
    path: PathBuf,
    header: Vec<u8>,
    terminator: Option<u8>,
    /// Records are RFC 4180 rows: a terminator inside double quotes is data.
    quoted_fields: bool,
    /// Records are length-delimited messages (protobuf).
    length_delimited: bool,
    /// `None` after a failed open or rotation; retried each batch.
    file: Option<File>,
    /// File length as far as this process knows.
    len: u64,
    /// When the active file was created (for age rotation).
    born: Instant,
    /// Whole records (and the header of a new file), the encoder's output
    /// written in place.
    buf: LineWriter,
    /// End offset in `buf` of each buffered record.
    ends: Vec<usize>,
    /// Header bytes at the start of `buf` (0 unless the file is new).
    head: usize,
    /// A truncation after a torn write that did not succeed yet: nothing is
    /// appended until the file is back to this length.
    pending_truncate: Option<u64>,
    /// In an outage (logged once when it starts and once when it ends).
    failing: bool,
    /// Rotation already failed this batch: do not retry per record.
    rotate_failed: bool,
    /// Rotations have been failing since the last one that worked (logged
    /// when it starts and when it ends, counted every time).
    rotation_failing: bool,
    /// The name points to another file that cannot be opened (logged once).
    name_lost: bool,
    /// A rotated file was made since the compressor was last woken.
    rotated: bool,
}

impl ActiveFile {
    fn holds_records(&self) -> bool {
        self.holds_records_before(self.buf.len())
    }

    /// Whether the file and the first `end` buffered bytes hold a record.
    fn holds_records_before(&self, end: usize) -> bool {
        self.len + end as u64 > self.header.len() as u64
    }

    /// Whether a non-empty file starts with this stream's header (always
    /// true for streams without one).
    fn header_matches(&self) -> bool {
        if self.header.is_empty() || self.len == 0 {
            return true;
        }
        let Some(file) = &self.file else {
            return true;
        };
        let mut start = vec![0u8; self.header.len()];
        match file.read_exact_at(&mut start, 0) {
            Ok(()) => start == self.header,
            // Shorter than the header: not ours.
            Err(_) => false,
        }
    }

    /// Whether the open file is no longer the one at `path` (renamed or
    /// deleted behind our back). The buffer is empty between batches, so
    /// nothing is lost by switching.
    fn replaced(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let Ok(open) = file.metadata() else {
            return false;
        };
        // The name itself, never what a link there points to.
        match std::fs::symlink_metadata(&self.path) {
            Ok(named) => (named.dev(), named.ino()) != (open.dev(), open.ino()),
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Open the active file by name, creating it with exactly `file_mode`.
    fn open(&mut self, cfg: &FileSinkConfig) -> Result<(), OutputError> {
        let (file, len, born) = self.open_file(cfg)?;
        self.file = Some(file);
        self.len = len;
        self.born = born;
        self.pending_truncate = None;
        Ok(())
    }

    /// [`ActiveFile::open`] without touching `self`: the open file, its
    /// length and its birth.
    fn open_file(&self, cfg: &FileSinkConfig) -> Result<(File, u64, Instant), OutputError> {
        let err = |source| OutputError::Open {
            path: self.path.clone(),
            cause: source,
        };
        if !cfg.dir.is_dir() {
            // Someone removed the directory: recreate it rather than fail
            // until restart.
            create_dir(&cfg.dir)?;
        }
        let created = open_regular(
            &self.path,
            OpenOptions::new()
                .read(true)
                .append(true)
                .create_new(true)
                .mode(cfg.file_mode),
        );
        let (file, born) = match created {
            Ok(file) => {
                // The umask may have cleared bits of `mode` at creation.
                file.set_permissions(std::fs::Permissions::from_mode(cfg.file_mode))
                    .map_err(err)?;
                (file, Instant::now())
            }
            Err(OutputError::Open { cause: source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                // Only a regular file of ours is ever repaired.
                let mut file =
                    open_regular(&self.path, OpenOptions::new().read(true).append(true))?;
                let meta = file.metadata().map_err(err)?;
                let cut = if self.quoted_fields {
                    repair_torn_row(&mut file, meta.len()).map_err(err)?
                } else if let Some(t) = self.terminator {
                    repair_torn_tail(&mut file, meta.len(), t).map_err(err)?
                } else if self.length_delimited {
                    repair_torn_message(&mut file, meta.len()).map_err(err)?
                } else {
                    0
                };
                if cut > 0 {
                    tracing::warn!(
                        path = %self.path.display(),
                        bytes = cut,
                        "removed an incomplete last record left by an earlier run"
                    );
                }
                (file, birth_instant(&meta))
            }
            Err(e) => return Err(e),
        };
        let len = file.metadata().map_err(err)?.len();
        Ok((file, len, born))
    }

    /// An empty file starts with the header.
    fn start_file_if_empty(&mut self) {
        if self.len == 0 && self.buf.is_empty() && !self.header.is_empty() {
            self.buf.extend_from_slice(&self.header);
            self.head = self.buf.len();
        }
    }

    /// Where the next record starts in `buf`; an empty file's buffer gets
    /// the header first.
    fn begin_record(&mut self) -> usize {
        if self.file.is_some() {
            self.start_file_if_empty();
        }
        self.buf.len()
    }

    /// The bytes of `buf` from `start` on are one whole record: move it to
    /// a new file if it would take this one past the size limit, drop it
    /// if there is no file to write it to, and write the buffer out once it
    /// is full.
    fn end_record(
        &mut self,
        start: usize,
        cfg: &FileSinkConfig,
        report: &mut WriteReport,
        last_error: &mut Option<OutputError>,
    ) {
        let mut start = start;
        let too_big = cfg
            .rotate_size
            .is_some_and(|limit| self.len + self.buf.len() as u64 > limit);
        if too_big && !self.rotate_failed && self.holds_records_before(start) {
            // Once per rotation: the record is set aside while the records
            // before it are written and the file rotated.
            let rec = self
                .buf
                .as_bytes()
                .get(start..)
                .unwrap_or_default()
                .to_vec();
            self.buf.truncate(start);
            self.rotate(cfg, report, last_error);
            start = self.begin_record();
            self.buf.extend_from_slice(&rec);
        }
        if self.file.is_none() {
            self.buf.truncate(start);
            report.failed += 1;
            return;
        }
        self.ends.push(self.buf.len());
        if self.buf.len() >= BUF_CAP {
            if let Err(e) = self.flush(report) {
                self.note_failure(e, last_error);
            }
        }
    }

    /// Write the buffer out. On failure, cut the file back to its last
    /// complete record and count what was lost; the buffer is empty
    /// afterwards either way.
    fn flush(&mut self, report: &mut WriteReport) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let used = self.buf.len();
        let result = self.write_buf(report);
        if self.buf.capacity() > (4 * BUF_CAP).max(4 * used) {
            // A record larger than the buffer (a protobuf poll holding
            // every socket, the first of a `changed` output) grew it, and
            // this write needed far less: give the space back.
            self.buf = LineWriter::with_capacity(BUF_CAP);
        }
        if result.is_ok() && self.failing {
            self.failing = false;
            tracing::info!(path = %self.path.display(), "writing again after an error");
        }
        self.buf.clear();
        self.ends.clear();
        self.head = 0;
        result
    }

    fn write_buf(&mut self, report: &mut WriteReport) -> io::Result<()> {
        let records = self.ends.len() as u64;
        let Some(file) = self.file.as_mut() else {
            report.failed += records;
            return Err(io::Error::new(io::ErrorKind::NotFound, "file is not open"));
        };
        if let Some(target) = self.pending_truncate {
            if let Err(e) = file.set_len(target) {
                report.failed += records;
                return Err(e);
            }
            self.len = target;
            self.pending_truncate = None;
        }
        let mut done = 0;
        let error = loop {
            if done == self.buf.len() {
                break None;
            }
            match file.write(self.buf.as_bytes().get(done..).unwrap_or_default()) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        let Some(error) = error else {
            self.len += done as u64;
            report.written += records;
            return Ok(());
        };
        // Keep what ends on a record boundary (or the whole header).
        let complete = self.ends.iter().take_while(|&&end| end <= done).count();
        let keep = match complete {
            0 if done >= self.head => self.head,
            0 => 0,
            n => self.ends[n - 1],
        };
        report.written += complete as u64;
        report.failed += records - complete as u64;
        let torn = (done - keep) as u64;
        // Measure the file rather than trust `len`: an operator may have
        // truncated it (copytruncate) under us. O_APPEND put our bytes last.
        let actual = file
            .metadata()
            .map(|m| m.len())
            .unwrap_or(self.len + done as u64);
        let target = actual.saturating_sub(torn);
        self.len = target;
        if torn > 0 && file.set_len(target).is_err() {
            self.pending_truncate = Some(target);
        }
        Err(error)
    }

    /// Flush, fsync, rename to the rotated name, prune, create a new active
    /// file. On failure keep writing where possible and retry next batch.
    fn rotate(
        &mut self,
        cfg: &FileSinkConfig,
        report: &mut WriteReport,
        last_error: &mut Option<OutputError>,
    ) {
        if let Err(e) = self.flush(report) {
            self.note_failure(e, last_error);
        }
        if let Some(Err(source)) = self.file.as_ref().map(File::sync_data) {
            // Rotate anyway: the data is in the page cache and a stuck
            // file would grow without bound.
            let e = OutputError::Sync {
                path: self.path.clone(),
                cause: source,
            };
            tracing::warn!("{e}");
            *last_error = Some(e);
        }
        let now_ms = crate::record::now_ns() / 1_000_000;
        if let Err(source) = rotation::rotate(&cfg.dir, &self.name, cfg.keep, now_ms) {
            self.rotate_failed = true;
            report.rotate_failures += 1;
            let e = OutputError::Rotate {
                path: self.path.clone(),
                cause: source,
            };
            if !self.rotation_failing {
                tracing::warn!("{e}; retrying at every batch, the active file grows meanwhile");
            }
            self.rotation_failing = true;
            *last_error = Some(e);
            // If the rename happened but pruning failed, the active file is
            // gone: fall through and create it.
            if self.path.symlink_metadata().is_ok() {
                return;
            }
        }
        self.rotated = true;
        if self.rotation_failing {
            self.rotation_failing = false;
            tracing::info!(path = %self.path.display(), "rotation works again");
        }
        self.file = None;
        self.len = 0;
        if let Err(e) = self.open(cfg) {
            self.rotate_failed = true;
            tracing::warn!("{e}");
            *last_error = Some(e);
        }
    }

    fn note_failure(&mut self, e: impl Into<FailureCause>, last_error: &mut Option<OutputError>) {
        let e = match e.into() {
            FailureCause::Io(source) => OutputError::Write {
                path: self.path.clone(),
                cause: source,
            },
            FailureCause::Output(e) => e,
        };
        if !self.failing {
            tracing::warn!("{e}");
        }
        self.failing = true;
        *last_error = Some(e);
    }
}

enum FailureCause {
    Io(io::Error),
    Output(OutputError),
}

impl From<io::Error> for FailureCause {
    fn from(e: io::Error) -> Self {
        FailureCause::Io(e)
    }
}

impl From<OutputError> for FailureCause {
    fn from(e: OutputError) -> Self {
        FailureCause::Output(e)
    }
}

/// The creation time of a file as an `Instant`, so an active file found at
/// start-up still rotates on time. Falls back to "now" where the file
/// system has no birth time.
fn birth_instant(meta: &std::fs::Metadata) -> Instant {
    let now = Instant::now();
    meta.created()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .and_then(|age| now.checked_sub(age))
        .unwrap_or(now)
}

/// Cut a length-delimited stream back to its last whole message. Returns
/// the bytes removed.
fn repair_torn_message(file: &mut File, len: u64) -> io::Result<u64> {
    let keep = crate::output::proto::whole_messages_len(file, len)?;
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(len - keep)
}

/// If the file does not end with `terminator`, cut it back to just after
/// the last one (or to empty). Returns the bytes removed.
fn repair_torn_tail(file: &mut File, len: u64, terminator: u8) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    if len == 0 {
        return Ok(0);
    }
    let mut chunk = vec![0u8; CHUNK as usize];
    let mut end = len;
    let mut keep = 0;
    let mut last_byte_checked = false;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if !last_byte_checked {
            if chunk[n - 1] == terminator {
                return Ok(0);
            }
            last_byte_checked = true;
        }
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == terminator) {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    file.set_len(keep)?;
    Ok(len - keep)
}

/// Cut an RFC 4180 file back to the end of its last whole row. A row ends
/// at a newline outside double quotes; inside quotes (an escaped quote is
/// two, so counting them is enough) a newline is part of a field, so the
/// file is read from its start. Returns the bytes removed.
fn repair_torn_row(file: &mut File, len: u64) -> io::Result<u64> {
    const CHUNK: usize = 64 * 1024;
    let mut chunk = vec![0u8; CHUNK];
    let mut in_quotes = false;
    let mut keep = 0u64;
    let mut pos = 0u64;
    file.seek(SeekFrom::Start(0))?;
    while pos < len {
        let n = (len - pos).min(CHUNK as u64) as usize;
        file.read_exact(&mut chunk[..n])?;
        for (i, &b) in chunk[..n].iter().enumerate() {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => keep = pos + i as u64 + 1,
                _ => {}
            }
        }
        pos += n as u64;
    }
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(len - keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::proto::testdata::batch;

    #[test]
    fn a_record_larger_than_the_buffer_does_not_pin_its_space() {
        let dir = tempfile::tempdir().unwrap();
        let enc = new_encoder(Format::Proto, "p").unwrap();
        let mut sink = FileSink::open(enc, FileSinkConfig::new(dir.path())).unwrap();
        let big = batch(1, 20_000, true);
        assert_eq!(sink.write_batch(&big).failed, 0);
        let grown = sink.files[0].buf.capacity();
        assert!(
            grown > 4 * BUF_CAP,
            "a 20,000-socket message in {grown} bytes"
        );
        // A steady large poll reuses the space it needs.
        assert_eq!(sink.write_batch(&big).failed, 0);
        assert_eq!(sink.files[0].buf.capacity(), grown);
        assert_eq!(sink.write_batch(&batch(2, 10, true)).failed, 0);
        assert_eq!(sink.files[0].buf.capacity(), BUF_CAP);
    }
}
