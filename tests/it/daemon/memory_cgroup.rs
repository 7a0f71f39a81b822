//! The agent under a hard memory limit sized from the documented cost
//! (`base + k x sockets`, docs/PERFORMANCE.md): a memory cgroup made by
//! this test (v1 `memory.limit_in_bytes`, or v2 `memory.max`), a private
//! network namespace holding a few thousand sockets, then start-up, three
//! reloads and a minute of fast ticks. The agent must still be running at
//! the end, never have been OOM-killed, and drain cleanly.
#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The documented peak: base plus bytes per socket (release build).
const BASE: u64 = 8 << 20;
const PER_SOCKET: u64 = 2458;
/// An unoptimised test binary is larger than the release one it stands
/// for: its code and debug allocations, measured at no sockets.
const TEST_BUILD_ALLOWANCE: u64 = 16 << 20;
const CONNECTIONS: usize = 1500;

/// A memory cgroup of this test's own, removed on drop.
struct MemoryCgroup {
    dir: PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    fn create(limit: u64) -> MemoryCgroup {
        let name = format!("netpulse-test-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let (dir, v2) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(&name), false)
        } else {
            assert!(
                Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
                "no memory cgroup controller (neither v1 nor v2) on this host"
            );
            (Path::new("/sys/fs/cgroup").join(&name), true)
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let cg = MemoryCgroup { dir, v2 };
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        std::fs::write(cg.dir.join(file), limit.to_string()).unwrap();
        if v2 {
            // No swap to escape into: the limit is the limit.
            let _ = std::fs::write(cg.dir.join("memory.swap.max"), "0");
        }
        cg
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How many times the kernel's OOM killer ran in this cgroup.
    fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .map(|n| n.trim().parse().unwrap())
            .unwrap_or(0)
    }

    /// The cgroup's peak memory use, where the kernel reports it.
    fn peak(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Empty by now (the agent exited); retry while the kernel lets go.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What the agent wrote to its standard output so far: fast polls, and
/// `total_sockets` of the last one.
#[derive(Default)]
struct FastPolls {
    count: AtomicUsize,
    last_total: AtomicU64,
}

impl FastPolls {
    /// Read the agent's JSON lines until it closes its output.
    fn follow(
        self: Arc<Self>,
        out: impl std::io::Read + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if line.starts_with("{\"type\":\"system\"") && line.contains("\"tier\":\"fast\"") {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    self.last_total
                        .store(v["total_sockets"].as_u64().unwrap(), Ordering::SeqCst);
                    self.count.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    }

    fn now(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Poll `cond` every 50 ms up to `timeout`; whether it came true.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while !cond() {
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn run_under_limit() {
    // Only this thread (and the agent it starts) moves to a new network
    // namespace: the sockets counted are the test's own.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET): the tests run as root");
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("running ip(8)");
    assert!(up.success());
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let want = (2 * CONNECTIONS as u64 + 256).min(hard);
    if soft < want {
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, want, hard)
            .unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let c = TcpStream::connect(at).unwrap();
        let (a, _) = listener.accept().unwrap();
        held.push((c, a));
    }
    let sockets = 2 * CONNECTIONS as u64 + 1;
    let limit = BASE + TEST_BUILD_ALLOWANCE + PER_SOCKET * sockets;
    let cg = MemoryCgroup::create(limit);

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("netpulse.toml");
    // The defaults (every tier), one JSON output.
    std::fs::write(&cfg, "[[output]]\nformat = \"json\"\ndir = \"-\"\n").unwrap();
    let log = dir.path().join("agent.log");
    // The shell joins the cgroup, then becomes the agent: every byte the
    // agent ever allocates is charged there.
    let child = Command::new("sh")
        .arg("-c")
        .arg("echo $$ > \"$1\" && exec \"$2\" run --config \"$3\"")
        .arg("sh")
        .arg(cg.procs())
        .arg(env!("CARGO_BIN_EXE_netpulse"))
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let pid = Pid::from_raw(child.0.id() as i32);
    let polls = Arc::new(FastPolls::default());
    let reader = Arc::clone(&polls).follow(child.0.stdout.take().unwrap());
    let alive = |child: &mut KillOnDrop| {
        if let Some(st) = child.0.try_wait().unwrap() {
            panic!(
                "the agent exited with {st} under a {limit}-byte limit ({} OOM kills):\n{}",
                cg.oom_kills(),
                log_text(&log)
            );
        }
    };

    for _ in 0..3 {
        let before = polls.now();
        let polled = wait_until(Duration::from_secs(60), || {
            alive(&mut child);
            polls.now() >= before + 2
        });
        assert!(polled, "no two fast polls in 60 s:\n{}", log_text(&log));
        kill(pid, Signal::SIGHUP).unwrap();
    }
    let before = polls.now();
    eprintln!("{before} fast polls before the minute");
    let minute = wait_until(Duration::from_secs(240), || {
        alive(&mut child);
        polls.now() >= before + 60
    });
    assert!(
        minute,
        "{} of 60 fast polls in 240 s:\n{}",
        polls.now() - before,
        log_text(&log)
    );
    eprintln!("{} fast polls after the minute", polls.now());

    let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(str::to_string);
    eprintln!("agent {hwm:?}");
    kill(pid, Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child.0, Duration::from_secs(30));
    assert!(
        status.success(),
        "drain under the limit: {status}\n{}",
        log_text(&log)
    );
    assert_eq!(
        cg.oom_kills(),
        0,
        "the OOM killer ran in the agent's cgroup"
    );
    reader.join().unwrap();
    // The last poll counted every socket: the agent did the full work
    // under the limit, not a reduced one.
    let total = polls.last_total.load(Ordering::SeqCst);
    assert!(
        total >= sockets,
        "the agent saw {total} of the {sockets} sockets"
    );
    eprintln!("limit {limit} bytes; cgroup peak {:?}", cg.peak());
    drop(held);
}

#[test]
fn the_agent_runs_under_a_memory_limit_sized_from_the_documented_cost() {
    std::thread::spawn(run_under_limit).join().unwrap();
}

fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}
