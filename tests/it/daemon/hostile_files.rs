//! The agent runs as root and writes into directories other users may be
//! able to write. These tests attack the file sinks with the real binary:
//! links, FIFOs and directories at the paths it writes, a second agent on
//! the same directory, a torn CSV row inside a quoted field, a closed or
//! stalled standard output, a refused reload, and `keep = 0`.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::daemon::*;
use crate::support::wait;
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_netpulse");

/// A config with a fast tier only (1 s unless given), sockets of `port`
/// only, and the given `[[output]]` tables.
fn config(port: u16, fast: &str, outputs: &str) -> String {
    format!(
        r#"
[tiers.fast]
interval = "{fast}"
[tiers.standard]
enabled = false
[tiers.slow]
enabled = false
[tiers.aggregate]
enabled = false
[filter]
local_ports = [{port}]
remote_ports = [{port}]
{outputs}
"#
    )
}

fn output(format: &str, dir: &Path, extra: &str) -> String {
    format!(
        "[[output]]\nformat = \"{format}\"\ndir = \"{}\"\nsockets = \"all\"\n{extra}\n",
        dir.display()
    )
}

/// `netpulse check-config FILE`: exit code and stderr.
fn check_config(cfg: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(cfg)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `netpulse run --config FILE` that must exit by itself: code and log.
fn run_to_exit(cfg: &Path, log: &Path) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(cfg)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(log).unwrap_or_default(),
    )
}

/// Bytes, mode and owner of a file, to prove nothing touched it.
fn fingerprint(path: &Path) -> (Vec<u8>, u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (std::fs::read(path).unwrap(), meta.mode(), meta.uid())
}

fn victim(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("secret of {name}\n").repeat(200)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn check_config_refuses_what_run_would_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let victim = victim(t, "victim");
    let before = fingerprint(&victim);
    let port = 9; // no socket uses it: tiny batches
    // Each case: the output dir, how to spoil it, a word the refusal holds.
    type Spoil = fn(&Path, &Path);
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "symlink-active",
            |d, v| {
                std::fs::create_dir(d).unwrap();
                std::os::unix::fs::symlink(v, d.join("netpulse.jsonl")).unwrap();
            },
            "symbolic link",
        ),
        (
            "symlink-lock",
            |d, v| {
                std::fs::create_dir(d).unwrap();
                std::os::unix::fs::symlink(v, d.join(".netpulse.lock")).unwrap();
            },
            "symbolic link",
        ),
        (
            "fifo-active",
            |d, _| {
                std::fs::create_dir(d).unwrap();
                nix::unistd::mkfifo(
                    &d.join("netpulse.jsonl"),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                )
                .unwrap();
            },
            "FIFO",
        ),
        (
            "dir-active",
            |d, _| {
                std::fs::create_dir_all(d.join("netpulse.jsonl")).unwrap();
            },
            "directory",
        ),
        (
            "hardlink-active",
            |d, v| {
                std::fs::create_dir(d).unwrap();
                std::fs::hard_link(v, d.join("netpulse.jsonl")).unwrap();
            },
            "hard links",
        ),
        (
            "dangling-dir",
            |d, _| {
                std::os::unix::fs::symlink(d.with_extension("missing"), d).unwrap();
            },
            "missing target",
        ),
    ];
    for (name, spoil, word) in cases {
        let dir = t.join(name);
        spoil(&dir, &victim);
        let cfg = t.join(format!("{name}.toml"));
        std::fs::write(&cfg, config(port, "1s", &output("json", &dir, ""))).unwrap();
        let (code, err) = check_config(&cfg);
        assert_eq!(code, 1, "{name}: check-config accepted it: {err}");
        assert!(err.contains(word), "{name}: no `{word}` in {err}");
        let (code, log) = run_to_exit(&cfg, &t.join(format!("{name}.log")));
        assert_eq!(code, 1, "{name}: run did not refuse: {log}");
        assert!(log.contains(word), "{name}: no `{word}` in {log}");
        assert_eq!(fingerprint(&victim), before, "{name}: the victim changed");
    }
    // A NUL in the directory name, and keep = 0 (the docs say 1-100000).
    for (name, out, word) in [
        (
            "nul",
            "[[output]]\nformat = \"json\"\ndir = \"/tmp/a\\u0000b\"\n".to_string(),
            "NUL",
        ),
        (
            "keep0",
            output("json", &t.join("keep0"), "keep = 0"),
            "keep",
        ),
    ] {
        let cfg = t.join(format!("{name}.toml"));
        std::fs::write(&cfg, config(port, "1s", &out)).unwrap();
        let (code, err) = check_config(&cfg);
        assert_eq!(code, 1, "{name}: check-config accepted it: {err}");
        assert!(err.contains(word), "{name}: no `{word}` in {err}");
        let (code, log) = run_to_exit(&cfg, &t.join(format!("{name}.log")));
        assert_eq!(code, 1, "{name}: run did not refuse: {log}");
    }
    assert!(!t.join("keep0").exists());
}

#[test]
fn a_second_agent_on_the_same_directory_exits_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let cfg = config(9, "1s", &output("csv", &out, ""));
    let first = Agent::start(t, &cfg);
    let other = t.join("second");
    std::fs::create_dir(&other).unwrap();
    let cfg2 = other.join("netpulse.toml");
    // Another format and prefix, same directory: still one agent per dir.
    std::fs::write(
        &cfg2,
        config(9, "1s", &output("json", &out, "prefix = \"b\"")),
    )
    .unwrap();
    let (code, log) = run_to_exit(&cfg2, &other.join("agent.log"));
    assert_eq!(code, 1, "second agent was not refused: {log}");
    let pid = first.pid().to_string();
    assert!(
        log.contains(&format!("pid {pid}")),
        "the refusal does not name pid {pid}: {log}"
    );
    assert!(!out.join("b.jsonl").exists(), "the second agent wrote");
    let (status, _, log) = first.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_directory_named_like_a_rotated_file_does_not_stop_pruning() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let planted = out.join("netpulse.jsonl.20200101T000000.000Z");
    std::fs::create_dir_all(&planted).unwrap();
    let conns = connections("127.0.0.1", 3);
    let cfg = config(
        conns.port,
        "250ms",
        &output("json", &out, "rotate_size = \"1KiB\"\nkeep = 2"),
    );
    let agent = Agent::start(t, &cfg);
    let rotated = || -> Vec<PathBuf> {
        files(&out, "netpulse.jsonl.")
            .into_iter()
            .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
            .collect()
    };
    let mut seen = HashSet::new();
    wait::until("five rotations", Duration::from_secs(60), || {
        seen.extend(rotated());
        seen.len() >= 5
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(rotated().len() <= 2, "pruning stopped: {:?}", rotated());
    assert!(planted.is_dir(), "the planted directory was touched");
    assert!(!log.contains("cannot rotate"), "{log}");
}

#[test]
fn a_csv_row_torn_inside_a_quoted_newline_is_cut_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let conns = connections("127.0.0.1", 2);
    let cfg = config(conns.port, "250ms", &output("csv", &out, ""));
    let socket_csv = out.join("netpulse-socket.csv");
    let agent = Agent::start(t, &cfg);
    wait::until("socket rows", Duration::from_secs(30), || {
        line_count(&socket_csv) >= 3
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let good = std::fs::read(&socket_csv).unwrap();
    // A crash while writing a command name holding a quote and a newline:
    // the file ends in a newline, inside an open quoted field.
    let mut torn = good.clone();
    torn.extend_from_slice(b"127.0.0.1:1,\"torn\"\"\n");
    std::fs::write(&socket_csv, &torn).unwrap();
    let agent = Agent::start(t, &cfg);
    wait::until("rows after the restart", Duration::from_secs(30), || {
        line_count(&socket_csv) >= good.iter().filter(|&&b| b == b'\n').count() + 3
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("removed an incomplete last record"), "{log}");
    let bytes = std::fs::read(&socket_csv).unwrap();
    assert!(
        bytes.starts_with(&good),
        "rows before the tear were changed"
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("torn"));
    let records = csv_records(&socket_csv);
    let width = records[0].len();
    for r in &records {
        assert_eq!(r.len(), width, "row merged into another: {r:?}");
    }
}

#[test]
fn a_closed_standard_output_ends_the_agent_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg_path = t.join("netpulse.toml");
    let conns = connections("127.0.0.1", 2);
    std::fs::write(
        &cfg_path,
        config(
            conns.port,
            "250ms",
            "[[output]]\nformat = \"json\"\ndir = \"-\"\n",
        ),
    )
    .unwrap();
    let log = t.join("agent.log");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Read the first line, then hang up like `head -n 1`.
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    loop {
        stdout.read_exact(&mut byte).unwrap();
        if byte[0] == b'\n' {
            break;
        }
    }
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("closed by its reader"), "{text}");
    assert!(!text.contains("disk full"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
}

#[test]
fn proto_counts_records_like_the_other_sinks() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let conns = connections("127.0.0.1", 5);
    let outputs = output("proto", &out, "") + &output("json", &out, "");
    let agent = Agent::start(t, &config(conns.port, "250ms", &outputs));
    wait::until("a few polls", Duration::from_secs(30), || {
        line_count(&out.join("netpulse.jsonl")) >= 30
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let s = summary(&log);
    let prefix = out.join("netpulse").display().to_string();
    let proto = &s.sinks[&format!("proto:{prefix}")];
    let json = &s.sinks[&format!("json:{prefix}")];
    assert!(proto["offered"] >= 30, "{log}");
    assert_eq!(proto["written"], proto["offered"], "{log}");
    assert_eq!(proto["written"], json["written"], "{log}");
}

#[test]
fn a_refused_reload_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = t.join("a");
    let b = t.join("b");
    let c = t.join("c");
    // c cannot take an output: a directory sits at its active file.
    std::fs::create_dir_all(c.join("netpulse.jsonl")).unwrap();
    let agent = Agent::start(t, &config(9, "1s", &output("json", &a, "")));
    let refused = output("json", &a, "") + &output("json", &b, "") + &output("json", &c, "");
    std::fs::write(&agent.config, config(9, "1s", &refused)).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log("reload refused", Duration::from_secs(20));
    assert!(!b.exists(), "the refused reload created {}", b.display());
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(!b.exists());
}

#[test]
fn a_stuck_sink_does_not_stall_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let cfg_path = t.join("netpulse.toml");
    // Enough sockets that one poll overfills a pipe nobody reads.
    let conns = connections("127.0.0.1", 300);
    let outputs =
        "[[output]]\nformat = \"json\"\ndir = \"-\"\n".to_string() + &output("json", &out, "");
    std::fs::write(&cfg_path, config(conns.port, "250ms", &outputs)).unwrap();
    let log = t.join("agent.log");
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&cfg_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    // Held open, never read: the stdout sink blocks in its first write.
    let _stdout = child.0.stdout.take().unwrap();
    let active = out.join("netpulse.jsonl");
    let systems = || -> Vec<serde_json::Value> {
        if !active.exists() {
            return Vec::new();
        }
        // The file may end mid-flush while we read: whole lines only.
        let text = std::fs::read_to_string(&active).unwrap_or_default();
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "system")
            .collect()
    };
    wait::until(
        "the file sink to keep writing after the other sink got stuck",
        Duration::from_secs(90),
        || {
            let s = systems();
            let first_drop = s.iter().position(|v| v["dropped"].as_u64() > Some(0));
            first_drop.is_some_and(|i| s.len() >= i + 5)
        },
    );
    kill_and_check_drain(&mut child.0, &log, &active);
}

fn kill_and_check_drain(child: &mut std::process::Child, log: &Path, active: &Path) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(child, Duration::from_secs(30));
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("sink is stuck in a write"), "{text}");
    // The stuck sink still holds records: the drain cannot finish, and
    // says so, but the file sink wrote its queue out whole.
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("drain did not finish"), "{text}");
    assert!(!json_lines(active).is_empty());
}

/// Run `script` with `sh` as the unprivileged user `nobody`.
fn as_nobody(script: &str) {
    let status = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "as nobody: {script}");
}

#[test]
fn links_planted_by_an_unprivileged_user_never_redirect_a_write() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::set_permissions(t, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The output directory belongs to an unprivileged user: whoever that
    // is can plant anything in it.
    let out = t.join("out");
    std::fs::create_dir(&out).unwrap();
    nix::unistd::chown(&out, Some(65534.into()), Some(65534.into())).unwrap();
    let names = [
        "netpulse.jsonl",
        "netpulse-system.csv",
        "netpulse-socket.csv",
        "netpulse.pb",
        ".netpulse.lock",
    ];
    let victims: Vec<PathBuf> = names
        .iter()
        .map(|n| victim(t, &format!("victim{n}")))
        .collect();
    let before: Vec<_> = victims.iter().map(|v| fingerprint(v)).collect();
    let unchanged = |when: &str| {
        for (v, b) in victims.iter().zip(&before) {
            assert_eq!(&fingerprint(v), b, "{when}: {} changed", v.display());
        }
    };
    let plant = |name: &str, target: &Path| {
        as_nobody(&format!(
            "ln -sf '{}' '{}'",
            target.display(),
            out.join(name).display()
        ))
    };
    let conns = connections("127.0.0.1", 3);
    let outputs = ["json", "csv", "proto"]
        .map(|f| output(f, &out, "rotate_size = \"1KiB\"\nkeep = 100"))
        .concat();
    let cfg = config(conns.port, "250ms", &outputs);

    // Before start: a link at every name the agent writes.
    for (n, v) in names.iter().zip(&victims) {
        plant(n, v);
    }
    let cfg_path = t.join("netpulse.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let (code, log) = run_to_exit(&cfg_path, &t.join("refused.log"));
    assert_eq!(code, 1, "the agent wrote through planted links: {log}");
    assert!(log.contains("symbolic link"), "{log}");
    unchanged("at start");

    // Rotated names: a file of the user's far in the future makes the next
    // rotation of each stream land just after it, on planted links.
    for n in names.iter().take(4) {
        std::fs::remove_file(out.join(n)).unwrap();
        let v = &victims[0];
        as_nobody(&format!(
            "touch '{d}/{n}.20900101T000000.000Z'; for i in 001 002 003 004 005 006 007 008 009 010; do ln -s '{v}' '{d}/{n}.20900101T000000.'$i'Z'; done",
            d = out.display(),
            v = v.display()
        ));
    }
    std::fs::remove_file(out.join(".netpulse.lock")).unwrap();
    let agent = Agent::start(t, &cfg);
    wait::until(
        "rotations past the planted names",
        Duration::from_secs(60),
        || {
            names.iter().take(4).all(|n| {
                // Plain, or already compressed.
                let rotated = format!("{n}.20900101T000000.011Z");
                out.join(&rotated).is_file() || out.join(format!("{rotated}.zst")).is_file()
            })
        },
    );
    unchanged("after rotations");

    // Mid-run: the active files are renamed (as newsyslog does), links
    // take their names, the lock file is swapped for a link; then SIGHUP.
    for (n, v) in names.iter().zip(&victims) {
        if !n.starts_with('.') {
            // The agent may be rotating this very file: the name is then
            // briefly absent until it creates the next one.
            wait::until(&format!("{n} to rename"), Duration::from_secs(30), || {
                std::fs::rename(out.join(n), out.join(format!("{n}.moved"))).is_ok()
            });
        }
        as_nobody(&format!(
            "rm -f '{d}/{n}'; ln -s '{v}' '{d}/{n}'",
            d = out.display(),
            v = v.display()
        ));
    }
    agent.signal(Signal::SIGHUP);
    // The reload is refused (the directory now holds links where files
    // go), and writing goes on.
    agent.wait_log("still running the previous config", Duration::from_secs(20));
    agent.wait_log("refusing", Duration::from_secs(20));
    let moved = out.join("netpulse.jsonl.moved");
    let len = std::fs::metadata(&moved).map(|m| m.len()).unwrap_or(0);
    // Writing goes on into the file it already had (or a rotated one).
    wait::until(
        "more records after the SIGHUP",
        Duration::from_secs(30),
        || {
            files(&out, "netpulse.jsonl.2")
                .iter()
                .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
                .count()
                > 12
                || std::fs::metadata(&moved).map(|m| m.len()).unwrap_or(0) > len
        },
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("symbolic link"), "{log}");
    unchanged("mid-run");
}

#[test]
fn a_fifo_swapped_in_mid_run_is_refused_and_writing_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    // Polls of ~50 KiB: a FIFO nobody reads would be full after two.
    let conns = connections("127.0.0.1", 50);
    let agent = Agent::start(t, &config(conns.port, "250ms", &output("json", &out, "")));
    let active = out.join("netpulse.jsonl");
    wait::until("first polls", Duration::from_secs(30), || {
        line_count(&active) > 0
    });
    let moved = out.join("netpulse.jsonl.moved");
    std::fs::rename(&active, &moved).unwrap();
    nix::unistd::mkfifo(&active, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let before = line_count(&moved);
    wait::until("writing to go on", Duration::from_secs(30), || {
        line_count(&moved) > before + 300
    });
    agent.wait_log("a FIFO", Duration::from_secs(30));
    let (status, took, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    json_lines(&moved);
    assert!(
        std::fs::symlink_metadata(&active)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
}

#[test]
fn a_symlinked_output_directory_is_followed_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let real = t.join("real");
    std::fs::create_dir(&real).unwrap();
    let link = t.join("out");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let agent = Agent::start(t, &config(9, "250ms", &output("json", &link, "")));
    wait::until("records in the target", Duration::from_secs(30), || {
        line_count(&real.join("netpulse.jsonl")) > 0
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let resolved = format!("resolved={}", real.display());
    assert_eq!(log.matches(&resolved).count(), 1, "{log}");
}
