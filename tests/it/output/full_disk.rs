//! File sinks on a full file system: a real 64 KiB tmpfs (the tests run as
//! root). Failed records are counted, no file ever holds a partial record,
//! and writing resumes by itself when space returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use netpulse::output::Format;
use netpulse::output::sink::file::{Compression, FileSink, FileSinkConfig, new_encoder};
use netpulse_testkit::output::*;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
pub(super) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(super) fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("netpulse-test-full")
            .arg(dir.path())
            .status()
            .expect("running mount(8)");
        assert!(
            status.success(),
            "mounting a tmpfs failed: this test needs root (CI runs as root)"
        );
        Tmpfs { dir }
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fill the file system with a ballast file until writes fail; returns it.
fn ballast(dir: &Path, bytes: usize) -> PathBuf {
    let p = dir.join("ballast");
    std::fs::write(&p, vec![b'x'; bytes]).unwrap();
    p
}

/// Records handed to a sink and what it reported.
#[derive(Default)]
struct Tally {
    written: u64,
    failed: u64,
    next_id: u64,
    seq: u64,
}

impl Tally {
    fn write(
        &mut self,
        sink: &mut FileSink,
        n: usize,
    ) -> netpulse::output::sink::file::WriteReport {
        let r = sink.write_batch(&batch(self.seq, self.next_id, n, true));
        assert_eq!(r.written + r.failed, n as u64 + 1);
        self.seq += 1;
        self.next_id += n as u64;
        self.written += r.written;
        self.failed += r.failed;
        r
    }
}

#[test]
fn json_full_disk_counts_failures_leaves_no_partial_line_and_resumes() {
    let fs = Tmpfs::mount("64k");
    let out = fs.path().join("out");
    let cfg = FileSinkConfig {
        dir: out.clone(),
        rotate_size: None,
        rotate_age: None,
        keep: 1,
        file_mode: 0o640,
        compress: Compression::Off,
    };
    let mut sink = FileSink::open(new_encoder(Format::Json, "netpulse").unwrap(), cfg).unwrap();
    let ballast = ballast(fs.path(), 32 * 1024);
    let active = out.join("netpulse.jsonl");

    let mut t = Tally::default();
    // Until the disk is full, then a few more batches while it stays full.
    let mut full_batches = 0;
    for _ in 0..500 {
        if t.write(&mut sink, 7).failed > 0 {
            full_batches += 1;
            if full_batches == 5 {
                break;
            }
        }
    }
    assert_eq!(full_batches, 5, "the 64 KiB file system never filled up");
    assert!(
        sink.take_error()
            .is_some_and(|e| e.to_string().contains("free space"))
    );
    let lines = json_lines(&active); // panics on a partial line
    assert_eq!(lines.len() as u64, t.written);
    let ids = sock_ids(&lines);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "records out of order");

    // Space returns: the next batch is written whole, after what was there.
    std::fs::remove_file(ballast).unwrap();
    let r = t.write(&mut sink, 7);
    assert_eq!(r.failed, 0, "writing did not resume");
    assert_eq!(r.written, 8);
    sink.flush_sync().unwrap();
    let lines = json_lines(&active);
    assert_eq!(lines.len() as u64, t.written);
    let ids = sock_ids(&lines);
    assert_eq!(
        &ids[ids.len() - 7..],
        &(t.next_id - 7..t.next_id).collect::<Vec<_>>()[..]
    );
    assert!(t.failed >= 5, "only {} failed records counted", t.failed);
}

#[test]
fn csv_full_disk_during_rotation_keeps_header_first_in_every_file() {
    let fs = Tmpfs::mount("64k");
    let out = fs.path().join("out");
    let cfg = FileSinkConfig {
        dir: out.clone(),
        rotate_size: Some(6 * 1024),
        rotate_age: None,
        keep: 2,
        file_mode: 0o640,
        compress: Compression::Off,
    };
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let headers: Vec<Vec<u8>> = enc.streams().iter().map(|s| s.header.clone()).collect();
    let mut sink = FileSink::open(enc, cfg).unwrap();
    let ballast = ballast(fs.path(), 40 * 1024);

    let mut failed = 0;
    let mut seq = 0;
    while failed < 40 && seq < 1000 {
        failed += sink.write_batch(&batch(seq, seq * 9, 9, true)).failed;
        seq += 1;
    }
    assert!(failed >= 40, "the file system never filled up");
    // Every file, rotated or active, is whole and starts with its header
    // (an active file may be empty if even its header did not fit).
    let check = |expect_rows: bool| {
        for (name, header) in ["netpulse-system.csv", "netpulse-socket.csv"]
            .iter()
            .zip(&headers)
        {
            for f in files_in_order(&out, name) {
                if std::fs::metadata(&f).unwrap().len() == 0 && !expect_rows {
                    continue;
                }
                csv_rows(&f, header);
            }
        }
    };
    check(false);

    std::fs::remove_file(ballast).unwrap();
    for _ in 0..3 {
        let r = sink.write_batch(&batch(seq, seq * 9, 9, true));
        assert_eq!((r.written, r.failed), (10, 0), "writing did not resume");
        seq += 1;
    }
    check(true);
    let active = out.join("netpulse-socket.csv");
    let last: Vec<u64> = csv_rows(&active, &headers[1])
        .iter()
        .map(|r| r[2].parse().unwrap())
        .collect();
    assert_eq!(last.last(), Some(&(seq * 9 - 1)));
}
