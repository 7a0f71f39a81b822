//! A hung server (connections open, nothing answered) does not hold the
//! agent's stop past `agent.shutdown_timeout`: the publisher lets go in
//! time, the agent exits 0, and what was not acknowledged stays in the
//! spool and reaches the stream at the next start, once.

use std::time::Duration;

use super::{config, first_run_seqs, second_run, wait_system_line};
use crate::support::daemon::Agent;
use crate::support::nats::{NatsServer, assert_contiguous};

/// `spooled=N` of the "stream output stopped" line.
fn spooled_at_stop(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("stream output stopped"))
        .unwrap_or_else(|| panic!("no `stream output stopped` line:\n{log}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("spooled="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no spooled= in `{line}`"))
}

#[test]
fn a_hung_server_does_not_hold_the_stop_past_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let server = NatsServer::start(dir.path());
    server.create_stream();
    let timeout = Duration::from_secs(1);
    let cfg = format!(
        "[agent]\nshutdown_timeout = \"{}ms\"\n{}",
        timeout.as_millis(),
        config(&out, &spool, &server.url(), "tiers = [\"fast\"]")
    );
    let agent_dir = dir.path().join("agent1");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir, &cfg);
    server.wait_for("the agent streaming", Duration::from_secs(30), |m| {
        m.len() >= 3
    });

    server.pause();
    wait_system_line(
        &out,
        "batches waiting for acknowledgements",
        Duration::from_secs(30),
        |l| l["stream_spooled"].as_u64().unwrap_or(0) >= 3,
    );
    let (status, took, log) = agent.stop();
    assert!(
        status.success(),
        "the stop did not finish within shutdown_timeout ({status}):\n{log}"
    );
    // The drain itself is bounded by the timeout; the rest is the
    // process starting to stop and exiting on a busy machine.
    assert!(
        took < timeout + Duration::from_secs(2),
        "stopping took {took:?}:\n{log}"
    );
    let kept = spooled_at_stop(&log);
    assert!(kept >= 3, "{kept} batches kept in the spool:\n{log}");

    server.resume();
    let (messages, log) = second_run(dir.path(), &cfg, &server, 1);
    let from_first = first_run_seqs(&messages);
    assert!(
        from_first.len() as u64 >= 3 + kept,
        "{} batches of the first run in the stream; {kept} were kept at the stop:\n{log}",
        from_first.len()
    );
    assert_eq!(
        from_first,
        (0..from_first.len() as u64).collect::<Vec<_>>(),
        "the first run's batches: every one from seq 0, once, in order"
    );
    assert_contiguous(&messages);
}
