//! /dev/tcpstats reader speed: parsing a 100,000-record stream into
//! `SocketRecord`s, against a memcpy of the same bytes measured in the same
//! run. Target: parse ≤ 4× memcpy.
//!
//!     cargo bench --bench tcpstats_parse
//!
//! The stream is built from the fixture compiled from the module's ABI
//! header (tests/freebsd/tcpstats/normal.bin): its four records (IPv4 and
//! IPv6, established, listening, TIME_WAIT) repeated with distinct ids.

use std::hint::black_box;
use std::time::{Duration, Instant};

use netpulse::platform::freebsd::tcpstats_dev::{self, abi};
use netpulse::record::SocketRecord;

const RECORDS: usize = 100_000;
const RUNS: usize = 21;
const TARGET_RATIO: f64 = 4.0;

fn stream() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/freebsd/tcpstats/normal.bin"
    );
    let fixture = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, body) = fixture.split_at(abi::HEADER_SIZE);
    let mut out = Vec::with_capacity(abi::HEADER_SIZE + RECORDS * abi::RECORD_SIZE);
    out.extend_from_slice(head);
    let count = abi::TH_RECORD_COUNT;
    out[count.off..count.off + 4].copy_from_slice(&(RECORDS as u32).to_le_bytes());
    let total = abi::TH_RECORDS_TOTAL;
    out[total.off..total.off + 4].copy_from_slice(&(RECORDS as u32).to_le_bytes());
    for i in 0..RECORDS {
        let j = i % 4;
        let start = out.len();
        out.extend_from_slice(&body[j * abi::RECORD_SIZE..(j + 1) * abi::RECORD_SIZE]);
        let id = abi::TR_GENCNT;
        out[start + id.off..start + id.off + 8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let buf = stream();
    let mut copy = vec![0u8; buf.len()];
    let mut out: Vec<SocketRecord> = Vec::with_capacity(RECORDS);

    // Warm up both paths (page faults, caches) before timing.
    for _ in 0..3 {
        copy.copy_from_slice(black_box(&buf));
        out.clear();
        tcpstats_dev::parse(black_box(&buf), 1, &mut out).expect("bench stream parses");
    }
    assert_eq!(out.len(), RECORDS);

    let mut memcpy_t = Vec::with_capacity(RUNS);
    let mut parse_t = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        copy.copy_from_slice(black_box(&buf));
        black_box(&mut copy);
        memcpy_t.push(t.elapsed());

        out.clear();
        let t = Instant::now();
        let s = tcpstats_dev::parse(black_box(&buf), 1, &mut out).expect("bench stream parses");
        black_box(&mut out);
        parse_t.push(t.elapsed());
        assert_eq!(s.records, RECORDS);
    }
    let m = median(memcpy_t);
    let p = median(parse_t);
    let ratio = p.as_secs_f64() / m.as_secs_f64();
    println!(
        "tcpstats_parse: {RECORDS} records, {} bytes, median of {RUNS} runs",
        buf.len()
    );
    println!("  memcpy          {:>10.3} ms", m.as_secs_f64() * 1e3);
    println!(
        "  parse           {:>10.3} ms  ({:.0} ns/record)",
        p.as_secs_f64() * 1e3,
        p.as_nanos() as f64 / RECORDS as f64
    );
    println!("  ratio           {ratio:>10.2}x  (target <= {TARGET_RATIO}x)");
    if ratio > TARGET_RATIO {
        println!("  FAIL: parsing is slower than {TARGET_RATIO}x memcpy");
        std::process::exit(1);
    }
    println!("  PASS");
}
