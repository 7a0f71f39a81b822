//! `netpulse replay` never trusts an input to end: `/dev/zero` is refused
//! at a fixed ceiling, and a FIFO that goes on after its dump (a capture
//! piped in, followed by garbage) is read only up to the size the dump's
//! own header declares.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::wait_exit;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `netpulse replay ARGS` with its heap capped well below what an
/// unbounded read of `/dev/zero` reaches in the time allowed.
fn replay(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new("prlimit")
        .arg("--data=1073741824")
        .arg(env!("CARGO_BIN_EXE_netpulse"))
        .arg("replay")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let output = Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    (output, t0.elapsed())
}

#[test]
fn dev_zero_as_a_dump_is_refused_with_a_clear_error() {
    for flag in ["--pcblist", "--tcpstats-dev", "--pcblist-n"] {
        let (out, took) = replay(&[flag, "/dev/zero"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(
            err.contains("/dev/zero") && err.contains("larger than 67108864 bytes"),
            "{flag}: {err}"
        );
        assert!(took < Duration::from_secs(20), "{flag} took {took:?}");
    }
}

/// A FIFO fed `dump` and then zeros until every reader goes away. The
/// returned read end is opened first (without blocking), so the writer's
/// open returns at once and replay never finds the FIFO without a writer
/// (which it would read as an empty dump); drop it once replay has exited.
fn endless_fifo(dir: &Path, dump: &Path) -> (PathBuf, std::fs::File, std::thread::JoinHandle<u64>) {
    let fifo = dir.join("dump.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let bytes = std::fs::read(dump).unwrap();
    let held = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&bytes).unwrap();
        let zeros = vec![0u8; 1 << 16];
        let mut extra = 0u64;
        // Ends when no reader is left (EPIPE); bounded in case one stays.
        while extra < 4 << 30 && w.write_all(&zeros).is_ok() {
            extra += zeros.len() as u64;
        }
        extra
    });
    (fifo, held, writer)
}

#[test]
fn a_fifo_is_read_up_to_the_declared_size_of_its_dump() {
    for (flag, rel) in [
        ("--tcpstats-dev", "tests/freebsd/tcpstats/normal.bin"),
        ("--pcblist", "tests/freebsd/fixtures/pcblist.bin"),
    ] {
        let dump = fixture(rel);
        let (from_file, _) = replay(&[flag, dump.to_str().unwrap()]);
        assert!(
            from_file.status.success(),
            "{}",
            String::from_utf8_lossy(&from_file.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let (fifo, held, writer) = endless_fifo(dir.path(), &dump);
        let (from_fifo, took) = replay(&[flag, fifo.to_str().unwrap()]);
        drop(held);
        let extra = writer.join().unwrap();
        assert!(
            from_fifo.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&from_fifo.stderr)
        );
        assert!(extra < 4 << 30, "{flag}: replay never stopped reading");
        assert!(took < Duration::from_secs(30), "{flag} took {took:?}");
        let lines = |o: &Output| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("\"type\":\"socket\""))
                .map(|l| {
                    // The sample time differs between runs.
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    (v["local"].clone(), v["remote"].clone(), v["state"].clone())
                })
                .collect::<Vec<_>>()
        };
        assert!(!lines(&from_file).is_empty());
        assert_eq!(lines(&from_fifo), lines(&from_file), "{flag}");
    }
}
