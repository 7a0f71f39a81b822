//! `credentials` must be a NATS `.creds` file: `check-config` and a
//! reload name a file that is not one (empty, no seed, a FIFO) and what
//! is wrong with it; a good one passes.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::daemon::Agent;

/// The layout `nsc` writes, for a fresh user key; the JWT is a test
/// double (only its shape is checked before connecting).
fn creds_text() -> String {
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    format!(
        "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVQUJDIn0.c2ln\n------END NATS USER JWT------\n\n\
************************* IMPORTANT *************************\n\
NKEY Seed printed below can be used to sign and prove identity.\n\n\
-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

fn check_config(cfg: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("check-config")
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config(dir: &std::path::Path, creds: &std::path::Path) -> String {
    super::config(
        &dir.join("out"),
        &dir.join("spool"),
        "nats://127.0.0.1:1",
        &format!("credentials = \"{}\"", creds.display()),
    )
}

#[test]
fn check_config_refuses_what_is_not_a_creds_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.creds");
    std::fs::write(&good, creds_text()).unwrap();
    let cfg = dir.path().join("netpulse.toml");
    std::fs::write(&cfg, config(dir.path(), &good)).unwrap();
    let (code, err) = check_config(&cfg);
    assert_eq!(code, 0, "a good creds file was refused: {err}");

    let no_seed = creds_text().split("****").next().unwrap().to_string();
    let fifo = dir.path().join("fifo.creds");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for (name, content, expected) in [
        ("empty.creds", Some(String::new()), "is empty"),
        ("no-seed.creds", Some(no_seed), "no NKey seed section"),
        // Nobody writes to it: read at once as empty, never waited on.
        ("fifo.creds", None, "is empty"),
    ] {
        let path = dir.path().join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        std::fs::write(&cfg, config(dir.path(), &path)).unwrap();
        let (code, err) = check_config(&cfg);
        assert_eq!(code, 1, "{name}: accepted: {err}");
        assert!(
            err.contains("nats[0].credentials:")
                && err.contains(&path.display().to_string())
                && err.contains(expected),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_reload_to_a_bad_creds_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.creds");
    std::fs::write(&good, creds_text()).unwrap();
    let agent = Agent::start(dir.path(), &config(dir.path(), &good));
    let bad = dir.path().join("bad.creds");
    std::fs::write(&bad, "user: agent\npassword: s3cret\n").unwrap();
    std::fs::write(&agent.config, config(dir.path(), &bad)).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reload refused", Duration::from_secs(30));
    let log = agent.log_text();
    assert!(
        log.contains("bad.creds") && log.contains("no user JWT section"),
        "{log}"
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
}
