//! Drain: a 100 ms fast tier over thousands of sockets, then SIGTERM. Every
//! record the agent counted as produced is in the files, every file ends
//! with a complete line, and the exit is 0 within the deadline.

use std::time::Duration;

use crate::support::daemon::*;
use crate::support::wait;

#[test]
fn sigterm_drains_every_produced_record() {
    // 1,500 connections = 3,001 sockets on this test's own address. The
    // filter keeps other tests' sockets on this shared host out of the
    // counts (the agent still dumps the whole table every 100 ms).
    let conns = connections("127.0.2.1", 1500);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[agent]
shutdown_timeout = "5s"
[tiers.fast]
interval = "100ms"
[filter]
local_ports = [{p}]
remote_ports = [{p}]
[[output]]
format = "json"
dir = "{o}"
sockets = "all"
[[output]]
format = "csv"
dir = "{o}"
sockets = "all"
"#,
            o = out.display(),
            p = conns.port
        ),
    );
    // At least six fast polls, however busy this shared host is.
    let active = out.join("netpulse.jsonl");
    wait::until_or(
        "six fast polls",
        Duration::from_secs(30),
        || fast_polls(&active) >= 6,
        || agent.log_text(),
    );
    let (status, took, log) = agent.stop();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(took < Duration::from_secs(5), "drain took {took:?}");
    let sum = summary(&log);
    assert!(
        sum.produced > 1500 * 6,
        "only {} records produced:\n{log}",
        sum.produced
    );
    assert_eq!(sum.dropped, 0, "{log}");

    // JSON: every produced record is a line, once.
    let mut json = 0u64;
    let mut ours = 0u64;
    let mut fast_systems = 0u64;
    let needle = format!("127.0.2.1:{}", conns.port);
    for f in files(&out, "netpulse.jsonl") {
        for v in json_lines(&f) {
            json += 1;
            if v["type"] == "socket" && v["local"] == needle.as_str() {
                ours += 1;
            }
            if v["type"] == "system" && v["tier"] == "fast" {
                assert_eq!(v["interval_ms"], 100);
                fast_systems += 1;
            }
        }
    }
    assert_eq!(
        json, sum.produced,
        "records in JSON files vs produced\n{log}"
    );
    assert!(fast_systems >= 6, "{fast_systems} fast polls");
    // Each fast poll saw the listener and the 1,500 accepted sockets.
    assert_eq!(
        ours,
        1501 * fast_systems,
        "{ours} of our sockets over {fast_systems} polls"
    );

    // CSV: the same records, split into a system and a socket file.
    let mut rows = 0u64;
    for f in files(&out, "netpulse-") {
        let recs = csv_records(&f);
        assert!(
            recs.first()
                .is_some_and(|h| &h[0] == "ts" || h.iter().any(|c| c == "ts")),
            "{} has no header",
            f.display()
        );
        rows += recs.len() as u64 - 1;
    }
    assert_eq!(
        rows, sum.produced,
        "records in CSV files vs produced\n{log}"
    );
    for (name, s) in &sum.sinks {
        assert_eq!(s["written"], sum.produced, "{name}: {s:?}");
        assert_eq!(s["failed"] + s["dropped"], 0, "{name}: {s:?}");
    }
    drop(conns);
}

/// Fast-tier system lines in `path` so far (whole lines only).
fn fast_polls(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"system""#) && l.contains(r#""tier":"fast""#))
        .count()
}
