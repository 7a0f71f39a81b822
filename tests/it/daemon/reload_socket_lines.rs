//! SIGHUP switching an output between `sockets = "all"` and `"changed"`:
//! after the switch to `changed` the next poll writes every socket once (a
//! fresh baseline), then only changes; after the switch back every poll
//! writes every socket again.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use crate::support::wait;
use nix::sys::signal::Signal;

fn config(out: &Path, port: u16, mode: &str) -> String {
    format!(
        r#"
[tiers.fast]
interval = "100ms"
[tiers.standard]
enabled = false
[filter]
local_ports = [{port}]
remote_ports = [{port}]
[[output]]
format = "json"
dir = "{o}"
tiers = ["fast"]
sockets = "{mode}"
heartbeat = "1h"
"#,
        o = out.display()
    )
}

/// `(sockets_written, sockets_unchanged)` of every fast poll so far.
fn polls(path: &Path) -> Vec<(u64, u64)> {
    json_lines_so_far(path)
        .iter()
        .filter(|v| v["type"] == "system" && v["tier"] == "fast")
        .map(|v| {
            (
                v["sockets_written"].as_u64().unwrap(),
                v["sockets_unchanged"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn wait_polls(path: &Path, at_least: usize) -> Vec<(u64, u64)> {
    let t0 = Instant::now();
    loop {
        let p = polls(path);
        if p.len() >= at_least {
            return p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {} fast polls after 30 s",
            p.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn switching_to_changed_writes_one_baseline_then_changes_only() {
    // Idle connections: nothing changes but the clock.
    let conns = connections("127.0.2.8", 20);
    let sockets = 2 * 20 + 1;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = out.join("netpulse.jsonl");
    let agent = Agent::start(dir.path(), &config(&out, conns.port, "all"));
    let before = wait_polls(&file, 5).len();

    std::fs::write(&agent.config, config(&out, conns.port, "changed")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reloaded", Duration::from_secs(10));
    let switched = wait_polls(&file, before + 15);

    std::fs::write(&agent.config, config(&out, conns.port, "all")).unwrap();
    agent.signal(Signal::SIGHUP);
    wait::until(
        "the second reload in the log",
        Duration::from_secs(10),
        || agent.log_text().matches("reloaded").count() >= 2,
    );
    let n = switched.len();
    wait::until(
        "a full poll after switching back",
        Duration::from_secs(30),
        || polls(&file).last() == Some(&(sockets as u64, 0)) && polls(&file).len() >= n + 3,
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let all_polls = polls(&file);
    // Whatever the timing of the switch: the polls run "every socket"
    // (`all`, or the baseline), then from the first poll that leaves any
    // out, nothing but the clock changed: nothing is written...
    let full = (sockets as u64, 0);
    let first_changed = all_polls[..n]
        .iter()
        .position(|&p| p != full)
        .unwrap_or_else(|| panic!("no poll left anything out: {all_polls:?}"));
    assert!(first_changed >= before, "{all_polls:?}");
    assert!(
        all_polls[first_changed..n]
            .iter()
            .all(|&p| p == (0, sockets as u64)),
        "after the baseline only changes (none here): {all_polls:?}"
    );
    // ...and the polls before it were all full (the baseline among them).
    assert!(
        all_polls[..first_changed].iter().all(|&p| p == full),
        "{all_polls:?}"
    );
    // Back to `all`: the last polls are full again.
    let last = *all_polls.last().unwrap();
    assert_eq!(last, full, "{all_polls:?}");
}
