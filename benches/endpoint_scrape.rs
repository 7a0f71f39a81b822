//! What serving the live endpoint costs the agent, side by side with the
//! endpoint off, at 40,000 sockets.
//!
//!     cargo bench --bench endpoint_scrape
//!     NETPULSE_BENCH_SOCKETS=40000 NETPULSE_BENCH_SECS=20 cargo bench --bench endpoint_scrape
//!
//! The agent is stood in for by a loop that, once a second, produces a
//! TEST DATA batch of N sockets (clone of a prepared table with a new
//! timestamp), encodes it as JSON lines (what the JSON file sink does) and
//! publishes it to the endpoint. Three runs of the same length, in one
//! process, measure that process's CPU time (user + system, all threads):
//!   off      endpoint with HTTP off, no clients (the reference)
//!   scraped  HTTP on; 10 scrapers in a child process, each second, each
//!            GET /metrics and GET /api/snapshot (default: 1000 rows)
//!   full     as scraped, but /api/snapshot?sockets=all (every socket)
//! The scrapers' own CPU is in the child and not counted.

#[path = "../tests/endpoint_support/mod.rs"]
mod endpoint_support;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use endpoint_support::*;
use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse::record::Batch;

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

struct Run {
    name: &'static str,
    cpu: Duration,
    secs: u64,
    publishes: u64,
    scraped_bytes: u64,
}

fn run(name: &'static str, template: &Batch, secs: u64, snapshot: Option<&str>) -> Run {
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
    let mut sink = Vec::with_capacity(template.sockets.len() * 700);
    let start_cpu = cpu();
    let start = Instant::now();
    let mut publishes = 0;
    for tick in 0..secs {
        // The stand-in agent: produce, encode for the file sink, publish.
        let mut b = template.clone();
        b.seq = tick;
        b.ts += tick * 1_000_000_000;
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
    let n = env_num("NETPULSE_BENCH_SOCKETS", 40_000) as u32;
    let secs = env_num("NETPULSE_BENCH_SECS", 20);
    let template = test_batch_with_known(0, n);

    // Single-shot costs, for scale.
    let t = Instant::now();
    let mut out = Vec::new();
    netpulse::output::json::write_batch(&template, &mut out);
    let encode = t.elapsed();
    println!(
        "{} sockets: one JSON-lines encode of the batch takes {:.1} ms ({} bytes)",
        template.sockets.len(),
        encode.as_secs_f64() * 1e3,
        out.len()
    );

    let runs = [
        run("off", &template, secs, None),
        run("scraped", &template, secs, Some("/api/snapshot")),
        run("full", &template, secs, Some("/api/snapshot?sockets=all")),
    ];
    let base = runs[0].cpu.as_secs_f64();
    println!(
        "{:<8} {:>10} {:>12} {:>9} {:>14}",
        "run", "cpu ms/s", "vs off", "samples", "scraped MB/s"
    );
    for r in &runs {
        let per_s = r.cpu.as_secs_f64() * 1e3 / r.secs as f64;
        println!(
            "{:<8} {:>10.1} {:>+11.1}% {:>9} {:>14.1}",
            r.name,
            per_s,
            (r.cpu.as_secs_f64() - base) / base * 100.0,
            r.publishes,
            r.scraped_bytes as f64 / 1e6 / r.secs as f64
        );
    }
    let _ = std::io::stdout().flush();
}
