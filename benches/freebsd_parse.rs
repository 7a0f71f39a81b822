//! FreeBSD parsing speed and allocations.
//!
//! `cargo bench --bench freebsd_parse`: a 100,000-record
//! `net.inet.tcp.pcblist` (about 74 MB, the compiled fixture's records
//! replicated with distinct `inp_gencnt` and ports) parsed into records,
//! against a plain memcpy of the same buffer in the same run. Target: parse
//! ≤ 4× memcpy, and no allocation per record beyond the output vector
//! (counted by a global allocator). Exits 1 when a target is missed.
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

use netpulse::platform::freebsd::layout::*;
use netpulse::platform::freebsd::pcblist;
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

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/freebsd/fixtures/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A pcblist of `n` records: the fixture's six records in turn, each with
/// its own generation count and local port so every record is distinct.
fn big_pcblist(n: usize) -> Vec<u8> {
    let f = fixture("pcblist");
    let recs = (f.len() - 2 * XINPGEN_SIZE) / XTCPCB_SIZE;
    let mut b = Vec::with_capacity(2 * XINPGEN_SIZE + n * XTCPCB_SIZE);
    b.extend_from_slice(&f[..XINPGEN_SIZE]);
    b[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&(n as u32).to_le_bytes());
    for i in 0..n {
        let at = b.len();
        let src = XINPGEN_SIZE + (i % recs) * XTCPCB_SIZE;
        b.extend_from_slice(&f[src..src + XTCPCB_SIZE]);
        let gen_at = at + XT_INP_GENCNT.offset;
        b[gen_at..gen_at + 8].copy_from_slice(&(1_000_000 + i as u64).to_le_bytes());
        let port_at = at + XT_LPORT.offset;
        b[port_at..port_at + 2].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    }
    let tail = f.len() - XINPGEN_SIZE;
    let mut t = f[tail..].to_vec();
    t[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&(n as u32).to_le_bytes());
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
    vec![Case {
        name: "net.inet.tcp.pcblist",
        buf: big_pcblist(n),
        records: n,
        parse: |b, out| {
            pcblist::parse(b, "bench", 1, out)
                .expect("bench pcblist parses")
                .records
        },
    }]
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
        assert_eq!(fresh[n - 1].sock_id, Some(1_000_000 + n as u64 - 1));
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
