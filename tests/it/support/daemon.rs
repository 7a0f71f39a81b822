//! Shared by the tests/daemon_*.rs tests: run the real `netpulse` binary
//! with a config, send it real signals, read the files it wrote.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub struct Agent {
    pub child: Child,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Agent {
    /// Start `netpulse run --config <dir>/netpulse.toml` with `config`.
    pub fn start(dir: &Path, config: &str) -> Agent {
        Agent::start_with_env(dir, config, &[])
    }

    /// [`Agent::start`] with extra environment variables (test hooks).
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Agent {
        let cfg = dir.join("netpulse.toml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let agent = Agent {
            child,
            config: cfg,
            log,
        };
        agent.wait_log("running;", Duration::from_secs(10));
        agent
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle`; panics with the log otherwise.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let t0 = Instant::now();
        while !self.log_text().contains(needle) {
            assert!(
                t0.elapsed() < timeout,
                "no `{needle}` in the log after {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for the exit; returns the status and how long
    /// the drain took.
    pub fn stop(mut self) -> (ExitStatus, Duration, String) {
        let t0 = Instant::now();
        self.signal(Signal::SIGTERM);
        let status = wait_exit(&mut self.child, Duration::from_secs(20));
        let log = self.log_text();
        (status, t0.elapsed(), log)
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            panic!("agent did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit summary: `produced` and, per sink name, `written`/`failed`/...
pub struct Summary {
    pub produced: u64,
    pub dropped: u64,
    pub sinks: HashMap<String, HashMap<String, u64>>,
}

fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn summary(log: &str) -> Summary {
    let drained = log
        .lines()
        .find(|l| l.contains(" drained "))
        .unwrap_or_else(|| panic!("no exit summary in the log:\n{log}"));
    let f = fields(drained);
    let num = |f: &HashMap<String, String>, k: &str| f[k].parse::<u64>().unwrap();
    let mut sinks = HashMap::new();
    for l in log.lines().filter(|l| l.contains("sink closed")) {
        let f = fields(l);
        let mut m = HashMap::new();
        for k in ["offered", "written", "failed", "dropped"] {
            m.insert(k.to_string(), num(&f, k));
        }
        sinks.insert(f["sink"].clone(), m);
    }
    Summary {
        produced: num(&f, "produced"),
        dropped: num(&f, "dropped"),
        sinks,
    }
}

/// Every file in `dir` whose name starts with `prefix`, oldest first.
pub fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    // Rotated files are `<active>.<YYYYMMDDTHHMMSS.mmmZ>`, maybe compressed
    // (`.zst`, `.gz`): per family, the rotated ones in name (= time) order,
    // then the active file.
    v.sort_by_key(|p| {
        let full = p.file_name().unwrap().to_string_lossy().into_owned();
        let name = full
            .strip_suffix(".zst")
            .or_else(|| full.strip_suffix(".gz"))
            .unwrap_or(&full)
            .to_string();
        let n = name.len();
        let rotated = n > 21 && name.ends_with('Z') && name.as_bytes()[n - 21] == b'.';
        let family = if rotated {
            name[..n - 21].to_string()
        } else {
            name.clone()
        };
        (family, !rotated, name)
    });
    v
}

/// The bytes of a file the agent wrote, decompressed if it is a rotated
/// file the agent compressed (`.zst`, `.gz`).
pub fn read_plain(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.to_string_lossy();
    if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).unwrap_or_else(|e| panic!("{name}: not zstd: {e}"))
    } else if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{name}: not gzip: {e}"));
        out
    } else {
        raw
    }
}

/// Every line of a JSON Lines file, each parsed; asserts the file ends
/// with a complete line. Only for files nobody is writing any more (the
/// agent has exited, or the file was rotated): see [`json_lines_so_far`].
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let bytes = read_plain(path);
    if !bytes.is_empty() {
        assert_eq!(
            bytes.last(),
            Some(&b'\n'),
            "{} ends mid-line",
            path.display()
        );
    }
    let text = String::from_utf8(bytes).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display()))
        })
        .collect()
}

/// The whole lines of a JSON Lines file the running agent may be writing,
/// each parsed. One write(2) is not atomic for a concurrent reader: the
/// kernel extends the file page by page and the writer may be throttled in
/// between (dirty-page limits on a busy machine), so a reader can see a
/// batch's first pages only. The unterminated tail is left out here; once
/// the agent has exited, [`json_lines`] checks that every file ends whole.
pub fn json_lines_so_far(path: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&bytes[..0], |end| &bytes[..=end]);
    let text =
        std::str::from_utf8(whole).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", path.display()));
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display()))
        })
        .collect()
}

/// Records of a CSV file (header first); asserts it ends with a newline.
pub fn csv_records(path: &Path) -> Vec<csv::StringRecord> {
    let bytes = read_plain(path);
    if !bytes.is_empty() {
        assert_eq!(
            bytes.last(),
            Some(&b'\n'),
            "{} ends mid-record",
            path.display()
        );
    }
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[..])
        .records()
        .map(|r| r.unwrap())
        .collect()
}

/// `n` loopback connections to a listener on `ip` (both ends held open).
pub struct Conns {
    pub listener: TcpListener,
    pub port: u16,
    pub pairs: Vec<(TcpStream, TcpStream)>,
}

pub fn connections(ip: &str, n: usize) -> Conns {
    let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = listener.accept().unwrap();
        pairs.push((c, s));
    }
    Conns {
        port: addr.port(),
        listener,
        pairs,
    }
}

/// Lines of `path` as they are now (for polling a growing file).
pub fn line_count(path: &Path) -> usize {
    File::open(path)
        .map(|f| BufReader::new(f).lines().count())
        .unwrap_or(0)
}

/// A child process killed when the test ends, passed or failed.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
