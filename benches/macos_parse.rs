//! macOS pcblist_n parsing speed and allocations.
//!
//! `cargo bench --bench macos_parse`: a 100,000-connection
//! `net.inet.tcp.pcblist_n` (about 62 MB, the compiled fixture's
//! connections replicated with distinct `inp_gencnt` and ports) parsed into
//! records, against a plain memcpy of the same buffer in the same run.
//! Target: parse ≤ 4× memcpy, and no allocation per record beyond the
//! output vector (counted by a global allocator). Exits 1 when a target is
//! missed.
//!
//! Under `cargo test` (no `--bench`) it runs a small smoke version that
//! checks the allocation count and the output, without the timing target.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpulse::platform::macos::layout::*;
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

/// A pcblist_n of `n` connections: the fixture's five in turn, each with
/// its own generation count and local port.
fn big_pcblist_n(n: usize) -> Vec<u8> {
    let p = format!(
        "{}/tests/macos/fixtures/pcblist_n.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let f = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let conns = (f.len() - 2 * XINPGEN_SIZE) / ITEM_SET_SIZE;
    let mut b = Vec::with_capacity(2 * XINPGEN_SIZE + n * ITEM_SET_SIZE);
    b.extend_from_slice(&f[..XINPGEN_SIZE]);
    b[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&(n as u32).to_le_bytes());
    for i in 0..n {
        let at = b.len();
        let src = XINPGEN_SIZE + (i % conns) * ITEM_SET_SIZE;
        b.extend_from_slice(&f[src..src + ITEM_SET_SIZE]);
        let gen_at = at + XI_GENCNT.offset;
        b[gen_at..gen_at + 8].copy_from_slice(&(1_000_000 + i as u64).to_le_bytes());
        let port_at = at + XI_LPORT.offset;
        b[port_at..port_at + 2].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    }
    let tail = f.len() - XINPGEN_SIZE;
    b.extend_from_slice(&f[tail..]);
    b
}

fn parse(b: &[u8], out: &mut Vec<SocketRecord>) -> usize {
    pcblist_n::parse(b, "bench", 1, out)
        .expect("bench pcblist_n parses")
        .records
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (n, runs) = if bench { (100_000, 15) } else { (2_000, 3) };
    let buf = big_pcblist_n(n);
    let mut out: Vec<SocketRecord> = Vec::new();
    let mut dst = vec![0u8; buf.len()];
    // Warm up: fault in the output vector and the copy destination.
    for _ in 0..2 {
        out.clear();
        assert_eq!(parse(&buf, &mut out), n);
    }
    let mut copy_t = Vec::with_capacity(runs);
    let mut parse_t = Vec::with_capacity(runs);
    let mut allocs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        dst.copy_from_slice(black_box(&buf));
        black_box(&mut dst);
        copy_t.push(t.elapsed());

        out.clear();
        let a = ALLOCS.load(Ordering::Relaxed);
        let t = Instant::now();
        let got = parse(black_box(&buf), &mut out);
        let took = t.elapsed();
        allocs.push(ALLOCS.load(Ordering::Relaxed) - a);
        parse_t.push(took);
        assert_eq!(got, n);
        black_box(&out);
    }
    let a = ALLOCS.load(Ordering::Relaxed);
    let mut fresh = Vec::new();
    parse(&buf, &mut fresh);
    let fresh_allocs = ALLOCS.load(Ordering::Relaxed) - a;
    assert_eq!(fresh.len(), n);
    assert_eq!(fresh[n - 1].sock_id, Some(1_000_000 + n as u64 - 1));
    drop(fresh);

    let (c, p) = (median(copy_t), median(parse_t));
    let ratio = p.as_secs_f64() / c.as_secs_f64();
    let max_allocs = *allocs.iter().max().unwrap_or(&0);
    println!(
        "net.inet.tcp.pcblist_n: {n} connections, {:.1} MB, {runs} runs: memcpy median {:.2} \
         ms, parse median {:.2} ms, ratio {ratio:.2}x (target <= 4x); allocations per parse: \
         {max_allocs} into a reused vector, {fresh_allocs} into a fresh one",
        buf.len() as f64 / 1e6,
        c.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
    );
    let mut failed = false;
    if max_allocs != 0 || fresh_allocs > 2 {
        eprintln!("macos_parse: FAIL: the parser allocates per record");
        failed = true;
    }
    if bench && ratio > 4.0 {
        eprintln!("macos_parse: FAIL: parse takes {ratio:.2}x a memcpy (target 4x)");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
}
