//! The listen overflow counter against the kernel: in a network namespace
//! of its own (so no other test's listener adds to the count), a listener
//! with backlog 4 that never accepts gets 8 connects. Linux queues
//! backlog + 1 of them and drops the SYNs of the rest, counting each in
//! `TcpExt: ListenOverflows`. The agent's `listen_overflows` must rise,
//! its `_delta` must be the change between polls, and once the clients
//! are gone it must equal the namespace's `/proc/net/netstat`.
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, unshare};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, getsockname, listen,
    socket,
};
use serde_json::Value;

use crate::support::daemon::{Agent, json_lines_so_far};

fn tcp_socket() -> OwnedFd {
    socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket")
}

/// `TcpExt: <name>` from the netstat file of `pid`'s network namespace.
fn netstat(pid: u32, name: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/netstat")).unwrap();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no TcpExt {name}"))
        .1
        .parse()
        .unwrap()
}

/// The standard tier's system lines so far, each with the counters read.
fn counter_lines(path: &std::path::Path) -> Vec<Value> {
    json_lines_so_far(path)
        .into_iter()
        .filter(|v| v["type"] == "system" && v["tier"] == "standard")
        .filter(|v| v.get("listen_overflows").is_some())
        .collect()
}

/// Wait, bounded, until the agent's lines satisfy `done`.
fn wait_lines(path: &std::path::Path, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = counter_lines(path);
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 30 s; lines: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[test]
fn listen_overflows_rise_with_their_delta_and_match_netstat() {
    // The namespace belongs to this thread (and the agent it starts) only.
    std::thread::spawn(in_own_namespace)
        .join()
        .expect("the test thread panicked");
}

fn in_own_namespace() {
    unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): the tests run as root");
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("running ip");
    assert!(up.success(), "ip link set lo up: {up}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[tiers.fast]
enabled = false
[tiers.slow]
enabled = false
[tiers.aggregate]
enabled = false
[tiers.standard]
interval = "100ms"
[[output]]
format = "json"
dir = "{}"
tiers = ["standard"]
"#,
            out.display()
        ),
    );
    let pid = agent.child.id();
    let file = out.join("netpulse.jsonl");
    let baseline = wait_lines(&file, "a first counter sample", |l| !l.is_empty());
    let before = u(&baseline[0], "listen_overflows");

    let listener = tcp_socket();
    let any = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    bind(listener.as_raw_fd(), &any).expect("bind");
    listen(&listener, Backlog::new(4).unwrap()).expect("listen");
    let addr: SockaddrIn = getsockname(listener.as_raw_fd()).expect("getsockname");
    let clients: Vec<OwnedFd> = (0..8)
        .map(|_| {
            let c = tcp_socket();
            match connect(c.as_raw_fd(), &addr) {
                Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => c,
                Err(e) => panic!("connect: {e}"),
            }
        })
        .collect();

    // The queue holds 5; at least the other 3 first SYNs overflow.
    wait_lines(&file, "listen_overflows rising by 3", |l| {
        l.last()
            .is_some_and(|v| u(v, "listen_overflows") >= before + 3)
    });

    // No more SYN retries: the count stops, and the agent reads what the
    // namespace's netstat says.
    drop(clients);
    let settled = netstat(pid, "ListenOverflows");
    assert!(settled >= before + 3, "netstat {settled}, before {before}");
    let lines = wait_lines(&file, "the agent agreeing with netstat", |l| {
        l.last()
            .is_some_and(|v| u(v, "listen_overflows") == settled)
    });
    assert_eq!(netstat(pid, "ListenOverflows"), settled, "still rising");
    // Every overflow is also a listen drop (compared once the counts are
    // still: the kernel bumps the two one after the other).
    let last = lines.last().unwrap();
    assert!(u(last, "listen_drops") >= settled, "{last}");

    // Every delta is the change since the previous sample of the tier,
    // and the rise shows in at least one of them.
    let mut rose = false;
    for w in lines.windows(2) {
        let change = u(&w[1], "listen_overflows") - u(&w[0], "listen_overflows");
        assert_eq!(u(&w[1], "listen_overflows_delta"), change, "{}", w[1]);
        rose |= change > 0;
    }
    assert!(rose, "no delta showed the rise: {lines:?}");
    drop(listener);
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
}
