//! Churn: thousands of connections opened and closed per second while a
//! 100 ms fast tier runs. No crash, and the delta store's size
//! (`tracked_sockets`) returns to the live socket count.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use nix::sys::socket::{setsockopt, sockopt::Linger};

#[test]
fn churn_then_store_follows_live_sockets() {
    let listener = TcpListener::bind("127.0.2.4:0").unwrap();
    // A deep backlog: with std's default, a briefly descheduled acceptor
    // makes connects wait a SYN retry (1 s).
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(4096).unwrap()).unwrap();
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
sockets = "all"
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
            // Blocking accept keeps the backlog short; a last connect after
            // `stop` wakes it.
            while !stop.load(Ordering::Relaxed) {
                if let Ok((s, _)) = l.accept() {
                    drop(s);
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
    // Churn for at least CHURNED connections and at least 3 fast polls
    // (polls dump the whole table, which takes longer on a busy shared
    // host). A count, not a rate: a loaded machine churns more slowly, and
    // the store must follow however fast the table turns over.
    const CHURNED: u64 = 3000;
    let t0 = Instant::now();
    let polls_before = fast_polls(&out).len();
    while made.load(Ordering::Relaxed) < CHURNED || fast_polls(&out).len() < polls_before + 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "after 90 s: {} connections churned, {} fast polls",
            made.load(Ordering::Relaxed),
            fast_polls(&out).len() - polls_before
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in churners {
        t.join().unwrap();
    }
    if let Ok(c) = TcpStream::connect(addr) {
        let _ = setsockopt(
            &c,
            Linger,
            &libc::linger {
                l_onoff: 1,
                l_linger: 0,
            },
        );
    }
    acceptor.join().unwrap();

    // Settle: two more polls once only the listener and the ten steady
    // pairs are left.
    let live = 1 + 2 * steady.len() as u64;
    let settled = fast_polls(&out).len();
    let t1 = Instant::now();
    while fast_polls(&out).len() < settled + 2 {
        assert!(t1.elapsed() < Duration::from_secs(60), "fast tier stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let polls = fast_polls_final(&out);
    let max_tracked = polls.iter().map(|p| p.0).max().unwrap_or(0);
    assert!(polls.len() >= 5, "{} fast polls", polls.len());
    assert!(
        max_tracked > live,
        "churn never showed in tracked_sockets (max {max_tracked})"
    );
    let (tracked, lines) = *polls.last().unwrap();
    // The store holds exactly the sockets of the latest poll...
    assert_eq!(
        tracked, lines,
        "delta store size vs live sockets of the last poll"
    );
    // ...which are the steady ones (plus at most a few churned sockets
    // still closing).
    assert!(
        (live..=live + 4).contains(&lines),
        "{lines} sockets left, want {live}"
    );
    assert!(
        max_tracked > tracked,
        "churn never showed in tracked_sockets (max {max_tracked})"
    );
    drop(steady);
}

/// (tracked_sockets, socket lines) of every complete fast poll written so
/// far, in order.
fn fast_polls(out: &std::path::Path) -> Vec<(u64, u64)> {
    polls(out, false)
}

/// The same once the agent has exited: the last poll is complete too.
fn fast_polls_final(out: &std::path::Path) -> Vec<(u64, u64)> {
    polls(out, true)
}

fn polls(out: &std::path::Path, include_last: bool) -> Vec<(u64, u64)> {
    let mut polls = Vec::new();
    if !out.exists() {
        return polls;
    }
    let mut current: Option<(u64, u64)> = None;
    for f in files(out, "churn.jsonl") {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        // Only whole lines: the active file may be mid-write.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        for l in whole.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["type"] == "system" {
                polls.extend(current.take());
                if v["tier"] == "fast" {
                    current = Some((v["tracked_sockets"].as_u64().unwrap(), 0));
                }
            } else if let Some(c) = current.as_mut() {
                c.1 += 1;
            }
        }
    }
    // While the agent runs, the last poll may still be being written: count
    // it only once the next system line shows it ended.
    if include_last {
        polls.extend(current);
    }
    polls
}
