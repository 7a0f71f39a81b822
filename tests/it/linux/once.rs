//! `netpulse once` on real sockets: this test opens sockets with known
//! properties, runs the real binary, and checks every reported field against
//! what the kernel says about the same descriptor (getsockopt, fstat).
//!
//! Other programs on the host open sockets at the same time, so only the
//! sockets this test owns (found by their 4-tuple) are asserted on.
#![cfg(target_os = "linux")]

use crate::support::sockopt;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// One run of the binary: the system line and socket lines by 4-tuple.
struct Snapshot {
    system: Value,
    sockets: HashMap<(String, String), Value>,
    socket_lines: usize,
}

fn run_once() -> Snapshot {
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("once")
        .output()
        .expect("running netpulse once");
    assert!(
        out.status.success(),
        "netpulse once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let mut lines = text.lines();
    let system: Value = serde_json::from_str(lines.next().expect("a system line")).unwrap();
    assert_eq!(system["type"], "system");
    let mut sockets = HashMap::new();
    let mut socket_lines = 0;
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["type"], "socket", "{l}");
        socket_lines += 1;
        let key = (
            v["local"].as_str().unwrap().to_string(),
            v["remote"].as_str().unwrap().to_string(),
        );
        sockets.insert(key, v);
    }
    Snapshot {
        system,
        sockets,
        socket_lines,
    }
}

fn addr(a: SocketAddr) -> String {
    a.to_string()
}

fn find(snap: &Snapshot, local: SocketAddr, remote: SocketAddr) -> &Value {
    snap.sockets
        .get(&(addr(local), addr(remote)))
        .unwrap_or_else(|| panic!("socket {local} -> {remote} missing from netpulse once"))
}

fn num(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("field {field} missing or not a number in {v}"))
}

/// `got` lies between the readings taken just before and just after the
/// binary ran. This is the tolerance for values that may move: on these
/// idle sockets the two readings are normally equal, making it exact.
fn assert_between(field: &str, got: u64, before: u64, after: u64) {
    let (lo, hi) = (before.min(after), before.max(after));
    assert!(
        (lo..=hi).contains(&got),
        "{field}: netpulse said {got}, kernel said {before} before and {after} after"
    );
}

/// A socket this test owns, with what it expects to see.
struct Owned<'a> {
    what: &'static str,
    fd: RawFd,
    local: SocketAddr,
    remote: SocketAddr,
    state: &'static str,
    cc: Option<&'a str>,
}

fn check_connected(snap: &Snapshot, s: &Owned, before: &libc::tcp_info, after: &libc::tcp_info) {
    let v = find(snap, s.local, s.remote);
    let what = s.what;
    assert_eq!(v["state"], s.state, "{what}: {v}");
    let pairs: [(&str, u64, u64); 9] = [
        ("mss", before.tcpi_snd_mss.into(), after.tcpi_snd_mss.into()),
        (
            "cwnd",
            u64::from(before.tcpi_snd_cwnd) * u64::from(before.tcpi_snd_mss),
            u64::from(after.tcpi_snd_cwnd) * u64::from(after.tcpi_snd_mss),
        ),
        ("rtt_us", before.tcpi_rtt.into(), after.tcpi_rtt.into()),
        ("rto_us", before.tcpi_rto.into(), after.tcpi_rto.into()),
        (
            "rexmit",
            before.tcpi_total_retrans.into(),
            after.tcpi_total_retrans.into(),
        ),
        (
            "bytes_acked",
            before.tcpi_bytes_acked,
            after.tcpi_bytes_acked,
        ),
        (
            "bytes_received",
            before.tcpi_bytes_received,
            after.tcpi_bytes_received,
        ),
        (
            "segs_out",
            before.tcpi_segs_out.into(),
            after.tcpi_segs_out.into(),
        ),
        (
            "segs_in",
            before.tcpi_segs_in.into(),
            after.tcpi_segs_in.into(),
        ),
    ];
    for (field, b, a) in pairs {
        assert_between(&format!("{what} {field}"), num(v, field), b, a);
    }
    // ssthresh: bytes, or the recognisable infinite value.
    let ss = num(v, "ssthresh");
    if before.tcpi_snd_ssthresh >= 0x7fff_ffff {
        assert_eq!(ss, 2_147_483_647, "{what}: infinite ssthresh");
    } else {
        let b = u64::from(before.tcpi_snd_ssthresh) * u64::from(before.tcpi_snd_mss);
        let a = u64::from(after.tcpi_snd_ssthresh) * u64::from(after.tcpi_snd_mss);
        assert_between(&format!("{what} ssthresh"), ss, b, a);
    }
    assert_eq!(
        num(v, "snd_wnd"),
        u64::from(after.tcpi_snd_wnd),
        "{what} snd_wnd"
    );
    assert_eq!(num(v, "ooo"), u64::from(after.tcpi_rcv_ooopack), "{what}");
    let expected_cc =
        s.cc.map(str::to_string)
            .unwrap_or_else(|| sockopt::congestion(s.fd));
    assert_eq!(v["cc"], expected_cc.as_str(), "{what} cc");
}

fn check_owner(snap: &Snapshot, s: &Owned, comm: &str) {
    let v = find(snap, s.local, s.remote);
    let what = s.what;
    assert_eq!(num(v, "pid"), u64::from(std::process::id()), "{what}: {v}");
    assert_eq!(num(v, "fd"), s.fd as u64, "{what}");
    assert_eq!(v["command"], comm, "{what}");
    // Identity: the cookie and the inode of this very descriptor.
    assert_eq!(num(v, "sock_id"), sockopt::cookie(s.fd), "{what} sock_id");
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", s.fd))
        .unwrap()
        .ino();
    assert_eq!(num(v, "inode"), ino, "{what} inode");
    assert_eq!(
        num(v, "uid"),
        u64::from(nix::unistd::getuid().as_raw()),
        "{what}"
    );
}

fn send_all(s: &mut TcpStream, n: usize) {
    let chunk = vec![0x5au8; 16 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        s.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
}

fn recv_exact(s: &mut TcpStream, n: usize) {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
}

#[test]
fn once_reports_this_tests_sockets_as_the_kernel_sees_them() {
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let comm = comm.trim_end_matches('\n');

    // IPv4: a listener in our loopback block, and a pair with data both
    // ways; the client runs reno, the server has a set SO_SNDBUF.
    let l4 = TcpListener::bind("127.0.1.77:0").unwrap();
    let mut c4 = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (mut s4, _) = l4.accept().unwrap();
    sockopt::set_congestion(c4.as_raw_fd(), "reno");
    sockopt::set_int(s4.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, 65536);
    send_all(&mut c4, 100_000);
    recv_exact(&mut s4, 100_000);
    send_all(&mut s4, 1_000);
    recv_exact(&mut c4, 1_000);

    // IPv6 pair.
    let l6 = TcpListener::bind("[::1]:0").unwrap();
    let mut c6 = TcpStream::connect(l6.local_addr().unwrap()).unwrap();
    let (mut s6, _) = l6.accept().unwrap();
    send_all(&mut c6, 5_000);
    recv_exact(&mut s6, 5_000);

    // CLOSE_WAIT: the peer closed, we did not.
    let cw_client = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (cw_server, _) = l4.accept().unwrap();
    drop(cw_client);

    // TIME_WAIT: we closed first, then the peer.
    let tw_client = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (tw_server, _) = l4.accept().unwrap();
    let tw_tuple = (
        tw_client.local_addr().unwrap(),
        tw_client.peer_addr().unwrap(),
    );
    drop(tw_client);
    std::thread::sleep(Duration::from_millis(50));
    drop(tw_server);

    // Let delayed ACKs and window updates settle so the sockets are idle.
    std::thread::sleep(Duration::from_millis(300));

    let connected = [
        Owned {
            what: "IPv4 client (reno)",
            fd: c4.as_raw_fd(),
            local: c4.local_addr().unwrap(),
            remote: c4.peer_addr().unwrap(),
            state: "ESTABLISHED",
            cc: Some("reno"),
        },
        Owned {
            what: "IPv4 server (SO_SNDBUF)",
            fd: s4.as_raw_fd(),
            local: s4.local_addr().unwrap(),
            remote: s4.peer_addr().unwrap(),
            state: "ESTABLISHED",
            cc: None,
        },
        Owned {
            what: "IPv6 client",
            fd: c6.as_raw_fd(),
            local: c6.local_addr().unwrap(),
            remote: c6.peer_addr().unwrap(),
            state: "ESTABLISHED",
            cc: None,
        },
        Owned {
            what: "IPv6 server",
            fd: s6.as_raw_fd(),
            local: s6.local_addr().unwrap(),
            remote: s6.peer_addr().unwrap(),
            state: "ESTABLISHED",
            cc: None,
        },
        Owned {
            what: "CLOSE_WAIT server",
            fd: cw_server.as_raw_fd(),
            local: cw_server.local_addr().unwrap(),
            remote: cw_server.peer_addr().unwrap(),
            state: "CLOSE_WAIT",
            cc: None,
        },
    ];
    let any4: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let any6: SocketAddr = "[::]:0".parse().unwrap();
    let listeners = [
        Owned {
            what: "IPv4 listener",
            fd: l4.as_raw_fd(),
            local: l4.local_addr().unwrap(),
            remote: any4,
            state: "LISTEN",
            cc: None,
        },
        Owned {
            what: "IPv6 listener",
            fd: l6.as_raw_fd(),
            local: l6.local_addr().unwrap(),
            remote: any6,
            state: "LISTEN",
            cc: None,
        },
    ];

    let before: Vec<_> = connected.iter().map(|s| sockopt::tcp_info(s.fd)).collect();
    let snap = run_once();
    let after: Vec<_> = connected.iter().map(|s| sockopt::tcp_info(s.fd)).collect();

    // The system line is consistent with the socket lines.
    let total = num(&snap.system, "total_sockets");
    let counts: u64 = snap.system["state_counts"]
        .as_array()
        .expect("state_counts array")
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(snap.system["state_counts"].as_array().unwrap().len(), 11);
    assert_eq!(counts, total, "state_counts sum to total_sockets");
    assert_eq!(snap.socket_lines as u64, total, "one line per socket");
    assert!(
        snap.system.get("rcvtotal").is_some(),
        "system counters read"
    );

    for (i, s) in connected.iter().enumerate() {
        check_connected(&snap, s, &before[i].0, &after[i].0);
        check_owner(&snap, s, comm);
        if after[i].1 > std::mem::offset_of!(libc::tcp_info, tcpi_rcv_wnd) {
            let v = find(&snap, s.local, s.remote);
            assert_eq!(
                num(v, "rcv_wnd"),
                u64::from(after[i].0.tcpi_rcv_wnd),
                "{}",
                s.what
            );
        }
    }
    for s in &listeners {
        let v = find(&snap, s.local, s.remote);
        assert_eq!(v["state"], "LISTEN", "{}", s.what);
        assert_eq!(v["cc"], sockopt::congestion(s.fd).as_str());
        check_owner(&snap, s, comm);
        // A listener's tcp_info is placeholders: no fake windows.
        assert!(v.get("cwnd").is_none() && v.get("mss").is_none(), "{v}");
    }

    // Bytes were really sent and acknowledged.
    let c4v = find(&snap, connected[0].local, connected[0].remote);
    assert!(num(c4v, "bytes_acked") >= 100_000, "{c4v}");
    let s4v = find(&snap, connected[1].local, connected[1].remote);
    assert!(num(s4v, "bytes_received") >= 100_000, "{s4v}");
    // SO_SNDBUF as the kernel reports it (it doubles the requested value).
    let sndbuf = sockopt::int(s4.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF);
    assert_eq!(num(s4v, "snd_buf_hiwat"), sndbuf as u64);
    assert!(s4v["snd_buf_pct"].is_number());

    // TIME_WAIT: no owner, a 2MSL timer, and no placeholder uid/inode.
    let tw = find(&snap, tw_tuple.0, tw_tuple.1);
    assert_eq!(tw["state"], "TIME_WAIT", "{tw}");
    let t = num(tw, "timer_2msl_ms");
    assert!(t <= 60_000, "{tw}");
    assert!(tw.get("pid").is_none() && tw.get("inode").is_none(), "{tw}");

    // Identity is stable across runs.
    let snap2 = run_once();
    for s in connected.iter().chain(listeners.iter()) {
        let a = find(&snap, s.local, s.remote);
        let b = find(&snap2, s.local, s.remote);
        assert_eq!(a["sock_id"], b["sock_id"], "{}", s.what);
        assert_eq!(a["inode"], b["inode"], "{}", s.what);
    }
    assert_eq!(
        find(&snap2, tw_tuple.0, tw_tuple.1)["sock_id"],
        tw["sock_id"]
    );
}
