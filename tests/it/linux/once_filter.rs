//! `netpulse once` filters on real loopback connections this test opens:
//! each option keeps exactly this test's sockets that match it. Other
//! programs open sockets at the same time, so every run is narrowed to this
//! test's ports, which nobody else uses.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};

use serde_json::Value;

/// (local, remote, state) of every socket line.
type Seen = BTreeSet<(String, String, String)>;

fn netpulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("once")
        .args(args)
        .output()
        .expect("running netpulse once")
}

fn sockets(args: &[&str]) -> Seen {
    let out = netpulse(args);
    assert!(
        out.status.success(),
        "netpulse once {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = Seen::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["type"] == "socket" {
            seen.insert((
                v["local"].as_str().unwrap().to_string(),
                v["remote"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            ));
        }
    }
    seen
}

fn row(local: SocketAddr, remote: SocketAddr, state: &str) -> (String, String, String) {
    (local.to_string(), remote.to_string(), state.to_string())
}

/// A listener with one connection: the listener, the client end and the
/// accepted end.
struct Pair {
    listener: TcpListener,
    client: TcpStream,
    server: TcpStream,
}

impl Pair {
    fn open(bind: &str) -> Pair {
        let listener = TcpListener::bind(bind).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        Pair {
            listener,
            client,
            server,
        }
    }
    fn port(&self) -> String {
        self.listener.local_addr().unwrap().port().to_string()
    }
    fn listen_row(&self) -> (String, String, String) {
        let l = self.listener.local_addr().unwrap();
        let any: SocketAddr = if l.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        row(l, any, "LISTEN")
    }
    fn client_row(&self) -> (String, String, String) {
        row(
            self.client.local_addr().unwrap(),
            self.client.peer_addr().unwrap(),
            "ESTABLISHED",
        )
    }
    fn server_row(&self) -> (String, String, String) {
        row(
            self.server.local_addr().unwrap(),
            self.server.peer_addr().unwrap(),
            "ESTABLISHED",
        )
    }
}

fn set(rows: &[(String, String, String)]) -> Seen {
    rows.iter().cloned().collect()
}

#[test]
fn every_filter_keeps_exactly_the_matching_loopback_sockets() {
    let v4 = Pair::open("127.0.0.1:0");
    let v6 = Pair::open("[::1]:0");
    let (p4, p6) = (v4.port(), v6.port());
    let all4 = set(&[v4.listen_row(), v4.client_row(), v4.server_row()]);

    assert_eq!(sockets(&["--port", &p4]), all4, "--port: either end");
    assert_eq!(
        sockets(&["--state", "established", "--port", &p4]),
        set(&[v4.client_row(), v4.server_row()]),
        "--state established"
    );
    assert_eq!(
        sockets(&["--state", "LISTEN", "--state", "Established", "--port", &p4]),
        all4,
        "repeated --state, any case"
    );
    assert_eq!(
        sockets(&["--sport", &p4]),
        set(&[v4.listen_row(), v4.server_row()]),
        "--sport"
    );
    assert_eq!(
        sockets(&["--local-port", &p4]),
        sockets(&["--sport", &p4]),
        "--local-port is --sport"
    );
    assert_eq!(
        sockets(&["--dport", &p4]),
        set(&[v4.client_row()]),
        "--dport"
    );
    assert_eq!(
        sockets(&["--port", &p4, "--port", &p6, "-6"]),
        set(&[v6.listen_row(), v6.client_row(), v6.server_row()]),
        "-6"
    );
    assert_eq!(sockets(&["--port", &p4, "--port", &p6, "-4"]), all4, "-4");
    assert_eq!(
        sockets(&["--port", &p6, "--remote", "::1/128"]),
        set(&[v6.client_row(), v6.server_row()]),
        "--remote ::1/128 (the listener's remote is ::)"
    );
    assert_eq!(
        sockets(&["--port", &p4, "--local", "127.0.0.0/8"]),
        all4,
        "--local 127.0.0.0/8"
    );
    assert!(
        sockets(&["--port", &p4, "--local", "10.0.0.0/8"]).is_empty(),
        "--local outside loopback"
    );

    let pid = std::process::id().to_string();
    assert_eq!(sockets(&["--port", &p4, "--pid", &pid]), all4, "--pid ours");
    // Our own pid plus one, which owns none of our sockets.
    let other = (std::process::id() + 1).to_string();
    assert!(
        sockets(&["--port", &p4, "--pid", &other]).is_empty(),
        "--pid other"
    );
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let comm = comm.trim_end();
    assert_eq!(
        sockets(&["--port", &p4, "--command", comm]),
        all4,
        "--command {comm}"
    );
    assert!(
        sockets(&["--port", &p4, "--command", "no-such-command"]).is_empty(),
        "--command other"
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("netpulse.toml");
    std::fs::write(
        &cfg,
        "[filter]\nexclude_states = [\"LISTEN\"]\n\n[[output]]\nformat = \"json\"\ndir = \"-\"\n",
    )
    .unwrap();
    assert_eq!(
        sockets(&["--port", &p4, "--config", cfg.to_str().unwrap()]),
        set(&[v4.client_row(), v4.server_row()]),
        "--config applies [filter]"
    );
}

#[test]
fn table_shows_the_matching_connections_aligned() {
    let v4 = Pair::open("127.0.0.1:0");
    let p4 = v4.port();
    let out = netpulse(&["--state", "established", "--port", &p4, "--format", "table"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two connections:\n{text}");
    assert!(lines[0].starts_with("State"), "{text}");
    let client_local = v4.client.local_addr().unwrap().to_string();
    let server_local = v4.server.local_addr().unwrap().to_string();
    let locals: BTreeSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        locals,
        BTreeSet::from([client_local.as_str(), server_local.as_str()])
    );
    let pid = std::process::id().to_string();
    for l in &lines[1..] {
        assert!(l.starts_with("ESTABLISHED"), "{l}");
        assert!(l.contains(&format!("{pid}/")), "owner shown: {l}");
        // The remote column starts where its header does.
        let words: Vec<&str> = l.split_whitespace().collect();
        let local_end = l.find(words[1]).unwrap() + words[1].len();
        let remote_at = local_end + l[local_end..].find(words[2]).unwrap();
        assert_eq!(lines[0].find("Remote"), Some(remote_at), "{text}");
    }
}

#[test]
fn bad_filter_values_exit_2_with_the_reason() {
    let cases: [(&[&str], &str); 6] = [
        (&["--state", "establish"], "unknown TCP state"),
        (&["--port", "http"], "--port"),
        (&["--sport", "70000"], "65535"),
        (&["--local", "10.0.0.0/33"], "0 to 32"),
        (&["--remote", "example.org"], "not an IPv4 or IPv6 address"),
        (&["--pid=-3"], "--pid"),
    ];
    for (args, reason) in cases {
        let out = netpulse(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(reason), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed sockets");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[filter]\nexclude_states = [\"bogus\"]\n").unwrap();
    let out = netpulse(&["--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn a_terminal_gets_the_table_and_a_pipe_gets_json() {
    let v4 = Pair::open("127.0.0.1:0");
    let p4 = v4.port();
    // script(1) (bsdutils) runs the command on a pseudo-terminal.
    let cmd = format!(
        "{} once --state established --port {p4}",
        env!("CARGO_BIN_EXE_netpulse")
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .output()
        .expect("script(1) from bsdutils");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("State "), "a table on a terminal:\n{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    // Into a pipe: JSON lines.
    let piped = netpulse(&["--state", "established", "--port", &p4]);
    assert!(piped.stdout.starts_with(b"{\"type\":\"system\""));
}
