//! SIGHUP: a valid config takes effect without restart (interval change in
//! `interval_ms`, an added output starts writing), an invalid one is
//! refused with a log line while output continues, and 100 SIGHUPs in a
//! row lose no records and leak no descriptors.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use crate::support::wait;
use nix::sys::signal::Signal;

fn config(out: &Path, port: u16, fast: &str, second_output: bool) -> String {
    let mut c = format!(
        r#"
[tiers.fast]
interval = "{fast}"
[tiers.standard]
interval = "1s"
[filter]
local_ports = [{port}]
remote_ports = [{port}]
[[output]]
format = "json"
dir = "{o}"
prefix = "a"
"#,
        o = out.display()
    );
    if second_output {
        c += &format!(
            "[[output]]\nformat = \"json\"\ndir = \"{}\"\nprefix = \"b\"\n",
            out.display()
        );
    }
    c
}

fn fast_intervals(path: &Path) -> Vec<u64> {
    // The agent is writing this file: whole lines only.
    json_lines_so_far(path)
        .iter()
        .filter(|v| v["type"] == "system" && v["tier"] == "fast")
        .map(|v| v["interval_ms"].as_u64().unwrap())
        .collect()
}

#[test]
fn reload_applies_refuses_and_survives_a_storm() {
    let conns = connections("127.0.2.3", 10);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (a, b) = (out.join("a.jsonl"), out.join("b.jsonl"));
    let agent = Agent::start(dir.path(), &config(&out, conns.port, "200ms", false));
    wait::until("fast polls at 200 ms", Duration::from_secs(30), || {
        fast_intervals(&a).iter().filter(|&&i| i == 200).count() >= 3
    });
    assert!(!b.exists());

    // Valid: new interval, new output.
    std::fs::write(&agent.config, config(&out, conns.port, "300ms", true)).unwrap();
    agent.signal(Signal::SIGHUP);
    wait::until(
        "300 ms polls in both outputs",
        Duration::from_secs(30),
        || {
            fast_intervals(&a).iter().filter(|&&i| i == 300).count() >= 2
                && fast_intervals(&b).iter().filter(|&&i| i == 300).count() >= 2
        },
    );
    // (A poll already running at the reload may still carry 200.)
    assert!(fast_intervals(&b).iter().skip(1).all(|&i| i == 300));
    agent.wait_log("output added", Duration::from_secs(1));

    // Invalid: refused, logged, output continues on the old config.
    std::fs::write(&agent.config, "[tiers.fast]\ninterval = \"soon\"\n").unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log(
        "reload refused: tiers.fast.interval",
        Duration::from_secs(10),
    );
    let before = line_count(&b);
    wait::until(
        "output after the refused reload",
        Duration::from_secs(30),
        || line_count(&b) > before + 5,
    );

    // 100 SIGHUPs with a valid config: no lost records, no leaked fds.
    // Count descriptors once this reload is done and both sinks have
    // reopened their files (each does so before its next batch).
    let reloads = agent.log_text().matches("reloaded; files reopened").count();
    let reopens = agent.log_text().matches("files reopened sink=").count();
    std::fs::write(&agent.config, config(&out, conns.port, "300ms", true)).unwrap();
    agent.signal(Signal::SIGHUP);
    wait::until(
        "the reload and both reopens",
        Duration::from_secs(30),
        || {
            let log = agent.log_text();
            log.matches("reloaded; files reopened").count() > reloads
                && log.matches("files reopened sink=").count() >= reopens + 2
        },
    );
    let fds_before = agent.open_fds();
    for _ in 0..100 {
        agent.signal(Signal::SIGHUP);
        // Signals this close together coalesce; the spacing makes many of
        // them separate reloads.
        std::thread::sleep(Duration::from_millis(5));
    }
    // The storm is over once a last reload with a visible change (a new
    // interval) shows in both outputs: SIGHUPs are handled in order.
    std::fs::write(&agent.config, config(&out, conns.port, "250ms", true)).unwrap();
    agent.signal(Signal::SIGHUP);
    wait::until(
        "250 ms polls in both outputs after the storm",
        Duration::from_secs(30),
        || {
            fast_intervals(&a).iter().filter(|&&i| i == 250).count() >= 2
                && fast_intervals(&b).iter().filter(|&&i| i == 250).count() >= 2
        },
    );
    // A poll in progress holds descriptors for a moment (the dump socket,
    // /proc directories): a leak is a count that never comes back down.
    let t0 = Instant::now();
    let mut fds_after = agent.open_fds();
    while fds_after > fds_before && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
        fds_after = agent.open_fds();
    }
    assert!(
        fds_after <= fds_before,
        "descriptors {fds_before} -> {fds_after} after 100 SIGHUPs, for 15 s"
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let sum = summary(&log);
    assert_eq!(sum.dropped, 0, "{log}");
    for (name, s) in &sum.sinks {
        assert_eq!(s["written"], s["offered"], "{name} lost records: {s:?}");
        assert_eq!(s["failed"] + s["dropped"], 0, "{name}: {s:?}");
        let prefix = if name.ends_with("/a") {
            "a.jsonl"
        } else {
            "b.jsonl"
        };
        let lines: usize = files(&out, prefix)
            .iter()
            .map(|f| json_lines(f).len())
            .sum();
        assert_eq!(lines as u64, s["written"], "{name}: files vs written");
    }
    assert_eq!(sum.sinks.len(), 2, "{log}");
    drop(conns);
}
