//! `netpulse replay` end to end: the real binary over the byte-exact
//! FreeBSD fixtures (tests/freebsd/fixtures/*.c), with the process join.

use std::path::PathBuf;
use std::process::Output;

use crate::support::replay::{json_lines, replay};
use netpulse::platform::freebsd::layout::{XIG_GEN, XINPGEN_SIZE};
use serde_json::{Value, json};

fn fx(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/freebsd/fixtures/{name}.bin"))
}

fn path(name: &str) -> String {
    fx(name).to_string_lossy().into_owned()
}

/// Output lines as JSON, with the sampling time and poll duration (the
/// only values not from the dump) checked and removed.
fn lines(out: &Output) -> Vec<Value> {
    let mut ts = None;
    json_lines(out)
        .into_iter()
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            let t = o.remove("ts").and_then(|t| t.as_u64()).expect("ts");
            assert_eq!(*ts.get_or_insert(t), t, "one timestamp per batch");
            o.remove("poll_us");
            v
        })
        .collect()
}

#[test]
fn replay_prints_every_field_joined_with_processes() {
    let out = replay(&[
        "--pcblist",
        &path("pcblist"),
        "--kern-file",
        &path("kern_file"),
        "--kern-proc",
        &path("kern_proc"),
        "--tcp-stats",
        &path("tcp_stats"),
        "--tcp-states",
        &path("tcp_states"),
    ]);
    let got = lines(&out);
    let want = vec![
        json!({"type":"system","interval_ms":0,"total_sockets":6,
            "state_counts":[0,1,1,0,2,1,0,0,0,7,1],
            "connattempt":101,"accepts":102,"connects":103,"drops":104,"sndtotal":105,
            "sndbyte":106,"sndrexmitpack":107,"sndrexmitbyte":108,"rcvtotal":109,"rcvbyte":110,
            "rcvduppack":111,"rcvbadsum":112,"listen_overflows":113,
            "retransmit_timeouts":114,"parse_errors":0,"scans_inconsistent":0}),
        json!({"type":"socket","sock_id":901,"local":"192.0.2.10:52341",
            "remote":"198.51.100.7:443","uid":1001,"state":"ESTABLISHED","cwnd":14480,
            "ssthresh":2147483647u64,"mss":1448,"rcv_wnd":131328,"snd_wnd":65535,"cc":"cubic",
            "stack":"freebsd","rexmit":7,"ooo":3,"zerowin":1,"dsack_bytes":2896,"dsack_pack":2,
            "timer_rexmt_ms":204,"timer_keep_ms":7199000,"idle_ms":15,"snd_buf_used":1000,
            "snd_buf_hiwat":65536,"rcv_buf_used":8061,"rcv_buf_hiwat":65536,"snd_buf_pct":1.5,
            "rcv_buf_pct":12.3,"pid":4242,"fd":3,"command":"curl"}),
        json!({"type":"socket","sock_id":5,"local":"0.0.0.0:22","remote":"0.0.0.0:0","uid":0,
            "state":"LISTEN","cwnd":1073725440,"ssthresh":2147483647u64,"mss":536,"rcv_wnd":0,
            "snd_wnd":0,"cc":"newreno","stack":"freebsd","rexmit":0,"ooo":0,"zerowin":0,
            "dsack_bytes":0,"dsack_pack":0,"idle_ms":3600000,"pid":700,"fd":3,
            "command":"sshd",
            "accept_queue":1,"accept_backlog":128}),
        json!({"type":"socket","sock_id":902,"local":"[2001:db8::1]:443",
            "remote":"[2001:db8::2]:60000","uid":80,"state":"ESTABLISHED","cwnd":28560,
            "ssthresh":28560,"mss":1428,"rcv_wnd":131072,"snd_wnd":262144,"cc":"cubic",
            "stack":"rack","rexmit":0,"ooo":0,"zerowin":0,"dsack_bytes":0,"dsack_pack":0,
            "timer_rexmt_ms":300,"timer_keep_ms":7200000,"timer_delack_ms":40,"idle_ms":2,
            "snd_buf_used":49152,"snd_buf_hiwat":65536,"rcv_buf_used":0,"rcv_buf_hiwat":131072,
            "snd_buf_pct":75.0,"rcv_buf_pct":0.0,"pid":80,"fd":5,"command":"nginx"}),
        json!({"type":"socket","sock_id":870,"local":"[fe80::1%2]:22",
            "remote":"[fe80::2%2]:50000","state":"TIME_WAIT","cwnd":2856,"ssthresh":5712,
            "mss":1428,"rcv_wnd":65536,"snd_wnd":65536,"cc":"newreno","stack":"freebsd",
            "rexmit":0,"ooo":0,"zerowin":0,"dsack_bytes":0,"dsack_pack":0,
            "timer_2msl_ms":30000,"idle_ms":30000}),
        json!({"type":"socket","sock_id":903,"local":"10.0.0.1:40000","remote":"10.0.0.2:5432",
            "uid":1001,"state":"SYN_SENT","cwnd":14600,"ssthresh":2147483647u64,"mss":1460,
            "rcv_wnd":65535,"snd_wnd":0,"cc":"cubic","stack":"freebsd","rexmit":1,"ooo":0,
            "zerowin":0,"dsack_bytes":0,"dsack_pack":0,"timer_rexmt_ms":1000,
            "timer_keep_ms":72000,"idle_ms":3000,"snd_buf_used":0,"snd_buf_hiwat":32768,
            "rcv_buf_used":0,"rcv_buf_hiwat":65536,"snd_buf_pct":0.0,"rcv_buf_pct":0.0}),
        json!({"type":"socket","sock_id":904,"local":"127.0.0.1:8080",
            "remote":"127.0.0.1:51000","uid":1001,"state":"CLOSE_WAIT","cwnd":43690,
            "ssthresh":21845,"mss":16344,"rcv_wnd":0,"snd_wnd":0,"cc":"newreno",
            "stack":"freebsd","rexmit":0,"ooo":0,"zerowin":4,"dsack_bytes":0,"dsack_pack":0,
            "timer_persist_ms":5000,"timer_keep_ms":7080000,"idle_ms":120000,
            "snd_buf_used":0,"snd_buf_hiwat":32768,"rcv_buf_used":65536,
            "rcv_buf_hiwat":65536,"snd_buf_pct":0.0,"rcv_buf_pct":100.0,"pid":5000,"fd":4,
            "command":"fetch \"x\",y"}),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // No kernel address leaks, in any notation.
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    for so in [
        0xfffff80012345600u64,
        0xfffff80012340000,
        0xfffff80012345700,
    ] {
        assert!(!text.contains(&so.to_string()) && !text.contains(&format!("{so:x}")));
    }
}

#[test]
fn replay_without_optional_dumps_leaves_fields_absent() {
    let got = lines(&replay(&[
        "--pcblist",
        &path("pcblist"),
        "--kern-file",
        &path("kern_file"),
    ]));
    let sys = got[0].as_object().unwrap();
    // Counted from the table when the kernel's counts were not captured.
    assert_eq!(
        sys["state_counts"],
        json!([0, 1, 1, 0, 2, 1, 0, 0, 0, 0, 1])
    );
    assert!(
        !sys.contains_key("sndtotal"),
        "no --tcp-stats: counters absent"
    );
    // kern.file without kern.proc: pid and fd, but no invented command.
    let curl = got[1].as_object().unwrap();
    assert_eq!(
        (curl["pid"].as_u64(), curl["fd"].as_u64()),
        (Some(4242), Some(3))
    );
    assert!(!curl.contains_key("command"));
}

#[test]
fn replay_errors_name_the_file_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &std::fs::read(fx("pcblist")).unwrap()[..1000]).unwrap();
    let out = replay(&["--pcblist", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cut.bin") && err.contains("at byte 808"),
        "{err}"
    );
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(
        err.matches("truncated").count(),
        1,
        "cause printed once: {err}"
    );
    assert!(out.stdout.is_empty(), "no partial output");

    // A kern.proc dump given as kern.file: wrong entry size, named.
    let out = replay(&[
        "--pcblist",
        &path("pcblist"),
        "--kern-file",
        &path("kern_proc"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kern_proc.bin") && err.contains("at byte 0"),
        "{err}"
    );
    assert!(err.contains("xf_size = 1088"), "{err}");

    // A pcblist dump given as a /dev/tcpstats capture: refused by its magic.
    let out = replay(&["--tcpstats-dev", &path("pcblist")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pcblist.bin")
            && err.contains("at byte 0")
            && err.contains("not a /dev/tcpstats stream"),
        "{err}"
    );
}

#[test]
fn replay_counts_a_generation_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(fx("pcblist")).unwrap();
    let trailer_gen = b.len() - XINPGEN_SIZE + XIG_GEN.offset;
    b[trailer_gen] ^= 1;
    let p = dir.path().join("moving.bin");
    std::fs::write(&p, &b).unwrap();
    let out = replay(&["--pcblist", p.to_str().unwrap()]);
    let got = lines(&out);
    assert_eq!(got.len(), 7, "data still used");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed while it was captured"), "{err}");
    // And counted where a reader of the output sees it.
    assert_eq!(got[0]["type"], "system");
    assert_eq!(got[0]["scans_inconsistent"], 1, "{}", got[0]);
    let clean = lines(&replay(&["--pcblist", &path("pcblist")]));
    assert_eq!(clean[0]["scans_inconsistent"], 0, "{}", clean[0]);
}

/// A table captured mid-handshake, as the kernel writes it: syncache
/// entries first (addresses and state only), a listener without buffers,
/// link-local addresses with the zone the kernel embeds in them.
#[test]
fn replay_of_syncache_entries_listener_and_link_local() {
    let got = lines(&replay(&["--pcblist", &path("pcblist_handshake")]));
    let want = vec![
        json!({"type":"system","interval_ms":0,"total_sockets":4,
            "state_counts":[0,1,0,2,1,0,0,0,0,0,0],"parse_errors":0,"scans_inconsistent":0}),
        json!({"type":"socket","local":"192.0.2.10:443","remote":"203.0.113.5:51234",
            "state":"SYN_RECEIVED"}),
        json!({"type":"socket","local":"[fe80::1%2]:22","remote":"[fe80::3%2]:50001",
            "state":"SYN_RECEIVED"}),
        json!({"type":"socket","sock_id":7,"local":"[::]:22","remote":"[::]:0","uid":0,
            "state":"LISTEN","cwnd":1073725440,"ssthresh":2147483647u64,"mss":1220,
            "rcv_wnd":0,"snd_wnd":0,"cc":"cubic","stack":"freebsd","rexmit":0,"ooo":0,
            "zerowin":0,"dsack_bytes":0,"dsack_pack":0,"idle_ms":900000,
            "accept_queue":0,"accept_backlog":128}),
        json!({"type":"socket","sock_id":950,"local":"[fe80::1%2]:22",
            "remote":"[fe80::2%2]:50000","uid":0,"state":"ESTABLISHED","cwnd":12200,
            "ssthresh":2147483647u64,"mss":1220,"rcv_wnd":65536,"snd_wnd":65280,"cc":"cubic",
            "stack":"freebsd","rexmit":0,"ooo":0,"zerowin":0,"dsack_bytes":0,"dsack_pack":0,
            "timer_keep_ms":7199996,"timer_delack_ms":100,"idle_ms":4,"snd_buf_used":36,
            "snd_buf_hiwat":33304,"rcv_buf_used":0,"rcv_buf_hiwat":65536,"snd_buf_pct":0.1,
            "rcv_buf_pct":0.0}),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}
