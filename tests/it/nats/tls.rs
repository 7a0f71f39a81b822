//! A server requiring TLS (a throwaway CA made with openssl) and a user
//! and password. Wrong credentials, then a wrong CA: each a clear error in
//! the log, retried with backoff while the batches wait in the spool. The
//! right ones, given by SIGHUP: everything is delivered, from seq 0.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{config, system_lines, wait_system_line};
use crate::support::daemon::Agent;
use crate::support::nats::{NatsServer, assert_contiguous};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (installed by .ci/setup.d/45-nats.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`name.pem`, `name.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `server.pem`/`server.key` for 127.0.0.1, signed by `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

fn wait_log_lower(agent: &Agent, needle: &str, after: usize, timeout: Duration) {
    let t0 = Instant::now();
    loop {
        let log = agent.log_text();
        if log
            .get(after..)
            .is_some_and(|l| l.to_lowercase().contains(needle))
        {
            return;
        }
        assert!(
            t0.elapsed() < timeout,
            "no `{needle}` in the log within {timeout:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tls_and_a_password_connect_and_wrong_ones_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    make_ca(&pki, "ca");
    make_ca(&pki, "other-ca");
    make_server_cert(&pki, "ca");
    let ca = pki.join("ca.pem");
    // The agent's user may publish only to its own host's subjects.
    let host = netpulse::output::stream::nats::subject_token(&netpulse::output::proto::host_name());
    let extra = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\nauthorization {{\n  users = [\n    {{ user: agent, password: s3cret, permissions: {{ publish: [\"netpulse.{host}.>\"], subscribe: [\"_INBOX.>\"] }} }}\n    {{ user: reader, password: r3ad }}\n  ]\n}}\n",
        pki.join("server.pem").display(),
        pki.join("server.key").display()
    );
    let test_ca = ca.clone();
    let server = NatsServer::start_with(
        dir.path(),
        extra,
        "tls",
        Arc::new(move || {
            async_nats::ConnectOptions::new()
                .add_root_certificates(test_ca.clone())
                .require_tls(true)
                .user_and_password("reader".into(), "r3ad".into())
        }),
    );
    server.create_stream();
    let out = dir.path().join("out");
    let spool = dir.path().join("spool");
    let url = |password: &str| format!("tls://agent:{password}@127.0.0.1:{}", server.port);
    // A long shutdown_timeout: the final stop delivers what is still
    // spooled even on a machine busy enough to slow TLS and the store.
    let with = |password: &str, ca: &Path| {
        let cfg = config(
            &out,
            &spool,
            &url(password),
            &format!("tiers = [\"fast\"]\ntls_ca = \"{}\"", ca.display()),
        );
        format!("[agent]\nshutdown_timeout = \"30s\"\n{cfg}")
    };

    // Wrong password: refused by the server, said so, retried.
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir, &with("wrong", &ca));
    wait_log_lower(&agent, "authorization", 0, Duration::from_secs(30));
    let first = agent.log_text().len();
    wait_log_lower(&agent, "cannot connect", first, Duration::from_secs(30));

    // Wrong CA: the server's certificate is refused, said so.
    std::fs::write(&agent.config, with("s3cret", &pki.join("other-ca.pem"))).unwrap();
    let before = agent.log_text().len();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reloaded", Duration::from_secs(30));
    wait_log_lower(&agent, "certificate", before, Duration::from_secs(30));
    assert!(
        server.messages().is_empty(),
        "nothing may reach the stream without the right credentials"
    );

    // The right ones: everything spooled meanwhile arrives.
    std::fs::write(&agent.config, with("s3cret", &ca)).unwrap();
    agent.signal(Signal::SIGHUP);
    let t0 = Instant::now();
    while server.messages().len() < 30 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no batches over TLS within 60 s:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stop once the backlog from the refused connections is delivered, so
    // the stop has only the last few batches to send.
    wait_system_line(&out, "spool drained", Duration::from_secs(60), |l| {
        l["stream_spooled"] == 0
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "agent exit {status}:\n{log}");
    assert!(
        !log.contains("s3cret") && !log.contains(":wrong@"),
        "a password reached the log:\n{log}"
    );
    let produced = system_lines(&out, "fast").len();
    let messages = server.wait_for("every batch", Duration::from_secs(30), |m| {
        m.len() >= produced
    });
    let seqs = assert_contiguous(&messages).remove("fast").unwrap();
    assert_eq!(
        seqs,
        (0..produced as u64).collect::<Vec<_>>(),
        "every fast batch from seq 0, once, in order, across two refused connections and two reloads"
    );
}
