//! Protobuf against Debian's `protoc`, field by field: for every socket of
//! a batch, each field `protoc --decode` prints equals the value the JSON
//! output writes for the same socket, and each JSON field is one protoc
//! prints. The batches are a real sample of this host (run twice through
//! the delta store, so deltas and ages are set) and a synthetic batch with
//! every field set, IPv6 scopes and awkward strings.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use netpulse::output::Encoder;
use netpulse::output::json;
use netpulse::output::proto::ProtoEncoder;
use netpulse::record::{Batch, Tier};
use serde_json::Value;

/// `protoc --decode` of one length-prefixed message.
fn protoc_decode(stream: &[u8]) -> String {
    use std::io::Write;
    // Strip the varint length prefix.
    let mut len = 0usize;
    let mut body = None;
    for (i, &b) in stream.iter().enumerate().take(10) {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            assert_eq!(i + 1 + len, stream.len(), "exactly one message");
            body = Some(stream[i + 1..].to_vec());
            break;
        }
    }
    let body = body.expect("a length prefix");
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
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc: install Debian's protobuf-compiler (.ci/setup.d/40-proto.sh does)");
    let mut stdin = child.stdin.take().unwrap();
    // Write from a thread: protoc's output may fill its pipe first.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// protoc's text format: each top-level `sockets { ... }` block as
/// (field, raw value text) pairs, in order.
fn socket_blocks(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut blocks = Vec::new();
    let mut depth = 0;
    let mut cur: Option<BTreeMap<String, String>> = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_suffix(" {") {
            if depth == 0 && name == "sockets" {
                cur = Some(BTreeMap::new());
            }
            depth += 1;
        } else if l == "}" {
            depth -= 1;
            if depth == 0
                && let Some(b) = cur.take()
            {
                blocks.push(b);
            }
        } else if depth == 1
            && let Some(b) = cur.as_mut()
        {
            let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("line {l:?}"));
            assert!(
                b.insert(k.to_string(), v.to_string()).is_none(),
                "{k} printed twice"
            );
        }
    }
    assert_eq!(depth, 0);
    blocks
}

/// A protoc string or bytes literal, unescaped (C escapes, octal bytes).
fn unescape(raw: &str) -> Vec<u8> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a string: {raw}"));
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'"' | b'\'' | b'\\' => out.push(c),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    if i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                        v = v * 8 + u32::from(b[i] - b'0');
                        i += 1;
                    }
                }
                out.push(v as u8);
            }
            other => panic!("escape \\{}", other as char),
        }
    }
    out
}

/// The `ip:port` / `[ip%scope]:port` text of protoc's address fields.
fn address(p: &BTreeMap<String, String>, side: &str) -> String {
    let bytes = unescape(&p[&format!("{side}_addr")]);
    let port: u16 = p
        .get(&format!("{side}_port"))
        .map_or(0, |v| v.parse().unwrap());
    let scope: u32 = p
        .get(&format!("{side}_scope_id"))
        .map_or(0, |v| v.parse().unwrap());
    let addr: std::net::SocketAddr = match bytes.len() {
        4 => (<[u8; 4]>::try_from(&bytes[..]).unwrap(), port).into(),
        16 => std::net::SocketAddrV6::new(
            <[u8; 16]>::try_from(&bytes[..]).unwrap().into(),
            port,
            0,
            scope,
        )
        .into(),
        n => panic!("{side}_addr of {n} bytes"),
    };
    addr.to_string()
}

/// One socket: every protoc field against the JSON line, and every JSON
/// field printed by protoc. Returns how many values were compared.
fn compare(n: usize, p: &BTreeMap<String, String>, j: &Value) -> usize {
    let j = j.as_object().unwrap();
    assert_eq!(j["type"], "socket");
    let mut compared = 0;
    for (k, raw) in p {
        let (key, matches) = match k.as_str() {
            "local_addr" | "local_port" | "local_scope_id" => {
                ("local", address(p, "local") == j["local"])
            }
            "remote_addr" | "remote_port" | "remote_scope_id" => {
                ("remote", address(p, "remote") == j["remote"])
            }
            "state" => (
                "state",
                j["state"]
                    .as_str()
                    .map(|s| format!("TCP_STATE_{s}"))
                    .as_deref()
                    == Some(raw),
            ),
            "tier" => (
                "tier",
                j.get("tier")
                    .and_then(|t| t.as_str())
                    .map(|t| format!("TIER_{}", t.to_ascii_uppercase()))
                    .as_deref()
                    == Some(raw),
            ),
            _ => {
                let want = j
                    .get(k)
                    .unwrap_or_else(|| panic!("socket {n}: protoc prints {k}, JSON lacks it"));
                let ok = if raw.starts_with('"') {
                    Some(String::from_utf8(unescape(raw)).unwrap().as_str()) == want.as_str()
                } else if want.is_f64() {
                    raw.parse::<f64>().ok() == want.as_f64()
                } else if want.is_i64() && want.as_i64().unwrap() < 0 {
                    raw.parse::<i64>().ok() == want.as_i64()
                } else {
                    raw.parse::<u64>().ok() == want.as_u64()
                };
                (k.as_str(), ok)
            }
        };
        assert!(
            matches,
            "socket {n}: protoc {k}: {raw} but JSON {key}: {}",
            j.get(key).unwrap_or(&Value::Null)
        );
        compared += 1;
    }
    for key in j.keys() {
        let printed = match key.as_str() {
            "type" => true,
            "local" | "remote" => p.contains_key(&format!("{key}_addr")),
            k => p.contains_key(k),
        };
        assert!(printed, "socket {n}: JSON {key} not printed by protoc");
    }
    compared
}

/// Values compared, per socket.
fn check(batch: &Batch) -> Vec<usize> {
    let mut enc = ProtoEncoder::new("x.pb");
    let mut bytes = Vec::new();
    enc.encode(batch, &mut |_, rec| bytes.extend_from_slice(rec));
    let blocks = socket_blocks(&protoc_decode(&bytes));
    let mut out = Vec::new();
    json::write_batch(batch, &mut out);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "socket")
        .collect();
    assert_eq!(blocks.len(), batch.sockets.len());
    assert_eq!(lines.len(), batch.sockets.len());
    blocks
        .iter()
        .zip(&lines)
        .enumerate()
        .map(|(n, (p, j))| compare(n, p, j))
        .collect()
}

#[test]
fn every_field_of_a_synthetic_batch_matches_its_json() {
    let batch = netpulse_testkit::linux_like::batch(11, 3, 40, true);
    let compared = check(&batch);
    assert!(compared.iter().all(|&n| n > 60), "{compared:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn every_field_of_a_real_sample_matches_its_json() {
    use netpulse::pipeline::delta::DeltaStore;
    use netpulse::pipeline::snapshot::collect_all;
    use netpulse::platform::{self, SourceKind};
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut source = platform::open(SourceKind::Linux).unwrap();
    let mut store = DeltaStore::new();
    let (mut first, _) = collect_all(source.as_mut()).unwrap();
    store.apply(first.ts, &mut first.sockets, None);
    // Traffic between the samples, so this connection's deltas are not 0.
    client.write_all(&[5u8; 10_000]).unwrap();
    server.read_exact(&mut [0u8; 10_000]).unwrap();
    let (mut batch, _) = collect_all(source.as_mut()).unwrap();
    store.apply(batch.ts, &mut batch.sockets, None);
    batch.tier = Some(Tier::Fast);
    for s in &mut batch.sockets {
        s.set().tier(Some(Tier::Fast));
    }
    let at = batch
        .sockets
        .iter()
        .position(|s| {
            s.local == client.local_addr().unwrap() && s.remote == listener.local_addr().unwrap()
        })
        .expect("our own connection in the sample");
    let ours = &batch.sockets[at];
    assert!(
        ours.bytes_acked_delta().is_some_and(|d| d >= 10_000) && ours.cc().is_some(),
        "{ours:?}"
    );
    let compared = check(&batch);
    // Our connection: every field the Linux source and the store fill.
    assert!(compared[at] >= 45, "{} values compared", compared[at]);
}
