//! The real agent with a JSON and a protobuf output on the same tiers:
//! `netpulse decode` of the protobuf files prints exactly the JSON files,
//! line for line, across rotations and the SIGTERM drain.
#![cfg(target_os = "linux")]

use std::process::Command;
use std::time::Duration;

use crate::support::daemon::*;
use crate::support::wait;

#[test]
fn decode_of_the_proto_sink_equals_the_json_sink() {
    let conns = connections("127.0.2.61", 40);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let agent = Agent::start(
        dir.path(),
        &format!(
            r#"
[agent]
shutdown_timeout = "5s"
[tiers.fast]
interval = "200ms"
[filter]
local_ports = [{p}]
remote_ports = [{p}]
[[output]]
format = "json"
dir = "{o}"
rotate_size = "16KiB"
[[output]]
format = "proto"
dir = "{o}"
rotate_size = "8KiB"
"#,
            o = out.display(),
            p = conns.port
        ),
    );
    // A poll of 80 sockets is larger than 8 KiB: one message per file.
    wait::until_or(
        "five protobuf files",
        Duration::from_secs(60),
        || files(&out, "netpulse.pb").len() >= 5,
        || agent.log_text(),
    );
    let (status, _, log) = agent.stop();
    assert!(status.success(), "exit {status:?}\n{log}");

    let mut json = Vec::new();
    for f in files(&out, "netpulse.jsonl") {
        json.extend_from_slice(&read_plain(&f));
    }
    let proto_files = files(&out, "netpulse.pb");
    assert!(
        proto_files.len() >= 3,
        "proto output rotated: {proto_files:?}"
    );
    let mut decoded = Vec::new();
    for f in &proto_files {
        let o = Command::new(env!("CARGO_BIN_EXE_netpulse"))
            .arg("decode")
            .arg(f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {o:?}", f.display());
        decoded.extend_from_slice(&o.stdout);
    }
    let (json, decoded) = (
        String::from_utf8(json).unwrap(),
        String::from_utf8(decoded).unwrap(),
    );
    assert!(json.lines().count() > 80, "{} lines", json.lines().count());
    assert_eq!(decoded.lines().count(), json.lines().count());
    for (n, (d, j)) in decoded.lines().zip(json.lines()).enumerate() {
        assert_eq!(d, j, "line {}", n + 1);
    }
    assert_eq!(decoded, json);
}
