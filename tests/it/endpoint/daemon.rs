//! End to end through the real `netpulse run`: real sockets of this test
//! (1,500 loopback connections on 127.0.3.1, picked out by a port filter),
//! the real Linux source, the daemon's files, the endpoint's Unix stream and
//! HTTP, a stuck stream reader, SIGHUP and SIGTERM.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::support::daemon::{Agent, json_lines, summary};
use crate::support::wait;
use netpulse_testkit::endpoint::{http_get, metric};
use nix::sys::signal::Signal;

const CONNECTIONS: usize = 1500;

fn free_port() -> u16 {
    TcpListener::bind("127.0.3.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &std::path::Path, port: u16, http: u16, mode: &str) -> String {
    format!(
        r#"
[tiers.fast]
interval = "1s"
[tiers.standard]
interval = "1s"
[tiers.slow]
interval = "5s"
[tiers.aggregate]
enabled = false
[filter]
local_ports = [{port}]
remote_ports = [{port}]
[[output]]
format = "json"
dir = "{dir}"
tiers = ["fast", "standard", "slow"]
sockets = "all"
[endpoint]
unix_socket = "{dir}/netpulse.sock"
unix_socket_mode = "{mode}"
unix_client_queue = 4
unix_write_timeout = "5s"
http_listen = "127.0.3.1:{http}"
metrics_ports = [{port}]
"#,
        dir = dir.display()
    )
}

#[test]
fn the_agent_serves_its_samples_and_drops_a_stuck_reader_without_losing_file_records() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.3.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept while connecting: the listen backlog is far below 1,500.
    let acceptor = {
        let listener = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            (0..CONNECTIONS)
                .map(|_| listener.accept().unwrap().0)
                .collect::<Vec<TcpStream>>()
        })
    };
    let clients: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.3.1", port)).unwrap())
        .collect();
    let servers = acceptor.join().unwrap();
    let want_sockets = 2 * CONNECTIONS as u64 + 1;

    let http = free_port();
    let agent = Agent::start(dir.path(), &config(dir.path(), port, http, "0600"));
    let addr: SocketAddr = format!("127.0.3.1:{http}").parse().unwrap();
    let sock = dir.path().join("netpulse.sock");
    assert_eq!(std::fs::metadata(&sock).unwrap().mode() & 0o777, 0o600);

    // The snapshot shows exactly our sockets, attributed to this process.
    let me = std::process::id();
    let snap: serde_json::Value = wait::for_value(
        "our sockets with their process",
        Duration::from_secs(30),
        || {
            let r = http_get(addr, "/api/snapshot?sockets=all");
            let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            let socks = v["sockets"].as_array()?;
            let ours = socks.iter().filter(|s| s["pid"] == me).count() as u64;
            (v["sockets_total"] == want_sockets && ours == want_sockets).then_some(v)
        },
    );
    let est = snap["summary"]["state_counts"][4].as_u64().unwrap();
    assert_eq!(est, 2 * CONNECTIONS as u64);
    let sample = snap["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "ESTABLISHED")
        .unwrap();
    assert!(
        sample["rtt_us"].is_u64(),
        "no RTT from the Linux source: {sample}"
    );

    // /metrics: our port, by side, and the agent's health; promtool agrees.
    let m = http_get(addr, "/metrics").text();
    let series = |side: &str, state: &str| {
        metric(
            &m,
            &format!("netpulse_port_sockets{{port=\"{port}\",side=\"{side}\",state=\"{state}\"}}"),
        )
    };
    assert_eq!(series("local", "ESTABLISHED"), Some(CONNECTIONS as f64));
    assert_eq!(series("remote", "ESTABLISHED"), Some(CONNECTIONS as f64));
    assert_eq!(series("local", "LISTEN"), Some(1.0));
    assert!(metric(&m, "netpulse_poll_duration_seconds{tier=\"fast\"}").is_some());
    assert!(metric(&m, "netpulse_skipped_ticks_total").is_some());
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian `prometheus`)");
    let mut promtool = promtool;
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), m.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The Unix stream: one reader keeps up, one never reads. Each fast
    // and standard batch is ~2 MB, so the stuck one fills its socket and
    // its four-sample queue within a few seconds and is dropped.
    let stuck = UnixStream::connect(&sock).unwrap();
    let mut reader = UnixStream::connect(&sock).unwrap();
    let collector = std::thread::spawn(move || {
        let mut all = Vec::new();
        reader
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = reader.read_to_end(&mut all);
        all
    });
    wait::for_value(
        "the stuck reader to be dropped",
        Duration::from_secs(60),
        || {
            let m = http_get(addr, "/metrics").text();
            (metric(&m, "netpulse_endpoint_unix_clients_dropped_total")? >= 1.0).then_some(())
        },
    );
    // The reader keeps receiving: two more samples published, then exactly
    // one client was dropped and one is still connected.
    let published = |m: &str| metric(m, "netpulse_endpoint_published_total");
    let at_drop = published(&http_get(addr, "/metrics").text()).expect("published_total");
    let m = wait::for_value(
        "two more published samples",
        Duration::from_secs(60),
        || {
            let m = http_get(addr, "/metrics").text();
            (published(&m)? >= at_drop + 2.0).then_some(m)
        },
    );
    assert_eq!(
        metric(&m, "netpulse_endpoint_unix_clients_dropped_total"),
        Some(1.0)
    );
    assert_eq!(metric(&m, "netpulse_endpoint_unix_clients"), Some(1.0));

    // SIGHUP: a new mode applies to the live socket.
    std::fs::write(&agent.config, config(dir.path(), port, http, "0660")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reloaded", Duration::from_secs(10));
    wait::for_value("the new socket mode", Duration::from_secs(10), || {
        (std::fs::metadata(&sock).ok()?.mode() & 0o777 == 0o660).then_some(())
    });

    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent exit {status}:\n{log}");
    assert!(!sock.exists(), "socket file left after exit");
    drop(stuck);
    let streamed = collector.join().unwrap();

    // Files: complete, every record the agent produced, whole batches.
    let sum = summary(&log);
    let file = dir.path().join("netpulse.jsonl");
    let lines = json_lines(&file);
    assert_eq!(lines.len() as u64, sum.produced, "file lost records");
    assert_eq!(sum.dropped, 0);
    // The reader got whole lines, and they are the file's own lines, in
    // order (a contiguous run of batches).
    assert!(!streamed.is_empty(), "the reading client got nothing");
    assert_eq!(streamed.last(), Some(&b'\n'));
    let file_bytes = std::fs::read(&file).unwrap();
    let first = &streamed[..=streamed.iter().position(|&b| b == b'\n').unwrap()];
    let at = file_bytes
        .windows(first.len())
        .position(|w| w == first)
        .expect("the first streamed line is not in the file");
    assert_eq!(
        file_bytes.get(at..at + streamed.len()),
        Some(streamed.as_slice()),
        "streamed lines differ from the file's"
    );
    drop(servers);
    drop(clients);
}
