//! Compressing rotated files beside the writer.
//!
//! Each file sink with rotated files owns one compressor thread. The sink
//! only wakes it after a rotation and never waits for it, so a slow or
//! failing compression cannot delay a poll. For each rotated file
//! `<active>.<stamp>` the thread writes `.<active>.<stamp>.<ext>.tmp` in the
//! same directory (hidden, so shippers globbing `<active>.*` skip it),
//! fsyncs it, renames it to `<active>.<stamp>.<ext>`, fsyncs the directory
//! and only then removes the plain file. Whatever instant a crash hits,
//! one complete copy remains:
//!
//! - before the rename: the plain file, and maybe a partial temporary file,
//!   which the next pass deletes before compressing the plain file again;
//! - after the rename: a complete compressed file (it was synced before it
//!   got its name), and maybe the plain file, which the next pass removes.
//!
//! The first pass runs when the sink opens, so start-up finishes what a
//! crash interrupted. A failure (a full disk) leaves the plain file, is
//! counted and logged once per outage, and is retried at the next rotation
//! or after [`RETRY_AFTER`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::dir_lock::DirLock;
use super::rotation::{self, RotatedForms};
use super::safe_open::open_regular;
use crate::config::Compression;
use crate::output::OutputError;

/// How long a failed compression waits before its next try when no
/// rotation comes first.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// zstd's own default level: a rotated JSON file shrinks 15-40 times at a
/// few hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

/// Bytes read from the plain file per step; the thread checks for a stop
/// request between steps.
const CHUNK: usize = 256 * 1024;

/// Test hook, for crash tests only: when this environment variable names a
/// path, a compression that has written its first chunk to the temporary
/// file creates that path and then stalls until the sink closes, so a test
/// can kill the process at a known point mid-compression.
pub const STALL_HOOK_ENV: &str = "NETPULSE_TEST_HOOK_COMPRESS_STALL";

/// The sink's handle on its compressor thread. Dropping it stops the
/// thread (an unfinished compression is abandoned, its plain file kept)
/// and waits for it.
pub struct Compressor {
    wake: Option<Sender<()>>,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread needs to do its passes.
struct Worker {
    dir: PathBuf,
    /// Active file names of the sink's streams.
    names: Vec<String>,
    method: Compression,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    wake: Receiver<()>,
    stall_marker: Option<PathBuf>,
    /// In an outage (logged when it starts and when it ends).
    failing: bool,
    /// The directory stays ours while the thread runs.
    _lock: Arc<DirLock>,
}

impl Compressor {
    /// Start the thread for the streams `names` in `dir`; its first pass
    /// finishes or cleans up what an earlier run left.
    pub fn start(
        dir: PathBuf,
        names: Vec<String>,
        method: Compression,
        lock: Arc<DirLock>,
    ) -> io::Result<Compressor> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            dir,
            names,
            method,
            stop: stop.clone(),
            failures: failures.clone(),
            wake: rx,
            stall_marker: std::env::var_os(STALL_HOOK_ENV).map(PathBuf::from),
            failing: false,
            _lock: lock,
        };
        let thread = std::thread::Builder::new()
            .name("netpulse-compress".into())
            .spawn(move || worker.run())?;
        Ok(Compressor {
            wake: Some(tx),
            stop,
            failures,
            thread: Some(thread),
        })
    }

    /// Look for rotated files to compress (after a rotation). Never blocks.
    pub fn wake(&self) {
        if let Some(tx) = &self.wake {
            // The thread only ends with the sink; nothing to do if it died.
            let _ = tx.send(());
        }
    }

    /// Failed compressions since the last call.
    pub fn take_failures(&self) -> u64 {
        self.failures.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the channel wakes a waiting thread.
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    fn run(mut self) {
        loop {
            let all_done = self.pass();
            if self.stopping() {
                return;
            }
            let next = if all_done {
                self.wake.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.wake.recv_timeout(RETRY_AFTER)
            };
            match next {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Several rotations in a row need one pass.
            while self.wake.try_recv().is_ok() {}
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Tidy and compress every stream's rotated files, oldest first.
    /// Returns false if something failed and needs another try.
    fn pass(&mut self) -> bool {
        let mut ok = true;
        for i in 0..self.names.len() {
            if self.stopping() {
                return ok;
            }
            let name = self.names[i].clone();
            ok &= self.pass_stream(&name);
        }
        if ok && self.failing {
            self.failing = false;
            tracing::info!(dir = %self.dir.display(), "compressing rotated files works again");
        }
        ok
    }

    fn pass_stream(&mut self, active: &str) -> bool {
        let listed = remove_leftover_temps(&self.dir, active)
            .and_then(|()| rotation::list_rotated_forms(&self.dir, active));
        let forms = match listed {
            Ok(f) => f,
            Err(cause) => {
                self.failed(OutputError::Compress {
                    path: self.dir.join(active),
                    cause,
                });
                return false;
            }
        };
        let mut ok = true;
        for (_, f) in forms {
            if self.stopping() {
                break;
            }
            let RotatedForms { plain, compressed } = f;
            let Some(plain) = plain else { continue };
            let result = if !compressed.is_empty() {
                // A compressed form is only ever named once complete: the
                // plain one is the leftover of an interrupted run.
                remove_plain(&plain)
            } else if let Some(ext) = self.method.extension() {
                self.compress(&plain, ext)
            } else {
                Ok(())
            };
            if let Err(e) = result {
                if self.stopping() {
                    // Abandoned because the sink is closing, not a failure:
                    // the plain file stays for the next start.
                    break;
                }
                ok = false;
                self.failed(e);
            }
        }
        ok
    }

    fn failed(&mut self, e: OutputError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            tracing::warn!("{e}");
        }
        self.failing = true;
    }

    /// Compress `plain` into `<plain>.<ext>` through a synced temporary
    /// file, then remove `plain`.
    fn compress(&self, plain: &Path, ext: &str) -> Result<(), OutputError> {
        let file_name = plain
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let target = plain.with_file_name(format!("{file_name}.{ext}"));
        let temp = plain.with_file_name(temp_name(&format!("{file_name}.{ext}")));
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| OutputError::Compress { path, cause }
        };
        let source = open_regular(plain, OpenOptions::new().read(true))?;
        let meta = source.metadata().map_err(err(plain))?;
        if meta.uid() != nix::unistd::geteuid().as_raw() {
            // Rotation renames files this process created: one owned by
            // someone else only carries such a name, and is left alone.
            tracing::debug!(path = %plain.display(), "not compressing a file netpulse did not write");
            return Ok(());
        }
        let mode = meta.permissions().mode() & 0o777;
        let out = open_regular(
            &temp,
            OpenOptions::new().write(true).create_new(true).mode(mode),
        )?;
        let written = out
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| self.encode(source, &out, ext, &temp))
            .and_then(|()| out.sync_all());
        if let Err(cause) = written {
            // Nothing but the plain file may stay: the next try starts over.
            let _ = std::fs::remove_file(&temp);
            return Err(OutputError::Compress {
                path: plain.to_path_buf(),
                cause,
            });
        }
        drop(out);
        std::fs::rename(&temp, &target).map_err(|cause| {
            let _ = std::fs::remove_file(&temp);
            OutputError::Compress {
                path: plain.to_path_buf(),
                cause,
            }
        })?;
        sync_dir(&self.dir).map_err(err(&self.dir))?;
        match std::fs::remove_file(plain) {
            Ok(()) => {}
            // Pruned (or deleted by the operator) while being compressed:
            // its compressed copy goes too, or `keep` would be exceeded.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::remove_file(&target).map_err(err(&target))?;
            }
            Err(e) => return Err(err(plain)(e)),
        }
        sync_dir(&self.dir).map_err(err(&self.dir))
    }

    /// Stream `source` through the encoder for `ext` into `out`.
    fn encode(&self, mut source: File, out: &File, ext: &str, temp: &Path) -> io::Result<()> {
        let sink = BufWriter::with_capacity(CHUNK, out);
        let mut enc: Box<dyn FinishWrite + '_> = match ext {
            "gz" => Box::new(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::default(),
            )),
            _ => Box::new(zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?),
        };
        let mut buf = vec![0u8; CHUNK];
        let mut first = true;
        loop {
            if self.stopping() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the sink is closing",
                ));
            }
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            enc.write_all(&buf[..n])?;
            if first {
                first = false;
                self.stall_for_test(&mut *enc, temp)?;
            }
        }
        enc.finish_stream()
    }

    /// The crash-test hook ([`STALL_HOOK_ENV`]): part of the temporary
    /// file on disk, the marker created, then wait for the sink to close.
    fn stall_for_test(&self, enc: &mut dyn FinishWrite, temp: &Path) -> io::Result<()> {
        let Some(marker) = &self.stall_marker else {
            return Ok(());
        };
        enc.flush()?;
        tracing::warn!(temp = %temp.display(), "test hook: compression stalled");
        File::create(marker)?;
        while self.wake.recv().is_ok() && !self.stopping() {}
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the sink is closing",
        ))
    }
}

/// An encoder that writes its end of stream and flushes on `finish_stream`.
trait FinishWrite: Write {
    fn finish_stream(self: Box<Self>) -> io::Result<()>;
}

impl<W: Write> FinishWrite for zstd::stream::write::Encoder<'_, W> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl<W: Write> FinishWrite for flate2::write::GzEncoder<W> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

/// The hidden temporary name of a compressed file being written.
fn temp_name(compressed: &str) -> String {
    format!(".{compressed}.tmp")
}

/// Delete temporary files an interrupted compression left for `active`
/// (regular files only: anything else at such a name is not ours).
fn remove_leftover_temps(dir: &Path, active: &str) -> io::Result<()> {
    let prefix = format!(".{active}.");
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(compressed) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
            continue;
        };
        let is_ours = name.starts_with(&prefix)
            && rotation::COMPRESSED_EXTENSIONS
                .iter()
                .any(|ext| compressed.ends_with(&format!(".{ext}")));
        if !is_ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        tracing::info!(path = %entry.path().display(), "removing an interrupted compression's temporary file");
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn remove_plain(plain: &Path) -> Result<(), OutputError> {
    match std::fs::remove_file(plain) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(cause) => Err(OutputError::Compress {
            path: plain.to_path_buf(),
            cause,
        }),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
