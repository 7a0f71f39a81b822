//! The Unix socket endpoint of the real agent against a hostile local user
//! (`nobody`, through `setpriv`) and a careless operator: a symlink swapped
//! in at the socket path before a SIGHUP changes nothing outside the
//! agent's own socket, a second agent on the same path is refused naming
//! the first one's pid, and `check-config` refuses what `run` would.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::daemon::{Agent, wait_exit};
use crate::support::wait;
use nix::sys::signal::Signal;

const NOBODY: u32 = 65534;

fn config(out: &Path, sock: &Path, mode: &str, group: &str) -> String {
    format!(
        r#"[tiers.fast]
interval = "1s"
[tiers.standard]
enabled = false
[tiers.slow]
enabled = false
[tiers.aggregate]
enabled = false
[[output]]
dir = "{}"
[endpoint]
unix_socket = "{}"
unix_socket_mode = "{mode}"
unix_socket_group = "{group}"
"#,
        out.display(),
        sock.display()
    )
}

/// Run `script` under `sh -c` as nobody with no supplementary groups.
fn as_nobody(script: &str) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv (util-linux)");
    assert!(
        out.status.success(),
        "as nobody: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory tree nobody can reach: the test's temp dir opened for
/// traversal, and `sockets/` owned by nobody (a service user's run
/// directory), where nobody may rename and create entries.
fn hostile_layout() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sockets = dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    std::os::unix::fs::chown(&sockets, Some(NOBODY), Some(NOBODY)).unwrap();
    (dir, sockets)
}

fn victim(dir: &Path) -> PathBuf {
    let v = dir.join("victim");
    std::fs::write(&v, b"root's secret").unwrap();
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&v, Some(0), Some(0)).unwrap();
    v
}

fn assert_untouched(v: &Path) {
    let md = std::fs::metadata(v).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o600, "victim's mode changed");
    assert_eq!((md.uid(), md.gid()), (0, 0), "victim's owner changed");
    assert_eq!(std::fs::read(v).unwrap(), b"root's secret");
}

#[test]
fn a_symlink_swapped_in_before_sighup_is_refused_and_the_victim_keeps_its_mode() {
    let (dir, sockets) = hostile_layout();
    let v = victim(dir.path());
    let sock = sockets.join("np.sock");
    let out = dir.path().join("out");
    let agent = Agent::start(dir.path(), &config(&out, &sock, "0660", ""));
    assert!(sock.exists(), "socket not created:\n{}", agent.log_text());

    as_nobody(&format!(
        "mv {s} {s}.moved && ln -s {v} {s}",
        s = sock.display(),
        v = v.display()
    ));
    std::fs::write(&agent.config, config(&out, &sock, "0640", "nogroup")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reloaded;", Duration::from_secs(30));
    assert_untouched(&v);
    let log = agent.log_text();
    assert!(
        log.contains("no longer the socket") && log.contains(&sock.display().to_string()),
        "the refusal must be logged naming the path:\n{log}"
    );
    // The link is still the attacker's link, not replaced or followed.
    assert!(std::fs::symlink_metadata(&sock).unwrap().is_symlink());

    // Without an attack the same reload applies the new mode and group.
    std::fs::remove_file(&sock).unwrap();
    std::fs::rename(sockets.join("np.sock.moved"), &sock).unwrap();
    std::fs::write(&agent.config, config(&out, &sock, "0600", "daemon")).unwrap();
    let before = agent.log_text().matches("reloaded;").count();
    agent.signal(Signal::SIGHUP);
    wait::until("the reload in the log", Duration::from_secs(30), || {
        agent.log_text().matches("reloaded;").count() > before
    });
    let md = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(md.mode() & 0o777, 0o600);
    assert_eq!(md.gid(), 1);
    // No private directory is left behind.
    let names: Vec<String> = std::fs::read_dir(&sockets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["np.sock", "np.sock.lock"], "{names:?}");
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert_untouched(&v);
}

#[test]
fn a_second_agent_on_the_same_socket_exits_1_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("np.sock");
    let first = Agent::start(
        dir.path(),
        &config(&dir.path().join("a"), &sock, "0660", ""),
    );
    let lock = dir.path().join("np.sock.lock");
    let md = std::fs::symlink_metadata(&lock).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o777, 0o600);

    let second_dir = dir.path().join("second");
    std::fs::create_dir(&second_dir).unwrap();
    let cfg = second_dir.join("netpulse.toml");
    std::fs::write(&cfg, config(&second_dir.join("b"), &sock, "0660", "")).unwrap();
    let mut second = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut second, Duration::from_secs(30));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("pid {}", first.child.id())),
        "the holder's pid must be named:\n{err}"
    );
    // The first agent's socket still answers.
    std::os::unix::net::UnixStream::connect(&sock).expect("first agent's socket");
    let (status, _, log) = first.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_symlink_planted_at_the_lock_file_is_refused_and_not_followed() {
    let (dir, sockets) = hostile_layout();
    let v = victim(dir.path());
    let sock = sockets.join("np.sock");
    as_nobody(&format!("ln -s {} {}.lock", v.display(), sock.display()));
    let cfg = dir.path().join("netpulse.toml");
    std::fs::write(&cfg, config(&dir.path().join("out"), &sock, "0660", "")).unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // wait_exit kills an agent that did not refuse, and fails.
    let status = wait_exit(&mut agent, Duration::from_secs(30));
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("np.sock.lock"), "{err}");
    assert_untouched(&v);
    assert!(!sock.exists(), "no socket may be served without the lock");
}

fn check_config(dir: &Path, endpoint: &str) -> (i32, String) {
    let cfg = dir.join("check.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[output]]\ndir = \"{}\"\n[endpoint]\nunix_socket = \"{}\"\n{endpoint}",
            dir.join("out").display(),
            dir.join("np.sock").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_a_world_accessible_mode_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["0666", "0777", "0662"] {
        let (code, err) = check_config(dir.path(), &format!("unix_socket_mode = \"{mode}\"\n"));
        assert_eq!(code, 1, "{mode}: {err}");
        assert!(err.contains("unix_socket_world_readable"), "{err}");
    }
    let (code, err) = check_config(
        dir.path(),
        "unix_socket_mode = \"0666\"\nunix_socket_world_readable = true\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = check_config(dir.path(), "unix_socket_mode = \"0660\"\n");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn check_config_refuses_a_group_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = check_config(dir.path(), "unix_socket_group = \"nosuchgroup\"\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unix_socket_group") && err.contains("nosuchgroup"),
        "{err}"
    );
    let (code, err) = check_config(dir.path(), "unix_socket_group = \"daemon\"\n");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_symlink_planted_at_the_socket_path_before_start_is_refused() {
    let (dir, sockets) = hostile_layout();
    let v = victim(dir.path());
    let sock = sockets.join("np.sock");
    as_nobody(&format!("ln -s {} {}", v.display(), sock.display()));
    let cfg = dir.path().join("netpulse.toml");
    std::fs::write(
        &cfg,
        config(&dir.path().join("out"), &sock, "0640", "daemon"),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut agent, Duration::from_secs(30));
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_untouched(&v);
    assert!(std::fs::symlink_metadata(&sock).unwrap().is_symlink());
}
