//! The real binary under hostile inputs and tight limits: a config that is
//! `/dev/zero` or huge is refused quickly, `RLIMIT_NOFILE` is raised or the
//! agent refuses with the numbers, `once` says when attribution is
//! incomplete for lack of descriptors, and logs to a file or pipe carry no
//! colour codes.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::wait_exit;

fn netpulse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netpulse"));
    c.env_remove("RUST_LOG").env_remove("NO_COLOR");
    c
}

/// `netpulse ARGS` under `prlimit --nofile=SOFT:HARD`.
fn limited(soft: u64, hard: u64, args: &[&str]) -> Command {
    let mut c = Command::new("prlimit");
    c.arg(format!("--nofile={soft}:{hard}"))
        .arg(env!("CARGO_BIN_EXE_netpulse"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    c
}

/// Run to the end, failing (and killing it) past `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> (Output, Duration) {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, timeout);
    let output = Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    (output, t0.elapsed())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn an_endless_or_huge_config_is_refused_quickly_with_a_clear_error() {
    for args in [
        &["check-config", "/dev/zero"][..],
        &["run", "--config", "/dev/zero"][..],
    ] {
        let mut c = netpulse();
        c.args(args);
        let (out, took) = run_bounded(c, Duration::from_secs(30));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("larger than 1048576 bytes"), "{args:?}: {err}");
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let (out, _) = run_bounded(
        {
            let mut c = netpulse();
            c.arg("check-config").arg(&big);
            c
        },
        Duration::from_secs(30),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2000000 bytes"), "{err}");
}

fn http_config(dir: &std::path::Path, max_connections: u32) -> std::path::PathBuf {
    let cfg = dir.join("netpulse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[output]]\ndir = \"{}\"\n[endpoint]\nhttp_listen = \"127.0.0.1:0\"\nhttp_max_connections = {max_connections}\n",
            dir.join("out").display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_hard_descriptor_limit_below_the_config_s_needs_is_refused_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = http_config(dir.path(), 1000);
    let cfg = cfg.to_str().unwrap();
    for args in [&["run", "--config", cfg][..], &["check-config", cfg][..]] {
        let (out, _) = run_bounded(limited(200, 200, args), Duration::from_secs(30));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("RLIMIT_NOFILE allows 200")
                && err.contains("http_max_connections 1002")
                && err.contains("file descriptors"),
            "{args:?}: {err}"
        );
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing may be created by a refused start"
    );
}

#[test]
fn a_low_soft_descriptor_limit_is_raised_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = http_config(dir.path(), 500);
    let log = dir.path().join("agent.log");
    let mut child = limited(100, 4096, &["run", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child.id());
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("running;")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "agent did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!(
                "agent exited {s}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // prlimit execs the agent: same pid.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(
        (502..=4096).contains(&soft),
        "soft limit not raised: {line}"
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("raised the soft RLIMIT_NOFILE")
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success());
}

#[test]
fn a_reload_that_needs_more_descriptors_than_the_hard_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = http_config(dir.path(), 100);
    let log = dir.path().join("agent.log");
    let mut child = limited(300, 300, &["run", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child.id());
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_log = |needle: &str| {
        let t0 = Instant::now();
        while !read_log().contains(needle) {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no `{needle}` in the log:\n{}",
                read_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_log("running;");
    http_config(dir.path(), 1000);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_log("reload refused");
    let text = read_log();
    assert!(
        text.contains("RLIMIT_NOFILE allows 300") && text.contains("http_max_connections 1002"),
        "{text}"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{}", read_log());
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn once_says_when_attribution_is_incomplete_for_lack_of_descriptors() {
    // The socket dump needs a few descriptors, the process scan a few
    // more: somewhere in this range the dump works and the scan runs out.
    let mut incomplete = None;
    for n in 5..=16u64 {
        let (out, _) = run_bounded(limited(n, n, &["once"]), Duration::from_secs(60));
        let err = text(&out.stderr);
        if out.status.success() && err.contains("attribution is incomplete") {
            incomplete = Some((n, out));
            break;
        }
    }
    let (n, out) =
        incomplete.expect("no limit from 5 to 16 made `once` report incomplete attribution");
    assert!(
        !out.stdout.is_empty(),
        "limit {n}: the sockets are still printed"
    );
    // Logs to a file carry no colour codes.
    assert!(!out.stderr.contains(&0x1b), "{}", text(&out.stderr));

    let (out, _) = run_bounded(limited(1024, 1024, &["once"]), Duration::from_secs(60));
    assert!(out.status.success());
    assert!(
        !text(&out.stderr).contains("attribution is incomplete"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let out = netpulse()
        .arg("once")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stderr.is_empty(), "debug logging printed nothing");
    assert!(
        !out.stderr.contains(&0x1b),
        "colour codes in piped logs: {:?}",
        text(&out.stderr)
    );
}
