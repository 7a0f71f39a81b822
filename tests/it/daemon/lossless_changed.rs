//! `sockets = "changed"` loses nothing: one agent writes the same samples
//! to an `all` output and a `changed` output while loopback connections
//! open, close, idle and move data under a 100 ms fast tier. Rebuilding
//! each poll's table from the `changed` stream (last line per `sock_id`,
//! dropped at its `close`) gives exactly the `all` stream's state fields
//! for every socket in every poll.
//!
//! `NETPULSE_LOSSLESS_SECS` and `NETPULSE_LOSSLESS_CONNS` make the run
//! longer or larger (defaults: 12 s, 700 connections = 1,400 sockets plus
//! the listener and the TIME_WAIT of closed ones).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use netpulse::record::FIELDS;
use serde_json::Value;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Room for both ends of every connection.
fn raise_fd_limit(need: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < need {
        setrlimit(Resource::RLIMIT_NOFILE, need.min(hard), hard).unwrap();
    }
}

/// A small deterministic generator (the workload need not be random,
/// only varied).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn connect(listener: &TcpListener, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(addr).unwrap();
    let s = listener.accept().unwrap().0;
    s.set_nonblocking(true).unwrap();
    (c, s)
}

/// One fast poll of one stream: its `ts` and its lines by type.
#[derive(Default)]
struct Poll {
    ts: u64,
    system: Option<Value>,
    sockets: Vec<Value>,
    closes: Vec<Value>,
}

/// The fast polls of a JSON Lines output, by `seq` order of appearance.
fn polls(dir: &Path, prefix: &str) -> Vec<Poll> {
    let mut out: Vec<Poll> = Vec::new();
    for f in files(dir, &format!("{prefix}.jsonl")) {
        for v in json_lines(&f) {
            match v["type"].as_str().unwrap() {
                "system" => {
                    if v["tier"] == "fast" {
                        out.push(Poll {
                            ts: v["ts"].as_u64().unwrap(),
                            system: Some(v),
                            ..Poll::default()
                        });
                    }
                }
                "socket" => out
                    .last_mut()
                    .expect("socket line before a system line")
                    .sockets
                    .push(v),
                "close" => out
                    .last_mut()
                    .expect("close line before a system line")
                    .closes
                    .push(v),
                other => panic!("unexpected record type {other}"),
            }
        }
    }
    out
}

/// The state fields of a socket line: every field the table does not mark
/// as clock-driven, as written.
fn state_of(line: &Value, clock: &[&str]) -> BTreeMap<String, Value> {
    line.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != "type" && !clock.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn sock_id(line: &Value) -> u64 {
    line["sock_id"]
        .as_u64()
        .expect("every Linux socket line has a sock_id")
}

#[test]
fn changed_stream_rebuilds_the_all_stream_exactly() {
    let secs = env_or("NETPULSE_LOSSLESS_SECS", 12);
    let conns = env_or("NETPULSE_LOSSLESS_CONNS", 700) as usize;
    raise_fd_limit(2 * conns as u64 + 256);

    let listener = TcpListener::bind("127.0.2.7:0").unwrap();
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(4096).unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port();
    let mut pairs: Vec<(TcpStream, TcpStream)> =
        (0..conns).map(|_| connect(&listener, addr)).collect();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = |prefix: &str, mode: &str| {
        format!(
            "[[output]]\nformat = \"json\"\ndir = \"{o}\"\nprefix = \"{prefix}\"\ntiers = [\"fast\"]\n\
             sockets = \"{mode}\"\nheartbeat = \"3s\"\nrotate_size = \"1TiB\"\nrotate_age = \"off\"\n",
            o = out.display()
        )
    };
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[tiers.fast]\ninterval = \"100ms\"\n[tiers.standard]\ninterval = \"1s\"\n\
             [filter]\nlocal_ports = [{port}]\nremote_ports = [{port}]\n{}{}",
            output("all", "all"),
            output("changed", "changed"),
        ),
    );

    // Workload: each round, a few connections move data (some of them
    // the same "busy" ones every time), a few close and are replaced, the
    // rest stay idle.
    let mut rng = Lcg(7);
    let t0 = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut rounds = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        rounds += 1;
        let busy = conns / 20;
        for (c, _) in pairs.iter_mut().take(busy) {
            let _ = c.write_all(&buf[..1 + rng.below(4000)]);
        }
        for _ in 0..5 {
            let i = busy + rng.below(conns - busy);
            let _ = pairs[i].0.write_all(&buf[..1 + rng.below(200)]);
        }
        for _ in 0..3 {
            let i = busy + rng.below(conns - busy);
            pairs[i] = connect(&listener, addr);
        }
        for (_, s) in pairs.iter_mut().take(busy) {
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent failed:\n{log}");
    let sum = summary(&log);
    assert_eq!(sum.dropped, 0, "{log}");
    // A `changed` output is offered only what it writes: no phantom loss.
    for (sink, counts) in &sum.sinks {
        assert_eq!(counts["offered"], counts["written"], "{sink}: {log}");
    }
    assert_eq!(sum.sinks.len(), 2);

    let clock: Vec<&str> = FIELDS.iter().filter(|f| f.clock).map(|f| f.name).collect();
    let all = polls(&out, "all");
    let changed = polls(&out, "changed");
    assert_eq!(all.len(), changed.len(), "both outputs got every poll");
    assert!(
        all.len() as u64 >= secs * 3,
        "only {} fast polls in {secs} s",
        all.len()
    );

    let mut table: HashMap<u64, BTreeMap<String, Value>> = HashMap::new();
    let (mut lines_all, mut lines_changed, mut closes, mut unchanged) = (0, 0, 0, 0);
    for (n, (a, c)) in all.iter().zip(&changed).enumerate() {
        assert_eq!(a.ts, c.ts, "poll {n}: the same samples");
        for close in &c.closes {
            assert_eq!(
                close["ts"].as_u64(),
                Some(c.ts),
                "a close has the poll's ts"
            );
            assert!(
                table.remove(&sock_id(close)).is_some(),
                "poll {n}: close of an unknown socket"
            );
            closes += 1;
        }
        for s in &c.sockets {
            table.insert(sock_id(s), state_of(s, &clock));
        }
        let want: HashMap<u64, BTreeMap<String, Value>> = a
            .sockets
            .iter()
            .map(|s| (sock_id(s), state_of(s, &clock)))
            .collect();
        assert_eq!(table.len(), want.len(), "poll {n}: socket count");
        for (id, state) in &want {
            assert_eq!(table.get(id), Some(state), "poll {n}: socket {id}");
        }
        let sys = c.system.as_ref().unwrap();
        assert_eq!(
            sys["sockets_written"].as_u64(),
            Some(c.sockets.len() as u64)
        );
        assert_eq!(
            sys["sockets_unchanged"].as_u64().unwrap() + c.sockets.len() as u64,
            a.sockets.len() as u64,
            "poll {n}: written + unchanged = the table"
        );
        assert_eq!(sys["closed"].as_u64(), Some(c.closes.len() as u64));
        assert!(sys["host"].is_string());
        unchanged += sys["sockets_unchanged"].as_u64().unwrap();
        lines_all += a.sockets.len();
        lines_changed += c.sockets.len();
    }
    // The run exercised what it claims to: closes, and far fewer lines.
    assert!(
        closes as u64 >= rounds,
        "{closes} closes over {rounds} rounds"
    );
    assert!(unchanged > 0);
    assert!(
        lines_changed * 3 < lines_all,
        "changed wrote {lines_changed} socket lines, all {lines_all}"
    );
    let bytes = |prefix: &str| -> u64 {
        files(&out, &format!("{prefix}.jsonl"))
            .iter()
            .map(|f| f.metadata().unwrap().len())
            .sum()
    };
    eprintln!(
        "{} polls, {lines_all} socket lines in `all`, {lines_changed} in `changed`, {closes} closes; {} vs {} bytes",
        all.len(),
        bytes("all"),
        bytes("changed")
    );
}
