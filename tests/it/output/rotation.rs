//! File sinks on real files: size and age rotation, kept-file bound, modes,
//! a real `tail -F`, newsyslog-style reopen and restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpulse::output::Format;
use netpulse::output::sink::file::{
    Compression, FileSink, FileSinkConfig, WriteReport, new_encoder,
};
use netpulse::output::sink::rotation;
use netpulse_testkit::output::*;

fn config(dir: &Path, size: Option<u64>, age: Option<Duration>, keep: usize) -> FileSinkConfig {
    FileSinkConfig {
        dir: dir.to_path_buf(),
        rotate_size: size,
        rotate_age: age,
        keep,
        file_mode: 0o640,
        compress: Compression::Off,
    }
}

fn open(format: Format, cfg: FileSinkConfig) -> FileSink {
    FileSink::open(new_encoder(format, "netpulse").unwrap(), cfg).unwrap()
}

/// `tail -F` on `path`, collecting its stdout lines.
struct Tail {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Tail {
    fn start(path: &Path) -> Tail {
        let mut child = Command::new("tail")
            .args(["-F", "-n", "+1", "-s", "0.05"])
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("coreutils tail");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                sink.lock().unwrap().push(l);
            }
        });
        Tail { child, lines }
    }

    /// Wait until at least `n` lines arrived or `timeout` passed.
    fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let have = self.lines.lock().unwrap().len();
            if have >= n || Instant::now() >= deadline {
                return have;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn json_size_rotation_keeps_every_record_once_and_tail_follows() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 2000;
    let mut sink = open(Format::Json, config(dir.path(), Some(limit), None, 1000));
    let active = dir.path().join("netpulse.jsonl");
    // No wait for tail to start: it reads from the first line whenever it
    // opens the file, and no batch is written before it has the one before.
    let tail = Tail::start(&active);

    let (batches, per) = (32u64, 8usize);
    let mut next_id = 0;
    for seq in 0..batches {
        let report = sink.write_batch(&batch(seq, next_id, per, true));
        assert_eq!(
            report,
            WriteReport {
                written: per as u64 + 1,
                failed: 0,
                rotate_failures: 0,
                compress_failures: 0
            }
        );
        next_id += per as u64;
        // A batch rotates at most once (it is smaller than the limit), and
        // the next batch waits until tail -F has caught up: rotations are
        // slower than the follower, as in production (minutes apart). A file
        // renamed before tail ever opened it would be missed by any
        // name-following reader, so that is not what this test is about.
        tail.wait_for((seq as usize + 1) * (per + 1), Duration::from_secs(30));
    }
    sink.flush_sync().unwrap();

    let files = files_in_order(dir.path(), "netpulse.jsonl");
    assert!(files.len() > 20, "only {} files", files.len());
    let mut all = Vec::new();
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= limit, "{} is {size} bytes", f.display());
        assert_eq!(mode(f), 0o640, "{}", f.display());
        let lines = json_lines(f);
        assert!(!lines.is_empty(), "{} is empty", f.display());
        all.extend(lines);
    }
    assert_eq!(sock_ids(&all), (0..next_id).collect::<Vec<_>>());
    let systems: Vec<u64> = all
        .iter()
        .filter(|v| v["type"] == "system")
        .map(|v| v["ts"].as_u64().unwrap())
        .collect();
    assert_eq!(systems, (0..batches).collect::<Vec<_>>());

    let total = (batches as usize) * (per + 1);
    tail.wait_for(total, Duration::from_secs(30));
    // Anything extra (a duplicate) would show up right behind. (A grace
    // period, not a wait: a slow machine can only hide a duplicate here,
    // never fail a correct run.)
    std::thread::sleep(Duration::from_millis(300));
    let seen = tail.lines.lock().unwrap().clone();
    let parsed: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("tail saw {l:?}: {e}")))
        .collect();
    assert_eq!(
        parsed.len(),
        total,
        "tail -F saw {} of {total} lines",
        parsed.len()
    );
    assert_eq!(sock_ids(&parsed), (0..next_id).collect::<Vec<_>>());
}

#[test]
fn csv_files_each_start_with_the_header_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let headers: Vec<Vec<u8>> = enc.streams().iter().map(|s| s.header.clone()).collect();
    let mut sink = FileSink::open(enc, config(dir.path(), Some(2500), None, 1000)).unwrap();
    let mut next_id = 0;
    for seq in 0..60 {
        let report = sink.write_batch(&batch(seq, next_id, 6, true));
        assert_eq!(report.failed, 0);
        next_id += 6;
    }
    let socket = files_in_order(dir.path(), "netpulse-socket.csv");
    let system = files_in_order(dir.path(), "netpulse-system.csv");
    assert!(socket.len() > 20, "only {} socket files", socket.len());
    assert!(system.len() > 1, "the system stream never rotated");

    let command_col = String::from_utf8_lossy(&headers[1])
        .trim_end()
        .split(',')
        .position(|c| c == "command")
        .expect("a command column");
    let mut ids = Vec::new();
    for f in &socket {
        let rows = csv_rows(f, &headers[1]);
        assert!(!rows.is_empty(), "{} has no rows", f.display());
        for r in rows {
            let id: u64 = r[2].parse().unwrap(); // ts, tier, sock_id
            assert_eq!(&r[command_col], format!("worker, \"{id}\"\nline two"));
            ids.push(id);
        }
    }
    assert_eq!(ids, (0..next_id).collect::<Vec<_>>());
    let mut ts = Vec::new();
    for f in &system {
        ts.extend(
            csv_rows(f, &headers[0])
                .iter()
                .map(|r| r[0].parse::<u64>().unwrap()),
        );
    }
    assert_eq!(ts, (0..60).collect::<Vec<_>>());
}

#[test]
fn keep_bounds_the_rotated_files_and_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(Format::Json, config(dir.path(), Some(2000), None, 3));
    let mut next_id = 0;
    for seq in 0..30 {
        sink.write_batch(&batch(seq, next_id, 6, false));
        next_id += 6;
    }
    let rotated = rotation::list_rotated(dir.path(), "netpulse.jsonl").unwrap();
    assert_eq!(rotated.len(), 3);
    let mut ids = Vec::new();
    for f in files_in_order(dir.path(), "netpulse.jsonl") {
        ids.extend(sock_ids(&json_lines(&f)));
    }
    // What is left is the newest records, without a gap.
    assert_eq!(ids.last(), Some(&(next_id - 1)));
    let first = ids[0];
    assert!(first > 0);
    assert_eq!(ids, (first..next_id).collect::<Vec<_>>());
}

#[test]
fn age_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let age = Duration::from_millis(200);
    let mut sink = open(Format::Csv, config(dir.path(), None, Some(age), 100));
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let header = enc.streams()[1].header.clone();
    // Quick batches inside one age window stay in one file.
    for seq in 0..3 {
        sink.write_batch(&batch(seq, seq * 2, 2, true));
    }
    assert!(
        rotation::list_rotated(dir.path(), "netpulse-socket.csv")
            .unwrap()
            .is_empty()
    );
    for seq in 3..6 {
        std::thread::sleep(age + Duration::from_millis(50));
        sink.write_batch(&batch(seq, seq * 2, 2, true));
    }
    let files = files_in_order(dir.path(), "netpulse-socket.csv");
    assert_eq!(files.len(), 4, "{files:?}");
    let per_file: Vec<usize> = files.iter().map(|f| csv_rows(f, &header).len()).collect();
    assert_eq!(per_file, [6, 2, 2, 2]);
}

#[test]
fn reopen_after_newsyslog_rename_starts_a_fresh_file_with_header() {
    let dir = tempfile::tempdir().unwrap();
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let header = enc.streams()[1].header.clone();
    let mut sink = FileSink::open(enc, config(dir.path(), None, None, 5)).unwrap();
    let active = dir.path().join("netpulse-socket.csv");
    sink.write_batch(&batch(0, 0, 3, true));

    // newsyslog: rename, (maybe create an empty file itself), then SIGHUP.
    let moved = dir.path().join("netpulse-socket.csv.0");
    std::fs::rename(&active, &moved).unwrap();
    sink.reopen().unwrap();
    assert_eq!(mode(&active), 0o640);
    assert_eq!(csv_rows(&active, &header).len(), 0, "header only");
    sink.write_batch(&batch(1, 3, 3, true));
    sink.write_batch(&batch(2, 6, 3, true));

    let ids = |p: &Path| -> Vec<String> {
        csv_rows(p, &header)
            .iter()
            .map(|r| r[2].to_string())
            .collect()
    };
    assert_eq!(ids(&moved), ["0", "1", "2"]);
    assert_eq!(ids(&active), ["3", "4", "5", "6", "7", "8"]);

    // The rotator created the new file itself (empty, its own mode): the
    // header still goes first and the mode is left alone.
    std::fs::rename(&active, dir.path().join("netpulse-socket.csv.1")).unwrap();
    std::fs::write(&active, b"").unwrap();
    std::fs::set_permissions(&active, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    sink.reopen().unwrap();
    sink.write_batch(&batch(3, 9, 1, true));
    assert_eq!(ids(&active), ["9"]);
    assert_eq!(mode(&active), 0o644);
}

#[test]
fn a_renamed_or_deleted_active_file_is_recreated_without_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(Format::Json, config(dir.path(), None, None, 5));
    let active = dir.path().join("netpulse.jsonl");
    sink.write_batch(&batch(0, 0, 2, false));
    let moved = dir.path().join("netpulse.jsonl.0");
    std::fs::rename(&active, &moved).unwrap();
    sink.write_batch(&batch(1, 2, 2, false));
    assert_eq!(sock_ids(&json_lines(&moved)), [0, 1]);
    assert_eq!(sock_ids(&json_lines(&active)), [2, 3]);
    assert_eq!(mode(&active), 0o640);
    std::fs::remove_file(&active).unwrap();
    sink.write_batch(&batch(2, 4, 2, false));
    assert_eq!(sock_ids(&json_lines(&active)), [4, 5]);
}

#[test]
fn restart_appends_without_second_header_and_cuts_a_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, 5);
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let header = enc.streams()[1].header.clone();
    let mut sink = FileSink::open(enc, cfg.clone()).unwrap();
    sink.write_batch(&batch(0, 0, 2, true));
    drop(sink);

    // A crash mid-record left half a row behind.
    let active = dir.path().join("netpulse-socket.csv");
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(b"99,,9999,127.0.0.1:1,\"[::1]:443");
    std::fs::write(&active, &bytes).unwrap();

    let mut sink = open(Format::Csv, cfg);
    sink.write_batch(&batch(1, 2, 2, true));
    let text = std::fs::read(&active).unwrap();
    assert_eq!(
        text.windows(header.len())
            .filter(|w| *w == &header[..])
            .count(),
        1,
        "header written twice"
    );
    let ids: Vec<String> = csv_rows(&active, &header)
        .iter()
        .map(|r| r[2].to_string())
        .collect();
    assert_eq!(ids, ["0", "1", "2", "3"]);
}

#[test]
fn bad_settings_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), Some(0), None, 1);
    let err = FileSink::open(new_encoder(Format::Json, "n").unwrap(), cfg.clone())
        .err()
        .unwrap();
    assert!(err.to_string().contains("rotate_size"), "{err}");
    cfg.rotate_size = None;
    cfg.file_mode = 0o4755;
    let err = FileSink::open(new_encoder(Format::Json, "n").unwrap(), cfg)
        .err()
        .unwrap();
    assert!(err.to_string().contains("0640"), "{err}");
    assert!(new_encoder(Format::Json, "a/b").is_err());
    assert!(new_encoder(Format::Proto, "n").is_ok());
    // A directory that cannot be created names itself.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"").unwrap();
    let err = FileSink::open(
        new_encoder(Format::Json, "n").unwrap(),
        config(&file.join("sub"), None, None, 1),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("plain-file"), "{err}");
}

#[test]
fn keep_zero_is_refused_and_keep_one_keeps_one_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileSink::open(
        new_encoder(Format::Json, "netpulse").unwrap(),
        config(dir.path(), Some(1500), None, 0),
    )
    .err()
    .expect("keep = 0 was accepted");
    assert!(err.to_string().contains("keep"), "{err}");
    let mut sink = open(Format::Json, config(dir.path(), Some(1500), None, 1));
    for seq in 0..10 {
        assert_eq!(sink.write_batch(&batch(seq, seq * 5, 5, false)).failed, 0);
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".netpulse.lock")
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "netpulse.jsonl");
    assert!(names[1].starts_with("netpulse.jsonl.2"), "{names:?}");
    let ids = sock_ids(&json_lines(&dir.path().join("netpulse.jsonl")));
    assert_eq!(ids.last(), Some(&49));
}

#[test]
fn reopen_that_fails_keeps_writing_to_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(Format::Json, config(dir.path(), None, None, 5));
    let active = dir.path().join("netpulse.jsonl");
    sink.write_batch(&batch(0, 0, 2, false));
    let moved = dir.path().join("netpulse.jsonl.0");
    std::fs::rename(&active, &moved).unwrap();
    std::fs::create_dir(&active).unwrap(); // the name cannot be opened as a file
    let err = sink.reopen().unwrap_err();
    assert!(err.to_string().contains("netpulse.jsonl"), "{err}");
    let r = sink.write_batch(&batch(1, 2, 2, false));
    assert_eq!(
        r,
        WriteReport {
            written: 2,
            failed: 0,
            rotate_failures: 0,
            compress_failures: 0
        }
    );
    assert_eq!(sock_ids(&json_lines(&moved)), [0, 1, 2, 3]);
    std::fs::remove_dir(&active).unwrap();
    sink.write_batch(&batch(2, 4, 2, false));
    assert_eq!(sock_ids(&json_lines(&active)), [4, 5]);
    assert_eq!(sock_ids(&json_lines(&moved)), [0, 1, 2, 3]);
}

#[test]
fn restart_after_a_column_change_rotates_the_old_file_away() {
    let dir = tempfile::tempdir().unwrap();
    let active = dir.path().join("netpulse-socket.csv");
    std::fs::write(&active, b"ts,local\n1,127.0.0.1:1\n").unwrap();
    let enc = new_encoder(Format::Csv, "netpulse").unwrap();
    let header = enc.streams()[1].header.clone();
    let mut sink = FileSink::open(enc, config(dir.path(), None, None, 5)).unwrap();
    sink.write_batch(&batch(0, 0, 1, true));
    let rotated = rotation::list_rotated(dir.path(), "netpulse-socket.csv").unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(
        std::fs::read(&rotated[0].1).unwrap(),
        b"ts,local\n1,127.0.0.1:1\n"
    );
    assert_eq!(csv_rows(&active, &header).len(), 1);
}

/// Clears the immutable flag however the test ends.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn set(dir: &'a Path) -> Immutable<'a> {
        let ok = Command::new("chattr").arg("+i").arg(dir).status().unwrap();
        assert!(ok.success(), "chattr +i {}", dir.display());
        Immutable(dir)
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[test]
fn a_rotation_that_fails_is_counted_and_retried_until_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(Format::Json, config(dir.path(), Some(2000), None, 10));
    let mut seq = 0;
    let mut write = |sink: &mut FileSink| {
        seq += 1;
        sink.write_batch(&batch(seq, seq * 5, 5, true))
    };
    while files_in_order(dir.path(), "netpulse.jsonl").len() < 2 {
        assert_eq!(write(&mut sink).rotate_failures, 0);
    }
    // An immutable directory refuses every rename and create, even to
    // root; the open active file can still be appended to.
    let failures: u64 = {
        let _frozen = Immutable::set(dir.path());
        let mut failures = 0;
        for _ in 0..50 {
            let r = write(&mut sink);
            assert_eq!(r.failed, 0, "records are still written: {r:?}");
            failures += r.rotate_failures;
            if failures >= 3 {
                break;
            }
        }
        failures
    };
    assert!(failures >= 3, "each batch retries and counts: {failures}");
    let oversized = std::fs::metadata(dir.path().join("netpulse.jsonl"))
        .unwrap()
        .len();
    assert!(
        oversized > 2000,
        "the active file grew while rotation failed"
    );
    let before = files_in_order(dir.path(), "netpulse.jsonl").len();
    let r = write(&mut sink);
    assert_eq!(r.rotate_failures, 0, "{r:?}");
    assert!(
        files_in_order(dir.path(), "netpulse.jsonl").len() > before,
        "the next batch rotated the oversized file"
    );
}
