//! The kernel as the oracle for every field the Linux source fills.
//!
//! In a network namespace of its own (so no other program's sockets move
//! under it) the test makes a lossy loopback (a token bucket that drops
//! what overflows it), then sockets in the states worth checking: a bulk
//! transfer that lost segments, a sender facing a zero window, an idle
//! connection with keepalive, a listener whose accept queue is full and a
//! connection stuck in SYN_SENT behind it, and a TIME_WAIT socket. Each
//! sample of the real source is bracketed by the kernel's own answers read
//! just before and just after it: `getsockopt(TCP_INFO)`, `SO_COOKIE`,
//! `TCP_CONGESTION` and `fstat` on the descriptor, and `ss -tinemO` for
//! what a descriptor cannot show (queues, socket memory, timers, sockets
//! without a descriptor). A value outside the bracket fails; so does a
//! field the source fills that the test has no oracle for.
#![cfg(target_os = "linux")]

#[path = "linux_kernel_oracle/raw_socket.rs"]
mod raw_socket;
#[path = "it/support/sockopt.rs"]
#[allow(dead_code)] // shared with linux_once, which uses all of it
mod sockopt;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use netpulse::platform::Source;
use netpulse::platform::linux::LinuxSource;
use netpulse::platform::linux::sock_diag::FILLED_FIELDS;
use netpulse::record::SocketRecord;

const IN_NAMESPACE: &str = "NETPULSE_KERNEL_ORACLE_IN_NETNS";
const TEST_NAME: &str = "every_field_the_linux_source_fills_agrees_with_the_kernel";

/// The test proper runs in a child of this test binary started by
/// `unshare --net`: every thread and every `ss` it runs then sees only
/// the namespace's sockets.
#[test]
fn every_field_the_linux_source_fills_agrees_with_the_kernel() {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        in_namespace();
        return;
    }
    let out = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE, "1")
        .output()
        .expect("running unshare (util-linux; the test needs root)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "in the namespace:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the test did not run in the namespace:\n{text}"
    );
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e} (iproute2: .ci/setup.d/10-linux.sh)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Poll `cond` every 20 ms for up to 30 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One socket the test watches. `fd` is absent for a socket without a
/// descriptor (TIME_WAIT).
struct Watched {
    what: &'static str,
    local: SocketAddr,
    remote: SocketAddr,
    fd: Option<RawFd>,
}

impl Watched {
    fn stream(what: &'static str, s: &TcpStream) -> Watched {
        Watched {
            what,
            local: s.local_addr().unwrap(),
            remote: s.peer_addr().unwrap(),
            fd: Some(s.as_raw_fd()),
        }
    }

    fn listener(what: &'static str, l: &TcpListener) -> Watched {
        Watched {
            what,
            local: l.local_addr().unwrap(),
            remote: "0.0.0.0:0".parse().unwrap(),
            fd: Some(l.as_raw_fd()),
        }
    }

    fn key(&self) -> (String, String) {
        (self.local.to_string(), self.remote.to_string())
    }
}

fn in_namespace() {
    // A 1500-byte MTU (a token bucket smaller than loopback's 64 KiB
    // frames would drop every one) and a bucket that drops what overflows.
    run("ip", &["link", "set", "lo", "mtu", "1500", "up"]);
    run(
        "tc",
        &[
            "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "20mbit", "burst", "4kb", "limit",
            "8kb",
        ],
    );
    let mut watched = Vec::new();

    // Bulk transfer over the lossy link, both directions, then quiet.
    let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c1 = TcpStream::connect(l1.local_addr().unwrap()).unwrap();
    let (s1, _) = l1.accept().unwrap();
    const BULK: usize = 2 << 20;
    let reader = std::thread::spawn(move || {
        let mut s1 = s1;
        let mut buf = vec![0u8; 65536];
        let mut n = 0;
        while n < BULK {
            let k = s1.read(&mut buf).unwrap();
            assert!(k > 0, "early EOF");
            n += k;
        }
        s1
    });
    c1.write_all(&vec![7u8; BULK]).unwrap();
    let mut s1 = reader.join().unwrap();
    s1.write_all(&[1u8; 3000]).unwrap();
    c1.read_exact(&mut [0u8; 3000]).unwrap();
    wait_until("the bulk transfer to be acknowledged", || {
        sockopt::tcp_info(c1.as_raw_fd()).0.tcpi_unacked == 0
            && sockopt::tcp_info(s1.as_raw_fd()).0.tcpi_unacked == 0
    });
    let (bulk, _) = sockopt::tcp_info(c1.as_raw_fd());
    assert!(
        bulk.tcpi_bytes_retrans > 0 && bulk.tcpi_bytes_retrans < bulk.tcpi_bytes_sent,
        "the lossy link caused no retransmission: the test could not tell \
         retransmitted bytes from sent bytes"
    );
    watched.push(Watched::stream("bulk sender", &c1));
    watched.push(Watched::stream("bulk receiver", &s1));
    watched.push(Watched::listener("listener", &l1));

    // A receiver that never reads, with a small buffer: its peer faces a
    // zero window and probes it.
    let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    sockopt::set_int(l2.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4096);
    let mut c2 = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
    let (s2, _) = l2.accept().unwrap();
    c2.set_nonblocking(true).unwrap();
    let chunk = vec![9u8; 16384];
    let mut blocked = false;
    for _ in 0..10_000 {
        match c2.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(blocked, "the sender never filled the window");
    let zero_window = Watched::stream("zero-window sender", &c2);
    wait_until("the sender to probe a zero window", || {
        ss().get(&zero_window.key())
            .is_some_and(|l| l.timer.as_ref().is_some_and(|t| t.0 == "persist"))
    });
    watched.push(zero_window);
    watched.push(Watched::stream("zero-window receiver", &s2));

    // An idle connection with keepalive on.
    let c3 = TcpStream::connect(l1.local_addr().unwrap()).unwrap();
    let (_s3, _) = l1.accept().unwrap();
    sockopt::set_int(c3.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    sockopt::set_int(c3.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 600);
    watched.push(Watched::stream("keepalive", &c3));

    // A listener with a full accept queue: one connection waits in it,
    // the next one's SYN is dropped and it retransmits from SYN_SENT.
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    raw_socket::relisten(l4.as_raw_fd(), 0);
    let queued = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let SocketAddr::V4(l4_addr) = l4.local_addr().unwrap() else {
        unreachable!("bound to IPv4")
    };
    let syn_sent = raw_socket::connect_started(l4_addr);
    let syn_fd = syn_sent.as_raw_fd();
    let syn_local = std::net::TcpListener::from(syn_sent.try_clone().unwrap())
        .local_addr()
        .unwrap();
    wait_until("the SYN_SENT socket's retransmit timer", || {
        ss().get(&(syn_local.to_string(), l4_addr.to_string()))
            .is_some_and(|l| l.state == "SYN_SENT" && l.timer.is_some())
    });
    watched.push(Watched::listener("full listener", &l4));
    watched.push(Watched::stream("queued, never accepted", &queued));
    watched.push(Watched {
        what: "SYN_SENT",
        local: syn_local,
        remote: SocketAddr::V4(l4_addr),
        fd: Some(syn_fd),
    });

    // TIME_WAIT: the side that closes first keeps the tuple.
    let c5 = TcpStream::connect(l1.local_addr().unwrap()).unwrap();
    let (mut s5, _) = l1.accept().unwrap();
    let tw = Watched {
        what: "TIME_WAIT",
        local: c5.local_addr().unwrap(),
        remote: c5.peer_addr().unwrap(),
        fd: None,
    };
    drop(c5);
    assert_eq!(s5.read(&mut [0u8; 16]).unwrap(), 0);
    drop(s5);
    wait_until("the TIME_WAIT socket", || {
        ss().get(&tw.key()).is_some_and(|l| l.state == "TIME_WAIT")
    });
    watched.push(tw);

    let mut source = LinuxSource::open().expect("sock_diag");
    let mut last = Vec::new();
    for attempt in 1..=40 {
        match bracket(&mut source, &watched) {
            Ok(checked) => {
                let filled: BTreeSet<&str> = FILLED_FIELDS.iter().copied().collect();
                assert_eq!(
                    checked, filled,
                    "the fields checked against the kernel are the fields the Linux source fills"
                );
                println!(
                    "kernel oracle: {} fields agree (attempt {attempt})",
                    checked.len()
                );
                return;
            }
            Err(problems) => {
                if let Some(p) = problems.iter().find(|p| !p.moved) {
                    panic!(
                        "{}: {} is {}, the kernel says {} (steady before and after the sample)\n\
                         all problems: {problems:#?}",
                        p.socket, p.field, p.got, p.want
                    );
                }
                last = problems;
            }
        }
    }
    panic!("the kernel's values kept moving across 40 samples: {last:#?}");
}

/// What the kernel says one field is.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Absent,
    Text(String),
    /// A number known within `[lo, hi]` (ss rounds timers).
    Num(u64, u64),
    Float(f64),
}

fn num(v: impl Into<u64>) -> Val {
    let v = v.into();
    Val::Num(v, v)
}

#[derive(Debug)]
#[allow(dead_code)] // read by the failure's Debug output
struct Problem {
    socket: &'static str,
    field: String,
    got: String,
    want: String,
    /// The kernel's answer changed between before and after, so the
    /// sample may have seen a third value: worth another try.
    moved: bool,
}

/// Before, sample, after; then every field of every watched socket
/// against the bracket. Returns the fields checked (present and equal).
fn bracket(
    source: &mut LinuxSource,
    watched: &[Watched],
) -> Result<BTreeSet<&'static str>, Vec<Problem>> {
    let before: Vec<BTreeMap<&'static str, Val>> = {
        let ss = ss();
        watched.iter().map(|w| oracle(w, &ss)).collect()
    };
    let ts = 1_700_000_000_000_000_000;
    let mut out = Vec::new();
    let stats = source.sockets(ts, &mut out).expect("sample");
    assert_eq!(stats.skipped, 0);
    let after: Vec<BTreeMap<&'static str, Val>> = {
        let ss = ss();
        watched.iter().map(|w| oracle(w, &ss)).collect()
    };
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    for ((w, b), a) in watched.iter().zip(&before).zip(&after) {
        let rec = out
            .iter()
            .find(|r| r.local == w.local && r.remote == w.remote)
            .unwrap_or_else(|| panic!("{} ({} -> {}) not sampled", w.what, w.local, w.remote));
        let got = fields_of(rec);
        let names: BTreeSet<&str> = b
            .keys()
            .copied()
            .chain(got.keys().map(|k| k.as_str()))
            .collect();
        for name in names {
            let field = FILLED_FIELDS.iter().find(|f| **f == name).copied();
            let (bv, av) = (b.get(name), a.get(name));
            let g = got.get(name);
            let problem = |want: String, moved: bool| Problem {
                socket: w.what,
                field: name.to_string(),
                got: format!("{g:?}"),
                want,
                moved,
            };
            let (Some(bv), Some(av)) = (bv, av) else {
                problems.push(problem("no oracle for this field".into(), false));
                continue;
            };
            let ok = match (bv, av, g) {
                (Val::Absent, Val::Absent, None) => true,
                (Val::Text(x), Val::Text(y), Some(serde_json::Value::String(s))) => {
                    s == x || s == y
                }
                (Val::Num(l1, h1), Val::Num(l2, h2), Some(v)) => v
                    .as_u64()
                    .is_some_and(|v| v >= *l1.min(l2) && v <= *h1.max(h2)),
                (Val::Float(x), Val::Float(y), Some(v)) => {
                    v.as_f64().is_some_and(|v| v >= x.min(*y) && v <= x.max(*y))
                }
                _ => false,
            };
            if ok {
                if bv != &Val::Absent {
                    checked.insert(field.unwrap_or_else(|| panic!("{name} is not a filled field")));
                }
            } else {
                problems.push(problem(format!("{bv:?} .. {av:?}"), bv != av));
            }
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}

/// The record's fields as JSON values, plus the hidden process key.
fn fields_of(r: &SocketRecord) -> BTreeMap<String, serde_json::Value> {
    let mut m: BTreeMap<String, serde_json::Value> = serde_json::to_value(r)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    if let Some(k) = r.proc_key() {
        m.insert("proc_key".into(), k.into());
    }
    m
}

/// The kernel's view of every field the Linux source fills, for one
/// socket: from the descriptor where there is one, else from `ss`.
fn oracle(w: &Watched, ss: &BTreeMap<(String, String), SsLine>) -> BTreeMap<&'static str, Val> {
    let line = ss
        .get(&w.key())
        .unwrap_or_else(|| panic!("{} ({:?}) missing from ss", w.what, w.key()));
    let mut o: BTreeMap<&'static str, Val> =
        FILLED_FIELDS.iter().map(|f| (*f, Val::Absent)).collect();
    o.insert("ts", num(1_700_000_000_000_000_000u64));
    o.insert("local", Val::Text(w.local.to_string()));
    o.insert("remote", Val::Text(w.remote.to_string()));
    o.insert("state", Val::Text(line.state.clone()));
    o.insert("sock_id", num(line.cookie));
    let mini = matches!(line.state.as_str(), "TIME_WAIT" | "SYN_RECEIVED");
    let listen = line.state == "LISTEN";
    if let Some((kind, lo, hi)) = &line.timer {
        let field = match kind.as_str() {
            "on" => "timer_rexmt_ms",
            "keepalive" => "timer_keep_ms",
            "timewait" => "timer_2msl_ms",
            "persist" => "timer_persist_ms",
            other => panic!("timer kind {other}"),
        };
        o.insert(field, Val::Num(*lo, *hi));
    }
    if mini {
        return o;
    }
    let fd = w.fd.expect("a full socket the test holds a descriptor for");
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).unwrap();
    o.insert("uid", num(meta.uid()));
    o.insert("inode", num(meta.ino()));
    o.insert("proc_key", num(meta.ino()));
    assert_eq!(line.inode, meta.ino(), "ss and fstat agree on the inode");
    o.insert("sock_id", num(sockopt::cookie(fd)));
    o.insert("cc", Val::Text(sockopt::congestion(fd)));
    let mem = &line.skmem;
    o.insert("rcv_buf_used", num(mem["r"]));
    o.insert("rcv_buf_hiwat", num(mem["rb"]));
    o.insert("snd_buf_hiwat", num(mem["tb"]));
    o.insert("snd_buf_used", num(mem["w"]));
    let pct = |u: u64, h: u64| (h > 0).then(|| (u as f64 * 1000.0 / h as f64).round() / 10.0);
    for (field, u, h) in [
        ("rcv_buf_pct", mem["r"], mem["rb"]),
        ("snd_buf_pct", mem["w"], mem["tb"]),
    ] {
        o.insert(field, pct(u, h).map_or(Val::Absent, Val::Float));
    }
    if listen {
        // A listener's queues count connections (ss: Recv-Q the accept
        // queue, Send-Q the backlog), and its tcp_info is mostly
        // placeholders: the source reports the queues as accept_queue and
        // accept_backlog and leaves the rest out.
        o.insert("accept_queue", num(line.recv_q));
        o.insert("accept_backlog", num(line.send_q));
        return o;
    }
    o.insert("rcv_queue", num(line.recv_q));
    o.insert("snd_queue", num(line.send_q));
    let (t, len) = sockopt::tcp_info(fd);
    macro_rules! has {
        ($f:ident) => {
            len >= std::mem::offset_of!(libc::tcp_info, $f) + std::mem::size_of_val(&t.$f)
        };
    }
    macro_rules! put {
        ($name:literal, $f:ident) => {
            if has!($f) {
                o.insert($name, num(t.$f));
            }
        };
    }
    put!("mss", tcpi_snd_mss);
    put!("rtt_us", tcpi_rtt);
    put!("rttvar_us", tcpi_rttvar);
    put!("rto_us", tcpi_rto);
    put!("rexmit", tcpi_total_retrans);
    put!("ooo", tcpi_rcv_ooopack);
    put!("dsack_pack", tcpi_dsack_dups);
    put!("bytes_sent", tcpi_bytes_sent);
    put!("bytes_acked", tcpi_bytes_acked);
    put!("bytes_received", tcpi_bytes_received);
    put!("bytes_retrans", tcpi_bytes_retrans);
    put!("segs_out", tcpi_segs_out);
    put!("segs_in", tcpi_segs_in);
    put!("unacked", tcpi_unacked);
    put!("lost", tcpi_lost);
    put!("retrans_out", tcpi_retrans);
    put!("delivery_rate", tcpi_delivery_rate);
    put!("idle_ms", tcpi_last_data_recv);
    put!("snd_wnd", tcpi_snd_wnd);
    put!("rcv_wnd", tcpi_rcv_wnd);
    // ~0: no RTT sample / no pacing rate.
    if has!(tcpi_min_rtt) && t.tcpi_min_rtt != u32::MAX {
        o.insert("rtt_min_us", num(t.tcpi_min_rtt));
    }
    if has!(tcpi_pacing_rate) && t.tcpi_pacing_rate != u64::MAX {
        o.insert("pacing_rate", num(t.tcpi_pacing_rate));
    }
    let mss = u64::from(t.tcpi_snd_mss);
    if mss > 0 {
        o.insert("cwnd", num(u64::from(t.tcpi_snd_cwnd) * mss));
        let ss_raw = u64::from(t.tcpi_snd_ssthresh);
        o.insert(
            "ssthresh",
            num(if ss_raw >= 0x7fff_ffff {
                0x7fff_ffff
            } else {
                ss_raw * mss
            }),
        );
    }
    // The two 4-bit window scales share a byte, first member in the low
    // bits on little-endian targets; ss, which reads them through the C
    // bitfields, must agree with that split whenever it shows them.
    let ws = t.tcpi_snd_rcv_wscale;
    let (snd, rcv) = if cfg!(target_endian = "little") {
        (ws & 0x0f, ws >> 4)
    } else {
        (ws >> 4, ws & 0x0f)
    };
    if let Some((s, r)) = line.wscale {
        assert_eq!(
            (u64::from(snd), u64::from(rcv)),
            (s, r),
            "{}: wscale",
            w.what
        );
    }
    o.insert("snd_wscale", num(snd));
    o.insert("rcv_wscale", num(rcv));
    o
}

/// One `ss -tinemO` line, the parts the test reads.
#[derive(Debug)]
struct SsLine {
    /// In the record's spelling (`ESTABLISHED`, `SYN_SENT`).
    state: String,
    recv_q: u64,
    send_q: u64,
    /// Kind (`on`, `keepalive`, `timewait`, `persist`) and the time left
    /// within the precision ss prints.
    timer: Option<(String, u64, u64)>,
    inode: u64,
    cookie: u64,
    skmem: BTreeMap<String, u64>,
    wscale: Option<(u64, u64)>,
}

/// Every TCP socket of the namespace, keyed by (local, remote) as the
/// record writes them (a listener's remote as `0.0.0.0:0`).
fn ss() -> BTreeMap<(String, String), SsLine> {
    let out = Command::new("ss")
        .args(["-tinemaOH"])
        .output()
        .expect("running ss (iproute2)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let state = match t[0] {
                "ESTAB" => "ESTABLISHED".to_string(),
                "SYN-RECV" => "SYN_RECEIVED".to_string(),
                other => other.replace('-', "_"),
            };
            let mut line = SsLine {
                state,
                recv_q: t[1].parse().unwrap(),
                send_q: t[2].parse().unwrap(),
                timer: None,
                inode: 0,
                cookie: 0,
                skmem: BTreeMap::new(),
                wscale: None,
            };
            for tok in &t[5..] {
                if let Some(v) = tok.strip_prefix("timer:(") {
                    let parts: Vec<&str> = v.trim_end_matches(')').split(',').collect();
                    let (lo, hi) = ss_time(parts[1]);
                    line.timer = Some((parts[0].to_string(), lo, hi));
                } else if let Some(v) = tok.strip_prefix("ino:") {
                    line.inode = v.parse().unwrap();
                } else if let Some(v) = tok.strip_prefix("sk:") {
                    line.cookie = u64::from_str_radix(v, 16).unwrap();
                } else if let Some(v) = tok.strip_prefix("skmem:(") {
                    for kv in v.trim_end_matches(')').split(',') {
                        let at = kv.find(|c: char| c.is_ascii_digit()).unwrap();
                        line.skmem
                            .insert(kv[..at].to_string(), kv[at..].parse().unwrap());
                    }
                } else if let Some(v) = tok.strip_prefix("wscale:") {
                    let (s, r) = v.split_once(',').unwrap();
                    line.wscale = Some((s.parse().unwrap(), r.parse().unwrap()));
                }
            }
            let peer = t[4].replace(":*", ":0");
            ((t[3].to_string(), peer), line)
        })
        .collect()
}

/// A time as ss prints it (`236ms`, `1.234ms` = 1 s 234 ms, `59sec`,
/// `2min5sec`, `119min`), as the range of milliseconds it stands for: ss
/// drops the milliseconds past 10 s or 1 min and the seconds past 10 min.
fn ss_time(s: &str) -> (u64, u64) {
    let (mut min, mut sec, mut ms) = (0u64, 0u64, 0u64);
    let mut rest = s;
    if let Some((m, r)) = rest.split_once("min") {
        min = m.parse().unwrap();
        rest = r;
    }
    if let Some(v) = rest.strip_suffix("sec") {
        sec = v.parse().unwrap();
    } else if let Some(v) = rest.strip_suffix("ms") {
        match v.split_once('.') {
            Some((s, m)) => {
                sec = s.parse().unwrap();
                ms = m.parse().unwrap();
            }
            None => ms = v.parse().unwrap(),
        }
    } else {
        assert!(rest.is_empty(), "ss time {s:?}");
    }
    let lo = min * 60_000 + sec * 1000 + ms;
    let slack = if min > 9 {
        59_999
    } else if min > 0 || sec > 9 {
        999
    } else {
        0
    };
    (lo, lo + slack)
}

#[test]
fn ss_times_are_read_as_ranges() {
    assert_eq!(ss_time("236ms"), (236, 236));
    assert_eq!(ss_time("1.234ms"), (1234, 1234));
    assert_eq!(ss_time("5sec"), (5000, 5000));
    assert_eq!(ss_time("59sec"), (59_000, 59_999));
    assert_eq!(ss_time("2min5sec"), (125_000, 125_999));
    assert_eq!(ss_time("119min"), (7_140_000, 7_199_999));
    assert_eq!(ss_time(""), (0, 0));
}
