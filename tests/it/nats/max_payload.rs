//! A batch larger than the server's `max_payload` can never be published:
//! it is dropped and counted, and the batches behind it still go out.

use std::time::Duration;

use super::{config_with_filter, wait_system_line};
use crate::support::daemon::{Agent, connections};
use crate::support::nats::NatsServer;

#[test]
fn a_batch_over_max_payload_is_dropped_and_the_rest_flows() {
    // Enough sockets that every fast batch (JSON, every socket) is larger
    // than 16 KiB, while the other tiers' system-only batches are small.
    let conns = connections("127.0.2.31", 100);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let server = NatsServer::start_with(
        dir.path(),
        "max_payload: 16384\n".into(),
        "nats",
        std::sync::Arc::new(async_nats::ConnectOptions::new),
    );
    server.create_stream();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(
        &agent_dir,
        &config_with_filter(
            &out,
            &spool,
            &server.url(),
            "encoding = \"json\"\nsockets = \"all\"",
            &format!("local_ports = [{0}]\nremote_ports = [{0}]", conns.port),
        ),
    );
    wait_system_line(
        &out,
        "oversized batches dropped",
        Duration::from_secs(30),
        |l| l["stream_dropped"].as_u64().unwrap_or(0) >= 5,
    );
    // The small batches of the other tiers were not held up behind them.
    let messages = server.wait_for("small batches delivered", Duration::from_secs(30), |m| {
        ["standard", "slow", "aggregate"]
            .iter()
            .all(|t| m.iter().any(|s| s.id_parts().0 == *t))
    });
    assert!(
        messages.iter().all(|m| m.payload.len() <= 16384),
        "the server stored a message over its max_payload"
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent exit {status}:\n{log}");
    assert!(
        log.contains("larger than the server's max_payload"),
        "{log}"
    );
}
