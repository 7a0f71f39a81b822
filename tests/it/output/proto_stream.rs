//! The binary output end to end, with the real `netpulse` binary and
//! Debian's `protoc` as an independent reader of our bytes.

use std::path::Path;
use std::process::{Command, Output};

use netpulse::output::proto::{Origin, ProtoEncoder, StreamDecoder};
use netpulse::output::sink::file::{Compression, FileSink, FileSinkConfig, new_encoder};
use netpulse::output::sink::rotation;
use netpulse::output::{Encoder, Format, json};
use netpulse::record::Batch;
use netpulse_testkit::linux_like;

fn netpulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(args)
        .output()
        .expect("running the netpulse binary")
}

/// What a file sink with `format = "proto"` writes: every emit appended.
fn write_stream(path: &Path, batches: &[Batch]) -> Vec<u64> {
    let mut enc = ProtoEncoder::new("netpulse.pb");
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for b in batches {
        enc.encode(b, &mut |stream, rec| {
            assert_eq!(stream, 0);
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(rec);
        });
    }
    std::fs::write(path, &bytes).unwrap();
    offsets
}

/// What the JSON sink writes for the same batches.
fn json_of(batches: &[Batch]) -> String {
    let mut out = Vec::new();
    for b in batches {
        json::write_batch(b, &mut out);
    }
    String::from_utf8(out).unwrap()
}

fn batches() -> Vec<Batch> {
    let mut v: Vec<Batch> = (0..6)
        .map(|seq| linux_like::batch(seq, seq, 50 * seq as usize, seq % 2 == 1))
        .collect();
    // A tier with no system line, and a poll that found no sockets.
    v[2].system = None;
    v[4].sockets.clear();
    v
}

#[test]
fn decode_reads_zstd_and_gzip_compressed_streams() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("netpulse.pb");
    let batches = batches();
    write_stream(&plain, &batches);
    let bytes = std::fs::read(&plain).unwrap();
    let zst = dir.path().join("netpulse.pb.zst");
    // Two frames, as a writer that compresses chunk by chunk makes.
    let half = bytes.len() / 2;
    let mut frames = zstd::encode_all(&bytes[..half], 3).unwrap();
    frames.extend(zstd::encode_all(&bytes[half..], 19).unwrap());
    std::fs::write(&zst, frames).unwrap();
    let gz = dir.path().join("netpulse.pb.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &bytes).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let want = json_of(&batches);
    for path in [&zst, &gz] {
        let out = netpulse(&["decode", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}", path.display());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            want,
            "{}",
            path.display()
        );
    }
    // A compressed file cut short is an error, after what decoded.
    let z = std::fs::read(&zst).unwrap();
    std::fs::write(&zst, &z[..z.len() / 2]).unwrap();
    let out = netpulse(&["decode", zst.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[test]
fn decode_prints_what_the_json_sink_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.pb");
    let batches = batches();
    write_stream(&path, &batches);
    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let want = json_of(&batches);
    assert_eq!(got.lines().count(), want.lines().count());
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {}", n + 1);
    }
    assert_eq!(got, want);

    // Standard input works the same.
    let stdin = std::fs::File::open(&path).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["decode", "-"])
        .stdin(stdin)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

#[test]
fn truncated_file_prints_complete_batches_then_fails_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.pb");
    let batches = batches();
    let offsets = write_stream(&path, &batches);
    let bytes = std::fs::read(&path).unwrap();
    let last = *offsets.last().unwrap();
    // Cut in the middle of the last message, as a killed writer would.
    let cut = last as usize + (bytes.len() - last as usize) / 2;
    std::fs::write(&path, &bytes[..cut]).unwrap();

    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        json_of(&batches[..batches.len() - 1])
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("truncated message at byte offset {last}")),
        "{err}"
    );
}

#[test]
fn corrupt_file_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.pb");
    let batches = batches();
    let offsets = write_stream(&path, &batches);
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage the third message's first socket record tag.
    let third = offsets[2] as usize;
    bytes[third + 3..third + 40].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        json_of(&batches[..2])
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("byte offset {third}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Not a protobuf stream at all (a JSON file given by mistake).
    std::fs::write(&path, json_of(&batches[..1])).unwrap();
    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("byte offset 0") && err.contains("not a"),
        "{err}"
    );

    let out = netpulse(&["decode", dir.path().join("missing.pb").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pb"));
}

/// Field names declared in a message of the .proto file.
fn proto_fields(proto: &str, message: &str) -> Vec<String> {
    let start = proto.find(&format!("message {message} {{")).unwrap();
    let body = &proto[start..];
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .map(|l| l.split("//").next().unwrap().trim())
        .filter(|l| l.ends_with(';') && l.contains('='))
        .map(|l| {
            let lhs = l.split('=').next().unwrap();
            lhs.split_whitespace().last().unwrap().to_string()
        })
        .collect()
}

#[test]
fn protoc_decodes_our_stream() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto = std::fs::read_to_string(root.join("proto/tcpstats.proto")).unwrap();
    let b = linux_like::batch(7, 41, 8, true);
    let origin = Origin {
        host: "db-7".into(),
        platform: "freebsd".into(),
        agent_version: "0.1.0".into(),
    };
    let mut enc = ProtoEncoder::with_origin("x.pb", origin);
    let mut bytes = Vec::new();
    enc.encode(&b, &mut |_, rec| bytes.extend_from_slice(rec));
    // Our own decoder finds exactly one message spanning the whole buffer.
    let decoded: Vec<_> = StreamDecoder::new(&bytes[..]).collect();
    assert_eq!(decoded.len(), 1);
    // protoc --decode reads one message: strip the length prefix.
    let text = protoc_decode(strip_prefix(&bytes));

    // protoc knows every field we wrote: no numbered (unknown) fields.
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())),
        "{text}"
    );
    // Every field of every message appears (the batch sets all of them).
    for (msg, count) in [
        ("Header", 7),
        ("SystemRecord", 24),
        ("SocketRecord", 73),
        ("TcpCounters", 16),
    ] {
        let fields = proto_fields(&proto, msg);
        assert_eq!(fields.len(), count, "{msg}: {fields:?}");
        for field in fields {
            if field == "remote_scope_id" || (msg == "SystemRecord" && field == "tier") {
                continue; // zero in this batch: proto3 does not write zero
            }
            assert!(
                text.contains(&format!("{field}: ")) || text.contains(&format!("{field} {{")),
                "{msg}.{field} missing from protoc's output:\n{text}"
            );
        }
    }
    assert_eq!(text.matches("sockets {").count(), 8);
    let s = &b.sockets[0];
    for want in [
        "host: \"db-7\"".to_string(),
        "seq: 41".to_string(),
        format!("ts: {}", b.ts),
        "tier: TIER_FAST".to_string(),
        format!("state: TCP_STATE_{}", s.state.name()),
        format!("cwnd: {}", s.cwnd().unwrap()),
        format!("rtt_us: {}", s.rtt_us().unwrap()),
        format!("rcv_buf_pct: {}", s.rcv_buf_pct().unwrap()),
        "local_scope_id: 2".to_string(),
        "stack: \"rack\"".to_string(),
        // protoc escapes the quotes and the newline; é is two octal bytes.
        r#"command: "my \"svc\", v2\nnext \303\251""#.to_string(),
    ] {
        assert!(text.contains(&want), "`{want}` missing:\n{text}");
    }
    // Address bytes: fe80::1 as 16 octal-escaped bytes.
    assert!(
        text.contains(
            r#"local_addr: "\376\200\000\000\000\000\000\000\000\000\000\000\000\000\000\001""#
        ),
        "{text}"
    );
}

/// Rotated files, oldest first, then the active file.
fn files_in_order(dir: &Path, active: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = rotation::list_rotated(dir, active)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    v.push(dir.join(active));
    v
}

#[test]
fn file_sink_rotates_proto_without_ever_splitting_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 48 * 1024;
    let cfg = FileSinkConfig {
        dir: dir.path().to_path_buf(),
        rotate_size: Some(limit),
        rotate_age: None,
        keep: 1000,
        file_mode: 0o640,
        compress: Compression::Off,
    };
    let encoder = new_encoder(Format::Proto, "netpulse").unwrap();
    assert_eq!(encoder.streams()[0].file_name, "netpulse.pb");
    let mut sink = FileSink::open(encoder, cfg).unwrap();
    // Batches of 0 to ~40 KB, and one larger than the limit on its own.
    let mut batches: Vec<Batch> = (0..40u64)
        .map(|seq| linux_like::batch(seq, seq, (seq as usize * 37) % 131, seq % 5 == 0))
        .collect();
    batches[17] = linux_like::batch(17, 17, 400, false);
    for b in &batches {
        let report = sink.write_batch(b);
        assert_eq!(
            (report.written, report.failed),
            (1, 0),
            "one message per batch"
        );
    }
    sink.flush_sync().unwrap();

    let files = files_in_order(dir.path(), "netpulse.pb");
    assert!(files.len() >= 5, "expected rotations: {files:?}");
    let mut decoded = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let mut in_file = 0;
        for item in StreamDecoder::new(&bytes[..]) {
            let d = item.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            decoded.push(d.batch);
            in_file += 1;
        }
        // Past the limit only when one message alone is larger.
        assert!(
            bytes.len() as u64 <= limit || in_file == 1,
            "{}: {} bytes in {in_file} messages",
            f.display(),
            bytes.len()
        );
    }
    // Every batch exactly once, in order, lossless.
    assert_eq!(json_of(&decoded), json_of(&batches));
    let seqs: Vec<u64> = decoded.iter().map(|b| b.seq).collect();
    assert_eq!(seqs, (0..40).collect::<Vec<_>>());

    // The real binary reads a rotated file too.
    let out = netpulse(&["decode", files[0].to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
}

/// Strip the varint length prefix of a single-message stream.
fn strip_prefix(bytes: &[u8]) -> &[u8] {
    let mut len = 0usize;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            assert_eq!(i + 1 + len, bytes.len(), "exactly one message");
            return &bytes[i + 1..];
        }
    }
    panic!("no length prefix");
}

fn protoc_decode(message: &[u8]) -> String {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("protoc")
        .args([
            "--decode",
            "netpulse.v1.Batch",
            "-I",
            "proto",
            "tcpstats.proto",
        ])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("protoc: install Debian's protobuf-compiler (.ci/setup.d/40-proto.sh does)");
    let mut stdin = child.stdin.take().unwrap();
    let message = message.to_vec();
    // Write from a thread: protoc's output may fill its pipe first.
    let writer = std::thread::spawn(move || stdin.write_all(&message));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A real sample of this host's sockets (the Linux source, this test's own
/// connection among them), written by the proto encoder and decoded by the
/// real binary: the JSON of the very same sample, line for line.
#[cfg(target_os = "linux")]
#[test]
fn real_sample_decodes_to_the_json_of_the_same_sample() {
    use netpulse::pipeline::snapshot::collect_all;
    use netpulse::platform::{self, SourceKind};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let mut source = platform::open(SourceKind::Linux).unwrap();
    let (batch, _) = collect_all(source.as_mut()).unwrap();
    let ours = batch
        .sockets
        .iter()
        // Both ends: an earlier connection from the same ephemeral port may
        // still be in TIME_WAIT towards another peer.
        .find(|s| {
            s.local == client.local_addr().unwrap() && s.remote == listener.local_addr().unwrap()
        })
        .expect("our own connection in the sample");
    assert!(
        ours.rtt_us().is_some() && ours.pid().is_some() && ours.cc().is_some(),
        "{ours:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.pb");
    write_stream(&path, std::slice::from_ref(&batch));
    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let got = String::from_utf8(out.stdout).unwrap();
    let want = json_of(std::slice::from_ref(&batch));
    assert_eq!(got.lines().count(), batch.sockets.len() + 1);
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {}", n + 1);
    }
    assert_eq!(got, want);
}

/// `netpulse once --format proto` on this host: one message, which our
/// decoder and protoc both read, holding this test's own connection.
#[cfg(target_os = "linux")]
#[test]
fn once_format_proto_is_one_message_that_decode_and_protoc_read() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let local = client.local_addr().unwrap().to_string();
    let remote = listener.local_addr().unwrap().to_string();

    let out = netpulse(&["once", "--format", "proto"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = out.stdout;
    let body = strip_prefix(&bytes);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("once.pb");
    std::fs::write(&path, &bytes).unwrap();
    let out = netpulse(&["decode", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "system");
    assert_eq!(lines[0]["total_sockets"], (lines.len() - 1) as u64);
    let ours = lines
        .iter()
        .find(|v| v["local"] == local.as_str() && v["remote"] == remote.as_str())
        .expect("our connection");
    assert_eq!(ours["state"], "ESTABLISHED");
    assert_eq!(ours["pid"], std::process::id());

    let text = protoc_decode(body);
    assert_eq!(text.matches("sockets {").count(), lines.len() - 1);
    let port = client.local_addr().unwrap().port();
    assert!(text.contains(&format!("local_port: {port}")), "port {port}");
    assert!(text.contains("platform: \"linux\""));
    assert!(text.contains(&format!("agent_version: \"{}\"", env!("CARGO_PKG_VERSION"))));
}

/// A crash left half a message at the end of the active file: the sink
/// cuts it when it opens the file again, so the messages appended after
/// it stay readable.
#[test]
fn restarted_file_sink_cuts_a_torn_message_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FileSinkConfig {
        dir: dir.path().to_path_buf(),
        rotate_size: None,
        rotate_age: None,
        keep: 5,
        file_mode: 0o640,
        compress: Compression::Off,
    };
    let batches: Vec<Batch> = (0..4).map(|s| linux_like::batch(s, s, 20, true)).collect();
    let open = || FileSink::open(new_encoder(Format::Proto, "netpulse").unwrap(), cfg.clone());
    let mut sink = open().unwrap();
    sink.write_batch(&batches[0]);
    sink.write_batch(&batches[1]);
    drop(sink);

    let active = dir.path().join("netpulse.pb");
    let whole = std::fs::read(&active).unwrap();
    let mut torn = Vec::new();
    let mut enc = ProtoEncoder::new("x.pb");
    enc.encode(&linux_like::batch(99, 99, 20, true), &mut |_, rec| {
        torn.extend_from_slice(&rec[..rec.len() / 2])
    });
    std::fs::write(&active, [&whole[..], &torn[..]].concat()).unwrap();

    let mut sink = open().unwrap();
    assert_eq!(
        std::fs::metadata(&active).unwrap().len(),
        whole.len() as u64
    );
    sink.write_batch(&batches[2]);
    sink.write_batch(&batches[3]);
    sink.flush_sync().unwrap();
    let bytes = std::fs::read(&active).unwrap();
    let decoded: Vec<Batch> = StreamDecoder::new(&bytes[..])
        .map(|d| d.unwrap().batch)
        .collect();
    assert_eq!(json_of(&decoded), json_of(&batches));
}
