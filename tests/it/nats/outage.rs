//! The server is killed for 10 s while the agent streams at a 100 ms fast
//! tier, then restarted on its store: afterwards the stream holds every
//! batch the agent produced, per tier, seq contiguous from 0, in order, no
//! duplicates.

use std::time::{Duration, Instant};

use netpulse::output::proto::StreamDecoder;

use super::{config, system_lines, wait_system_line};
use crate::support::daemon::Agent;
use crate::support::nats::{NatsServer, assert_contiguous};

#[test]
fn every_batch_arrives_once_and_in_order_across_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let mut server = NatsServer::start(dir.path());
    server.create_stream();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir, &config(&out, &spool, &server.url(), ""));

    // Streaming: fast batches reach the stream.
    server.wait_for("first fast batches", Duration::from_secs(30), |m| {
        m.iter().filter(|s| s.id_parts().0 == "fast").count() >= 5
    });

    let files_at_kill = system_lines(&out, "fast").len();
    server.kill();
    let down = Instant::now();
    // While the server is away the batches pile up in the spool, and the
    // system lines say so.
    let line = wait_system_line(&out, "batches spooled", Duration::from_secs(30), |l| {
        l["stream_spooled"].as_u64().unwrap_or(0) >= 20
    });
    assert_eq!(line["stream_dropped"], 0, "{line}");
    // The outage itself: 10 s, measured.
    while down.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The file output kept writing meanwhile (a dead server delays nothing).
    // (At least 2 s worth of the 10 s: a busy test machine skips ticks.)
    let files_during = system_lines(&out, "fast").len();
    assert!(
        files_during >= files_at_kill + 20,
        "the file output stalled during the outage: {files_at_kill} -> {files_during} fast lines"
    );
    server.restart();

    // The spool drains: a system line reports nothing spooled.
    wait_system_line(&out, "spool drained", Duration::from_secs(60), |l| {
        l["stream_spooled"] == 0
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent exit {status}:\n{log}");

    // What the files hold is what the agent produced: the stream must hold
    // the same number of batches per tier, contiguous from seq 0.
    let produced: std::collections::BTreeMap<String, usize> =
        ["fast", "standard", "slow", "aggregate"]
            .iter()
            .map(|t| (t.to_string(), system_lines(&out, t).len()))
            .collect();
    let expected_fast = produced["fast"];
    let messages = server.wait_for(
        "every fast batch in the stream",
        Duration::from_secs(30),
        |m| m.iter().filter(|s| s.id_parts().0 == "fast").count() >= expected_fast,
    );
    let by_tier = assert_contiguous(&messages);
    for (tier, n) in &produced {
        let seqs = by_tier.get(tier).cloned().unwrap_or_default();
        assert_eq!(
            seqs,
            (0..*n as u64).collect::<Vec<_>>(),
            "tier {tier}: the stream's seqs differ from the {n} batches the files hold"
        );
    }
    // Each payload is one whole netpulse.v1.Batch of its tier.
    for m in messages.iter().step_by(17) {
        let mut framed = Vec::new();
        prost::encoding::encode_varint(m.payload.len() as u64, &mut framed);
        framed.extend_from_slice(&m.payload);
        let d = StreamDecoder::new(&framed[..]).next().unwrap().unwrap();
        assert_eq!(
            d.batch.tier.map(|t| t.name().to_string()),
            Some(m.id_parts().0.clone())
        );
        assert_eq!(d.batch.seq, m.id_parts().2);
        assert!(m.subject.starts_with("netpulse.") && m.subject.ends_with(&m.id_parts().0));
    }
    subscribe_prints_json_lines(&server.url(), expected_fast);
}

/// `netpulse subscribe` prints the stream's protobuf batches as the JSON
/// lines a file output writes.
fn subscribe_prints_json_lines(url: &str, want_systems: usize) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["subscribe", "--url", url, "--subject", "netpulse.*.fast"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = crate::support::daemon::KillOnDrop(child);
    // Lines come through a channel so that waiting for them is bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut systems = 0;
    while systems < want_systems {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|e| {
                panic!("subscribe printed {systems} system lines, then nothing: {e}")
            })
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["type"] == "system" {
            assert_eq!(v["tier"], "fast", "{v}");
            assert!(v["host"].is_string(), "{v}");
            systems += 1;
        }
    }
}
