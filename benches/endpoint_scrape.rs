//! What serving the live endpoint costs the agent, side by side with the
//! endpoint off, at 40,000 sockets.
//!
//!     cargo bench --bench endpoint_scrape
//!     NETPULSE_BENCH_SOCKETS=40000 NETPULSE_BENCH_SECS=20 cargo bench --bench endpoint_scrape
//!
//! The agent's fast tier is stood in for by a loop that, once a second,
//! reads every TCP socket of this host with the real Linux source
//! (sock_diag), encodes the batch as JSON lines (what the JSON file sink
//! does) and publishes it to the endpoint. Before the runs, child processes
//! open N real loopback sockets on 127.0.3.0/24 (N/2 connections, 5,000 per
//! child for the fd limit), so the table has at least N rows.
//! `NETPULSE_BENCH_SOURCE=synthetic` uses a TEST DATA table of N records
//! instead (no kernel, no sockets). Three runs of the same length, in one
//! process, measure that process's CPU time (user + system, all threads):
//!   off      endpoint with HTTP off, no clients (the reference)
//!   scraped  HTTP on; 10 scrapers in a child process, each second, each
//!            GET /metrics and GET /api/snapshot (default: 1000 rows)
//!   full     as scraped, but /api/snapshot?sockets=all (every socket)
//! The scrapers' own CPU is in the child and not counted.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse::platform::{self, SourceKind};
use netpulse::record::{Batch, SystemRecord, Tier, count_states};
use netpulse_testkit::endpoint::*;

const SCRAPERS: usize = 10;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU of this process, all threads living and dead.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    let hz = 100; // USER_HZ is 100 on every Linux ABI we run
    Duration::from_millis(ticks * 1000 / hz)
}

fn scraper_child(addr: &str, snapshot_path: &str, secs: u64) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let snapshot_path = snapshot_path.to_string();
            std::thread::spawn(move || {
                let mut bytes = 0usize;
                while Instant::now() < end {
                    let round = Instant::now();
                    bytes += http_get(addr, "/metrics").body.len();
                    bytes += http_get(addr, &snapshot_path).body.len();
                    if let Some(rest) = Duration::from_secs(1).checked_sub(round.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
                bytes
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!("{total}");
}

/// Child mode: hold `count` loopback connections to a listener on `ip`
/// until stdin closes.
fn hold_sockets(ip: &str, count: usize) {
    let listener = std::net::TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = std::thread::spawn(move || {
        (0..count)
            .map(|_| listener.accept().unwrap().0)
            .collect::<Vec<_>>()
    });
    let clients: Vec<_> = (0..count)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let servers = acceptor.join().unwrap();
    println!("ready {}", clients.len() + servers.len());
    let _ = std::io::stdout().flush();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// Produces one fast-tier batch per call.
enum Producer {
    Linux(Box<dyn platform::Source>),
    Synthetic(Box<Batch>),
}

impl Producer {
    fn batch(&mut self, seq: u64) -> Batch {
        match self {
            Producer::Synthetic(t) => {
                let mut b = Batch::clone(t);
                b.seq = seq;
                b.ts += seq * 1_000_000_000;
                b
            }
            Producer::Linux(src) => {
                let started = Instant::now();
                let ts = netpulse::record::now_ns();
                let mut sockets = Vec::new();
                let _ = src.sockets(ts, &mut sockets);
                let system = SystemRecord {
                    ts,
                    tier: Some(Tier::Fast),
                    interval_ms: 1000,
                    total_sockets: sockets.len() as u64,
                    state_counts: count_states(sockets.iter().map(|s| s.state)),
                    poll_us: Some(started.elapsed().as_micros() as u64),
                    ..SystemRecord::default()
                };
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
        }
    }
}

struct Run {
    name: &'static str,
    cpu: Duration,
    secs: u64,
    publishes: u64,
    scraped_bytes: u64,
    /// Sockets per sample, averaged (the host's other sockets count too).
    sockets: u64,
}

fn run(name: &'static str, producer: &mut Producer, secs: u64, snapshot: Option<&str>) -> Run {
    let rt = runtime();
    let _g = rt.enter();
    let cfg = EndpointConfig {
        http_listen: if snapshot.is_some() {
            format!("{TEST_IP}:0")
        } else {
            String::new()
        },
        ..EndpointConfig::default()
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let hub = ep.hub();
    let child = snapshot.map(|path| {
        let addr = ep.http_addr().unwrap().to_string();
        std::process::Command::new(std::env::current_exe().unwrap())
            .env("NETPULSE_BENCH_SCRAPER", format!("{addr} {path} {secs}"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    });
    let mut sink = Vec::new();
    let start_cpu = cpu();
    let start = Instant::now();
    let mut publishes = 0;
    let mut sockets = 0;
    for tick in 0..secs {
        // The stand-in agent: produce, encode for the file sink, publish.
        let b = producer.batch(tick);
        sockets += b.sockets.len() as u64;
        sink.clear();
        netpulse::output::json::write_batch(&b, &mut sink);
        hub.publish(Arc::new(b));
        publishes += 1;
        let next = Duration::from_secs(tick + 1);
        if let Some(rest) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let scraped_bytes = child
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let used = cpu() - start_cpu;
    rt.block_on(ep.shutdown());
    Run {
        name,
        cpu: used,
        secs,
        publishes,
        scraped_bytes,
        sockets: sockets / secs.max(1),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("NETPULSE_BENCH_SCRAPER") {
        let mut it = spec.split(' ');
        let (addr, path, secs) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or("/api/snapshot"),
            it.next().and_then(|s| s.parse().ok()).unwrap_or(10),
        );
        scraper_child(addr, path, secs);
        return;
    }
    if let Ok(spec) = std::env::var("NETPULSE_BENCH_HOLD") {
        let (ip, n) = spec.split_once(' ').unwrap_or(("127.0.3.10", "0"));
        hold_sockets(ip, n.parse().unwrap_or(0));
        return;
    }
    let n = env_num("NETPULSE_BENCH_SOCKETS", 40_000) as u32;
    let secs = env_num("NETPULSE_BENCH_SECS", 20);
    let synthetic = std::env::var("NETPULSE_BENCH_SOURCE").is_ok_and(|v| v == "synthetic");
    let mut holders = Vec::new();
    let mut producer = if synthetic {
        Producer::Synthetic(Box::new(test_batch_with_known(0, n)))
    } else {
        // n sockets = n/2 connections, 5,000 connections per child.
        let mut left = n as usize / 2;
        let mut k = 0;
        while left > 0 {
            let c = left.min(5000);
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .env("NETPULSE_BENCH_HOLD", format!("127.0.3.{} {c}", 10 + k))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            assert!(line.starts_with("ready"), "socket holder failed: {line}");
            holders.push(child);
            left -= c;
            k += 1;
        }
        Producer::Linux(platform::open(SourceKind::Linux).expect("Linux source"))
    };
    let template = producer.batch(0);

    // Single-shot costs, for scale.
    let t = Instant::now();
    let mut out = Vec::new();
    netpulse::output::json::write_batch(&template, &mut out);
    let encode = t.elapsed();
    println!(
        "source: {}",
        if synthetic {
            "synthetic test data"
        } else {
            "Linux sock_diag (real sockets)"
        }
    );
    println!(
        "{} sockets: one JSON-lines encode of the batch takes {:.1} ms ({} bytes)",
        template.sockets.len(),
        encode.as_secs_f64() * 1e3,
        out.len()
    );

    // Per sample, single-threaded wall time of each step: what the stand-in
    // agent does, and what the endpoint renders once per sample for all
    // scrapers (aggregates, /metrics, the default /api/snapshot).
    {
        let rt = runtime();
        let _g = rt.enter();
        let ep = Endpoint::spawn(&EndpointConfig::default()).unwrap();
        let hub = ep.hub();
        let (mut produce, mut encode, mut render) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut sizes = (0, 0, 0);
        let n = 10;
        for i in 0..n {
            let t = Instant::now();
            let b = producer.batch(1000 + i);
            produce += t.elapsed();
            let t = Instant::now();
            let mut out = Vec::new();
            netpulse::output::json::write_batch(&b, &mut out);
            encode += t.elapsed();
            sizes.0 = b.sockets.len();
            hub.publish(Arc::new(b));
            let t = Instant::now();
            let (m, s) = hub.render_now();
            render += t.elapsed();
            sizes.1 = m;
            sizes.2 = s;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
        println!(
            "per sample of {} sockets: produce {:.1} ms, JSON-encode {:.1} ms, endpoint render {:.1} ms ({:.1} % of produce+encode; /metrics {} B, /api/snapshot {} B)",
            sizes.0,
            ms(produce),
            ms(encode),
            ms(render),
            ms(render) / (ms(produce) + ms(encode)) * 100.0,
            sizes.1,
            sizes.2
        );
        rt.block_on(ep.shutdown());
    }

    // Interleaved repetitions, so that drift in the host's load and in its
    // other sockets falls on every scenario alike.
    let reps = env_num("NETPULSE_BENCH_REPS", 3);
    let mut runs = Vec::new();
    for _ in 0..reps {
        runs.push(run("off", &mut producer, secs, None));
        runs.push(run("scraped", &mut producer, secs, Some("/api/snapshot")));
        runs.push(run(
            "full",
            &mut producer,
            secs,
            Some("/api/snapshot?sockets=all"),
        ));
    }
    println!(
        "{:<8} {:>8} {:>9} {:>10} {:>14}",
        "run", "samples", "sockets", "cpu ms/s", "scraped MB/s"
    );
    for r in &runs {
        println!(
            "{:<8} {:>8} {:>9} {:>10.1} {:>14.1}",
            r.name,
            r.publishes,
            r.sockets,
            r.cpu.as_secs_f64() * 1e3 / r.secs as f64,
            r.scraped_bytes as f64 / 1e6 / r.secs as f64
        );
    }
    let total = |name: &str| -> f64 {
        runs.iter()
            .filter(|r| r.name == name)
            .map(|r| r.cpu.as_secs_f64() * 1e3 / r.secs as f64)
            .sum::<f64>()
            / reps as f64
    };
    let off = total("off");
    for name in ["scraped", "full"] {
        println!(
            "{name}: {:.1} ms/s vs off {:.1} ms/s: {:+.1} % agent CPU (mean of {reps} runs of {secs} s)",
            total(name),
            off,
            (total(name) - off) / off * 100.0
        );
    }
    let _ = std::io::stdout().flush();
    for mut h in holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }
}
