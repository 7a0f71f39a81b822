//! Shared by the endpoint tests: TEST DATA batches (synthetic records the
//! tests publish into a real endpoint) and a tiny raw HTTP/1.1 client that
//! can also misbehave on purpose.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use netpulse::record::{
    Batch, SocketRecord, SystemRecord, TcpCounters, TcpState, Tier, count_states,
};

/// The loopback block assigned to the endpoint tests.
pub const TEST_IP: &str = "127.0.3.1";

/// A test-data fast-tier socket, with every field the dashboard shows.
pub fn test_socket(ts: u64, i: u32) -> SocketRecord {
    let state = match i % 10 {
        0 => TcpState::Listen,
        1 => TcpState::TimeWait,
        2 => TcpState::CloseWait,
        _ => TcpState::Established,
    };
    let mut r = SocketRecord::new(
        ts,
        format!("127.0.3.1:{}", 20000 + i % 40000).parse().unwrap(),
        format!(
            "127.0.3.{}:{}",
            2 + i % 200,
            if i.is_multiple_of(3) { 443 } else { 5432 }
        )
        .parse()
        .unwrap(),
        state,
    );
    r.set().tier(Some(Tier::Fast));
    r.set().sock_id(Some(1_000_000 + u64::from(i)));
    r.set().uid(Some(1000));
    r.set().cwnd(Some(14_480 + u64::from(i % 97) * 1448));
    r.set().ssthresh(Some(0x7fff_ffff));
    r.set().mss(Some(1448));
    r.set().rcv_wnd(Some(65_535));
    r.set().snd_wnd(Some(131_072));
    r.set().cc(Some(netpulse::record::ShortName::new("cubic")));
    r.set().rtt_us(Some(50 + (i * 7919) % 180_000));
    r.set().rttvar_us(Some(25 + (i * 31) % 5_000));
    r.set().rtt_min_us(Some(40 + i % 100));
    r.set().rto_us(Some(204_000));
    r.set().rexmit(Some(u64::from(i % 13)));
    r.set()
        .rexmit_delta(Some(u64::from(i.is_multiple_of(29)) * u64::from(i % 5)));
    r.set().bytes_acked(Some(u64::from(i) * 1000));
    r.set().age_ms(Some(u64::from(i) * 10));
    r.set().pid(Some(4000 + i % 50));
    r.set().command(Some(Arc::from(format!("svc-{}", i % 50))));
    r
}

/// A test-data fast-tier batch of `n` sockets plus a system record with
/// counters and agent health.
pub fn test_batch(seq: u64, n: u32) -> Batch {
    let ts = 1_764_130_000_000_000_000 + seq * 1_000_000_000;
    let sockets: Vec<SocketRecord> = (0..n).map(|i| test_socket(ts, i)).collect();
    let mut counters = TcpCounters::default();
    counters.set("sndtotal", 1_000_000 + seq * 1000);
    counters.set("sndrexmitpack", 1_200 + seq);
    counters.set("rcvtotal", 900_000);
    counters.set("connattempt", 5_000);
    let mut system = SystemRecord {
        ts,
        tier: Some(Tier::Fast),
        interval_ms: 1000,
        total_sockets: sockets.len() as u64,
        state_counts: count_states(sockets.iter().map(|s| s.state)),
        counters,
        poll_us: Some(12_345),
        skipped_ticks: Some(2),
        dropped: Some(0),
        write_errors: Some(1),
        parse_errors: Some(0),
        ..SystemRecord::default()
    };
    let mut earlier = counters;
    earlier.set("sndtotal", 999_000 + seq * 1000);
    earlier.set("sndrexmitpack", 1_190 + seq);
    system.set_deltas_since(&earlier);
    Batch {
        closes: Vec::new(),
        tier: Some(Tier::Fast),
        ts,
        seq,
        interval_ms: 1000,
        system: Some(system),
        sockets,
    }
}

/// Hand-placed test-data sockets the dashboard test looks for: the worst
/// retransmitter and the highest RTT of the batch.
pub fn known_sockets(ts: u64) -> Vec<SocketRecord> {
    let mut a = test_socket(ts, 3);
    a.local = "127.0.3.1:61001".parse().unwrap();
    a.remote = "127.0.3.250:8443".parse().unwrap();
    a.set().rexmit(Some(977));
    a.set().rexmit_delta(Some(411));
    a.set().rtt_us(Some(48_250));
    a.set().cwnd(Some(5_792));
    a.set().command(Some(Arc::from("payments-api")));
    a.set().pid(Some(31337));
    let mut b = test_socket(ts, 4);
    b.local = "127.0.3.1:61002".parse().unwrap();
    b.remote = "[fd00::7]:5432".parse().unwrap();
    b.set().rtt_us(Some(1_730_125));
    b.set().rttvar_us(Some(220_500));
    b.set().rtt_min_us(Some(980_000));
    b.set().rexmit(Some(3));
    b.set().rexmit_delta(Some(0));
    b.set().command(Some(Arc::from("pg \"replica\" <sync>")));
    b.set().pid(Some(2718));
    vec![a, b]
}

/// `test_batch` with the `known_sockets` added and the system record
/// recounted, so that every total agrees.
pub fn test_batch_with_known(seq: u64, n: u32) -> Batch {
    let mut b = test_batch(seq, n);
    b.sockets.extend(known_sockets(b.ts));
    if let Some(sys) = b.system.as_mut() {
        sys.total_sockets = b.sockets.len() as u64;
        sys.state_counts = count_states(b.sockets.iter().map(|s| s.state));
    }
    b
}

/// A raw HTTP response.
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send `raw` bytes, read until the server closes (or `timeout`), parse.
pub fn http_raw(addr: SocketAddr, raw: &[u8], timeout: Duration) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(raw)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse(&buf)
}

pub fn http_get(addr: SocketAddr, path: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    http_raw(addr, req.as_bytes(), Duration::from_secs(20)).expect("GET")
}

pub fn parse(buf: &[u8]) -> std::io::Result<Resp> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no response head in {} bytes", buf.len())))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok(Resp {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    })
}

/// The value of one sample line (`name{labels} value`) in a /metrics body.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len() + 1..].trim().parse().ok())
}

/// A multi-threaded runtime for a real endpoint; the test thread stays
/// free to be a blocking client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
