//! Shared helpers for the tests/output_*.rs integration tests: batches with
//! recognisable records, and readers for the files a sink leaves behind.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;

use netpulse::output::sink::rotation;
use netpulse::record::{Batch, SocketRecord, SystemRecord, TcpState};

/// A batch of `n` socket records whose `sock_id`s run from `first_id`, plus
/// a system record with `ts = seq` when `system` is set. Commands contain
/// the characters CSV must quote.
pub fn batch(seq: u64, first_id: u64, n: usize, system: bool) -> Batch {
    let sockets = (0..n as u64)
        .map(|i| {
            let id = first_id + i;
            let mut r = SocketRecord::new(
                seq,
                format!("127.0.0.1:{}", 1000 + id % 50_000).parse().unwrap(),
                "[::1]:443".parse().unwrap(),
                TcpState::Established,
            );
            r.set().sock_id(Some(id));
            r.set().cwnd(Some(14_600 + id));
            r.set().rtt_us(Some(1234));
            r.set().command(Some(Arc::from(
                format!("worker, \"{id}\"\nline two").as_str(),
            )));
            r
        })
        .collect();
    Batch {
        closes: Vec::new(),
        tier: None,
        ts: seq,
        seq,
        interval_ms: 100,
        system: system.then(|| SystemRecord {
            ts: seq,
            interval_ms: 100,
            total_sockets: n as u64,
            ..SystemRecord::default()
        }),
        sockets,
    }
}

/// Rotated files of `active` oldest first, then the active file if present.
pub fn files_in_order(dir: &Path, active: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = rotation::list_rotated(dir, active)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let a = dir.join(active);
    if a.exists() {
        v.push(a);
    }
    v
}

/// Every JSON line of one file, each parsed on its own.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends with a partial line",
        path.display()
    );
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display()))
        })
        .collect()
}

/// The `sock_id`s of the socket lines, in order.
pub fn sock_ids(values: &[serde_json::Value]) -> Vec<u64> {
    values
        .iter()
        .filter(|v| v["type"] == "socket")
        .map(|v| v["sock_id"].as_u64().unwrap())
        .collect()
}

/// Rows of one CSV file, checking that it starts with exactly `header`.
pub fn csv_rows(path: &Path, header: &[u8]) -> Vec<csv::StringRecord> {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(header),
        "{} does not start with the header",
        path.display()
    );
    assert!(
        bytes.ends_with(b"\n"),
        "{} ends with a partial row",
        path.display()
    );
    let mut rd = csv::Reader::from_reader(&bytes[..]);
    let width = rd.headers().unwrap().len();
    rd.records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(r.len(), width);
            r
        })
        .collect()
}

/// Permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}
