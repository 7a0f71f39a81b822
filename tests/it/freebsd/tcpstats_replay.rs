//! `netpulse replay --tcpstats-dev` end to end: the real binary over
//! streams compiled from the tcpstats module's ABI header, joined with
//! kern.file / kern.proc captures (tests/freebsd/tcpstats/fixtures.c).

use std::path::PathBuf;

use crate::support::replay::{json_lines, replay};

fn fx(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/freebsd/tcpstats/{name}.bin"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn replay_tcpstats_dev_prints_rtt_and_joins_processes() {
    let out = replay(&[
        "--tcpstats-dev",
        &fx("normal"),
        "--kern-file",
        &fx("kern_file"),
        "--kern-proc",
        &fx("kern_proc"),
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 5, "system line + 4 sockets");
    let sys = &lines[0];
    assert_eq!(sys["type"], "system");
    assert_eq!(sys["total_sockets"], 4);
    let counts = sys["state_counts"].as_array().unwrap();
    assert_eq!(
        (counts[1].as_u64(), counts[4].as_u64(), counts[10].as_u64()),
        (Some(1), Some(2), Some(1))
    );

    let a = &lines[1];
    assert_eq!(a["type"], "socket");
    assert_eq!(a["local"], "192.0.2.10:52341");
    assert_eq!(a["remote"], "198.51.100.7:443");
    assert_eq!(a["state"], "ESTABLISHED");
    assert_eq!(a["sock_id"], 1001);
    assert_eq!(
        (a["rtt_us"].as_u64(), a["rttvar_us"].as_u64()),
        (Some(23500), Some(4250))
    );
    assert_eq!(
        (a["rto_us"].as_u64(), a["rtt_min_us"].as_u64()),
        (Some(231000), Some(21000))
    );
    assert_eq!(a["snd_nxt"], 0x10002000);
    assert_eq!(
        (a["snd_wscale"].as_u64(), a["rcv_wscale"].as_u64()),
        (Some(7), Some(9))
    );
    assert_eq!(a["ssthresh"], 2147483647u64);
    assert_eq!(
        (a["cc"].as_str(), a["stack"].as_str()),
        (Some("cubic"), Some("freebsd"))
    );
    assert_eq!(a["timer_rexmt_ms"], 230);
    assert!(
        a.get("timer_persist_ms").is_none(),
        "an unarmed timer is absent"
    );
    assert_eq!((a["pid"].as_u64(), a["fd"].as_i64()), (Some(4242), Some(3)));
    assert_eq!(a["command"], "curl");

    let l = &lines[2];
    assert_eq!(
        (l["local"].as_str(), l["state"].as_str()),
        (Some("[::]:8443"), Some("LISTEN"))
    );
    assert!(l.get("rtt_us").is_none(), "no RTT measured on a listener");
    assert_eq!(
        (l["pid"].as_u64(), l["command"].as_str()),
        (Some(80), Some("nginx"))
    );

    let r = &lines[3];
    assert_eq!(r["stack"], "rack");
    assert_eq!((r["pid"].as_u64(), r["fd"].as_i64()), (Some(80), Some(6)));

    let t = &lines[4];
    assert_eq!(t["state"], "TIME_WAIT");
    assert!(
        t.get("pid").is_none(),
        "a socket with no descriptor has no process"
    );

    // The kernel addresses used for the join never reach the output.
    let text = String::from_utf8_lossy(&out.stdout);
    for k in [
        0xfffff80012345678u64,
        0xfffff80012345a00,
        0xfffff80012346000,
    ] {
        assert!(!text.contains(&k.to_string()) && !text.contains(&format!("{k:x}")));
    }
}

#[test]
fn replay_tcpstats_dev_shows_link_local_zone_and_all_bytes_sent() {
    let lines = json_lines(&replay(&["--tcpstats-dev", &fx("link_local")]));
    assert_eq!(lines.len(), 2);
    let s = &lines[1];
    assert_eq!(
        (s["local"].as_str(), s["remote"].as_str()),
        (Some("[fe80::1%2]:22"), Some("[fe80::2%2]:50000"))
    );
    assert_eq!(
        (s["bytes_sent"].as_u64(), s["bytes_retrans"].as_u64()),
        (Some(5220), Some(1220))
    );
}

#[test]
fn replay_tcpstats_dev_reads_future_records_and_reports_truncation() {
    let lines = json_lines(&replay(&["--tcpstats-dev", &fx("future")]));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["local"], "[2001:db8::1]:443");

    let out = replay(&["--tcpstats-dev", &fx("truncated")]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "the delivered record is used");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("incomplete")
            && err.contains("1 of 3")
            && err.contains("dev.tcpstats.max_bytes"),
        "truncation must be reported: {err}"
    );
}

#[test]
fn replay_tcpstats_dev_refuses_bad_streams_naming_file_and_offset() {
    for (name, offset, words) in [
        ("unknown_version", 4, "ABI version 3"),
        ("small_record", 8, "record size 256"),
        ("corrupt_count", 32, "7 records"),
        ("corrupt_magic", 0, "not a /dev/tcpstats stream"),
    ] {
        let out = replay(&["--tcpstats-dev", &fx(name)]);
        assert!(!out.status.success(), "{name} must fail");
        assert!(out.stdout.is_empty(), "{name}: nothing printed on failure");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{name}.bin"))
                && err.contains(&format!("byte {offset}"))
                && err.contains(words),
            "{name}: {err}"
        );
    }
    let out = replay(&["--tcpstats-dev", &fx("normal"), "--pcblist", &fx("normal")]);
    assert!(!out.status.success(), "two socket tables are refused");
}
