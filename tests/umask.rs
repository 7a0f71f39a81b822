//! The file sinks' modes against the process umask. The umask belongs to
//! the whole process, so this test is a binary of its own: in the shared
//! test binary it would change the modes of every other test's files.

use std::path::Path;

use netpulse::output::Format;
use netpulse::output::sink::file::{Compression, FileSink, FileSinkConfig, new_encoder};
use netpulse_testkit::output::{batch, files_in_order, mode};
use nix::sys::stat::{Mode, umask};

fn config(dir: &Path, size: Option<u64>, keep: usize) -> FileSinkConfig {
    FileSinkConfig {
        dir: dir.to_path_buf(),
        rotate_size: size,
        rotate_age: None,
        keep,
        file_mode: 0o640,
        compress: Compression::Off,
    }
}

fn open(format: Format, cfg: FileSinkConfig) -> FileSink {
    FileSink::open(new_encoder(format, "netpulse").unwrap(), cfg).unwrap()
}

#[test]
fn new_files_get_file_mode_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    // Restrictive umask: would strip group read from 0640.
    let old = umask(Mode::from_bits_truncate(0o077));
    let mut sink = open(Format::Csv, config(dir.path(), Some(1500), 10));
    for seq in 0..10 {
        sink.write_batch(&batch(seq, seq * 5, 5, true));
    }
    // Permissive umask with a tighter mode: exactly that mode.
    umask(Mode::from_bits_truncate(0o000));
    let dir2 = tempfile::tempdir().unwrap();
    let mut cfg = config(dir2.path(), Some(1500), 10);
    cfg.file_mode = 0o600;
    let mut sink2 = open(Format::Json, cfg);
    for seq in 0..10 {
        sink2.write_batch(&batch(seq, seq * 5, 5, true));
    }
    umask(old);

    let mut n = 0;
    for name in ["netpulse-socket.csv", "netpulse-system.csv"] {
        for f in files_in_order(dir.path(), name) {
            assert_eq!(mode(&f), 0o640, "{}", f.display());
            n += 1;
        }
    }
    assert!(n > 3);
    let files = files_in_order(dir2.path(), "netpulse.jsonl");
    assert!(files.len() > 2);
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}
