//! The agent is killed with SIGKILL while the server is down and its
//! spool holds batches; started again, it delivers every spooled batch of
//! the first run, none twice.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{config, first_run_seqs, second_run, wait_system_line};
use crate::support::daemon::Agent;
use crate::support::nats::{NatsServer, assert_contiguous};

#[test]
fn spooled_batches_survive_kill_9_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let mut server = NatsServer::start(dir.path());
    server.create_stream();
    server.kill();
    let cfg = config(&out, &spool, &server.url(), "tiers = [\"fast\"]");

    let agent_dir = dir.path().join("agent1");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir, &cfg);
    let line = wait_system_line(&out, "batches spooled", Duration::from_secs(30), |l| {
        l["stream_spooled"].as_u64().unwrap_or(0) >= 15
    });
    let spooled_seen = line["stream_spooled"].as_u64().unwrap();
    agent.signal(Signal::SIGKILL);
    drop(agent);

    server.restart();
    // The first run's batches come first (they were spooled first), then
    // the second run's.
    let (messages, log) = second_run(dir.path(), &cfg, &server, 5);
    assert!(
        log.contains("spooled batches found"),
        "the restart did not find the spool:\n{log}"
    );
    let from_first = first_run_seqs(&messages);
    assert!(
        from_first.len() as u64 >= spooled_seen,
        "{} batches of the first run delivered, {spooled_seen} were spooled",
        from_first.len()
    );
    assert_eq!(
        from_first,
        (0..from_first.len() as u64).collect::<Vec<_>>(),
        "the first run's batches: every one from seq 0, once, in order"
    );
    // No message id twice, across both runs.
    let mut ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message was stored twice");
    assert_contiguous(&messages);
}
