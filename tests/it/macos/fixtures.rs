//! The macOS parsers over byte-exact fixtures: SDK structures (libproc) and
//! XNU's unpublished pcblist_n structures (tests/macos/xnu_private.h),
//! initialised in tests/macos/fixtures/*.c and compiled for x86_64-macos
//! and aarch64-macos by tests/macos/gen_fixtures.py. Every value asserted
//! here is the initialiser in the C file; bad-input tests corrupt those
//! bytes at offsets taken from the generated layout.

use std::net::SocketAddr;

use netpulse::platform::ProcessMap;
use netpulse::platform::SourceError;
use netpulse::platform::macos::layout::*;
use netpulse::platform::macos::pcblist_n::{ITEM_SET_SIZE, PcbListNSummary};
use netpulse::platform::macos::{bsdinfo, fdinfo, owners, pcblist_n, tcpstat};
use netpulse::record::{SSTHRESH_INFINITE, SocketRecord, TcpState};

use crate::support::fixtures::{self, addr};

fn fixture(name: &str) -> Vec<u8> {
    fixtures::read("macos/fixtures", name)
}

fn parse(buf: &[u8]) -> Result<(Vec<SocketRecord>, PcbListNSummary), SourceError> {
    let mut out = Vec::new();
    let s = pcblist_n::parse(buf, "pcblist_n.bin", 77, &mut out)?;
    Ok((out, s))
}

fn malformed(e: SourceError) -> (usize, String) {
    fixtures::malformed(e, "pcblist_n.bin")
}

/// Offsets of the six items of connection `i` in the fixture.
fn item_offsets(i: usize) -> [usize; 6] {
    let pad = |n: usize| (n + 7) & !7;
    let start = pad(XINPGEN_SIZE) + i * ITEM_SET_SIZE;
    let sizes = [
        XINPCB_N_SIZE,
        XSOCKET_N_SIZE,
        XSOCKBUF_N_SIZE,
        XSOCKBUF_N_SIZE,
        XSOCKSTAT_N_SIZE,
        XTCPCB_N_SIZE,
    ];
    let mut out = [0; 6];
    let mut off = start;
    for (k, s) in sizes.iter().enumerate() {
        out[k] = off;
        off += pad(*s);
    }
    out
}

#[test]
fn pcblist_n_every_item_declares_the_length_and_kind_of_its_structure() {
    let b = fixture("pcblist_n");
    assert_eq!(b.len(), 24 + 5 * ITEM_SET_SIZE + 24);
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let sizes = [
        XINPCB_N_SIZE,
        XSOCKET_N_SIZE,
        XSOCKBUF_N_SIZE,
        XSOCKBUF_N_SIZE,
        XSOCKSTAT_N_SIZE,
        XTCPCB_N_SIZE,
    ];
    let kinds = [
        XSO_INPCB, XSO_SOCKET, XSO_RCVBUF, XSO_SNDBUF, XSO_STATS, XSO_TCPCB,
    ];
    for conn in 0..5 {
        for (k, off) in item_offsets(conn).into_iter().enumerate() {
            assert_eq!(
                off % 8,
                0,
                "connection {conn} item {k} is not 8-byte aligned"
            );
            assert_eq!(u32_at(off) as usize, sizes[k], "connection {conn} item {k}");
            let kind = u32_at(off + 4) as u64;
            // The TIME_WAIT pcb has no socket: its buffer items carry no kind.
            let socketless_buf = conn == 4 && (k == 2 || k == 3);
            assert_eq!(kind, if socketless_buf { 0 } else { kinds[k] });
        }
    }
    assert_eq!(u32_at(b.len() - 24) as usize, XINPGEN_SIZE, "trailer");
}

#[test]
fn pcblist_n_fixture_parses_field_by_field() {
    let (recs, s) = parse(&fixture("pcblist_n")).unwrap();
    assert_eq!(
        s,
        PcbListNSummary {
            header_count: 5,
            header_gen: 3000,
            trailer_gen: Some(3000),
            records: 5,
            skipped: 0
        }
    );
    assert!(s.consistent());
    assert_eq!(recs.len(), 5);

    let curl = &recs[0];
    assert_eq!(curl.ts, 77);
    assert_eq!(curl.local, addr("192.0.2.10:52341"));
    assert_eq!(curl.remote, addr("198.51.100.7:443"));
    assert_eq!(curl.state, TcpState::Established);
    assert_eq!(curl.sock_id(), Some(901));
    assert_eq!(curl.proc_key(), Some(901));
    assert_eq!(curl.uid(), Some(501));
    assert_eq!(curl.cwnd(), Some(14480));
    assert_eq!(curl.ssthresh(), Some(SSTHRESH_INFINITE));
    assert_eq!(curl.mss(), Some(1448));
    assert_eq!(curl.rcv_wnd(), Some(131072));
    assert_eq!(curl.snd_wnd(), Some(65535));
    assert_eq!(curl.rtt_us(), Some(20_500));
    assert_eq!(curl.rttvar_us(), Some(500));
    assert_eq!(curl.rto_us(), Some(230_000));
    assert_eq!(
        (curl.snd_una(), curl.snd_nxt(), curl.snd_max()),
        (Some(1000), Some(2000), Some(2000))
    );
    assert_eq!((curl.rcv_nxt(), curl.rcv_adv()), (Some(5000), Some(136072)));
    assert_eq!(curl.rcv_buf_used(), Some(8061));
    assert_eq!(curl.rcv_buf_hiwat(), Some(131072));
    assert_eq!(curl.snd_buf_used(), Some(1000));
    assert_eq!(curl.snd_buf_hiwat(), Some(131072));
    assert_eq!(curl.rcv_buf_pct(), Some(6.2), "8061 of 131072, to 0.1 %");
    // What pcblist_n does not carry stays absent.
    assert_eq!(curl.rexmit(), None);
    assert_eq!(curl.cc(), None);
    assert_eq!(curl.timer_rexmt_ms(), None);
    assert_eq!(curl.idle_ms(), None);

    let sshd = &recs[1];
    assert_eq!(sshd.local, addr("0.0.0.0:22"));
    assert_eq!(sshd.remote, addr("0.0.0.0:0"));
    assert_eq!(sshd.state, TcpState::Listen);
    assert_eq!(sshd.uid(), Some(0));
    assert_eq!(sshd.rtt_us(), None, "no RTT sample yet");
    assert_eq!(sshd.rto_us(), Some(1_000_000));

    let nginx = &recs[2];
    assert_eq!(nginx.local, addr("[2001:db8::5]:443"));
    assert_eq!(nginx.remote, addr("[2001:db8::9]:61000"));
    assert_eq!(nginx.ssthresh(), Some(28960));
    assert_eq!(nginx.rtt_us(), Some(1000));
    assert_eq!(nginx.rttvar_us(), Some(1000));
    assert_eq!(nginx.snd_buf_used(), Some(32768));

    let ll = &recs[3];
    let SocketAddr::V6(l) = ll.local else {
        panic!("link-local is IPv6")
    };
    assert_eq!(l.ip().to_string(), "fe80::1");
    assert_eq!(l.scope_id(), 4);
    assert_eq!(ll.remote.to_string(), "[fe80::2%4]:50000");

    let tw = &recs[4];
    assert_eq!(tw.state, TcpState::TimeWait);
    assert_eq!(tw.sock_id(), Some(777));
    assert_eq!(tw.uid(), None, "no socket, no owner");
    assert_eq!(tw.rcv_buf_hiwat(), None);
    assert_eq!(tw.snd_buf_pct(), None);
    assert_eq!(tw.rtt_us(), Some(10_000));
}

#[test]
fn pcblist_n_wrong_item_length_names_both_lengths() {
    let mut b = fixture("pcblist_n");
    let off = item_offsets(2)[5];
    b[off..off + 4].copy_from_slice(&(XTCPCB_N_SIZE as u32 + 8).to_le_bytes());
    let (at, reason) = malformed(parse(&b).unwrap_err());
    assert_eq!(at, off);
    assert!(reason.contains("xtcpcb_n declares 212 bytes"), "{reason}");
    assert!(
        reason.contains(&format!("knows {XTCPCB_N_SIZE}")),
        "{reason}"
    );
}

#[test]
fn pcblist_n_items_out_of_order_are_refused() {
    let mut b = fixture("pcblist_n");
    let off = item_offsets(0)[1];
    b[off + 4..off + 8].copy_from_slice(&(XSO_TCPCB as u32).to_le_bytes());
    let (at, reason) = malformed(parse(&b).unwrap_err());
    assert_eq!(at, off + 4);
    assert!(reason.contains("xsocket_n"), "{reason}");
}

#[test]
fn pcblist_n_unknown_state_is_skipped_and_counted() {
    let mut b = fixture("pcblist_n");
    let off = item_offsets(1)[5] + XT_STATE.offset;
    b[off..off + 4].copy_from_slice(&99i32.to_le_bytes());
    let (recs, s) = parse(&b).unwrap();
    assert_eq!((s.records, s.skipped), (4, 1));
    assert!(recs.iter().all(|r| r.sock_id() != Some(5)));
}

#[test]
fn pcblist_n_changed_generation_is_inconsistent() {
    let mut b = fixture("pcblist_n");
    let off = b.len() - XINPGEN_SIZE + XIG_GEN.offset;
    b[off..off + 8].copy_from_slice(&3001u64.to_le_bytes());
    let (_, s) = parse(&b).unwrap();
    assert_eq!(s.trailer_gen, Some(3001));
    assert!(!s.consistent());
}

#[test]
fn pcblist_n_empty_table_has_no_trailer() {
    let b = fixture("pcblist_n");
    let mut head = b[..XINPGEN_SIZE].to_vec();
    head[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&0u32.to_le_bytes());
    let (recs, s) = parse(&head).unwrap();
    assert!(recs.is_empty());
    assert_eq!(s.trailer_gen, None);
    // A header that announces pcbs but ends there is truncated.
    let (at, reason) = malformed(parse(&b[..XINPGEN_SIZE]).unwrap_err());
    assert_eq!(at, XINPGEN_SIZE);
    assert!(reason.contains("truncated"), "{reason}");
}

#[test]
fn pcblist_n_bytes_after_the_trailer_are_refused() {
    let mut b = fixture("pcblist_n");
    b.extend_from_slice(&[0; 8]);
    let (_, reason) = malformed(parse(&b).unwrap_err());
    assert!(reason.contains("8 unexpected bytes"), "{reason}");
}

#[test]
fn pcblist_n_error_leaves_the_output_as_it_was() {
    let b = fixture("pcblist_n");
    let mut out = vec![SocketRecord::new(
        1,
        addr("127.0.0.1:1"),
        addr("127.0.0.1:2"),
        TcpState::Listen,
    )];
    let cut = item_offsets(3)[2];
    assert!(pcblist_n::parse(&b[..cut], "x", 0, &mut out).is_err());
    assert_eq!(out.len(), 1);
}

#[test]
fn socket_fdinfo_fixture_parses_field_by_field() {
    let b = fixture("socket_fdinfo");
    assert_eq!(b.len(), 3 * SOCKET_FDINFO_SIZE);
    let mut it = b.chunks_exact(SOCKET_FDINFO_SIZE);

    let curl = fdinfo::decode(it.next().unwrap(), 5).unwrap();
    assert_eq!(curl.ts, 5);
    assert_eq!(curl.local, addr("192.0.2.10:52341"));
    assert_eq!(curl.remote, addr("198.51.100.7:443"));
    assert_eq!(curl.state, TcpState::Established);
    assert_eq!(
        curl.sock_id(),
        Some(901),
        "insi_gencnt, pcblist_n's inp_gencnt"
    );
    assert_eq!(curl.proc_key(), Some(901));
    assert_eq!(curl.uid(), Some(501));
    assert_eq!(curl.mss(), Some(1448));
    assert_eq!(curl.rcv_buf_used(), Some(8061));
    assert_eq!(curl.rcv_buf_hiwat(), Some(131072));
    assert_eq!(curl.snd_buf_used(), Some(1000));
    assert_eq!(curl.snd_buf_hiwat(), Some(131072));
    assert_eq!(curl.cwnd(), None, "libproc has no cwnd");

    let listener = fdinfo::decode(it.next().unwrap(), 5).unwrap();
    assert_eq!(listener.local, addr("[::]:8080"));
    assert_eq!(listener.state, TcpState::Listen);
    assert_eq!(listener.sock_id(), Some(42));

    assert_eq!(
        fdinfo::decode(it.next().unwrap(), 5).unwrap_err(),
        fdinfo::NotTcp::Other
    );
}

#[test]
fn socket_fdinfo_wrong_size_or_state_is_malformed() {
    let b = fixture("socket_fdinfo");
    let one = &b[..SOCKET_FDINFO_SIZE];
    assert!(matches!(
        fdinfo::decode(&one[..SOCKET_FDINFO_SIZE - 1], 0),
        Err(fdinfo::NotTcp::Malformed(m)) if m.contains("socket_fdinfo")
    ));
    let mut bad = one.to_vec();
    bad[TCPSI_STATE.offset..TCPSI_STATE.end()].copy_from_slice(&11i32.to_le_bytes());
    assert!(matches!(
        fdinfo::decode(&bad, 0),
        Err(fdinfo::NotTcp::Malformed(m)) if m.contains("tcpsi_state = 11")
    ));
}

#[test]
fn proc_fdinfo_fixture_lists_socket_descriptors() {
    let b = fixture("proc_fdinfo");
    assert_eq!(fdinfo::fd_list(&b).count(), 4);
    assert_eq!(fdinfo::socket_fds(&b).collect::<Vec<_>>(), vec![3, 7]);
    // A torn last entry is not read.
    assert_eq!(
        fdinfo::socket_fds(&b[..b.len() - 1]).collect::<Vec<_>>(),
        vec![3]
    );
}

#[test]
fn proc_bsdinfo_fixture_prefers_the_registered_name() {
    let b = fixture("proc_bsdinfo");
    assert_eq!(b.len(), 2 * PROC_BSDINFO_SIZE);
    let web = bsdinfo::decode(&b[..PROC_BSDINFO_SIZE]).unwrap();
    assert_eq!(
        web,
        bsdinfo::BsdInfo {
            pid: 4242,
            uid: 501,
            command: "com.apple.WebKit.Networking".into()
        }
    );
    let sshd = bsdinfo::decode(&b[PROC_BSDINFO_SIZE..]).unwrap();
    assert_eq!((sshd.pid, sshd.command.as_str()), (88, "sshd"));
    assert!(bsdinfo::decode(&b[..10]).is_err());
}

#[test]
fn tcp_stats_fixture_reads_every_counter() {
    let b = fixture("tcp_stats");
    let c = tcpstat::parse(&b, "tcp_stats.bin").unwrap();
    let got: Vec<(&str, Option<u64>)> = c.iter().collect();
    let want = [
        ("connattempt", 11),
        ("accepts", 12),
        ("connects", 13),
        ("drops", 14),
        ("sndtotal", 1500),
        ("sndbyte", 2_000_000),
        ("sndrexmitpack", 17),
        ("sndrexmitbyte", 24616),
        ("rcvtotal", 1800),
        ("rcvbyte", 3_000_000),
        ("rcvduppack", 9),
        ("rcvbadsum", 2),
        ("retransmit_timeouts", 21),
    ];
    for (name, v) in want {
        assert!(got.contains(&(name, Some(v))), "{name}: {got:?}");
    }
    // Past the members read: absent, not a neighbour's value.
    for name in ["listen_overflows", "listen_drops", "resets_sent"] {
        assert!(got.contains(&(name, None)), "{name}: {got:?}");
    }
}

#[test]
fn libproc_owner_joins_the_pcblist_n_record_on_the_generation_count() {
    let (mut recs, _) = parse(&fixture("pcblist_n")).unwrap();
    let fd = fixture("socket_fdinfo");
    let bsd = fixture("proc_bsdinfo");
    let web = bsdinfo::decode(&bsd[..PROC_BSDINFO_SIZE]).unwrap();
    let mut map = ProcessMap::new();
    let mut asked = 0;
    for (i, info) in fd.chunks_exact(SOCKET_FDINFO_SIZE).enumerate() {
        owners::add_owner(&mut map, web.pid, 3 + i as i32, info, || {
            asked += 1;
            web.command.as_str().into()
        });
    }
    assert_eq!(asked, 2, "the command is looked up for TCP sockets only");
    for r in &mut recs {
        if let Some(p) = r.proc_key().and_then(|k| map.get(k)) {
            p.apply_to(r);
        }
    }
    let curl = &recs[0];
    assert_eq!(curl.sock_id(), Some(901));
    assert_eq!((curl.pid(), curl.fd()), (Some(4242), Some(3)));
    assert_eq!(
        curl.command().as_deref(),
        Some("com.apple.WebKit.Networking")
    );
    // The other pcbs have no libproc entry (the listener's generation, 42,
    // is not in this pcblist_n): no owner, rather than a wrong one.
    assert!(recs[1..].iter().all(|r| r.pid().is_none()));
}
