//! FreeBSD and macOS pcblist parsing speed and allocations.
//!
//! `cargo bench --bench pcblist_parse`: a 100,000-record FreeBSD
//! `net.inet.tcp.pcblist` (about 74 MB) and a 100,000-connection macOS
//! `net.inet.tcp.pcblist_n` (about 62 MB), each the compiled fixture's
//! records replicated with distinct `inp_gencnt` and ports, parsed into
//! records, against a plain memcpy of the same buffer in the same run.
//! Target: parse ≤ 4× memcpy, and no allocation per record beyond the
//! output vector (counted by a global allocator). Exits 1 when a target is
//! missed.
//!
//! Under `cargo test` (no `--bench`) it runs a small smoke version that
//! checks the allocation count and the output, without timing targets.
//!
//! To add a case (e.g. the /dev/tcpstats stream), build its buffer and add
//! a `Case` to `cases()`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpulse::platform::freebsd::layout::{self as freebsd, Field};
use netpulse::platform::freebsd::pcblist;
use netpulse::platform::macos::layout as macos;
use netpulse::platform::macos::pcblist_n::{self, ITEM_SET_SIZE};
use netpulse::record::SocketRecord;

/// The system allocator, counting allocations (test instrumentation).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn fixture(path: &str) -> Vec<u8> {
    let p = format!("{}/tests/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// One platform's pcblist: header (and trailer) size and count field,
/// record size, and where a record's generation count and local port lie.
struct Shape {
    header: usize,
    count: Field,
    record: usize,
    gencnt: usize,
    lport: usize,
}

/// A pcblist of `n` records built from a fixture (header, records,
/// trailer): its records in turn, each with its own generation count and
/// local port so every record is distinct; the header's and trailer's
/// counts say `n`.
fn replicate(f: &[u8], shape: Shape, n: usize) -> Vec<u8> {
    let (head, count) = (shape.header, shape.count);
    let recs = (f.len() - 2 * head) / shape.record;
    let mut b = Vec::with_capacity(2 * head + n * shape.record);
    b.extend_from_slice(&f[..head]);
    b[count.offset..count.end()].copy_from_slice(&(n as u32).to_le_bytes());
    for i in 0..n {
        let at = b.len();
        let src = head + (i % recs) * shape.record;
        b.extend_from_slice(&f[src..src + shape.record]);
        let gen_at = at + shape.gencnt;
        b[gen_at..gen_at + 8].copy_from_slice(&(1_000_000 + i as u64).to_le_bytes());
        let port_at = at + shape.lport;
        b[port_at..port_at + 2].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    }
    let mut t = f[f.len() - head..].to_vec();
    t[count.offset..count.end()].copy_from_slice(&(n as u32).to_le_bytes());
    b.extend_from_slice(&t);
    b
}

struct Case {
    name: &'static str,
    buf: Vec<u8>,
    records: usize,
    /// Parse `buf` into `out` (cleared by the caller), returning the count.
    parse: fn(&[u8], &mut Vec<SocketRecord>) -> usize,
}

fn cases(n: usize) -> Vec<Case> {
    let freebsd_shape = Shape {
        header: freebsd::XINPGEN_SIZE,
        count: freebsd::XIG_COUNT,
        record: freebsd::XTCPCB_SIZE,
        gencnt: freebsd::XT_INP_GENCNT.offset,
        lport: freebsd::XT_LPORT.offset,
    };
    let macos_shape = Shape {
        header: macos::XINPGEN_SIZE,
        count: macos::XIG_COUNT,
        record: ITEM_SET_SIZE,
        gencnt: macos::XI_GENCNT.offset,
        lport: macos::XI_LPORT.offset,
    };
    vec![
        Case {
            name: "FreeBSD net.inet.tcp.pcblist",
            buf: replicate(&fixture("freebsd/fixtures/pcblist.bin"), freebsd_shape, n),
            records: n,
            parse: |b, out| {
                pcblist::parse(b, "bench", 1, out)
                    .expect("bench pcblist parses")
                    .records
            },
        },
        Case {
            name: "macOS net.inet.tcp.pcblist_n",
            buf: replicate(&fixture("macos/fixtures/pcblist_n.bin"), macos_shape, n),
            records: n,
            parse: |b, out| {
                pcblist_n::parse(b, "bench", 1, out)
                    .expect("bench pcblist_n parses")
                    .records
            },
        },
    ]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (n, runs) = if bench { (100_000, 15) } else { (2_000, 3) };
    let mut failed = false;
    for case in cases(n) {
        let mut out: Vec<SocketRecord> = Vec::new();
        // Warm up: fault in the output vector and the copy destination, and
        // let one-time lazy initialisation (tracing callsites) happen.
        let mut dst = vec![0u8; case.buf.len()];
        for _ in 0..2 {
            out.clear();
            assert_eq!((case.parse)(&case.buf, &mut out), case.records);
        }
        let mut copy_t = Vec::with_capacity(runs);
        let mut parse_t = Vec::with_capacity(runs);
        let mut allocs = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            dst.copy_from_slice(black_box(&case.buf));
            black_box(&mut dst);
            copy_t.push(t.elapsed());

            out.clear();
            let a = ALLOCS.load(Ordering::Relaxed);
            let t = Instant::now();
            let got = (case.parse)(black_box(&case.buf), &mut out);
            let took = t.elapsed();
            // Read the counter before the bookkeeping pushes below.
            allocs.push(ALLOCS.load(Ordering::Relaxed) - a);
            parse_t.push(took);
            assert_eq!(got, case.records);
            black_box(&out);
        }
        // A fresh output vector: the only allocations are its growth.
        let a = ALLOCS.load(Ordering::Relaxed);
        let mut fresh = Vec::new();
        (case.parse)(&case.buf, &mut fresh);
        let fresh_allocs = ALLOCS.load(Ordering::Relaxed) - a;
        assert_eq!(fresh.len(), case.records);
        assert_eq!(fresh[n - 1].sock_id(), Some(1_000_000 + n as u64 - 1));
        drop(fresh);

        let (c, p) = (median(copy_t), median(parse_t));
        let ratio = p.as_secs_f64() / c.as_secs_f64();
        let max_allocs = *allocs.iter().max().unwrap_or(&0);
        println!(
            "{}: {} records, {:.1} MB, {runs} runs: memcpy median {:.2} ms, parse median \
             {:.2} ms, ratio {:.2}x (target <= 4x); allocations per parse: {} into a reused \
             vector, {} into a fresh one; record size {} bytes",
            case.name,
            case.records,
            case.buf.len() as f64 / 1e6,
            c.as_secs_f64() * 1e3,
            p.as_secs_f64() * 1e3,
            ratio,
            max_allocs,
            fresh_allocs,
            std::mem::size_of::<SocketRecord>(),
        );
        if max_allocs != 0 || fresh_allocs > 2 {
            eprintln!("{}: FAIL: the parser allocates per record", case.name);
            failed = true;
        }
        if bench && ratio > 4.0 {
            eprintln!(
                "{}: FAIL: parse takes {ratio:.2}x a memcpy (target 4x)",
                case.name
            );
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
