//! The shutdown deadline and the second signal, with a sink that cannot
//! drain: standard output into a pipe nobody reads.

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use crate::support::sockopt::pipe_fill;
use crate::support::wait;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn stuck_agent(dir: &std::path::Path, port: u16, timeout: &str) -> KillOnDrop {
    let cfg = dir.join("netpulse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nshutdown_timeout = \"{timeout}\"\n[tiers.fast]\ninterval = \"100ms\"\n[filter]\nlocal_ports = [{port}]\nremote_ports = [{port}]\n[[output]]\nformat = \"json\"\ndir = \"-\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_netpulse"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped()) // never read: the pipe fills and the sink blocks
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Wait until the agent's log contains `needle`.
fn wait_log(dir: &std::path::Path, needle: &str) {
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
        if log.contains(needle) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no `{needle}` in the log after 30 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the agent's stdout pipe is full: its sink is blocked in a
/// write. (Waiting for the log's "tick skipped" was not enough: on a busy
/// machine the first skip may be for a slow poll, and the warning is then
/// rate-limited for a minute.)
fn wait_stuck(child: &std::process::Child) {
    let fd = child.stdout.as_ref().expect("stdout is piped").as_raw_fd();
    wait::until(
        "the agent's stdout pipe to fill",
        Duration::from_secs(30),
        || {
            let (queued, size) = pipe_fill(fd);
            queued == size
        },
    );
}

#[test]
fn drain_past_the_deadline_exits_nonzero() {
    // ~200 lines of ~500 bytes per poll fill a 64 KiB pipe at once.
    let conns = connections("127.0.2.6", 100);
    let dir = tempfile::tempdir().unwrap();
    let mut agent = stuck_agent(dir.path(), conns.port, "1s");
    let child = &mut agent.0;
    wait_stuck(child);
    let t0 = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_exit(child, Duration::from_secs(10));
    let took = t0.elapsed();
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        // The deadline is 1 s; the upper bound leaves room for a busy machine.
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(
        log.contains("drain did not finish within agent.shutdown_timeout"),
        "{log}"
    );
    drop(conns);
}

#[test]
fn second_signal_exits_at_once() {
    let conns = connections("127.0.2.7", 100);
    let dir = tempfile::tempdir().unwrap();
    let mut agent = stuck_agent(dir.path(), conns.port, "60s");
    let child = &mut agent.0;
    wait_stuck(child);
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGTERM).unwrap();
    // The drain has begun, so the next signal is the second one.
    wait_log(dir.path(), "stopping: draining queued samples");
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the second signal"
    );
    let t0 = Instant::now();
    kill(pid, Signal::SIGINT).unwrap();
    let status = wait_exit(child, Duration::from_secs(10));
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    // At once: far from the 60 s deadline, with room for a busy machine.
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(log.contains("second signal"), "{log}");
    drop(conns);
}
