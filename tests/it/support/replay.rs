//! Shared by tests/freebsd_replay.rs and tests/tcpstats_replay.rs: run the
//! real `netpulse replay` and read what it printed.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

pub fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("replay")
        .args(args)
        .output()
        .expect("running netpulse replay")
}

/// Every stdout line as JSON; the run must have succeeded and printed
/// valid UTF-8.
pub fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::str::from_utf8(&out.stdout)
        .expect("replay prints UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}
