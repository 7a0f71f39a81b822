//! `[[nats]]` against a real `nats-server -js` started by each test:
//! outages, an agent killed while spooling, a full spool, TLS and users.

mod crash;
mod credentials;
mod max_payload;
mod outage;
mod shutdown;
mod spool_full;
mod tls;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::{files, json_lines_so_far};

/// An agent config: the fast tier every 100 ms, a JSON file output of
/// every tier under `out`, and one `[[nats]]` (plus `nats_extra` keys).
/// No socket passes the filter: every batch is its system line, so the
/// tests do not depend on how many sockets other tests hold on the host.
pub fn config(out: &Path, spool: &Path, url: &str, nats_extra: &str) -> String {
    config_with_filter(out, spool, url, nats_extra, "local_ports = [1]")
}

/// `config` with the `[filter]` keys given.
pub fn config_with_filter(
    out: &Path,
    spool: &Path,
    url: &str,
    nats_extra: &str,
    filter: &str,
) -> String {
    format!(
        r#"[tiers.fast]
interval = "100ms"

[filter]
{filter}

[[output]]
format = "json"
dir = "{}"
prefix = "files"

[[nats]]
url = "{url}"
spool_dir = "{}"
{nats_extra}
"#,
        out.display(),
        spool.display()
    )
}

/// The `system` lines the file output wrote so far, of `tier`.
pub fn system_lines(out: &Path, tier: &str) -> Vec<serde_json::Value> {
    files(out, "files.jsonl")
        .iter()
        .flat_map(|f| json_lines_so_far(f))
        .filter(|v| v["type"] == "system" && v["tier"] == tier)
        .collect()
}

/// Wait until the file output's latest fast `system` line satisfies
/// `done`; panics after `timeout`.
pub fn wait_system_line(
    out: &Path,
    what: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        if let Some(last) = system_lines(out, "fast").pop() {
            if done(&last) {
                return last;
            }
        }
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ids of the first run seen in `messages` (the agent's first start).
pub fn first_run(messages: &[crate::support::nats::Stored]) -> Option<String> {
    messages.first().map(|m| m.id_parts().1)
}

/// The agent started again on `cfg` (in `dir/agent2`) and stopped once the
/// stream holds `others` batches of a run after the first: every stored
/// message and the second run's log. The second run must exit 0.
pub fn second_run(
    dir: &std::path::Path,
    cfg: &str,
    server: &crate::support::nats::NatsServer,
    others: usize,
) -> (Vec<crate::support::nats::Stored>, String) {
    let agent_dir = dir.join("agent2");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = crate::support::daemon::Agent::start(&agent_dir, cfg);
    let messages = server.wait_for(
        "the second run streaming after the first run's spool",
        Duration::from_secs(60),
        |m| {
            let Some(first) = first_run(m) else {
                return false;
            };
            m.iter().filter(|s| s.id_parts().1 != first).count() >= others
        },
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "second run exit {status}:\n{log}");
    (messages, log)
}

/// The seqs of the first run's batches, in stream order.
pub fn first_run_seqs(messages: &[crate::support::nats::Stored]) -> Vec<u64> {
    let first = first_run(messages).expect("a batch in the stream");
    messages
        .iter()
        .filter(|m| m.id_parts().1 == first)
        .map(|m| m.id_parts().2)
        .collect()
}
