//! What a large batch costs the `[[nats]]` output in memory, counted by a
//! test-double allocator that keeps the live and the peak byte count: the
//! spool appends a payload from where it is and reads one back into a
//! single buffer of its size, and the output does not keep a large
//! batch's buffers once it is spooled. (Its own binary: the allocator is
//! process-wide.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use netpulse::output::sink::Sink;
use netpulse::output::stream::StreamCounters;
use netpulse::output::stream::nats::NatsSink;
use netpulse::output::stream::spool::Spool;
use netpulse::record::{Batch, SocketRecord, TcpState, Tier};

/// The system allocator, counting live bytes and their peak (test
/// instrumentation).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, SeqCst) + n;
    PEAK.fetch_max(now, SeqCst);
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if n > l.size() {
            grew(n - l.size());
        } else {
            LIVE.fetch_sub(l.size() - n, SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated beyond the live count at the start, at most, while
/// `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(SeqCst);
    PEAK.store(base, SeqCst);
    let out = f();
    (out, PEAK.load(SeqCst).saturating_sub(base))
}

const MIB: usize = 1 << 20;

/// One test: the counters are process-wide, so nothing runs beside it.
#[test]
fn a_large_batch_is_held_once_and_let_go() {
    spool_append_and_read_hold_the_payload_once();
    the_output_keeps_no_large_buffer_after_a_large_batch();
}

fn spool_append_and_read_hold_the_payload_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(&dir.path().join("s.spool"), 1 << 30).unwrap();
    let payload: Vec<u8> = (0..8 * MIB).map(|i| (i % 251) as u8).collect();
    let (dropped, extra) = peak_during(|| spool.append("netpulse.h.fast", "h.fast.1.0", &payload));
    assert_eq!(dropped.unwrap(), 0);
    assert!(
        extra < MIB,
        "appending an 8 MiB payload allocated {extra} bytes besides it"
    );
    let (msg, extra) = peak_during(|| spool.read_after(None).unwrap().unwrap());
    assert!(msg.payload == payload, "the payload came back changed");
    assert!(
        extra < 8 * MIB + MIB,
        "reading an 8 MiB payload back allocated {extra} bytes"
    );
}

fn the_output_keeps_no_large_buffer_after_a_large_batch() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the batch stays in the spool.
    let text = format!(
        "[[output]]\ndir = \"-\"\n[[nats]]\nspool_dir = \"{}\"\nurl = \"nats://127.0.0.1:1\"\n",
        dir.path().display()
    );
    let cfg = netpulse::config::Config::parse(&text)
        .unwrap()
        .nats
        .remove(0);
    let mut sink = NatsSink::open(&cfg, Arc::new(StreamCounters::default())).unwrap();
    let ip = |n: u32| IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + n));
    let sockets: Vec<SocketRecord> = (0..200_000u32)
        .map(|n| {
            let mut s = SocketRecord::new(
                1,
                SocketAddr::new(ip(n), 40_000),
                SocketAddr::new(ip(n + 1), 443),
                TcpState::Established,
            );
            s.set().rtt_us(Some(n));
            s
        })
        .collect();
    let batch = Batch {
        tier: Some(Tier::Fast),
        ts: 1,
        seq: 0,
        interval_ms: 1000,
        system: None,
        sockets,
        closes: Vec::new(),
    };
    let before = LIVE.load(SeqCst);
    assert_eq!(sink.write_batch(&batch).written, 200_000);
    let spooled = std::fs::metadata(cfg.spool_file()).unwrap().len() as usize;
    assert!(spooled > 5 * MIB, "the batch is {spooled} bytes spooled");
    let kept = LIVE.load(SeqCst).saturating_sub(before);
    assert!(
        kept < MIB,
        "the output kept {kept} bytes after spooling a {spooled}-byte batch"
    );
}
