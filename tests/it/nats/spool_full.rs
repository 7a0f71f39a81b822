//! A tiny spool with the server down: the oldest batches are dropped and
//! counted exactly, the newest kept and delivered once the server is back,
//! and the file output is unaffected.

use std::time::Duration;

use super::{config, first_run_seqs, second_run, system_lines, wait_system_line};
use crate::support::daemon::{Agent, summary};
use crate::support::nats::NatsServer;

#[test]
fn a_full_spool_drops_the_oldest_counts_them_and_spares_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let mut server = NatsServer::start(dir.path());
    server.create_stream();
    server.kill();
    let cfg = config(
        &out,
        &spool,
        &server.url(),
        // Every batch is one system line of about the same size (see
        // `config`), so none is larger than the spool.
        "tiers = [\"fast\"]\nencoding = \"json\"\nspool_max = \"8KiB\"",
    );
    let agent_dir = dir.path().join("agent1");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir, &cfg);
    wait_system_line(&out, "batches dropped", Duration::from_secs(30), |l| {
        l["stream_dropped"].as_u64().unwrap_or(0) >= 10
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent exit {status}:\n{log}");

    // Exact: every fast batch the agent produced (one system line each in
    // the files) was either dropped or is still spooled.
    let produced = system_lines(&out, "fast").len() as u64;
    let stopped = log
        .lines()
        .find(|l| l.contains("stream output stopped"))
        .unwrap_or_else(|| panic!("no stop line:\n{log}"));
    let field = |k: &str| -> u64 {
        stopped
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in `{stopped}`"))
    };
    let (dropped, spooled) = (field("dropped"), field("spooled"));
    assert!(dropped >= 10, "{stopped}");
    assert_eq!(
        dropped + spooled,
        produced,
        "{stopped}; {produced} produced"
    );
    // The counter in the system lines never goes back and never passes
    // the final count.
    let counts: Vec<u64> = system_lines(&out, "fast")
        .iter()
        .map(|l| l["stream_dropped"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(*counts.last().unwrap() <= dropped);

    // The file output lost nothing.
    let s = summary(&log);
    let files = s
        .sinks
        .iter()
        .find(|(name, _)| name.starts_with("json:"))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no file sink in the summary:\n{log}"));
    assert_eq!(files["failed"], 0);
    assert_eq!(files["dropped"], 0);
    assert_eq!(files["written"], files["offered"]);
    assert_eq!(s.dropped, 0, "the pipeline dropped records:\n{log}");

    // Back online: exactly the newest `spooled` batches of the first run
    // arrive, the oldest `dropped` never do.
    server.restart();
    // The same spool, with room: the second run's first batches may be
    // appended before its publisher has connected, and must not push the
    // first run's out.
    let roomy = cfg.replace("spool_max = \"8KiB\"", "spool_max = \"1MiB\"");
    assert_ne!(roomy, cfg);
    let (messages, _) = second_run(dir.path(), &roomy, &server, 3);
    let seqs = first_run_seqs(&messages);
    assert_eq!(
        seqs,
        (dropped..produced).collect::<Vec<_>>(),
        "the first run: the oldest {dropped} dropped, the rest delivered in order"
    );
    // JSON payloads: the lines of one poll, system line first.
    let body = String::from_utf8(messages[0].payload.clone()).unwrap();
    assert!(body.starts_with("{\"type\":\"system\""), "{body}");
}
