//! A listener's accept queue as `netpulse once` reports it: a listener
//! with backlog 4 that never accepts, and 8 clients connecting to it.
//! Linux admits backlog + 1 connections to the queue and drops the SYNs of
//! the rest, so the queue holds 5 of limit 4.
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, getsockname, listen,
    socket,
};
use serde_json::Value;

fn tcp_socket() -> OwnedFd {
    socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket")
}

/// The listener's socket line from `netpulse once`, if it is there.
fn listener_line(port: u16) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["once", "--state", "listen", "--sport", &port.to_string()])
        .output()
        .expect("running netpulse once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "socket")
}

#[test]
fn full_accept_queue_shows_backlog_plus_one_of_backlog() {
    let listener = tcp_socket();
    let any = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    bind(std::os::fd::AsRawFd::as_raw_fd(&listener), &any).expect("bind");
    listen(&listener, Backlog::new(4).unwrap()).expect("listen");
    let addr: SockaddrIn =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(&listener)).expect("getsockname");
    let port = addr.port();

    // Non-blocking connects: the ones the full queue refuses keep
    // retrying their SYN in the background instead of blocking the test.
    let clients: Vec<OwnedFd> = (0..8)
        .map(|_| {
            let c = tcp_socket();
            match connect(std::os::fd::AsRawFd::as_raw_fd(&c), &addr) {
                Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => c,
                Err(e) => panic!("connect: {e}"),
            }
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        let line = listener_line(port).expect("the listener is reported");
        assert_eq!(line["accept_backlog"], 4, "{line}");
        if line["accept_queue"] == 5 {
            // A listener has no byte queues to report.
            assert!(line.get("rcv_queue").is_none(), "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "accept_queue never reached 5 within 30 s; last: {last:?}"
        );
        last = Some(line);
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(clients);
}
