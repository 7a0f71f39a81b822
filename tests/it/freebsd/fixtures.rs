//! The FreeBSD parsers over byte-exact fixtures: real FreeBSD structures
//! initialised in tests/freebsd/fixtures/*.c and compiled for the FreeBSD
//! target by tests/freebsd/gen_fixtures.sh. Every value asserted here is the
//! initialiser in the C file; bad-input tests corrupt those bytes at offsets
//! taken from the generated layout.

use netpulse::platform::SourceError;
use netpulse::platform::freebsd::layout::*;
use netpulse::platform::freebsd::{kern_file, kinfo_proc, pcblist, tcp_states, tcpstat};
use netpulse::record::{SSTHRESH_INFINITE, SocketRecord, TcpState};

use crate::support::fixtures::{self, addr};

fn fixture(name: &str) -> Vec<u8> {
    fixtures::read("freebsd/fixtures", name)
}

fn parse_pcblist(buf: &[u8]) -> Result<(Vec<SocketRecord>, pcblist::PcbListSummary), SourceError> {
    let mut out = Vec::new();
    let s = pcblist::parse(buf, "pcblist.bin", 77, &mut out)?;
    Ok((out, s))
}

fn malformed(e: SourceError) -> (usize, String) {
    fixtures::malformed(e, "pcblist.bin")
}

/// Every field of every record equals the C initialiser.
#[test]
fn pcblist_decodes_every_field() {
    let (recs, s) = parse_pcblist(&fixture("pcblist")).unwrap();
    assert_eq!(s.header_count, 6);
    assert_eq!((s.header_gen, s.trailer_gen), (1000, 1000));
    assert_eq!((s.records, s.skipped), (6, 0));
    assert!(s.consistent());
    assert_eq!(recs.len(), 6);
    assert!(recs.iter().all(|r| r.ts == 77));

    let r = &recs[0];
    assert_eq!(r.sock_id(), Some(901));
    assert_eq!(r.local, addr("192.0.2.10:52341"));
    assert_eq!(r.remote, addr("198.51.100.7:443"));
    assert_eq!(r.state, TcpState::Established);
    assert_eq!(r.uid(), Some(1001));
    assert_eq!(r.proc_key(), Some(0xfffff80012345600));
    assert_eq!(r.stack().unwrap().as_str(), "freebsd");
    assert_eq!(r.cc().unwrap().as_str(), "cubic");
    assert_eq!(r.cwnd(), Some(14480));
    assert_eq!(
        r.ssthresh(),
        Some(SSTHRESH_INFINITE),
        "initial ssthresh means none yet"
    );
    assert_eq!(r.mss(), Some(1448));
    assert_eq!(r.rcv_wnd(), Some(131328));
    assert_eq!(r.snd_wnd(), Some(65535));
    assert_eq!(r.rexmit(), Some(7));
    assert_eq!(r.ooo(), Some(3));
    assert_eq!(r.zerowin(), Some(1));
    assert_eq!(r.dsack_bytes(), Some(2896));
    assert_eq!(r.dsack_pack(), Some(2));
    assert_eq!(r.timer_rexmt_ms(), Some(204));
    assert_eq!(r.timer_persist_ms(), None, "0 = timer not running");
    assert_eq!(r.timer_keep_ms(), Some(7199000));
    assert_eq!(r.timer_2msl_ms(), None);
    assert_eq!(r.timer_delack_ms(), None);
    assert_eq!(r.idle_ms(), Some(15));
    assert_eq!(r.snd_buf_used(), Some(1000));
    assert_eq!(r.snd_buf_hiwat(), Some(65536));
    assert_eq!(r.rcv_buf_used(), Some(8061));
    assert_eq!(r.rcv_buf_hiwat(), Some(65536));
    assert_eq!(r.snd_buf_pct(), Some(1.5));
    assert_eq!(r.rcv_buf_pct(), Some(12.3));
    // pcblist has no RTT and no process: those stay absent, not zero.
    assert_eq!(
        (r.rtt_us(), r.rto_us(), r.pid(), r.fd()),
        (None, None, None, None)
    );

    let r = &recs[1];
    assert_eq!(r.sock_id(), Some(5));
    assert_eq!(r.local, addr("0.0.0.0:22"));
    assert_eq!(r.remote, addr("0.0.0.0:0"));
    assert_eq!(r.state, TcpState::Listen);
    assert_eq!(r.uid(), Some(0));
    assert_eq!(r.proc_key(), Some(0xfffff80012340000));
    assert_eq!(r.cc().unwrap().as_str(), "newreno");
    assert_eq!(r.cwnd(), Some(1073725440));
    assert_eq!(r.ssthresh(), Some(SSTHRESH_INFINITE));
    assert_eq!(r.mss(), Some(536));
    assert_eq!((r.rcv_wnd(), r.snd_wnd()), (Some(0), Some(0)));
    assert_eq!(r.idle_ms(), Some(3600000));
    assert_eq!(r.timer_keep_ms(), None);
    // A listening socket's buffers are not copied out: absent, not 0.
    assert_eq!((r.snd_buf_used(), r.snd_buf_hiwat()), (None, None));
    assert_eq!((r.rcv_buf_used(), r.rcv_buf_hiwat()), (None, None));
    assert_eq!((r.snd_buf_pct(), r.rcv_buf_pct()), (None, None));
    // What it copies instead: the accept queue (so_qlen) and its limit.
    assert_eq!((r.accept_queue(), r.accept_backlog()), (Some(1), Some(128)));

    let r = &recs[2];
    assert_eq!(r.sock_id(), Some(902));
    assert_eq!(r.local, addr("[2001:db8::1]:443"));
    assert_eq!(r.remote, addr("[2001:db8::2]:60000"));
    assert_eq!(r.state, TcpState::Established);
    assert_eq!(r.uid(), Some(80));
    assert_eq!(r.proc_key(), Some(0xfffff80012345700));
    assert_eq!(r.stack().unwrap().as_str(), "rack");
    assert_eq!(r.cc().unwrap().as_str(), "cubic");
    assert_eq!(
        (r.cwnd(), r.ssthresh(), r.mss()),
        (Some(28560), Some(28560), Some(1428))
    );
    assert_eq!((r.rcv_wnd(), r.snd_wnd()), (Some(131072), Some(262144)));
    assert_eq!(
        (r.rexmit(), r.ooo(), r.zerowin()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(r.timer_rexmt_ms(), Some(300));
    assert_eq!(r.timer_keep_ms(), Some(7200000));
    assert_eq!(r.timer_delack_ms(), Some(40));
    assert_eq!(r.idle_ms(), Some(2));
    assert_eq!(
        (r.snd_buf_used(), r.snd_buf_hiwat()),
        (Some(49152), Some(65536))
    );
    assert_eq!((r.snd_buf_pct(), r.rcv_buf_pct()), (Some(75.0), Some(0.0)));

    let r = &recs[3];
    assert_eq!(r.sock_id(), Some(870));
    assert_eq!(r.local.to_string(), "[fe80::1%2]:22");
    assert_eq!(r.remote.to_string(), "[fe80::2%2]:50000");
    assert_eq!(r.state, TcpState::TimeWait);
    assert_eq!(r.timer_2msl_ms(), Some(30000));
    assert_eq!(r.idle_ms(), Some(30000));
    assert_eq!(
        (r.cwnd(), r.ssthresh(), r.mss()),
        (Some(2856), Some(5712), Some(1428))
    );
    // No socket any more: no owner, buffers or join key.
    assert_eq!((r.uid(), r.proc_key()), (None, None));
    assert_eq!(
        (r.snd_buf_used(), r.rcv_buf_hiwat(), r.snd_buf_pct()),
        (None, None, None)
    );

    let r = &recs[4];
    assert_eq!(r.sock_id(), Some(903));
    assert_eq!(r.local, addr("10.0.0.1:40000"));
    assert_eq!(r.remote, addr("10.0.0.2:5432"));
    assert_eq!(r.state, TcpState::SynSent);
    assert_eq!(r.rexmit(), Some(1));
    assert_eq!(r.timer_rexmt_ms(), Some(1000));
    assert_eq!(r.timer_keep_ms(), Some(72000));
    assert_eq!(
        (r.cwnd(), r.ssthresh(), r.mss()),
        (Some(14600), Some(SSTHRESH_INFINITE), Some(1460))
    );
    assert_eq!(r.proc_key(), Some(0xfffff80012345800));

    let r = &recs[5];
    assert_eq!(r.sock_id(), Some(904));
    assert_eq!(r.local, addr("127.0.0.1:8080"));
    assert_eq!(r.remote, addr("127.0.0.1:51000"));
    assert_eq!(r.state, TcpState::CloseWait);
    assert_eq!(r.zerowin(), Some(4));
    assert_eq!(r.timer_persist_ms(), Some(5000));
    assert_eq!(r.timer_keep_ms(), Some(7080000));
    assert_eq!(r.idle_ms(), Some(120000));
    assert_eq!(
        (r.cwnd(), r.ssthresh(), r.mss()),
        (Some(43690), Some(21845), Some(16344))
    );
    assert_eq!(
        (r.rcv_buf_used(), r.rcv_buf_pct()),
        (Some(65536), Some(100.0))
    );
}

/// Syncache entries as `syncache_pcblist` writes them, a listener as
/// `sotoxsocket` fills it, and link-local addresses in the kernel's form.
#[test]
fn pcblist_handshake_decodes_what_the_kernel_fills() {
    let (recs, s) = parse_pcblist(&fixture("pcblist_handshake")).unwrap();
    assert_eq!((s.records, s.skipped), (4, 0));
    assert!(s.consistent());

    let syn: Vec<_> = recs[..2].iter().collect();
    assert_eq!(syn[0].local, addr("192.0.2.10:443"));
    assert_eq!(syn[0].remote, addr("203.0.113.5:51234"));
    assert_eq!(syn[1].local.to_string(), "[fe80::1%2]:22");
    assert_eq!(syn[1].remote.to_string(), "[fe80::3%2]:50001");
    for r in &syn {
        assert_eq!(r.state, TcpState::SynReceived);
        // Nothing but the addresses is filled in: no fake zeros, and no
        // shared sock_id 0 (the delta store keys them by 4-tuple).
        assert_eq!((r.sock_id(), r.uid(), r.proc_key()), (None, None, None));
        assert_eq!((r.cwnd(), r.ssthresh(), r.mss()), (None, None, None));
        assert_eq!((r.rcv_wnd(), r.snd_wnd()), (None, None));
        assert_eq!((r.cc(), r.stack()), (None, None));
        assert_eq!((r.rexmit(), r.ooo(), r.zerowin()), (None, None, None));
        assert_eq!((r.idle_ms(), r.timer_rexmt_ms()), (None, None));
        assert_eq!(
            (r.snd_buf_used(), r.rcv_buf_hiwat(), r.snd_buf_pct()),
            (None, None, None)
        );
    }

    let l = &recs[2];
    assert_eq!(l.local.to_string(), "[::]:22");
    assert_eq!(l.state, TcpState::Listen);
    assert_eq!((l.sock_id(), l.uid()), (Some(7), Some(0)));
    assert_eq!(l.proc_key(), Some(0xfffff80012341000));
    assert_eq!((l.snd_buf_used(), l.snd_buf_hiwat()), (None, None));
    assert_eq!((l.rcv_buf_used(), l.rcv_buf_hiwat()), (None, None));
    assert_eq!((l.snd_buf_pct(), l.rcv_buf_pct()), (None, None));
    assert_eq!((l.accept_queue(), l.accept_backlog()), (Some(0), Some(128)));

    let c = &recs[3];
    assert_eq!(c.local.to_string(), "[fe80::1%2]:22");
    assert_eq!(c.remote.to_string(), "[fe80::2%2]:50000");
    assert_eq!(c.sock_id(), Some(950));
    assert_eq!(
        (c.snd_buf_used(), c.snd_buf_hiwat()),
        (Some(36), Some(33304))
    );
}

#[test]
fn kern_file_keeps_socket_descriptors_only() {
    let files = kern_file::parse(&fixture("kern_file"), "kern_file.bin").unwrap();
    let got: Vec<_> = files.iter().map(|f| (f.pid, f.uid, f.fd, f.key)).collect();
    assert_eq!(
        got,
        vec![
            (4242, 1001, 3, 0xfffff80012345600),
            (5000, 1001, 3, 0xfffff80012345600),
            (5000, 1001, 4, 0xfffff80012345900),
            (80, 80, 5, 0xfffff80012345700),
            (1, 0, 7, 0xfffff80099999900),
            (700, 0, 3, 0xfffff80012340000),
        ]
    );
}

#[test]
fn kinfo_proc_gives_pid_and_command() {
    let procs = kinfo_proc::parse(&fixture("kern_proc"), "kern_proc.bin").unwrap();
    let got: Vec<_> = procs.iter().map(|(p, c)| (*p, c.as_ref())).collect();
    assert_eq!(
        got,
        vec![
            (1, "init"),
            (80, "nginx"),
            (700, "sshd"),
            (4242, "curl"),
            (5000, "fetch \"x\",y"),
            (6000, "abcdefghijklmnopqrs"),
        ]
    );
}

#[test]
fn process_join_uses_the_socket_address() {
    let files = kern_file::parse(&fixture("kern_file"), "f").unwrap();
    let procs: std::collections::HashMap<_, _> = kinfo_proc::parse(&fixture("kern_proc"), "p")
        .unwrap()
        .into_iter()
        .collect();
    let map = kern_file::process_map(&files, Some(1000), |pid| procs.get(&pid).cloned());
    let (mut recs, _) = parse_pcblist(&fixture("pcblist")).unwrap();
    recs.iter_mut().for_each(|r| map.attribute(r));
    let got: Vec<_> = recs
        .iter()
        .map(|r| (r.pid(), r.fd(), r.command().as_deref().map(str::to_owned)))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(4242), Some(3), Some("curl".to_owned())), // shared with 5000: lowest pid
            (Some(700), Some(3), Some("sshd".to_owned())),
            (Some(80), Some(5), Some("nginx".to_owned())),
            (None, None, None), // TIME_WAIT: no socket
            (None, None, None), // nobody holds it
            (Some(5000), Some(4), Some("fetch \"x\",y".to_owned())),
        ]
    );
    // Without names the join still gives pid/fd, and no fake command.
    let bare = kern_file::process_map(&files, None, |_| None);
    let mut r = recs[2].clone();
    r.set().command(None);
    bare.attribute(&mut r);
    assert_eq!((r.pid(), r.command()), (Some(80), None));
}

/// kern.file read when the TCP generation was 903: the CLOSE_WAIT socket
/// (inp_gencnt 904) was opened after it, at a kernel address whose owner
/// in that kern.file may be the socket that had it before. It gets no
/// owner until a newer map; older sockets still join.
#[test]
fn sockets_newer_than_the_map_are_not_joined() {
    let files = kern_file::parse(&fixture("kern_file"), "f").unwrap();
    let map = kern_file::process_map(&files, Some(903), |_| None);
    let (mut recs, _) = parse_pcblist(&fixture("pcblist")).unwrap();
    recs.iter_mut().for_each(|r| map.attribute(r));
    let got: Vec<_> = recs.iter().map(|r| (r.sock_id(), r.pid())).collect();
    assert_eq!(
        got,
        vec![
            (Some(901), Some(4242)),
            (Some(5), Some(700)),
            (Some(902), Some(80)),
            (Some(870), None),
            (Some(903), None),
            (Some(904), None), // held by pid 5000 in kern.file, but newer
        ]
    );
    // The same socket joins once the map is as new as it.
    let newer = kern_file::process_map(&files, Some(904), |_| None);
    let mut r = recs[5].clone();
    newer.attribute(&mut r);
    assert_eq!(r.pid(), Some(5000));
}

#[test]
fn tcpstat_counters_by_member_name() {
    let c = tcpstat::parse(&fixture("tcp_stats"), "tcp_stats.bin").unwrap();
    let got: Vec<_> = c.iter().collect();
    let want: Vec<_> = [
        ("connattempt", 101),
        ("accepts", 102),
        ("connects", 103),
        ("drops", 104),
        ("sndtotal", 105),
        ("sndbyte", 106),
        ("sndrexmitpack", 107),
        ("sndrexmitbyte", 108),
        ("rcvtotal", 109),
        ("rcvbyte", 110),
        ("rcvduppack", 111),
        ("rcvbadsum", 112),
        ("listen_overflows", 113),
        ("listen_drops", 0),
        ("resets_sent", 0),
        ("retransmit_timeouts", 114),
    ]
    .into_iter()
    .map(|(n, v)| (n, (v != 0).then_some(v)))
    .collect();
    // FreeBSD counts no listener drops beyond overflows and no resets
    // sent: those are absent, never a borrowed neighbour's value.
    assert_eq!(got, want);
}

#[test]
fn every_counter_name_has_a_header_offset() {
    let names: Vec<_> = TCPSTAT_FIELDS.iter().map(|(n, _)| *n).collect();
    // Every counter but those FreeBSD does not keep.
    let mut want: Vec<_> = netpulse::record::TcpCounters::NAMES
        .iter()
        .copied()
        .filter(|n| !["listen_drops", "resets_sent"].contains(n))
        .collect();
    let mut got = names.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "regenerate layout.rs after changing TcpCounters");
}

#[test]
fn tcp_states_in_tcps_order() {
    let s = tcp_states::parse(&fixture("tcp_states"), "tcp_states.bin").unwrap();
    assert_eq!(s, [0, 1, 1, 0, 2, 1, 0, 0, 0, 7, 1]);
}

// ---- bad input: clear errors naming the byte, never a panic ----

fn set_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

const TRAILER: usize = XINPGEN_SIZE + 6 * XTCPCB_SIZE;

#[test]
fn generation_change_is_reported_not_hidden() {
    let mut b = fixture("pcblist");
    set_u64(&mut b, TRAILER + XIG_GEN.offset, 1001);
    let (recs, s) = parse_pcblist(&b).unwrap();
    assert_eq!(recs.len(), 6, "the data is still used");
    assert_eq!((s.header_gen, s.trailer_gen), (1000, 1001));
    assert!(!s.consistent());
}

#[test]
fn more_records_than_announced_is_inconsistent() {
    let mut b = fixture("pcblist");
    b[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&2u32.to_le_bytes());
    let (_, s) = parse_pcblist(&b).unwrap();
    assert!(!s.consistent());
    // Fewer than announced is normal (sockets this reader may not see).
    b[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&60u32.to_le_bytes());
    assert!(parse_pcblist(&b).unwrap().1.consistent());
}

#[test]
fn unknown_record_length_names_both_lengths() {
    let mut b = fixture("pcblist");
    let second = XINPGEN_SIZE + XTCPCB_SIZE;
    set_u64(&mut b, second, 760);
    let (off, reason) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, second);
    assert!(reason.contains("760") && reason.contains("744"), "{reason}");
    set_u64(&mut b, second, 0);
    let (off, reason) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, second);
    assert!(reason.contains("xt_len = 0"), "{reason}");
    set_u64(&mut b, second, u64::MAX);
    assert_eq!(malformed(parse_pcblist(&b).unwrap_err()).0, second);
}

#[test]
fn bad_header_and_inner_lengths() {
    let good = fixture("pcblist");
    let mut b = good.clone();
    set_u64(&mut b, 0, 72);
    let (off, reason) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, 0);
    assert!(
        reason.contains("xig_len = 72") && reason.contains("64"),
        "{reason}"
    );

    let mut b = good.clone();
    set_u64(&mut b, XINPGEN_SIZE + XT_XI_LEN.offset, 408);
    let (off, reason) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, XINPGEN_SIZE + XT_XI_LEN.offset);
    assert!(reason.contains("408") && reason.contains("400"), "{reason}");

    let mut b = good.clone();
    set_u64(&mut b, XINPGEN_SIZE + XT_XSO_LEN.offset, 248);
    let (off, reason) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, XINPGEN_SIZE + XT_XSO_LEN.offset);
    assert!(reason.contains("248") && reason.contains("240"), "{reason}");
}

#[test]
fn truncation_at_every_length_is_an_error_naming_the_offset() {
    let good = fixture("pcblist");
    for cut in 0..good.len() {
        let mut out = vec![];
        let e = pcblist::parse(&good[..cut], "pcblist.bin", 0, &mut out).unwrap_err();
        let (off, reason) = malformed(e);
        assert!(off <= cut, "cut {cut}: offset {off}");
        assert!(reason.contains("truncated"), "cut {cut}: {reason}");
        assert!(out.is_empty(), "no partial output on error");
    }
    let mut long = good.clone();
    long.extend_from_slice(&[0; 5]);
    let (off, reason) = malformed(parse_pcblist(&long).unwrap_err());
    assert_eq!(off, good.len());
    assert!(reason.contains("5 unexpected bytes"), "{reason}");
}

#[test]
fn unknown_state_or_family_is_a_counted_skip() {
    let mut b = fixture("pcblist");
    let rec2 = XINPGEN_SIZE + XTCPCB_SIZE;
    b[rec2 + XT_T_STATE.offset..rec2 + XT_T_STATE.end()].copy_from_slice(&11i32.to_le_bytes());
    let rec3 = rec2 + XTCPCB_SIZE;
    b[rec3 + XT_INP_VFLAG.offset] = 0;
    let (recs, s) = parse_pcblist(&b).unwrap();
    assert_eq!((s.records, s.skipped, recs.len()), (4, 2, 4));
    assert_eq!(
        recs.iter()
            .map(|r| r.sock_id().unwrap())
            .collect::<Vec<_>>(),
        vec![901, 870, 903, 904]
    );
}

#[test]
fn kern_file_bad_sizes() {
    let good = fixture("kern_file");
    assert!(kern_file::parse(&[], "f").unwrap().is_empty());
    let mut b = good.clone();
    set_u64(&mut b, XFILE_SIZE * 2, 136);
    match kern_file::parse(&b, "kf").unwrap_err() {
        SourceError::Malformed {
            what,
            offset,
            reason,
        } => {
            assert_eq!((what.as_str(), offset), ("kf", XFILE_SIZE * 2));
            assert!(
                reason.contains("xf_size = 136") && reason.contains("128"),
                "{reason}"
            );
        }
        e => panic!("{e}"),
    }
    set_u64(&mut b, XFILE_SIZE * 2, 0);
    assert!(
        kern_file::parse(&b, "kf").is_err(),
        "zero size must not loop"
    );
    for cut in [1, 7, 8, 127, 129, good.len() - 1] {
        match kern_file::parse(&good[..cut], "kf").unwrap_err() {
            SourceError::Malformed { offset, reason, .. } => {
                assert_eq!(offset, cut / XFILE_SIZE * XFILE_SIZE);
                assert!(reason.contains("truncated"), "{cut}: {reason}");
            }
            e => panic!("{e}"),
        }
    }
}

#[test]
fn kinfo_proc_bad_sizes() {
    let good = fixture("kern_proc");
    let mut b = good.clone();
    b[KINFO_PROC_SIZE..KINFO_PROC_SIZE + 4].copy_from_slice(&1096i32.to_le_bytes());
    match kinfo_proc::parse(&b, "kp").unwrap_err() {
        SourceError::Malformed { offset, reason, .. } => {
            assert_eq!(offset, KINFO_PROC_SIZE);
            assert!(
                reason.contains("1096") && reason.contains("1088"),
                "{reason}"
            );
        }
        e => panic!("{e}"),
    }
    match kinfo_proc::parse(&good[..KINFO_PROC_SIZE + 100], "kp").unwrap_err() {
        SourceError::Malformed { offset, reason, .. } => {
            assert_eq!(offset, KINFO_PROC_SIZE);
            assert!(reason.contains("truncated"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn tcpstat_and_states_bad_sizes() {
    let stats = fixture("tcp_stats");
    assert!(tcpstat::parse(&[], "s").is_err());
    assert!(tcpstat::parse(&stats[..999], "s").is_err());
    // An older, shorter tcpstat keeps the early counters and drops the rest.
    let short = tcpstat::parse(&stats[..160], "s").unwrap();
    assert_eq!(short.sndbyte, Some(106));
    assert_eq!(short.sndrexmitpack, None);
    let states = fixture("tcp_states");
    assert!(tcp_states::parse(&states[..80], "t").is_err());
    assert!(tcp_states::parse(&[states.clone(), vec![0; 8]].concat(), "t").is_err());
}

/// Only a record without a pcb (`xi_len` 0) in `SYN_RECEIVED` is a
/// syncache entry: a full pcb in that state (a connection accepted with
/// its handshake pending) keeps its identity and buffers, and a missing
/// pcb in any other state contradicts the layout.
#[test]
fn syn_received_is_a_syncache_entry_only_without_a_pcb() {
    let good = fixture("pcblist");
    let (want, _) = parse_pcblist(&good).unwrap();
    let state = XINPGEN_SIZE + XT_T_STATE.offset;
    let mut b = good.clone();
    b[state..state + 4].copy_from_slice(&(TCPS_SYN_RECEIVED as i32).to_le_bytes());
    let (recs, _) = parse_pcblist(&b).unwrap();
    assert_eq!(recs[0].state, TcpState::SynReceived);
    assert_eq!(recs[0].sock_id(), want[0].sock_id());
    assert!(recs[0].sock_id().is_some());
    assert_eq!(recs[0].snd_buf_hiwat(), want[0].snd_buf_hiwat());

    let mut b = good;
    set_u64(&mut b, XINPGEN_SIZE + XT_XI_LEN.offset, 0);
    let (off, _) = malformed(parse_pcblist(&b).unwrap_err());
    assert_eq!(off, XINPGEN_SIZE + XT_XI_LEN.offset);
}

/// A `tcpstat` whose length is not a whole number of counters is reported
/// at the first byte of the broken counter.
#[test]
fn tcpstat_of_a_ragged_length_names_the_broken_counter() {
    let stats = fixture("tcp_stats");
    for (len, at) in [(13, 8), (999, 992), (5, 0)] {
        // Named as `malformed` expects.
        let e = tcpstat::parse(&stats[..len], "pcblist.bin").unwrap_err();
        let (off, reason) = malformed(e);
        assert_eq!(off, at, "{len} bytes");
        assert!(reason.starts_with(&format!("{len} bytes")), "{reason}");
    }
}

/// Exactly 8 bytes left hold a whole `xf_size`: a wrong one is named as
/// such, not called a truncation; fewer than 8 are a truncation.
#[test]
fn kern_file_eight_bytes_left_are_read_as_a_size() {
    let good = fixture("kern_file");
    let mut b = good[..XFILE_SIZE].to_vec();
    b.extend_from_slice(&136u64.to_le_bytes());
    match kern_file::parse(&b, "kf").unwrap_err() {
        SourceError::Malformed { offset, reason, .. } => {
            assert_eq!(offset, XFILE_SIZE);
            assert!(reason.contains("xf_size = 136"), "{reason}");
        }
        e => panic!("{e}"),
    }
    match kern_file::parse(&b[..XFILE_SIZE + 7], "kf").unwrap_err() {
        SourceError::Malformed { offset, reason, .. } => {
            assert_eq!(offset, XFILE_SIZE);
            assert!(reason.contains("truncated: 7 bytes left"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

/// A short last entry: with its size field readable and wrong, the size
/// is the problem named; with the size right, or too few bytes to read
/// it, the entry is truncated.
#[test]
fn kinfo_proc_short_entry_names_the_right_problem() {
    let good = fixture("kern_proc");
    let reason_of = |b: &[u8]| match kinfo_proc::parse(b, "kp").unwrap_err() {
        SourceError::Malformed { offset, reason, .. } => {
            assert_eq!(offset, KINFO_PROC_SIZE);
            reason
        }
        e => panic!("{e}"),
    };
    let mut b = good[..KINFO_PROC_SIZE + 100].to_vec();
    b[KINFO_PROC_SIZE..KINFO_PROC_SIZE + 4].copy_from_slice(&1096i32.to_le_bytes());
    let r = reason_of(&b);
    assert!(r.contains("ki_structsize = 1096"), "{r}");
    let r = reason_of(&b[..KINFO_PROC_SIZE + 4]);
    assert!(r.contains("ki_structsize = 1096"), "{r}");
    let r = reason_of(&good[..KINFO_PROC_SIZE + 4]);
    assert!(r.contains("truncated: 4 bytes left"), "{r}");
    let r = reason_of(&good[..KINFO_PROC_SIZE + 3]);
    assert!(r.contains("truncated: 3 bytes left"), "{r}");
}
