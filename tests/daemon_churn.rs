//! Churn: thousands of connections opened and closed per second while a
//! 100 ms fast tier runs. No crash, and the delta store's size
//! (`tracked_sockets`) returns to the live socket count.

mod daemon_support;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daemon_support::*;
use nix::sys::socket::{setsockopt, sockopt::Linger};

#[test]
fn churn_then_store_follows_live_sockets() {
    let listener = TcpListener::bind("127.0.2.4:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port();
    // Ten connections stay open throughout.
    let steady: Vec<_> = (0..10)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            let s = listener.accept().unwrap().0;
            (c, s)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[tiers.fast]
interval = "100ms"
[filter]
local_ports = [{port}]
remote_ports = [{port}]
[[output]]
format = "json"
dir = "{o}"
prefix = "churn"
"#,
            o = out.display()
        ),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let acceptor = {
        let l = listener.try_clone().unwrap();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            l.set_nonblocking(true).unwrap();
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        })
    };
    let churners: Vec<_> = (0..2)
        .map(|_| {
            let (stop, made) = (Arc::clone(&stop), Arc::clone(&made));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(c) = TcpStream::connect(addr) {
                        // Reset on close: no TIME_WAIT left behind.
                        let _ = setsockopt(
                            &c,
                            Linger,
                            &libc::linger {
                                l_onoff: 1,
                                l_linger: 0,
                            },
                        );
                        made.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for t in churners {
        t.join().unwrap();
    }
    acceptor.join().unwrap();
    let rate = made.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    assert!(rate > 1000.0, "only {rate:.0} connections/s");

    // Settle: the listener plus the ten steady pairs.
    let live = 1 + 2 * steady.len() as u64;
    std::thread::sleep(Duration::from_millis(600));
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let mut max_tracked = 0;
    let mut polls = Vec::new();
    for f in files(&out, "churn.jsonl") {
        let mut current: Option<(u64, u64)> = None;
        for v in json_lines(&f) {
            if v["type"] == "system" && v["tier"] == "fast" {
                if let Some(p) = current.take() {
                    polls.push(p);
                }
                let t = v["tracked_sockets"].as_u64().unwrap();
                max_tracked = max_tracked.max(t);
                current = Some((t, 0));
            } else if v["type"] == "socket" {
                if let Some(c) = current.as_mut() {
                    c.1 += 1;
                }
            } else if let Some(p) = current.take() {
                polls.push(p);
            }
        }
        polls.extend(current);
    }
    assert!(polls.len() > 20, "{} fast polls", polls.len());
    assert!(
        max_tracked > live,
        "churn never showed in tracked_sockets (max {max_tracked})"
    );
    let (tracked, lines) = *polls.last().unwrap();
    assert_eq!(lines, live, "socket lines of the last poll");
    assert_eq!(
        tracked, live,
        "delta store did not shrink back to the live sockets"
    );
    drop(steady);
}
