//! A real Prometheus (Debian `prometheus`) scrapes the real agent over
//! loopback, and the queries the manual page documents are run against it.
//! Everything happens in a network namespace of its own, made by the test
//! thread (root only), so the agent sees exactly the connections this test
//! opens and no other test's, and an nftables rule there drops segments of
//! one connection so that its retransmits can be compared with the
//! namespace's own counter over a minute.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::daemon::{Agent, KillOnDrop};
use crate::support::wait;
use netpulse_testkit::endpoint::{http_get, http_raw};
use serde_json::Value;

const CONNECTIONS: usize = 6;
/// RTT bucket bounds of `/metrics`, microseconds (as the agent uses them).
const RTT_BOUNDS_US: &[u64] = &[
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// The median RTT query exactly as `netpulse(8)` prints it: the literal
/// display that holds `histogram_quantile`, its lines joined.
fn documented_median_query() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/netpulse.8");
    let page = std::fs::read_to_string(&path).expect("man/netpulse.8");
    let mut lines = page
        .lines()
        .skip_while(|l| !l.starts_with("histogram_quantile("));
    let mut q = String::new();
    for l in lines.by_ref().take_while(|l| !l.starts_with(".Ed")) {
        q.push_str(l.trim());
        q.push(' ');
    }
    assert!(
        q.contains("netpulse_sockets_with_rtt_at_most"),
        "no median query in man/netpulse.8: {q:?}"
    );
    q.trim().to_string()
}

#[test]
fn the_documented_median_query_is_read_from_the_manual_page() {
    assert_eq!(
        documented_median_query(),
        "histogram_quantile(0.5, sum by (le) (label_replace( netpulse_sockets_with_rtt_at_most, \"le\", \"$1\", \"seconds\", \"(.*)\")))"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One PromQL instant query: the `result` vector, or `None` while
/// Prometheus is not answering yet. A query Prometheus rejects fails.
fn query(prom: SocketAddr, q: &str) -> Option<Vec<Value>> {
    // HTTP/1.0: Prometheus then answers without chunked encoding.
    let req = format!(
        "GET /api/v1/query?query={} HTTP/1.0\r\nHost: t\r\n\r\n",
        url_encode(q)
    );
    let r = http_raw(prom, req.as_bytes(), Duration::from_secs(20)).ok()?;
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    assert_eq!(v["status"], "success", "query {q}: {v}");
    Some(v["data"]["result"].as_array()?.clone())
}

fn scalar(result: &[Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// A connection carrying a steady stream of data, 3 % of whose segments
/// towards the server an nftables rule drops on arrival, so the sender
/// retransmits. (A drop on the way out would not do: the sender's stack
/// sees the local failure and sends the segment again as new data.)
/// Stops (and lets its threads end) when dropped.
struct LossyStream {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LossyStream {
    /// Must run in the test's own network namespace.
    fn start() -> LossyStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules = format!(
            "add table inet netpulse_test\n\
             add chain inet netpulse_test in {{ type filter hook input priority 0; }}\n\
             add rule inet netpulse_test in tcp dport {port} numgen random mod 100 < 3 drop\n"
        );
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect(
                "nft not found: install the Debian package `nftables` (.ci/setup.d/60-endpoint.sh)",
            );
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rejected {rules}");

        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let chunk = [0x5a_u8; 16 * 1024];
                // About 3 MB/s: enough segments for a few hundred
                // retransmits a minute, little CPU on a shared machine.
                while !stop.load(Ordering::Relaxed) {
                    if client.write_all(&chunk).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while matches!(server.read(&mut buf), Ok(n) if n > 0) {}
        });
        LossyStream {
            stop,
            threads: vec![writer, reader],
        }
    }
}

impl Drop for LossyStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The writer's end closes when it returns; the reader then sees EOF.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_real_prometheus_scrapes_the_agent_and_the_documented_queries_answer() {
    // A thread of our own enters the new namespace; processes it starts
    // are in it too.
    std::thread::spawn(in_own_network_namespace)
        .join()
        .expect("the test thread panicked");
}

fn in_own_network_namespace() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("a network namespace of our own (the test runs as root)");
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip (iproute2)");
    assert!(up.success());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let clients: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(listener.local_addr().unwrap()).unwrap())
        .collect();
    let servers: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| listener.accept().unwrap().0)
        .collect();
    let lossy = LossyStream::start();

    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let agent_addr: SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    let _agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[tiers.fast]
interval = "1s"
[tiers.standard]
interval = "1s"
[tiers.aggregate]
enabled = false
[[output]]
format = "json"
dir = "{dir}"
[endpoint]
http_listen = "127.0.0.1:{http}"
"#,
            dir = dir.path().display()
        ),
    );

    let prom_port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: netpulse\n    static_configs:\n      - targets: ['127.0.0.1:{http}']\n"
        ),
    )
    .unwrap();
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .expect("prometheus not found: install the Debian package `prometheus` (.ci/setup.d/60-endpoint.sh)"),
    );

    // A minute of scrapes, for the one-minute windows below.
    wait::for_value(
        "a minute of successful scrapes",
        Duration::from_secs(180),
        || {
            let r = query(
                prom_addr,
                "count_over_time(netpulse_tcp_segments_retransmitted_total[1m])",
            )?;
            let up = query(prom_addr, "up{job=\"netpulse\"}")?;
            (scalar(&r)? >= 55.0 && scalar(&up)? == 1.0).then_some(())
        },
    );

    // Under loss, the sockets' retransmit counter agrees with the host's
    // (here: this namespace's) within 10 %.
    let host_q = "increase(netpulse_tcp_segments_retransmitted_total[1m])";
    let sockets_q = "increase(netpulse_sockets_retransmits_total[1m])";
    let host = scalar(&query(prom_addr, host_q).unwrap()).expect(host_q);
    let sockets = scalar(&query(prom_addr, sockets_q).unwrap()).expect(sockets_q);
    eprintln!("retransmits over a minute: host {host}, sockets {sockets}");
    assert!(host >= 50.0, "too few retransmits to compare: {host}");
    assert!(
        (sockets - host).abs() <= 0.1 * host,
        "{sockets_q} = {sockets}, {host_q} = {host}"
    );
    drop(lossy);

    let info = query(prom_addr, "netpulse_build_info").unwrap();
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["metric"]["source"], "linux", "{info:?}");
    assert_eq!(info[0]["metric"]["platform"], "linux", "{info:?}");
    for q in [
        "process_resident_memory_bytes",
        "rate(process_cpu_seconds_total[1m])",
        "process_open_fds",
    ] {
        let r = query(prom_addr, q).unwrap();
        assert!(scalar(&r).is_some_and(|v| v >= 0.0), "{q}: {r:?}");
    }
    // This namespace's own segment counter rises with our traffic.
    let sent = query(prom_addr, "netpulse_tcp_segments_sent_total").unwrap();
    assert!(scalar(&sent).is_some_and(|v| v > 0.0), "{sent:?}");

    // The documented median query against the median of the sockets the
    // agent reports at the same time: the same bucket.
    let median_q = documented_median_query();
    let snap: Value =
        serde_json::from_slice(&http_get(agent_addr, "/api/snapshot?sockets=all").body).unwrap();
    // Connected sockets, as the agent counts them: ours, and the scrape
    // connection.
    let mut rtts: Vec<u64> = snap["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !matches!(s["state"].as_str(), Some("LISTEN" | "TIME_WAIT" | "CLOSED")))
        .filter_map(|s| s["rtt_us"].as_u64())
        .collect();
    assert!(
        rtts.len() >= 2 * CONNECTIONS,
        "{} connected sockets",
        rtts.len()
    );
    rtts.sort_unstable();
    // The lower and upper median may lie in neighbouring buckets.
    let bucket = |us: u64| RTT_BOUNDS_US.partition_point(|&b| b < us);
    let (b_lo, b_hi) = (
        bucket(rtts[(rtts.len() - 1) / 2]),
        bucket(rtts[rtts.len() / 2]),
    );
    let median_us = rtts[rtts.len() / 2];
    let lo = if b_lo == 0 {
        0.0
    } else {
        RTT_BOUNDS_US[b_lo - 1] as f64 / 1e6
    };
    let hi = RTT_BOUNDS_US[b_hi.min(RTT_BOUNDS_US.len() - 1)] as f64 / 1e6;
    let got = scalar(&query(prom_addr, &median_q).unwrap()).expect("a median");
    assert!(
        (lo..=hi).contains(&got),
        "median RTT from Prometheus {got} s, sockets' median {median_us} us (bucket {lo}..{hi} s)"
    );
    drop((clients, servers));
}
