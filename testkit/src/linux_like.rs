//! Test data: socket records shaped like a busy Linux host's, with every
//! field the Linux source fills (and, on request, the FreeBSD-only ones),
//! realistic magnitudes, deterministic. Shared by the proto tests and the
//! proto benchmark (`#[path]`), so both measure the same records.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use netpulse::record::{
    Batch, SSTHRESH_INFINITE, ShortName, SocketRecord, SystemRecord, TcpCounters, TcpState, Tier,
    count_states,
};

/// xorshift64: deterministic, no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub const TS: u64 = 1_764_130_000_000_000_000;

const COMMANDS: [&str; 6] = ["nginx", "envoy", "postgres", "java", "sshd", "redis-server"];

/// Socket `i` of a poll at `ts`. `freebsd_fields` also sets what only the
/// FreeBSD sources provide (stack, sequence numbers, 2MSL/delack timers).
pub fn socket(rng: &mut Rng, i: usize, ts: u64, freebsd_fields: bool) -> SocketRecord {
    let v6 = i % 4 == 3;
    let local_ip = if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x10))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))
    };
    let remote_ip = if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            7,
            (i >> 16) as u16,
            0,
            0,
            0,
            i as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(172, 16, (i >> 8) as u8, i as u8))
    };
    let state = match rng.below(20) {
        0 => TcpState::TimeWait,
        1 => TcpState::Listen,
        2 => TcpState::CloseWait,
        3 => TcpState::FinWait2,
        _ => TcpState::Established,
    };
    let mut r = SocketRecord::new(
        ts,
        SocketAddr::new(local_ip, [443, 8080, 5432][i % 3]),
        SocketAddr::new(remote_ip, 32768 + rng.below(28000) as u16),
        state,
    );
    let mss = [1448u32, 1428, 8948, 65483][rng.below(4) as usize];
    let segs_out = rng.below(50_000_000);
    let segs_in = rng.below(50_000_000);
    r.set().tier(Some(Tier::Fast));
    r.set().sock_id(Some(40_000 + i as u64 * 7 + rng.below(5)));
    r.set().uid(Some([0, 33, 999, 1000][rng.below(4) as usize]));
    r.set().inode(Some(3_000_000 + i as u64));
    r.set().cwnd(Some(u64::from(mss) * (10 + rng.below(400))));
    r.set().ssthresh(Some(if rng.below(3) == 0 {
        SSTHRESH_INFINITE
    } else {
        u64::from(mss) * (5 + rng.below(300))
    }));
    r.set().mss(Some(mss));
    r.set().rcv_wnd(Some(65_535 + rng.below(6_000_000)));
    r.set().snd_wnd(Some(65_535 + rng.below(6_000_000)));
    r.set().snd_wscale(Some(7));
    r.set().rcv_wscale(Some(rng.below(15) as u8));
    r.set().cc(Some(ShortName::new(
        ["cubic", "bbr", "reno"][rng.below(3) as usize],
    )));
    let rtt = 50 + rng.below(80_000) as u32;
    r.set().rtt_us(Some(rtt));
    r.set().rttvar_us(Some(rtt / 2 + rng.below(1000) as u32));
    r.set().rto_us(Some(200_000 + rtt * 4));
    r.set().rtt_min_us(Some(rtt / 2 + 1));
    r.set().rexmit(Some(rng.below(50)));
    r.set().ooo(Some(rng.below(20)));
    r.set().zerowin(Some(rng.below(3)));
    r.set().dsack_bytes(Some(rng.below(30_000)));
    r.set().dsack_pack(Some(rng.below(20)));
    r.set().bytes_sent(Some(segs_out * u64::from(mss) / 2));
    r.set()
        .bytes_acked(Some(segs_out * u64::from(mss) / 2 - rng.below(1000)));
    r.set().bytes_received(Some(segs_in * u64::from(mss) / 3));
    r.set().bytes_retrans(Some(rng.below(2_000_000)));
    r.set().segs_out(Some(segs_out));
    r.set().segs_in(Some(segs_in));
    r.set().unacked(Some(rng.below(200) as u32));
    r.set().lost(Some(rng.below(3) as u32));
    r.set().retrans_out(Some(rng.below(3) as u32));
    r.set().delivery_rate(Some(rng.below(1_250_000_000)));
    r.set().pacing_rate(Some(rng.below(2_500_000_000)));
    r.set().rexmit_delta(Some(rng.below(3)));
    r.set().ooo_delta(Some(rng.below(2)));
    r.set().zerowin_delta(Some(0));
    r.set().bytes_acked_delta(Some(rng.below(100_000_000)));
    r.set().bytes_received_delta(Some(rng.below(100_000_000)));
    r.set().segs_out_delta(Some(rng.below(70_000)));
    r.set().segs_in_delta(Some(rng.below(70_000)));
    r.set().age_ms(Some(rng.below(86_400_000)));
    r.set().timer_rexmt_ms(Some(rng.below(1000) as u32));
    r.set().timer_persist_ms(Some(0));
    r.set().timer_keep_ms(Some(rng.below(7_200_000) as u32));
    r.set().idle_ms(Some(rng.below(60_000) as u32));
    r.set().snd_buf_used(Some(rng.below(4_000_000) as u32));
    r.set().snd_buf_hiwat(Some(4_194_304));
    r.set().rcv_buf_used(Some(rng.below(6_000_000) as u32));
    r.set().rcv_buf_hiwat(Some(6_291_456));
    r.derive_buffer_pcts();
    r.set().snd_queue(Some(rng.below(100_000) as u32));
    r.set().rcv_queue(Some(rng.below(10_000) as u32));
    r.set().pid(Some(1000 + rng.below(60_000) as u32));
    r.set().fd(Some(3 + rng.below(5000) as i32));
    r.set()
        .command(Some(Arc::from(COMMANDS[rng.below(6) as usize])));
    let inode = r.inode();
    r.set().proc_key(inode);
    if freebsd_fields {
        r.set().stack(Some(ShortName::new("rack")));
        r.set().snd_una(Some(rng.next_u64() as u32));
        r.set().snd_nxt(Some(rng.next_u64() as u32));
        r.set().snd_max(Some(rng.next_u64() as u32));
        r.set().rcv_nxt(Some(rng.next_u64() as u32));
        r.set().rcv_adv(Some(rng.next_u64() as u32));
        r.set().timer_2msl_ms(Some(rng.below(60_000) as u32));
        r.set().timer_delack_ms(Some(rng.below(200) as u32));
        // A command name that CSV and JSON must quote.
        r.set().command(Some(Arc::from("my \"svc\", v2\nnext é")));
        r.local = "[fe80::1%2]:22".parse().unwrap();
        // Listener fields, so that this record sets every field.
        r.set().accept_queue(Some(rng.below(128) as u32));
        r.set().accept_backlog(Some(128));
    }
    r
}

/// A system record with every field set.
pub fn system(rng: &mut Rng, ts: u64, sockets: &[SocketRecord]) -> SystemRecord {
    let mut s = SystemRecord {
        ts,
        tier: Some(Tier::Fast),
        interval_ms: 1000,
        total_sockets: sockets.len() as u64,
        state_counts: count_states(sockets.iter().map(|s| s.state)),
        poll_us: Some(rng.below(100_000)),
        skipped_ticks: Some(rng.below(3)),
        dropped: Some(0),
        write_errors: Some(rng.below(2)),
        parse_errors: Some(0),
        tracked_sockets: Some(sockets.len() as u64 + rng.below(10)),
        host: Some("db-7.example".into()),
        sockets_written: Some(sockets.len() as u64),
        sockets_unchanged: Some(rng.below(1000)),
        closed: Some(rng.below(50)),
        memory_bytes: Some(40 << 20),
        stream_spooled: Some(3),
        stream_dropped: Some(4),
        scans_inconsistent: Some(1),
        processes_unreadable: Some(2),
        ..SystemRecord::default()
    };
    let mut earlier = TcpCounters::default();
    for (k, name) in TcpCounters::NAMES.iter().enumerate() {
        let now = 1_000_000 * (k as u64 + 1) + rng.below(1_000_000);
        s.counters.set(name, now);
        earlier.set(name, now - rng.below(1000));
    }
    s.set_deltas_since(&earlier);
    s
}

/// A poll of `n` sockets: sequence `seq`, every field set.
pub fn batch(seed: u64, seq: u64, n: usize, freebsd_fields: bool) -> Batch {
    let mut rng = Rng::new(seed);
    let ts = TS + seq * 1_000_000_000;
    let sockets: Vec<SocketRecord> = (0..n)
        .map(|i| socket(&mut rng, i, ts, freebsd_fields))
        .collect();
    Batch {
        closes: Vec::new(),
        tier: Some(Tier::Fast),
        ts,
        seq,
        interval_ms: 1000,
        system: Some(system(&mut rng, ts, &sockets)),
        sockets,
    }
}
