//! `netpulse replay --pcblist-n` end to end: the real binary over the
//! byte-exact macOS fixtures (tests/macos/fixtures/*.c).

use std::path::PathBuf;

use crate::support::replay::{json_lines, replay};
use serde_json::{Value, json};

fn path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/macos/fixtures/{name}.bin"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn replay_prints_cwnd_rtt_and_sock_id_from_a_pcblist_n_dump() {
    let out = replay(&[
        "--pcblist-n",
        &path("pcblist_n"),
        "--tcp-stats",
        &path("tcp_stats"),
    ]);
    let mut got = json_lines(&out);
    for v in &mut got {
        let o = v.as_object_mut().unwrap();
        assert!(o.remove("ts").and_then(|t| t.as_u64()).is_some(), "ts");
        o.remove("poll_us");
    }
    assert_eq!(got.len(), 6, "a system line and five sockets");
    assert_eq!(
        got[0],
        json!({"type":"system","interval_ms":0,"total_sockets":5,
            "state_counts":[0,1,0,0,3,0,0,0,0,0,1],
            "connattempt":11,"accepts":12,"connects":13,"drops":14,"sndtotal":1500,
            "sndbyte":2000000,"sndrexmitpack":17,"sndrexmitbyte":24616,"rcvtotal":1800,
            "rcvbyte":3000000,"rcvduppack":9,"rcvbadsum":2,"retransmit_timeouts":21,
            "parse_errors":0,"scans_inconsistent":0})
    );
    assert_eq!(
        got[1],
        json!({"type":"socket","sock_id":901,"local":"192.0.2.10:52341",
            "remote":"198.51.100.7:443","uid":501,"state":"ESTABLISHED","cwnd":14480,
            "ssthresh":2147483647u64,"mss":1448,"rcv_wnd":131072,"snd_wnd":65535,
            "rtt_us":20500,"rttvar_us":500,"rto_us":230000,"snd_una":1000,"snd_nxt":2000,
            "snd_max":2000,"rcv_nxt":5000,"rcv_adv":136072,"snd_buf_used":1000,
            "snd_buf_hiwat":131072,"rcv_buf_used":8061,"rcv_buf_hiwat":131072,
            "snd_buf_pct":0.8,"rcv_buf_pct":6.2})
    );
    let ids: Vec<&Value> = got[1..].iter().map(|v| &v["sock_id"]).collect();
    assert_eq!(
        ids,
        [
            &json!(901),
            &json!(5),
            &json!(1200),
            &json!(1300),
            &json!(777)
        ]
    );
    assert_eq!(got[4]["local"], "[fe80::1%4]:22");
    assert_eq!(got[5]["state"], "TIME_WAIT");
}

#[test]
fn replay_output_holds_no_kernel_address() {
    let out = replay(&["--pcblist-n", &path("pcblist_n"), "--format", "csv"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The fixture's xi_inpp, inp_ppcb and xso_so, in decimal and hex.
    for p in [
        0xffffff8012345678u64,
        0xffffff8087654321,
        0xffffff80aaaabbbb,
    ] {
        assert!(!text.contains(&p.to_string()), "{p} printed");
        assert!(!text.contains(&format!("{p:x}")), "{p:x} printed");
    }
    assert!(text.contains("901"), "the csv has the records: {text}");
}

#[test]
fn replay_of_a_cut_dump_names_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.bin");
    let b = std::fs::read(path("pcblist_n")).unwrap();
    std::fs::write(&cut, &b[..1000]).unwrap();
    let out = replay(&["--pcblist-n", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.bin"), "{err}");
    assert!(err.contains("at byte 912"), "{err}");
    assert!(err.contains("truncated xsockstat_n"), "{err}");
    assert!(out.stdout.is_empty(), "nothing printed before the error");
}

#[test]
fn replay_refuses_freebsd_dumps_with_a_macos_one() {
    let out = replay(&[
        "--pcblist-n",
        &path("pcblist_n"),
        "--tcp-states",
        &path("tcp_stats"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--pcblist-n is a macOS dump"), "{err}");
}

#[test]
fn replay_skips_unrepresentable_connections_with_one_warning() {
    use netpulse::platform::macos::layout::{XINPGEN_SIZE, XT_STATE, XTCPCB_N_SIZE};
    use netpulse::platform::macos::pcblist_n::ITEM_SET_SIZE;
    let mut b = std::fs::read(path("pcblist_n")).unwrap();
    // The xtcpcb_n is the last item of a connection: its padded size from the end.
    let tcp_in_conn = ITEM_SET_SIZE - ((XTCPCB_N_SIZE + 7) & !7);
    for conn in [1, 3] {
        let at = XINPGEN_SIZE + conn * ITEM_SET_SIZE + tcp_in_conn + XT_STATE.offset;
        b[at..at + 4].copy_from_slice(&42i32.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad_states.bin");
    std::fs::write(&f, &b).unwrap();
    let out = replay(&["--pcblist-n", f.to_str().unwrap()]);
    let got = json_lines(&out);
    assert_eq!(got.len(), 4, "a system line and the three good sockets");
    assert_eq!(got[0]["parse_errors"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("skipped 2 connection(s)").count(), 1, "{err}");
    assert!(err.contains("t_state = 42"), "{err}");
}
