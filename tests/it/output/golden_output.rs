//! The bytes every encoder writes for a fixed set of samples, held against
//! files committed under `tests/golden/`. A refactoring of the records or
//! the encoders must leave these bytes exactly as they are.
//!
//! The samples cover every TCP state, IPv4 and IPv6 (with a scope id),
//! present and absent fields in many mixes, extreme integers, floats with
//! and without a fraction, and commands with quotes, commas, newlines,
//! control characters and non-ASCII text.
//!
//! To write the files afresh after an intended change of the output:
//! `NETPULSE_WRITE_GOLDEN=1 cargo test --test golden_output`, then review
//! the diff.

use std::path::PathBuf;
use std::sync::Arc;

use netpulse::output::csv::CsvEncoder;
use netpulse::output::json::JsonEncoder;
use netpulse::output::proto::{Origin, ProtoEncoder};
use netpulse::output::{Encoder, csv, json, proto};
use netpulse::record::{
    Batch, SSTHRESH_INFINITE, ShortName, SocketRecord, SystemRecord, TcpCounters, TcpState, Tier,
};

const COMMANDS: [&str; 6] = [
    "nginx: worker process",
    "a,b \"quoted\"\nnext line",
    "tab\there\r\u{1}ctl",
    "naïve-ü-日本",
    "",
    "back\\slash \"",
];

/// A 64-bit value for field `k` of record `i`: small, edge or large.
fn value(i: u64, k: u64) -> u64 {
    match (i * 7 + k) % 5 {
        0 => 0,
        1 => u64::MAX,
        2 => u64::from(u32::MAX),
        3 => i * 1000 + k,
        _ => (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k,
    }
}

fn value32(i: u64, k: u64) -> u32 {
    value(i, k) as u32
}

/// Record `i` with every field set, then some knocked out by `i`'s bits.
fn socket(i: u64) -> SocketRecord {
    let state = TcpState::ALL[(i % 11) as usize];
    let (local, remote) = match i % 4 {
        0 => ("192.168.1.5:52341", "151.101.1.69:443"),
        1 => ("[2001:db8::1]:443", "[2001:db8::2:1]:61000"),
        2 => ("[fe80::1%2]:22", "0.0.0.0:0"),
        _ => ("255.255.255.255:65535", "[::ffff:10.0.0.1]:8080"),
    };
    let mut r = SocketRecord::new(
        1_709_312_400_000_000_000 + i * 1_000_000_007,
        local.parse().unwrap(),
        remote.parse().unwrap(),
        state,
    );
    let n = |k| Some(value(i, k));
    let s = |k| Some(value32(i, k));
    r.set()
        .tier(Some(Tier::ALL[(i % Tier::ALL.len() as u64) as usize]));
    r.set().sock_id(n(1));
    r.set().uid(s(2));
    r.set().inode(n(3));
    r.set().cwnd(n(4));
    r.set().ssthresh(if i % 3 == 0 {
        Some(SSTHRESH_INFINITE)
    } else {
        n(5)
    });
    r.set().mss(s(6));
    r.set().rcv_wnd(n(7));
    r.set().snd_wnd(n(8));
    r.set().snd_wscale(Some((i % 15) as u8));
    r.set().rcv_wscale(Some(14));
    r.set().cc(Some(ShortName::new(
        ["cubic", "newreno", "bbr", ""][(i % 4) as usize],
    )));
    r.set().stack(Some(ShortName::new(
        ["freebsd", "rack", "a\"b,c"][(i % 3) as usize],
    )));
    r.set().rtt_us(s(9));
    r.set().rttvar_us(s(10));
    r.set().rto_us(s(11));
    r.set().rtt_min_us(s(12));
    r.set().snd_una(s(13));
    r.set().snd_nxt(s(14));
    r.set().snd_max(s(15));
    r.set().rcv_nxt(s(16));
    r.set().rcv_adv(s(17));
    r.set().rexmit(n(18));
    r.set().ooo(n(19));
    r.set().zerowin(n(20));
    r.set().dsack_bytes(n(21));
    r.set().dsack_pack(n(22));
    r.set().bytes_sent(n(23));
    r.set().bytes_acked(n(24));
    r.set().bytes_received(n(25));
    r.set().bytes_retrans(n(26));
    r.set().segs_out(n(27));
    r.set().segs_in(n(28));
    r.set().unacked(s(29));
    r.set().lost(s(30));
    r.set().retrans_out(s(31));
    r.set().delivery_rate(n(32));
    r.set().pacing_rate(n(33));
    r.set().rexmit_delta(n(34));
    r.set().ooo_delta(n(35));
    r.set().zerowin_delta(n(36));
    r.set().bytes_acked_delta(n(37));
    r.set().bytes_received_delta(n(38));
    r.set().segs_out_delta(n(39));
    r.set().segs_in_delta(n(40));
    r.set().age_ms(n(41));
    r.set().timer_rexmt_ms(s(42));
    r.set().timer_persist_ms(s(43));
    r.set().timer_keep_ms(s(44));
    r.set().timer_2msl_ms(s(45));
    r.set().timer_delack_ms(s(46));
    r.set().idle_ms(s(47));
    r.set().snd_buf_used(s(48));
    r.set().snd_buf_hiwat(s(49));
    r.set().rcv_buf_used(s(50));
    r.set().rcv_buf_hiwat(s(51));
    r.set().snd_buf_pct(Some(
        [0.0, 12.3, 100.0, 55.55, 1e-7, 33.333333333333336][(i % 6) as usize],
    ));
    r.set().rcv_buf_pct(Some((i % 1001) as f64 / 10.0));
    r.set().snd_queue(s(52));
    r.set().rcv_queue(s(53));
    r.set().pid(s(54));
    r.set()
        .fd(Some([3, -1, i32::MIN, i32::MAX][(i % 4) as usize]));
    r.set().command(Some(Arc::from(
        COMMANDS[(i % COMMANDS.len() as u64) as usize],
    )));
    // Never written anywhere: a kernel address.
    r.set().proc_key(Some(0xffff_f800_1234_5678));
    knock_out(&mut r, i);
    r
}

/// Absent fields in a different mix per record: record 0 keeps all.
fn knock_out(r: &mut SocketRecord, i: u64) {
    let gone = |k: u64| i != 0 && (i.wrapping_mul(0x2545_f491_4f6c_dd1d) >> (k % 61)) & 1 == 1;
    if gone(0) {
        r.set().tier(None);
    }
    if gone(1) {
        r.set().sock_id(None);
    }
    if gone(2) {
        r.set().uid(None);
        r.set().inode(None);
    }
    if gone(3) {
        r.set().cwnd(None);
        r.set().ssthresh(None);
        r.set().mss(None);
    }
    if gone(4) {
        r.set().rcv_wnd(None);
        r.set().snd_wnd(None);
        r.set().snd_wscale(None);
        r.set().rcv_wscale(None);
    }
    if gone(5) {
        r.set().cc(None);
    }
    if gone(6) {
        r.set().stack(None);
    }
    if gone(7) {
        r.set().rtt_us(None);
        r.set().rttvar_us(None);
        r.set().rto_us(None);
        r.set().rtt_min_us(None);
    }
    if gone(8) {
        r.set().snd_una(None);
        r.set().snd_nxt(None);
        r.set().snd_max(None);
        r.set().rcv_nxt(None);
        r.set().rcv_adv(None);
    }
    if gone(9) {
        r.set().rexmit(None);
        r.set().ooo(None);
        r.set().zerowin(None);
    }
    if gone(10) {
        r.set().dsack_bytes(None);
        r.set().dsack_pack(None);
    }
    if gone(11) {
        r.set().bytes_sent(None);
        r.set().bytes_acked(None);
        r.set().bytes_received(None);
        r.set().bytes_retrans(None);
    }
    if gone(12) {
        r.set().segs_out(None);
        r.set().segs_in(None);
        r.set().unacked(None);
        r.set().lost(None);
        r.set().retrans_out(None);
    }
    if gone(13) {
        r.set().delivery_rate(None);
        r.set().pacing_rate(None);
    }
    if gone(14) {
        r.set().rexmit_delta(None);
        r.set().ooo_delta(None);
        r.set().zerowin_delta(None);
        r.set().bytes_acked_delta(None);
    }
    if gone(15) {
        r.set().bytes_received_delta(None);
        r.set().segs_out_delta(None);
        r.set().segs_in_delta(None);
    }
    if gone(16) {
        r.set().age_ms(None);
        r.set().idle_ms(None);
    }
    if gone(17) {
        r.set().timer_rexmt_ms(None);
        r.set().timer_persist_ms(None);
        r.set().timer_keep_ms(None);
        r.set().timer_2msl_ms(None);
        r.set().timer_delack_ms(None);
    }
    if gone(18) {
        r.set().snd_buf_used(None);
        r.set().snd_buf_hiwat(None);
        r.set().rcv_buf_used(None);
        r.set().rcv_buf_hiwat(None);
    }
    if gone(19) {
        r.set().snd_buf_pct(None);
    }
    if gone(20) {
        r.set().rcv_buf_pct(None);
    }
    if gone(21) {
        r.set().snd_queue(None);
        r.set().rcv_queue(None);
    }
    if gone(22) {
        r.set().pid(None);
    }
    if gone(23) {
        r.set().fd(None);
    }
    if gone(24) {
        r.set().command(None);
    }
}

fn system(seed: u64, all: bool) -> SystemRecord {
    let mut sys = SystemRecord {
        ts: 1_709_312_400_000_000_000 + seed,
        tier: Some(Tier::Fast),
        interval_ms: 1000,
        total_sockets: 47 + seed,
        state_counts: [0, 3, 0, 0, 38, 2, 1, 0, 0, 1, 2],
        poll_us: Some(1234),
        skipped_ticks: Some(0),
        dropped: Some(seed),
        write_errors: Some(u64::MAX),
        parse_errors: Some(7),
        tracked_sockets: Some(46),
        host: Some("db-1.example, \"east\"".into()),
        sockets_written: Some(33),
        sockets_unchanged: Some(14),
        closed: Some(2),
        memory_bytes: Some(52_428_800),
        ..SystemRecord::default()
    };
    let mut earlier = TcpCounters::default();
    for (k, name) in TcpCounters::NAMES.iter().enumerate() {
        let k = k as u64;
        if all || k % 3 != seed % 3 {
            assert!(sys.counters.set(name, 1000 * (k + 1) + seed));
            // One counter went backwards: no delta for it.
            let before = if k == 4 { u64::MAX } else { 10 * k };
            assert!(earlier.set(name, before));
        }
    }
    sys.set_deltas_since(&earlier);
    if !all {
        sys.tier = None;
        sys.poll_us = None;
        sys.tracked_sockets = None;
        sys.host = None;
        sys.sockets_unchanged = None;
        sys.memory_bytes = None;
    }
    sys
}

/// The batches: a full one, one without a system record, one with a
/// partial system record and bare records (only what every source knows).
fn batches() -> Vec<Batch> {
    let bare = |i: u64| {
        SocketRecord::new(
            i,
            "10.0.0.1:5".parse().unwrap(),
            "[::1]:6".parse().unwrap(),
            TcpState::ALL[(i % 11) as usize],
        )
    };
    vec![
        Batch {
            // Two connections gone: their last lines as close records.
            closes: (45..47).map(socket).collect(),
            tier: Some(Tier::Fast),
            ts: 1_709_312_400_000_000_000,
            seq: 0,
            interval_ms: 1000,
            system: Some(system(0, true)),
            sockets: (0..33).map(socket).collect(),
        },
        Batch {
            closes: Vec::new(),
            tier: None,
            ts: 1,
            seq: u64::MAX,
            interval_ms: 0,
            system: None,
            sockets: (33..45).map(socket).collect(),
        },
        Batch {
            closes: Vec::new(),
            tier: Some(Tier::Aggregate),
            ts: 2,
            seq: 2,
            interval_ms: 300_000,
            system: Some(system(2, false)),
            sockets: (0..11).map(bare).collect(),
        },
    ]
}

fn origin() -> Origin {
    Origin {
        host: "golden-host".into(),
        platform: "freebsd".into(),
        agent_version: "0.0.0-golden".into(),
    }
}

/// Every file an encoder writes: (file name, its header, then every
/// record of every batch).
fn through_encoder(enc: &mut dyn Encoder, batches: &[Batch]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = enc
        .streams()
        .iter()
        .map(|s| (s.file_name.clone(), s.header.clone()))
        .collect();
    for b in batches {
        enc.encode(b, &mut |stream, bytes| {
            files[stream].1.extend_from_slice(bytes)
        });
    }
    files
}

/// Every golden file: name and bytes.
fn outputs() -> Vec<(String, Vec<u8>)> {
    let batches = batches();
    let mut out = Vec::new();

    // `netpulse once` forms.
    let mut json_once = Vec::new();
    let mut csv_once = Vec::new();
    let mut proto_once = Vec::new();
    for b in &batches {
        json::write_batch(b, &mut json_once);
        csv::write_batch(b, &mut csv_once);
        proto::write_batch(b, &origin(), &mut proto_once);
    }
    out.push(("once.jsonl".to_string(), json_once));
    out.push(("once.csv".to_string(), csv_once));
    out.push(("once.pb".to_string(), proto_once));

    // The encoders the sinks use.
    out.extend(through_encoder(
        &mut JsonEncoder::new("netpulse.jsonl"),
        &batches,
    ));
    out.extend(through_encoder(&mut CsvEncoder::new("netpulse"), &batches));
    out.extend(through_encoder(
        &mut ProtoEncoder::with_origin("netpulse.pb", origin()),
        &batches,
    ));
    out
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn encoders_write_the_golden_bytes() {
    let write = std::env::var_os("NETPULSE_WRITE_GOLDEN").is_some();
    let mut problems = Vec::new();
    for (name, bytes) in outputs() {
        let path = golden_dir().join(&name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let want = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (see this file's top comment)", path.display()));
        if bytes != want {
            let at = bytes
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(bytes.len().min(want.len()));
            problems.push(format!(
                "{name}: differs from the golden file at byte {at} ({} vs {} bytes)",
                bytes.len(),
                want.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The samples exercise what they claim to: every state, both address
/// families, absent and present fields, awkward commands.
#[test]
fn the_samples_cover_what_they_claim() {
    let batches = batches();
    let sockets: Vec<&SocketRecord> = batches.iter().flat_map(|b| &b.sockets).collect();
    for state in TcpState::ALL {
        assert!(sockets.iter().any(|s| s.state == state), "{state:?}");
    }
    assert!(sockets.iter().any(|s| s.local.is_ipv4()));
    assert!(sockets.iter().any(|s| s.local.is_ipv6()));
    assert!(sockets.iter().any(|s| s.dsack_pack().is_some()));
    assert!(sockets.iter().any(|s| s.dsack_pack().is_none()));
    assert!(sockets.iter().any(|s| s.command().is_none()));
    for c in COMMANDS {
        assert!(
            sockets.iter().any(|s| s.command().as_deref() == Some(c)),
            "{c:?}"
        );
    }
    let json = String::from_utf8(outputs()[0].1.clone()).unwrap();
    assert!(json.contains(r#""command":"a,b \"quoted\"\nnext line""#));
    assert!(!json.contains(&0xffff_f800_1234_5678u64.to_string()));
}
