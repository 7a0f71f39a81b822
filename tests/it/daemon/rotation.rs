//! Rotation through the daemon: a small size limit across at least 20
//! rotations. Every file parses on its own, CSV files each start with the
//! header, the files together hold every record exactly once, and a
//! `tail -F` started before the run reads every record exactly once.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use crate::support::daemon::*;

#[test]
fn twenty_rotations_lose_and_repeat_nothing() {
    let conns = connections("127.0.2.2", 5);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let active = out.join("rot.jsonl");
    // Follow by name from the first line. GNU tail's inotify mode, and its
    // polling mode with the default --max-unchanged-stats=5, notice a
    // replaced file only after tens to hundreds of ms, so with this test's
    // rotation every ~200 ms they would skip whole files whatever the
    // writer does. Polling every 10 ms and re-checking the name after each
    // unchanged poll, tail reads the old file to its end before switching,
    // as log shippers do. A file is only followed if tail runs during its
    // life (at least one poll interval: a file can be created in one poll's
    // write and rotated in the next), so on a busy machine tail runs at a
    // higher priority (the tests run as root); without that, a loaded
    // machine made it skip whole files the writer had completed.
    // (Killed on drop: it must not outlive a failed test.)
    let mut tail = KillOnDrop(
        Command::new("nice")
            .args([
                "-n",
                "-10",
                "tail",
                "---disable-inotify",
                "--max-unchanged-stats=1",
                "-n",
                "+1",
                "-s",
                "0.01",
                "-F",
            ])
            .arg(&active)
            .stdout(std::fs::File::create(dir.path().join("tail.out")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[tiers.fast]
interval = "200ms"
[tiers.standard]
enabled = false
[tiers.aggregate]
enabled = false
[tiers.slow]
enabled = false
[filter]
local_ports = [{p}]
remote_ports = [{p}]
[[output]]
format = "json"
dir = "{o}"
prefix = "rot"
sockets = "all"
rotate_size = "16KiB"
keep = 1000
[[output]]
format = "csv"
dir = "{o}"
prefix = "rot"
sockets = "all"
rotate_size = "6KiB"
keep = 1000
"#,
            o = out.display(),
            p = conns.port
        ),
    );
    // 12 lines (~9 KiB of JSON) per poll: a JSON file lives
    // one or two polls. At 50 ms polls `tail -F` skipped whole files on a
    // busy machine, so polls are 200 ms apart.
    let t0 = std::time::Instant::now();
    while (files(&out, "rot.jsonl").len() < 22 || files(&out, "rot-socket.csv").len() < 22)
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{} JSON, {} socket CSV files after {:?}",
        files(&out, "rot.jsonl").len(),
        files(&out, "rot-socket.csv").len(),
        t0.elapsed()
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    let sum = summary(&log);
    assert_eq!(sum.dropped, 0, "{log}");

    let json_files = files(&out, "rot.jsonl");
    assert!(
        json_files.len() > 20,
        "only {} JSON files",
        json_files.len()
    );
    let mut lines = Vec::new();
    for f in &json_files {
        for l in String::from_utf8(read_plain(f)).unwrap().lines() {
            lines.push(l.to_string());
        }
        json_lines(f); // parses on its own, ends with a whole line
    }
    assert_eq!(lines.len() as u64, sum.produced, "{log}");
    let unique: HashSet<&String> = lines.iter().collect();
    assert_eq!(unique.len(), lines.len(), "a record is in two files");

    for family in ["rot-socket.csv", "rot-system.csv"] {
        let fs = files(&out, family);
        assert!(!fs.is_empty());
        let mut header = None;
        for f in &fs {
            let recs = csv_records(f);
            let h = recs
                .first()
                .unwrap_or_else(|| panic!("{} is empty", f.display()));
            assert!(
                h.iter().any(|c| c == "ts"),
                "{} starts without the header",
                f.display()
            );
            match &header {
                None => header = Some(h.clone()),
                Some(first) => assert_eq!(first, h),
            }
        }
    }
    let csv_rows: u64 = files(&out, "rot-")
        .iter()
        .filter(|f| f.to_string_lossy().contains(".csv"))
        .map(|f| csv_records(f).len() as u64 - 1)
        .sum();
    assert_eq!(csv_rows, sum.produced);
    assert!(files(&out, "rot-socket.csv").len() > 20);

    // tail -F reads at its own pace, far behind the writer on a busy
    // machine: wait until it has printed the last record (it prints in
    // order, so everything before it too), bounded, then compare.
    let tail_out = dir.path().join("tail.out");
    let last = lines.last().expect("the agent wrote records").clone();
    let t0 = std::time::Instant::now();
    while !complete_lines(&tail_out).contains(&last) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "tail -F did not print the last record within 30 s; it printed {} of {} lines",
            complete_lines(&tail_out).len(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = tail.0.kill();
    let _ = tail.0.wait();
    let followed = complete_lines(&tail_out);
    let followed: Vec<&str> = followed.iter().map(String::as_str).collect();
    let seen: HashSet<&str> = followed.iter().copied().collect();
    let missing: Vec<usize> = (0..lines.len())
        .filter(|&i| !seen.contains(lines[i].as_str()))
        .collect();
    let sizes: Vec<usize> = json_files.iter().map(|f| json_lines(f).len()).collect();
    assert!(
        missing.is_empty(),
        "tail -F missed records {missing:?}; lines per file {sizes:?}"
    );
    assert_eq!(
        followed.len(),
        lines.len(),
        "tail -F read {} of {} records",
        followed.len(),
        lines.len()
    );
    let want: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(followed, want, "tail -F saw records out of order or twice");
    drop(conns);
}

/// The lines of `path` that end with a newline (tail may be mid-write).
fn complete_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole.lines().map(str::to_string).collect()
}
