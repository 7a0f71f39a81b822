//! Full disk: the output directory on a tiny tmpfs. The agent keeps
//! running, counts write errors, never leaves a partial line, and resumes
//! writing once space returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::daemon::*;
use crate::support::wait;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs needs root");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the file system with a file until ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![b'x'; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.write_all(b"x");
}

/// The system lines written so far (whole lines only: the agent is running,
/// and a failed write is cut back only after it happened).
fn system_lines(out: &Path) -> Vec<serde_json::Value> {
    files(out, "full.jsonl")
        .iter()
        .flat_map(|f| json_lines_so_far(f))
        .filter(|v| v["type"] == "system")
        .collect()
}

#[test]
fn full_disk_counts_errors_and_resumes() {
    let conns = connections("127.0.2.5", 5);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let _fs = Tmpfs::mount(&mnt, "512k");
    let out = mnt.join("out");
    std::fs::create_dir(&out).unwrap();
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[tiers.fast]
interval = "100ms"
[filter]
local_ports = [{p}]
remote_ports = [{p}]
[[output]]
format = "json"
dir = "{o}"
prefix = "full"
rotate_size = "off"
"#,
            o = out.display(),
            p = conns.port
        ),
    );
    // Writing works before the disk fills.
    wait::until_or(
        "two system lines before the disk fills",
        Duration::from_secs(30),
        || system_lines(&out).len() >= 2,
        || agent.log_text(),
    );
    let filler = mnt.join("filler");
    fill(&filler);
    agent.wait_log("could not be written", Duration::from_secs(30));
    // Polls keep failing for a while (that is what is tested: the agent
    // lives through them); the check below holds however long this is.
    std::thread::sleep(Duration::from_millis(500));
    // Still running (the files are checked for whole lines after exit).
    assert!(std::fs::metadata(format!("/proc/{}", agent.child.id())).is_ok());
    let lines_full = system_lines(&out).len();

    // Space returns: writing resumes, and the system lines report the
    // errors counted meanwhile.
    std::fs::remove_file(&filler).unwrap();
    let t0 = Instant::now();
    loop {
        let sys = system_lines(&out);
        if sys.len() > lines_full + 3
            && sys
                .last()
                .is_some_and(|v| v["write_errors"].as_u64() > Some(0))
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "writing did not resume"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let sum = summary(&log);
    let s = sum.sinks.values().next().unwrap();
    assert!(s["failed"] > 0, "{s:?}");
    assert_eq!(
        s["written"] + s["failed"] + s["dropped"],
        s["offered"],
        "{s:?}"
    );
    let on_disk: usize = files(&out, "full.jsonl")
        .iter()
        .map(|f| json_lines(f).len())
        .sum();
    assert_eq!(on_disk as u64, s["written"], "files vs written\n{log}");
    drop(conns);
}
