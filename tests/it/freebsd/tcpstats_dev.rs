//! The /dev/tcpstats reader against streams compiled from the module's ABI
//! header (tests/freebsd/tcpstats/fixtures.c, built by gen.sh with zig-cc
//! for the FreeBSD targets).

use netpulse::platform::SourceError;
use netpulse::platform::freebsd::tcpstats_dev::{self, TcpstatsError};
use netpulse::record::{SSTHRESH_INFINITE, SocketRecord, TcpState};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    crate::support::fixtures::read("freebsd/tcpstats", name)
}

fn parse_ok(name: &str) -> (tcpstats_dev::StreamSummary, Vec<SocketRecord>) {
    let mut out = Vec::new();
    let s =
        tcpstats_dev::parse(&fixture(name), 7, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
    (s, out)
}

fn parse_err(name: &str) -> TcpstatsError {
    let mut out = vec![SocketRecord::new(
        1,
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        TcpState::Established,
    )];
    let e = tcpstats_dev::parse(&fixture(name), 7, &mut out).expect_err(name);
    assert_eq!(out.len(), 1, "{name}: output must be untouched on error");
    e
}

#[test]
fn normal_stream_maps_every_field() {
    let (s, out) = parse_ok("normal");
    assert_eq!(s.records, 4);
    assert_eq!(s.skipped, 0);
    assert!(s.header.complete() && s.header.has_kernel_addresses());
    assert_eq!(s.header.generation, 5000);
    assert_eq!(s.header.hz, 1000);
    assert_eq!(s.header.needed_size, 64 + 4 * 320);

    let a = &out[0];
    assert_eq!(a.ts, 7);
    assert_eq!(a.local.to_string(), "192.0.2.10:52341");
    assert_eq!(a.remote.to_string(), "198.51.100.7:443");
    assert_eq!(a.state, TcpState::Established);
    assert_eq!(a.sock_id(), Some(1001));
    assert_eq!(a.uid(), Some(1001));
    assert_eq!(a.proc_key(), Some(0xfffff80012345678));
    assert_eq!(a.mss(), Some(1448));
    assert_eq!(
        (a.rtt_us(), a.rttvar_us(), a.rto_us(), a.rtt_min_us()),
        (Some(23500), Some(4250), Some(231000), Some(21000))
    );
    assert_eq!(
        (
            a.snd_una(),
            a.snd_nxt(),
            a.snd_max(),
            a.rcv_nxt(),
            a.rcv_adv()
        ),
        (
            Some(0x10000000),
            Some(0x10002000),
            Some(0x10003000),
            Some(0x20000000),
            Some(0x20010000)
        )
    );
    assert_eq!((a.snd_wscale(), a.rcv_wscale()), (Some(7), Some(9)));
    assert_eq!(a.cwnd(), Some(28960));
    assert_eq!(
        a.ssthresh(),
        Some(SSTHRESH_INFINITE),
        "initial ssthresh = none yet"
    );
    assert_eq!((a.snd_wnd(), a.rcv_wnd()), (Some(262144), Some(65536)));
    assert_eq!(
        (a.rexmit(), a.ooo(), a.zerowin()),
        (Some(17), Some(3), Some(1))
    );
    assert_eq!((a.dsack_bytes(), a.dsack_pack()), (Some(2896), Some(2)));
    assert_eq!(
        (a.bytes_sent(), a.bytes_retrans()),
        (Some(123456789 + 24616), Some(24616)),
        "bytes_sent counts retransmitted bytes too, as on Linux"
    );
    assert_eq!(a.pacing_rate(), None, "-1 means unlimited, not a rate");
    assert_eq!(
        (
            a.timer_rexmt_ms(),
            a.timer_persist_ms(),
            a.timer_keep_ms(),
            a.timer_2msl_ms(),
            a.timer_delack_ms(),
            a.idle_ms()
        ),
        (Some(230), None, Some(7199000), None, Some(40), Some(12))
    );
    assert_eq!(
        (a.snd_buf_used(), a.snd_buf_hiwat()),
        (Some(8192), Some(65536))
    );
    assert_eq!(
        (a.rcv_buf_used(), a.rcv_buf_hiwat()),
        (Some(8061), Some(65536))
    );
    assert_eq!((a.snd_buf_pct(), a.rcv_buf_pct()), (Some(12.5), Some(12.3)));
    assert_eq!(a.cc().map(|c| c.to_string()).as_deref(), Some("cubic"));
    assert_eq!(a.stack().map(|c| c.to_string()).as_deref(), Some("freebsd"));

    let l = &out[1];
    assert_eq!(l.local.to_string(), "[::]:8443");
    assert_eq!(l.remote.to_string(), "[::]:0");
    assert_eq!(l.state, TcpState::Listen);
    assert_eq!(
        (l.rtt_us(), l.rttvar_us(), l.rtt_min_us()),
        (None, None, None)
    );
    assert_eq!(l.rto_us(), Some(1000000));
    assert_eq!(
        (l.snd_una(), l.rcv_nxt()),
        (None, None),
        "a listener has no sequence space"
    );
    assert_eq!((l.snd_wscale(), l.rcv_wscale()), (None, None));
    assert_eq!((l.snd_buf_used(), l.rcv_buf_used()), (None, None));
    assert_eq!(
        (l.snd_buf_hiwat(), l.rcv_buf_hiwat()),
        (Some(32768), Some(65536))
    );
    assert_eq!(l.timer_keep_ms(), None);

    let r = &out[2];
    assert_eq!(r.local.to_string(), "[2001:db8::1]:443");
    assert_eq!(r.remote.to_string(), "[2001:db8::2]:61000");
    assert_eq!(r.stack().map(|c| c.to_string()).as_deref(), Some("rack"));
    assert_eq!(r.cc().map(|c| c.to_string()).as_deref(), Some("newreno"));
    assert_eq!((r.snd_una(), r.snd_nxt()), (Some(0xfffffff0), Some(0x10)));
    assert_eq!(r.ssthresh(), Some(7140));
    assert_eq!(r.pacing_rate(), Some(1250000));
    assert_eq!(r.timer_persist_ms(), Some(1500));
    assert_eq!(r.snd_buf_pct(), Some(100.0));
    assert_eq!(r.bytes_sent(), Some(987654321012 + 59976));

    let t = &out[3];
    assert_eq!(t.state, TcpState::TimeWait);
    assert_eq!(t.local.to_string(), "127.0.0.1:8080");
    assert_eq!(t.proc_key(), None, "no socket, no join key");
    assert_eq!((t.snd_buf_hiwat(), t.snd_buf_pct()), (None, None));
    assert_eq!(t.timer_2msl_ms(), Some(59000));
    assert_eq!(t.rtt_us(), Some(1000));
}

#[test]
fn no_kernel_address_reaches_the_output() {
    let (_, out) = parse_ok("normal");
    for r in &out {
        let j = serde_json::to_string(r).unwrap();
        assert!(!j.contains("proc_key") && !j.contains("kaddr"), "{j}");
        if let Some(k) = r.proc_key() {
            assert!(!j.contains(&k.to_string()), "{j}");
            assert!(!j.contains(&format!("{k:x}")), "{j}");
        }
        assert!(j.contains(r#""sock_id":"#), "{j}");
    }
}

#[test]
fn unprivileged_stream_has_no_join_key() {
    let (s, out) = parse_ok("unprivileged");
    assert!(!s.header.has_kernel_addresses());
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| r.proc_key().is_none()));
    assert_eq!(out[0].sock_id(), Some(1001));
}

/// The module withholds the sequence numbers of other users' connections
/// from an unprivileged reader and flags the record: the zeros it leaves
/// must not be printed as sequence numbers.
#[test]
fn withheld_sequence_numbers_are_absent() {
    let (_, out) = parse_ok("unprivileged");
    let own = &out[0];
    assert_eq!(
        (
            own.snd_una(),
            own.snd_nxt(),
            own.snd_max(),
            own.rcv_nxt(),
            own.rcv_adv()
        ),
        (
            Some(0x10000000),
            Some(0x10002000),
            Some(0x10003000),
            Some(0x20000000),
            Some(0x20010000)
        )
    );
    let other = &out[1];
    assert_eq!((other.uid(), other.state), (Some(0), TcpState::Established));
    assert_eq!(
        (
            other.snd_una(),
            other.snd_nxt(),
            other.snd_max(),
            other.rcv_nxt(),
            other.rcv_adv()
        ),
        (None, None, None, None, None)
    );
    assert_eq!(other.cwnd(), Some(14480), "the rest of the record is there");
}

#[test]
fn truncated_stream_is_reported_not_hidden() {
    let (s, out) = parse_ok("truncated");
    assert_eq!(out.len(), 1);
    assert!(s.header.truncated() && !s.header.complete());
    assert_eq!((s.header.record_count, s.header.records_total), (1, 3));
    assert_eq!(s.header.needed_size, 64 + 3 * 320);
    let e = s.header.require_complete().unwrap_err();
    assert_eq!(e.offset(), 12);
    let msg = e.to_string();
    assert!(
        msg.contains("1 of 3") && msg.contains("1024 bytes"),
        "{msg}"
    );
    assert!(msg.contains("dev.tcpstats.max_bytes"), "{msg}");
}

#[test]
fn timed_out_stream_is_reported() {
    let (s, _) = parse_ok("timedout");
    assert!(s.header.timed_out() && !s.header.complete());
    let msg = s.header.require_complete().unwrap_err().to_string();
    assert!(
        msg.contains("timed out") && msg.contains("max_read_ms"),
        "{msg}"
    );
}

#[test]
fn larger_future_records_are_strided_by_the_header() {
    let (s, out) = parse_ok("future");
    assert_eq!((s.header.header_size, s.header.record_size), (96, 384));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].local.to_string(), "192.0.2.10:52341");
    assert_eq!(out[0].rtt_us(), Some(23500));
    assert_eq!(
        out[0].stack().map(|c| c.to_string()).as_deref(),
        Some("freebsd")
    );
    assert_eq!(out[1].local.to_string(), "[2001:db8::1]:443");
    assert_eq!(out[1].sock_id(), Some(1003));
    assert_eq!(
        out[1].stack().map(|c| c.to_string()).as_deref(),
        Some("rack")
    );
}

#[test]
fn refusals_name_the_byte_offset() {
    let e = parse_err("unknown_version");
    assert_eq!(e, TcpstatsError::UnknownVersion { found: 3 });
    assert_eq!(e.offset(), 4);
    assert!(e.to_string().starts_with("byte 4: ABI version 3"), "{e}");

    let e = parse_err("small_record");
    assert_eq!(e, TcpstatsError::RecordTooSmall { found: 256 });
    assert_eq!(e.offset(), 8);

    let e = parse_err("corrupt_magic");
    assert_eq!(e, TcpstatsError::BadMagic { found: 0x464c457f });
    assert_eq!(e.offset(), 0);

    let e = parse_err("corrupt_header_size");
    assert_eq!(e, TcpstatsError::HeaderTooSmall { found: 16 });
    assert_eq!(e.offset(), 6);

    let e = parse_err("corrupt_count");
    assert!(
        matches!(
            e,
            TcpstatsError::CountOverrun {
                count: 7,
                record_size: 320,
                have: 704,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.offset(), 32);

    match e.into_source_error("corrupt_count.bin") {
        SourceError::Malformed {
            what,
            offset,
            reason,
        } => {
            assert_eq!((what.as_str(), offset), ("corrupt_count.bin", 32));
            assert!(reason.starts_with("header announces 7 records"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_prefix_of_a_stream_is_refused_cleanly() {
    let full = fixture("normal");
    for n in 0..full.len() {
        let mut out = Vec::new();
        let e = tcpstats_dev::parse(&full[..n], 0, &mut out).expect_err("prefix parsed");
        assert!(out.is_empty());
        if n < 64 {
            assert!(matches!(e, TcpstatsError::Short { .. }), "{n}: {e:?}");
        } else {
            assert!(
                matches!(e, TcpstatsError::CountOverrun { .. }),
                "{n}: {e:?}"
            );
        }
    }
}

#[test]
fn read_stream_reads_a_captured_file_and_rereads_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture");
    std::fs::write(&path, fixture("normal")).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let mut buf = Vec::new();
    tcpstats_dev::read_stream(&mut f, &mut buf).unwrap();
    assert_eq!(buf, fixture("normal"));
    // A second poll on the same descriptor starts over at offset 0.
    tcpstats_dev::read_stream(&mut f, &mut buf).unwrap();
    assert_eq!(buf.len(), 1344);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut out = Vec::new();
        if let Ok(s) = tcpstats_dev::parse(&bytes, 0, &mut out) {
            prop_assert!(s.records + s.skipped as usize <= s.header.record_count as usize);
            prop_assert_eq!(out.len(), s.records);
        }
    }

    #[test]
    fn mutated_streams_never_panic(
        at in 0usize..1344,
        val in any::<u8>(),
        at2 in 0usize..1344,
        val2 in any::<u8>(),
    ) {
        let mut bytes = fixture("normal");
        bytes[at] = val;
        bytes[at2] = val2;
        let mut out = Vec::new();
        if let Ok(s) = tcpstats_dev::parse(&bytes, 0, &mut out) {
            prop_assert_eq!(out.len(), s.records);
            prop_assert!(s.records <= 4);
        }
    }
}

#[test]
fn device_reader_over_captured_files() {
    use netpulse::platform::freebsd::tcpstats_dev::{TcpstatsDevice, scan_stats};
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("tcpstats.bin");
    std::fs::write(&good, fixture("truncated")).unwrap();
    let mut dev = TcpstatsDevice::open(&good).unwrap();
    let mut out = Vec::new();
    let s = dev.snapshot(3, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    let st = scan_stats(&s);
    assert!(
        st.inconsistent,
        "a truncated snapshot is reported inconsistent"
    );
    // Polling again re-reads from the start.
    out.clear();
    dev.snapshot(4, &mut out).unwrap();
    assert_eq!((out.len(), out[0].ts), (1, 4));

    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, fixture("corrupt_count")).unwrap();
    let e = TcpstatsDevice::open(&bad)
        .unwrap()
        .snapshot(0, &mut out)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bad.bin") && msg.contains("at byte 32"),
        "{msg}"
    );

    let unpriv = dir.path().join("unpriv.bin");
    std::fs::write(&unpriv, fixture("unprivileged")).unwrap();
    let mut dev = TcpstatsDevice::open(&unpriv).unwrap();
    out.clear();
    let s = dev.snapshot(0, &mut out).unwrap();
    assert!(!s.header.has_kernel_addresses() && out[0].proc_key().is_none());
    assert!(!scan_stats(&s).inconsistent);

    let missing = TcpstatsDevice::open(dir.path().join("nope")).err().unwrap();
    assert!(missing.to_string().contains("nope"), "{missing}");
}

/// Version 2 only changed what zero sequence fields mean (withheld from an
/// unprivileged reader, with `TCPSTATS_RF_SEQ_HIDDEN`); a version-1 module
/// never withholds them, so its stream reads to the same records.
#[test]
fn a_version_1_stream_reads_like_version_2() {
    let v2 = fixture("normal");
    assert_eq!(u16::from_le_bytes([v2[4], v2[5]]), 2, "the fixture is v2");
    let mut v1 = v2.clone();
    v1[4..6].copy_from_slice(&1u16.to_le_bytes());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    tcpstats_dev::parse(&v2, 7, &mut a).unwrap();
    tcpstats_dev::parse(&v1, 7, &mut b).expect("version 1 is read");
    assert!(!a.is_empty());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));

    let mut v0 = v2;
    v0[4..6].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(
        tcpstats_dev::parse(&v0, 7, &mut Vec::new()).unwrap_err(),
        TcpstatsError::UnknownVersion { found: 0 }
    );
}

/// A record of an unknown family or state is skipped, counted in the
/// summary and in the scan statistics, and the others still read.
#[test]
fn unknown_family_or_state_is_skipped_and_counted() {
    let mut bytes = fixture("normal");
    let record = |i: usize| 64 + i * 320;
    bytes[record(0) + 52] = 99; // tr_family
    bytes[record(2) + 53] = 200; // tr_state
    let mut out = Vec::new();
    let s = tcpstats_dev::parse(&bytes, 7, &mut out).unwrap();
    assert_eq!((s.records, s.skipped, out.len()), (2, 2, 2));
    assert_eq!(out[0].state, TcpState::Listen);
    assert_eq!(out[1].state, TcpState::TimeWait);
    assert_eq!(tcpstats_dev::scan_stats(&s).skipped, 2);
}

/// Only the module's own device gets the hint about loading the module
/// and its reader limits; on a host without it, opening it says so.
#[test]
fn only_the_device_path_gets_the_module_hint() {
    use netpulse::platform::freebsd::tcpstats_dev::{DEVICE, TcpstatsDevice};
    assert_eq!(
        TcpstatsDevice::present(),
        std::path::Path::new(DEVICE).exists()
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = TcpstatsDevice::open(dir.path().join("nope")).err().unwrap();
    assert!(!missing.to_string().contains("kldload"), "{missing}");
    if !TcpstatsDevice::present() {
        let e = TcpstatsDevice::open(DEVICE).err().unwrap().to_string();
        assert!(e.contains(DEVICE) && e.contains("kldload tcpstats"), "{e}");
    }
}
