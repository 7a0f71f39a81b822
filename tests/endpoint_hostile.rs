//! Hostile HTTP clients against a real endpoint while TEST DATA batches
//! keep being published: oversized and malformed requests, a connection
//! flood, slowloris. Its own test binary so that the memory it measures is
//! its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse_testkit::endpoint::*;

/// Pause between two published batches.
const PUBLISH_EVERY: Duration = Duration::from_millis(20);

/// Keeps publishing test batches, like the pipeline would, and records
/// whether any publish call took long (it must never block). Returns the
/// batches published, the slowest call and how long it ran.
fn publisher(
    hub: netpulse::endpoint::Hub,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, Duration, Duration)> {
    std::thread::spawn(move || {
        let mut n = 0u64;
        let mut worst = Duration::ZERO;
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let b = Arc::new(test_batch(n, 200));
            let t = Instant::now();
            hub.publish(b);
            worst = worst.max(t.elapsed());
            n += 1;
            std::thread::sleep(PUBLISH_EVERY);
        }
        (n, worst, started.elapsed())
    })
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn hostile_clients_are_bounded_and_the_agent_keeps_publishing() {
    let rt = runtime();
    let _g = rt.enter();
    let cfg = EndpointConfig {
        http_max_connections: 16,
        http_header_timeout: "1s".into(),
        http_connection_timeout: "4s".into(),
        http_max_request_bytes: 8192,
        http_listen: format!("{TEST_IP}:0"),
        ..EndpointConfig::default()
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let addr = ep.http_addr().unwrap();
    let hub = ep.hub();
    let stop = Arc::new(AtomicBool::new(false));
    let pub_thread = publisher(hub.clone(), stop.clone());
    let rss_before = rss_kib();

    // Oversized head: 431, connection closed, nothing buffered beyond the limit.
    let mut big = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Junk: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let r = http_raw(addr, &big, Duration::from_secs(10));
    match r {
        Ok(r) => assert_eq!(r.status, 431, "{}", r.head),
        // The server may close before reading all we sent (reset): also a refusal.
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        ),
    }
    // Malformed request line: 400.
    let r = http_raw(
        addr,
        b"\x16\x03\x01garbage\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);

    // Slowloris: a head dribbled one byte every 300 ms is cut off at the
    // header timeout (1 s), long before it completes.
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        for b in b"GET /metrics HTTP/1.1\r\nHost: slowloris.example\r\nX-A: b\r\n\r\n" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            if started.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (started.elapsed(), buf)
    });

    // A flood of idle connections: at most 16 are served, the rest get a 503.
    let mut idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let t0 = Instant::now();
    while hub.stats().http_connections_refused < 24 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the flood was not refused: {:?}",
            hub.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A refused connection has its 503 or gets it shortly; a served one is
    // closed by the header timeout (1 s) without one. Either way the read
    // ends well within its limit, which only bounds a broken server.
    let refused_503 = idle
        .iter_mut()
        .filter(|s: &&mut TcpStream| {
            let s: &TcpStream = s;
            let mut s = s;
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut b = [0u8; 64];
            matches!(s.read(&mut b), Ok(n) if n > 0 && b[..n].starts_with(b"HTTP/1.1 503"))
        })
        .count();
    assert!(
        refused_503 >= 40 - 16,
        "only {refused_503} of 40 idle connections refused"
    );
    let stats = hub.stats();
    assert!(stats.http_connections <= 16, "{stats:?}");
    assert!(stats.http_connections_refused >= 24, "{stats:?}");

    // The idle ones were closed by the header timeout (the reads above
    // ended); service resumes.
    drop(idle);
    let (slow_took, slow_reply) = slow.join().unwrap();
    assert!(
        slow_took < Duration::from_secs(6),
        "slowloris held its connection for {slow_took:?}"
    );
    assert!(
        !slow_reply.starts_with(b"HTTP/1.1 200"),
        "slowloris got served"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        if let Ok(r) = http_raw(
            addr,
            b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        ) {
            if r.status == 200 {
                break r;
            }
        }
        assert!(Instant::now() < deadline, "endpoint did not recover");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(metric(&ok.text(), "netpulse_endpoint_http_connection_errors_total").unwrap() >= 2.0);

    // Many oversized requests at once: memory stays bounded.
    let floods: Vec<_> = (0..12)
        .map(|_| {
            let big = big.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let _ = http_raw(addr, &big, Duration::from_secs(5));
                }
            })
        })
        .collect();
    for f in floods {
        f.join().unwrap();
    }
    let grew_mib = rss_kib().saturating_sub(rss_before) / 1024;
    println!("RSS growth under hostile clients: {grew_mib} MiB");
    assert!(
        grew_mib < 48,
        "RSS grew by {grew_mib} MiB under hostile clients"
    );

    stop.store(true, Ordering::Relaxed);
    let (published, worst, ran) = pub_thread.join().unwrap();
    // At its pace the publisher makes ran / PUBLISH_EVERY batches; a quarter
    // of that leaves room for a busy machine and still shows it never stalled.
    let paced = ran.as_millis() / PUBLISH_EVERY.as_millis();
    assert!(
        published >= 20 && u128::from(published) * 4 >= paced,
        "publisher stalled: only {published} batches in {ran:?}"
    );
    assert!(
        worst < Duration::from_millis(500),
        "a publish call took {worst:?} while clients misbehaved"
    );
    assert_eq!(hub.stats().published, published);
    rt.block_on(ep.shutdown());
}
