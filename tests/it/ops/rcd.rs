//! `rc.d/netpulse` run under `dash`, with the real `netpulse` binary.
//!
//! There is no FreeBSD here, so `/etc/rc.subr` and `daemon(8)` are replaced
//! by the TEST DOUBLES in `tests/rcd/` (see the comments at their tops for
//! what they implement). Everything else is real: the script's own logic,
//! the agent process it starts, its pidfiles, signals, config checking,
//! output files and log.
//!
//! Needs `dash` (installed by `.ci/setup.d/50-ops.sh`).

use crate::support::wait;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long one `service netpulse <arg>` may take; stop includes the drain.
const RC_TIMEOUT: Duration = Duration::from_secs(60);

struct Service {
    dir: tempfile::TempDir,
    script: PathBuf,
    rc_conf: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn netpulse_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netpulse"))
}

/// A config with short intervals writing JSON Lines under `data`.
fn good_config(data: &Path) -> String {
    format!(
        r#"[agent]
log_level = "info"
shutdown_timeout = "10s"

[tiers.fast]
interval = "100ms"

[tiers.standard]
interval = "1s"

[tiers.slow]
interval = "1s"

[tiers.aggregate]
interval = "2s"

[[output]]
format = "json"
dir = "{}"
prefix = "rcd"
"#,
        data.display()
    )
}

/// The same config with a misspelt key the checker must name.
fn broken_config(data: &Path) -> String {
    good_config(data).replace("log_level", "log_levle")
}

impl Service {
    fn new() -> Service {
        assert!(
            Command::new("dash")
                .arg("-c")
                .arg("exit 0")
                .status()
                .is_ok_and(|s| s.success()),
            "dash is needed to run rc.d/netpulse as FreeBSD's sh would: \
             apt-get install dash (.ci/setup.d/50-ops.sh does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let stub = repo().join("tests/rcd/rc.subr-test-double");
        let original =
            fs::read_to_string(repo().join("rc.d/netpulse")).expect("reading rc.d/netpulse");
        assert_eq!(
            original.lines().filter(|l| *l == ". /etc/rc.subr").count(),
            1,
            "rc.d/netpulse must source /etc/rc.subr exactly once"
        );
        let script_text = original.replace(". /etc/rc.subr", &format!(". {}", stub.display()));
        let script = dir.path().join("netpulse");
        fs::write(&script, script_text).expect("writing the script copy");

        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .expect("this user's name");
        let group = nix::unistd::Group::from_gid(nix::unistd::getgid())
            .ok()
            .flatten()
            .expect("this group's name");
        let p = dir.path();
        let rc_conf = p.join("rc.conf");
        fs::write(
            &rc_conf,
            format!(
                "netpulse_enable=\"YES\"\n\
                 netpulse_config=\"{cfg}\"\n\
                 netpulse_binary=\"{bin}\"\n\
                 netpulse_program=\"{daemon}\"\n\
                 netpulse_rundir=\"{run}\"\n\
                 netpulse_logfile=\"{log}\"\n\
                 netpulse_user=\"{user}\"\n\
                 netpulse_group=\"{group}\"\n\
                 netpulse_kmod=\"YES\"\n\
                 netpulse_restart_delay=\"1\"\n",
                cfg = p.join("netpulse.toml").display(),
                bin = netpulse_bin().display(),
                daemon = repo().join("tests/rcd/daemon-test-double").display(),
                run = p.join("run").display(),
                log = p.join("netpulse.log").display(),
                user = user.name,
                group = group.name,
            ),
        )
        .expect("writing rc.conf");
        let svc = Service {
            dir,
            script,
            rc_conf,
        };
        svc.write_config(&good_config(&svc.data()));
        svc
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn data(&self) -> PathBuf {
        self.path("data")
    }

    fn write_config(&self, text: &str) {
        fs::write(self.path("netpulse.toml"), text).expect("writing netpulse.toml");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("netpulse.log")).unwrap_or_default()
    }

    /// `service netpulse <arg>`: dash runs the script with the test doubles.
    fn rc(&self, arg: &str) -> Output {
        let mut child = Command::new("dash")
            .arg(&self.script)
            .arg(arg)
            .env("RCD_TEST_RC_CONF", &self.rc_conf)
            .env("RCD_TEST_KLD_LOG", self.path("kld.log"))
            .env("TMPDIR", self.dir.path())
            // FreeBSD's `su -m` runs the invoking user's login shell; the
            // util-linux `su -m` standing in for it here takes $SHELL and
            // falls back to the target's shell (nologin for `nobody`)
            // when $SHELL is unset, as it is under CI.
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running dash");
        let start = Instant::now();
        loop {
            if child.try_wait().expect("waiting for dash").is_some() {
                return child.wait_with_output().expect("collecting output");
            }
            if start.elapsed() > RC_TIMEOUT {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collecting output");
                panic!(
                    "`rc.d/netpulse {arg}` did not finish in {RC_TIMEOUT:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn pid_in(&self, file: &str) -> Option<i32> {
        fs::read_to_string(self.path(&format!("run/{file}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn supervisor_pid(&self) -> Option<i32> {
        self.pid_in("netpulse.pid")
    }

    fn agent_pid(&self) -> Option<i32> {
        self.pid_in("netpulse-agent.pid")
    }
}

impl Drop for Service {
    /// Never leave an agent behind, even when an assertion failed.
    fn drop(&mut self) {
        for pid in [self.agent_pid(), self.supervisor_pid()]
            .into_iter()
            .flatten()
        {
            if alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// A live process (a zombie waiting to be reaped is not).
fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, None | Some('Z') | Some('X'))
}

fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every line of the active JSON file is one complete JSON object.
fn json_lines(path: &Path) -> usize {
    let body = fs::read_to_string(path).unwrap_or_default();
    assert!(
        body.is_empty() || body.ends_with('\n'),
        "{} ends with a partial line",
        path.display()
    );
    for (i, line) in body.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{} line {}: {e}: {line}", path.display(), i + 1));
        assert!(
            v.get("type").is_some(),
            "line {} has no type: {line}",
            i + 1
        );
    }
    body.lines().count()
}

#[test]
fn service_lifecycle_start_status_reload_configtest_restart_on_crash_stop() {
    let svc = Service::new();
    let bin = fs::canonicalize(netpulse_bin()).expect("binary path");

    // configtest passes on a good config, with the checker's verdict.
    let out = svc.rc("configtest");
    assert!(
        out.status.success(),
        "configtest on a good config: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "configtest prints the checker's verdict: {}",
        text(&out)
    );

    // start: daemon(8) (double) supervises the real agent; both pidfiles.
    let out = svc.rc("start");
    assert!(out.status.success(), "start: {}", text(&out));
    wait::until("both pidfiles", Duration::from_secs(10), || {
        svc.supervisor_pid().is_some() && svc.agent_pid().is_some()
    });
    let supervisor = svc.supervisor_pid().expect("supervisor pid");
    let agent = svc.agent_pid().expect("agent pid");
    assert_ne!(supervisor, agent);
    assert!(alive(supervisor), "supervisor {supervisor} is running");
    assert!(alive(agent), "agent {agent} is running");
    // daemon(8) writes the child's pid between fork and exec, so the pid
    // names the shell's fork for a moment; on a busy machine that moment
    // is long. Wait, bounded, for the exec of netpulse to finish: the
    // kernel points `exe` at the new binary before it lays out the new
    // argument list, so `cmdline` can read empty just after the switch.
    wait::until(
        "the pid in netpulse-agent.pid to be the netpulse binary with its arguments",
        Duration::from_secs(10),
        || {
            fs::read_link(format!("/proc/{agent}/exe")).is_ok_and(|exe| exe == bin)
                && cmdline(agent).len() > 1
        },
    );
    let argv = cmdline(agent);
    let cfg = svc.path("netpulse.toml").display().to_string();
    assert_eq!(
        argv[1..],
        ["run", "--config", cfg.as_str()],
        "the agent runs `netpulse run --config <netpulse_config>`"
    );
    // netpulse_kmod=YES asked rc.subr to load tcpstats.ko first.
    assert_eq!(
        fs::read_to_string(svc.path("kld.log"))
            .unwrap_or_default()
            .trim(),
        "load_kld -m tcpstats tcpstats"
    );

    // status reports the supervisor, as rc.subr's status does from pidfile.
    let out = svc.rc("status");
    assert!(out.status.success(), "status: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("netpulse is running as pid {supervisor}.")
    );

    // A second start refuses: already running.
    let out = svc.rc("start");
    assert!(
        !out.status.success(),
        "second start must fail: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));

    // The agent samples and writes its files; its log goes to netpulse_logfile.
    let active = svc.data().join("rcd.jsonl");
    wait::until(
        "JSON lines in the data file",
        Duration::from_secs(20),
        || fs::read_to_string(&active).is_ok_and(|s| s.lines().count() >= 2),
    );
    wait::until(
        "the agent's start in the log",
        Duration::from_secs(10),
        || svc.log().contains("running; SIGHUP reloads"),
    );

    // reload: SIGHUP reaches the agent itself (not just daemon(8)), which
    // re-reads the config; same process, no restart.
    let out = svc.rc("reload");
    assert!(out.status.success(), "reload: {}", text(&out));
    wait::until(
        "the reload in the agent's log",
        Duration::from_secs(10),
        || svc.log().contains("reloaded; files reopened"),
    );
    assert_eq!(
        svc.agent_pid(),
        Some(agent),
        "reload must not restart the agent"
    );
    assert!(alive(agent));

    // A broken config: configtest fails with the checker's message naming
    // the key, and reload refuses before signalling anything.
    svc.write_config(&broken_config(&svc.data()));
    let out = svc.rc("configtest");
    assert!(
        !out.status.success(),
        "configtest on a broken config: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.log_levle"),
        "the checker names the key: {}",
        text(&out)
    );
    let reloads_before = svc.log().matches("reloaded; files reopened").count();
    let out = svc.rc("reload");
    assert!(
        !out.status.success(),
        "reload with a broken config: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent.log_levle"));
    sleep(Duration::from_millis(500));
    assert_eq!(
        svc.log().matches("reloaded; files reopened").count(),
        reloads_before
    );
    assert!(!svc.log().contains("reload refused"), "no SIGHUP was sent");
    assert!(alive(agent), "the agent keeps running on its config");
    svc.write_config(&good_config(&svc.data()));

    // Restart on crash (daemon -r): a killed agent comes back under the
    // same supervisor.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the agent");
    wait::until(
        "a new agent after the crash",
        Duration::from_secs(15),
        || svc.agent_pid().is_some_and(|p| p != agent && alive(p)),
    );
    let agent = svc.agent_pid().expect("new agent pid");
    assert_eq!(svc.supervisor_pid(), Some(supervisor));
    assert!(alive(supervisor));
    wait::until(
        "the restarted agent's start in the log",
        Duration::from_secs(10),
        || svc.log().matches("running; SIGHUP reloads").count() >= 2,
    );

    // restart refuses a broken config before stopping anything...
    svc.write_config(&broken_config(&svc.data()));
    let out = svc.rc("restart");
    assert!(
        !out.status.success(),
        "restart with a broken config: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent.log_levle"));
    assert!(
        alive(agent) && alive(supervisor),
        "a refused restart leaves the agent running"
    );
    assert_eq!(svc.agent_pid(), Some(agent));
    // ...and with a good one replaces both processes.
    svc.write_config(&good_config(&svc.data()));
    let out = svc.rc("restart");
    assert!(out.status.success(), "restart: {}", text(&out));
    assert!(
        !alive(agent) && !alive(supervisor),
        "restart stopped the old processes"
    );
    wait::until("the agent after restart", Duration::from_secs(10), || {
        svc.agent_pid().is_some_and(alive) && svc.supervisor_pid().is_some_and(alive)
    });
    let agent = svc.agent_pid().expect("agent pid");
    let supervisor = svc.supervisor_pid().expect("supervisor pid");
    wait::until(
        "the replaced agent's start in the log",
        Duration::from_secs(10),
        || svc.log().matches("running; SIGHUP reloads").count() >= 3,
    );

    // stop: returns only after the agent drained and exited; daemon(8) does
    // not restart it; both pidfiles are gone.
    let out = svc.rc("stop");
    assert!(out.status.success(), "stop: {}", text(&out));
    assert!(
        !alive(agent),
        "agent {agent} still running after stop returned"
    );
    assert!(
        !alive(supervisor),
        "supervisor {supervisor} still running after stop"
    );
    let log = svc.log();
    assert!(
        log.contains("stopping: draining queued samples"),
        "log:\n{log}"
    );
    assert!(
        log.contains("drained"),
        "the agent logged its drain:\n{log}"
    );
    assert!(
        svc.supervisor_pid().is_none() && svc.agent_pid().is_none(),
        "pidfiles removed"
    );
    assert!(
        json_lines(&active) >= 2,
        "complete JSON lines in {}",
        active.display()
    );
    sleep(Duration::from_millis(1500));
    assert!(
        svc.agent_pid().is_none(),
        "daemon(8) must not restart a stopped agent"
    );

    let out = svc.rc("status");
    assert_eq!(
        out.status.code(),
        Some(1),
        "status after stop: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("netpulse is not running."));
}

#[test]
fn start_refuses_a_broken_config_with_the_checkers_message() {
    let svc = Service::new();
    svc.write_config(&broken_config(&svc.data()));
    let out = svc.rc("start");
    assert!(
        !out.status.success(),
        "start with a broken config: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.log_levle"),
        "the checker's message: {}",
        text(&out)
    );
    assert!(err.contains("failed precmd routine"), "{}", text(&out));
    sleep(Duration::from_millis(500));
    assert!(
        svc.supervisor_pid().is_none() && svc.agent_pid().is_none(),
        "nothing started"
    );
    assert!(!svc.data().join("rcd.jsonl").exists(), "no data written");

    // A missing config is refused too, saying where the sample is.
    fs::remove_file(svc.path("netpulse.toml")).expect("removing the config");
    let out = svc.rc("start");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("netpulse.toml.sample"),
        "{}",
        text(&out)
    );
    assert!(svc.agent_pid().is_none());
}

#[test]
fn disabled_service_does_not_start() {
    let svc = Service::new();
    let conf = fs::read_to_string(&svc.rc_conf).expect("rc.conf");
    fs::write(
        &svc.rc_conf,
        conf.replace("netpulse_enable=\"YES\"", "netpulse_enable=\"NO\""),
    )
    .expect("rc.conf");
    let out = svc.rc("start");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Set netpulse_enable to YES"),
        "{}",
        text(&out)
    );
    sleep(Duration::from_millis(300));
    assert!(
        svc.agent_pid().is_none(),
        "a disabled service must not start"
    );
}

#[test]
fn configtest_judges_directories_as_netpulse_user() {
    assert!(
        nix::unistd::getuid().is_root(),
        "this test switches to the `nobody` user with su(1), which needs root (CI runs as root)"
    );
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("a `nobody` user");
    let nogroup = nix::unistd::Group::from_gid(nobody.gid)
        .ok()
        .flatten()
        .expect("nobody's group");
    let svc = Service::new();
    use std::os::unix::fs::PermissionsExt;
    // The agent user must reach the config; the output's parent is root's.
    fs::set_permissions(svc.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let private = svc.path("private");
    fs::create_dir(&private).expect("mkdir");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).expect("chmod");
    svc.write_config(&good_config(&private.join("data")));
    fs::set_permissions(svc.path("netpulse.toml"), fs::Permissions::from_mode(0o644))
        .expect("chmod");

    // As root the directory can be created: valid.
    let out = svc.rc("configtest");
    assert!(out.status.success(), "as root: {}", text(&out));

    // As nobody it cannot: the checker, run through su(1), says so.
    let conf = fs::read_to_string(&svc.rc_conf).expect("rc.conf");
    let conf = conf
        .lines()
        .filter(|l| !l.starts_with("netpulse_user=") && !l.starts_with("netpulse_group="))
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(
        &svc.rc_conf,
        format!(
            "{conf}\nnetpulse_user=\"nobody\"\nnetpulse_group=\"{}\"\n",
            nogroup.name
        ),
    )
    .expect("rc.conf");
    let out = svc.rc("configtest");
    assert!(!out.status.success(), "as nobody: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("output[0].dir") && err.contains("not writable"),
        "the checker ran as nobody and refused the directory: {}",
        text(&out)
    );

    // Give the directory to nobody: valid again.
    nix::unistd::chown(&private, Some(nobody.uid), Some(nobody.gid)).expect("chown");
    let out = svc.rc("configtest");
    assert!(
        out.status.success(),
        "as nobody, own directory: {}",
        text(&out)
    );
}

/// The newsyslog entry rotates the log the rc.d script writes by default
/// and signals the process that reopens it: the daemon(8) supervisor
/// (whose `-H` reopens its `-o` file on SIGHUP), not the agent.
#[test]
fn newsyslog_entry_matches_the_rc_script() {
    let script = fs::read_to_string(repo().join("rc.d/netpulse")).expect("rc.d/netpulse");
    let default = |var: &str| -> String {
        let prefix = format!(": \"${{{var}:=");
        let line = script
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("rc.d/netpulse sets no default for {var}"));
        line.trim_end_matches("}\"").to_string()
    };
    let logfile = default("netpulse_logfile");
    let rundir = default("netpulse_rundir");
    assert!(
        script.contains("pidfile=\"${netpulse_rundir}/netpulse.pid\""),
        "rc.subr's pidfile is the supervisor's, under netpulse_rundir"
    );
    assert!(
        script.contains("-P ${pidfile}"),
        "daemon(8) writes the supervisor pidfile"
    );
    assert!(
        script.contains("_output=\"-o ${netpulse_logfile} -H\""),
        "daemon(8) writes the log and reopens it on SIGHUP"
    );

    let conf = fs::read_to_string(repo().join("etc/newsyslog.conf.d/netpulse.conf"))
        .expect("etc/newsyslog.conf.d/netpulse.conf");
    let entries: Vec<Vec<&str>> = conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one entry, for the agent's log only: {entries:?}"
    );
    let e = &entries[0];
    // logfile owner:group mode count size when flags pidfile signal
    assert_eq!(e.len(), 9, "all nine newsyslog.conf(5) fields: {e:?}");
    assert_eq!(e[0], logfile, "rotates the rc.d script's default log file");
    assert!(e[1].contains(':'), "owner:group: {}", e[1]);
    assert!(
        u32::from_str_radix(e[2], 8).is_ok_and(|m| m & 0o002 == 0),
        "mode: {}",
        e[2]
    );
    assert!(e[3].parse::<u32>().is_ok(), "count: {}", e[3]);
    assert!(e[6].contains('C'), "C: create the log if missing: {}", e[6]);
    assert_eq!(
        e[7],
        format!("{rundir}/netpulse.pid"),
        "signals the supervisor"
    );
    assert_eq!(e[8], "SIGHUP");
    assert!(
        !conf
            .lines()
            .any(|l| !l.starts_with('#') && l.contains(".jsonl")),
        "data files are rotated by the agent, not by newsyslog"
    );
}

/// Every rc.conf variable the script reads is described in its header and
/// in netpulse(8)'s SERVICE section.
#[test]
fn rc_variables_are_documented() {
    let script = fs::read_to_string(repo().join("rc.d/netpulse")).expect("rc.d/netpulse");
    let page = fs::read_to_string(repo().join("man/netpulse.8")).expect("man/netpulse.8");
    let vars: Vec<&str> = script
        .lines()
        .filter_map(|l| l.strip_prefix(": \"${"))
        .filter_map(|l| l.split(":=").next())
        .collect();
    assert!(vars.len() >= 10, "rc.conf variables found: {vars:?}");
    for var in vars {
        assert!(
            script.lines().any(|l| l.starts_with(&format!("# {var} ("))),
            "rc.d/netpulse's header does not describe {var}"
        );
        assert!(
            page.lines().any(|l| l == format!(".It Va {var}")),
            "man/netpulse.8 does not describe {var}"
        );
    }
}
