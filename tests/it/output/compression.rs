//! Compressed rotation: rotated files become `.zst` / `.gz` that standard
//! tools and `netpulse decode` read back with every record once; `keep`
//! counts compressed files; start-up finishes an interrupted compression;
//! a full disk keeps the plain file, counts the failure and retries; a
//! kill -9 mid-compression loses and repeats nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netpulse::output::Format;
use netpulse::output::sink::compress::STALL_HOOK_ENV;
use netpulse::output::sink::file::{Compression, FileSink, FileSinkConfig, new_encoder};
use netpulse::output::sink::rotation;
use netpulse_testkit::output::*;

use super::full_disk::Tmpfs;
use crate::support::daemon::*;

fn config(dir: &Path, size: u64, keep: usize, compress: Compression) -> FileSinkConfig {
    FileSinkConfig {
        dir: dir.to_path_buf(),
        rotate_size: Some(size),
        rotate_age: None,
        keep,
        file_mode: 0o640,
        compress,
    }
}

/// Wait, bounded, until `cond` holds; panics naming `what` otherwise.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Rotated files of `active` still plain (not yet compressed).
fn plain_rotated(dir: &Path, active: &str) -> Vec<PathBuf> {
    rotation::list_rotated_forms(dir, active)
        .unwrap()
        .into_iter()
        .filter_map(|(_, f)| f.plain)
        .collect()
}

/// Leftover temporary files of a compression.
fn temps(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// A file decompressed by the standard tool for its suffix.
fn tool_decompress(path: &Path) -> String {
    let tool = if path.to_string_lossy().ends_with(".zst") {
        "zstd"
    } else {
        "gzip"
    };
    let o = Command::new(tool).arg("-dc").arg(path).output().unwrap();
    assert!(o.status.success(), "{tool} -dc {}: {o:?}", path.display());
    String::from_utf8(o.stdout).unwrap()
}

/// `sock_id` of each socket line of JSON text.
fn sock_ids_of(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "socket")
        .map(|v| v["sock_id"].as_u64().unwrap())
        .collect()
}

#[test]
fn rotated_json_is_compressed_and_standard_tools_read_every_record_once() {
    for (compress, ext) in [(Compression::Zstd, "zst"), (Compression::Gzip, "gz")] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let enc = new_encoder(Format::Json, "netpulse").unwrap();
        let mut sink = FileSink::open(enc, config(d, 16 * 1024, 1000, compress)).unwrap();
        let (batches, per) = (40u64, 20usize);
        for seq in 0..batches {
            let r = sink.write_batch(&batch(seq, seq * per as u64, per, true));
            assert_eq!((r.failed, r.compress_failures), (0, 0), "{r:?}");
        }
        wait_until("every rotated file compressed", || {
            plain_rotated(d, "netpulse.jsonl").is_empty()
        });
        let rotated = rotation::list_rotated(d, "netpulse.jsonl").unwrap();
        assert!(rotated.len() >= 5, "{:?}", names(d));
        let mut ids = Vec::new();
        for (_, p) in &rotated {
            assert!(p.to_string_lossy().ends_with(ext), "{}", p.display());
            ids.extend(sock_ids_of(&tool_decompress(p)));
        }
        ids.extend(sock_ids_of(
            &std::fs::read_to_string(d.join("netpulse.jsonl")).unwrap(),
        ));
        let want: Vec<u64> = (0..batches * per as u64).collect();
        assert_eq!(ids, want, "{ext}: every record once, in order");
        assert!(temps(d).is_empty(), "{:?}", names(d));
        // The active file stays plain for tail -F.
        let active = std::fs::read(d.join("netpulse.jsonl")).unwrap();
        assert_eq!(active.first(), Some(&b'{'));
    }
}

#[test]
fn netpulse_decode_reads_compressed_protobuf_files() {
    for compress in [Compression::Zstd, Compression::Gzip] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let enc = new_encoder(Format::Proto, "netpulse").unwrap();
        let mut sink = FileSink::open(enc, config(d, 8 * 1024, 1000, compress)).unwrap();
        for seq in 0..30u64 {
            sink.write_batch(&batch(seq, seq * 20, 20, true));
        }
        wait_until("every rotated file compressed", || {
            plain_rotated(d, "netpulse.pb").is_empty()
        });
        let mut files: Vec<PathBuf> = rotation::list_rotated(d, "netpulse.pb")
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert!(files.len() >= 3, "{:?}", names(d));
        files.push(d.join("netpulse.pb"));
        let mut ids = Vec::new();
        for f in &files {
            let o = Command::new(env!("CARGO_BIN_EXE_netpulse"))
                .arg("decode")
                .arg(f)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}: {o:?}", f.display());
            ids.extend(sock_ids_of(&String::from_utf8(o.stdout).unwrap()));
        }
        assert_eq!(ids, (0..600).collect::<Vec<u64>>(), "{compress:?}");
    }
}

#[test]
fn keep_counts_compressed_files_and_prunes_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let enc = new_encoder(Format::Json, "netpulse").unwrap();
    let mut sink = FileSink::open(enc, config(d, 8 * 1024, 3, Compression::Zstd)).unwrap();
    for seq in 0..60u64 {
        sink.write_batch(&batch(seq, seq * 10, 10, true));
        // Now and then let the compressor catch up, so pruning meets
        // compressed files, not only plain ones.
        if seq % 10 == 9 {
            wait_until("compression caught up", || {
                plain_rotated(d, "netpulse.jsonl").is_empty()
            });
        }
    }
    wait_until("every rotated file compressed", || {
        plain_rotated(d, "netpulse.jsonl").is_empty()
    });
    let rotated = rotation::list_rotated(d, "netpulse.jsonl").unwrap();
    assert_eq!(rotated.len(), 3, "{:?}", names(d));
    let files: Vec<String> = names(d)
        .into_iter()
        .filter(|n| n.starts_with("netpulse.jsonl."))
        .collect();
    assert_eq!(files.len(), 3, "one form per kept file: {files:?}");
    // The newest records are the ones kept: the kept files and the active
    // one hold a run of ids ending at the last one written.
    let mut ids = Vec::new();
    for (_, p) in &rotated {
        ids.extend(sock_ids_of(&tool_decompress(p)));
    }
    ids.extend(sock_ids_of(
        &std::fs::read_to_string(d.join("netpulse.jsonl")).unwrap(),
    ));
    let first = ids[0];
    assert_eq!(ids, (first..600).collect::<Vec<u64>>());
}

#[test]
fn start_up_finishes_or_cleans_an_interrupted_compression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let line = |id: u64| format!("{{\"type\":\"socket\",\"sock_id\":{id}}}\n");
    // Crash after the temporary file was begun: plain + partial temp.
    let a = "netpulse.jsonl.20261201T000000.000Z";
    let a_text: String = (0..50).map(line).collect();
    std::fs::write(d.join(a), &a_text).unwrap();
    std::fs::write(d.join(format!(".{a}.zst.tmp")), b"\x28\xb5\x2f\xfd partial").unwrap();
    // Crash after the rename, before the plain file was removed.
    let b = "netpulse.jsonl.20261201T000001.000Z";
    let b_text: String = (50..100).map(line).collect();
    std::fs::write(d.join(b), &b_text).unwrap();
    std::fs::write(
        d.join(format!("{b}.zst")),
        zstd::encode_all(b_text.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    // An operator's file with a temp-like name of another family stays.
    std::fs::write(d.join(".other.zst.tmp"), "x").unwrap();

    let enc = new_encoder(Format::Json, "netpulse").unwrap();
    let sink = FileSink::open(enc, config(d, 1 << 20, 10, Compression::Zstd)).unwrap();
    wait_until("both rotated files in one compressed form", || {
        let n = names(d);
        n.iter()
            .filter(|n| n.starts_with("netpulse.jsonl."))
            .all(|n| n.ends_with(".zst"))
            && !n.contains(&format!(".{a}.zst.tmp"))
    });
    drop(sink);
    assert_eq!(
        names(d),
        [
            ".netpulse.lock",
            ".other.zst.tmp",
            "netpulse.jsonl",
            &format!("{a}.zst"),
            &format!("{b}.zst"),
        ]
        .map(String::from)
    );
    assert_eq!(tool_decompress(&d.join(format!("{a}.zst"))), a_text);
    assert_eq!(tool_decompress(&d.join(format!("{b}.zst"))), b_text);
}

#[test]
fn compress_off_leaves_rotated_files_plain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let enc = new_encoder(Format::Json, "netpulse").unwrap();
    let mut sink = FileSink::open(enc, config(d, 8 * 1024, 100, Compression::Off)).unwrap();
    for seq in 0..20u64 {
        sink.write_batch(&batch(seq, seq * 10, 10, true));
    }
    drop(sink);
    let rotated = rotation::list_rotated(d, "netpulse.jsonl").unwrap();
    assert!(rotated.len() >= 3);
    for (_, p) in rotated {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with('{'), "{}", p.display());
    }
}

#[test]
fn full_disk_while_compressing_keeps_the_plain_file_counts_and_retries() {
    let fs = Tmpfs::mount("256k");
    let d = fs.path().join("out");
    let enc = new_encoder(Format::Json, "netpulse").unwrap();
    let mut sink = FileSink::open(enc, config(&d, 16 * 1024, 100, Compression::Zstd)).unwrap();
    let mut seq = 0u64;
    let mut write = |sink: &mut FileSink, n: usize| {
        let r = sink.write_batch(&batch(seq, seq * 100, n, true));
        seq += 1;
        r
    };
    // Almost a file's worth in the active file.
    while std::fs::metadata(d.join("netpulse.jsonl")).unwrap().len() < 12 * 1024 {
        write(&mut sink, 2);
    }
    let before = std::fs::read(d.join("netpulse.jsonl")).unwrap();
    // Fill the file system, then rotate: the rename needs no space, the
    // compressed copy does.
    let ballast = fs.path().join("ballast");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&ballast).unwrap();
        while f.write_all(&[b'x'; 4096]).is_ok() {}
    }
    let mut compress_failures = 0;
    while plain_rotated(&d, "netpulse.jsonl").is_empty() {
        compress_failures += write(&mut sink, 20).compress_failures;
    }
    let rotated = plain_rotated(&d, "netpulse.jsonl");
    assert_eq!(rotated.len(), 1);
    wait_until("the failed compression to be counted", || {
        compress_failures += write(&mut sink, 1).compress_failures;
        compress_failures > 0
    });
    let kept = std::fs::read(&rotated[0]).unwrap();
    assert!(
        kept.starts_with(&before),
        "the plain file keeps its records"
    );
    assert!(temps(&d).is_empty(), "{:?}", names(&d));
    assert!(
        !names(&d).iter().any(|n| n.ends_with(".zst")),
        "{:?}",
        names(&d)
    );

    // Space returns: the next rotation retries and the file is compressed.
    std::fs::remove_file(&ballast).unwrap();
    let first_stamp = rotated[0].clone();
    let compressed = PathBuf::from(format!("{}.zst", first_stamp.display()));
    wait_until("the retried compression", || {
        write(&mut sink, 20);
        compressed.exists() && !first_stamp.exists()
    });
    assert!(
        tool_decompress(&compressed).into_bytes() == kept,
        "the compressed copy holds exactly the plain file"
    );
}

/// Every line of every file of the `netpulse.jsonl` family in `dir`,
/// decompressed, with how often each occurs.
fn line_counts(dir: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for f in files(dir, "netpulse.jsonl") {
        let text = String::from_utf8(read_plain(&f)).unwrap();
        for l in text.lines() {
            *counts.entry(l.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn kill_9_mid_compression_then_restart_keeps_every_record_exactly_once() {
    let conns = connections("127.0.2.71", 10);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let marker = dir.path().join("stalled");
    let cfg = format!(
        r#"
[tiers.fast]
interval = "100ms"
[tiers.standard]
enabled = false
[tiers.slow]
enabled = false
[tiers.aggregate]
enabled = false
[filter]
local_ports = [{p}]
remote_ports = [{p}]
[[output]]
format = "json"
dir = "{o}"
sockets = "all"
rotate_size = "8KiB"
keep = 1000
"#,
        o = out.display(),
        p = conns.port
    );
    let mut agent = Agent::start_with_env(
        dir.path(),
        &cfg,
        &[(STALL_HOOK_ENV, marker.to_str().unwrap())],
    );
    // The first compression stalls with part of its temporary file
    // written; rotations go on meanwhile.
    wait_until("a compression to stall mid-file", || marker.exists());
    wait_until("three more rotated files", || {
        plain_rotated(&out, "netpulse.jsonl").len() >= 4
    });
    assert_eq!(temps(&out).len(), 1, "{:?}", names(&out));
    // What the rotated files hold: complete, never written again.
    let mut before: Vec<String> = Vec::new();
    for p in plain_rotated(&out, "netpulse.jsonl") {
        let text = std::fs::read_to_string(&p).unwrap();
        before.extend(text.lines().map(String::from));
    }
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    drop(agent);

    // Restart without the hook: start-up deletes the partial temporary
    // file and compresses every plain rotated file.
    let agent = Agent::start(dir.path(), &cfg);
    wait_until("every rotated file compressed after restart", || {
        plain_rotated(&out, "netpulse.jsonl").is_empty() && temps(&out).is_empty()
    });
    let (status, _, log) = agent.stop();
    assert!(status.success(), "{log}");
    assert!(temps(&out).is_empty(), "{:?}", names(&out));
    let counts = line_counts(&out);
    for l in &before {
        assert_eq!(counts.get(l), Some(&1), "record in {:?}: {l}", names(&out));
    }
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "records in two files: {twice:?}");
    assert!(
        log.contains("removing an interrupted compression's temporary file"),
        "{log}"
    );
}

#[test]
fn a_rotated_name_owned_by_another_user_is_not_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Planted by whoever can write the directory: a name of ours, a file
    // of theirs.
    let planted = d.join("netpulse.jsonl.20200101T000000.000Z");
    std::fs::write(&planted, "theirs\n").unwrap();
    nix::unistd::chown(&planted, Some(65534.into()), Some(65534.into())).unwrap();
    let enc = new_encoder(Format::Json, "netpulse").unwrap();
    let mut sink = FileSink::open(enc, config(d, 8 * 1024, 100, Compression::Zstd)).unwrap();
    for seq in 0..20u64 {
        sink.write_batch(&batch(seq, seq * 10, 10, true));
    }
    wait_until("our rotated files compressed", || {
        plain_rotated(d, "netpulse.jsonl") == [planted.clone()]
    });
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "theirs\n");
    assert!(
        !names(d)
            .iter()
            .any(|n| n.starts_with("netpulse.jsonl.2020") && n.ends_with(".zst"))
    );
}
