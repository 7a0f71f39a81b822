//! One TCP socket as every platform reports it and every output writes it.
//!
//! Field names and units are the user's contract (DESIGN.md section 2):
//! units are in the name (`_us`, `_ms`, bytes otherwise) and a value the
//! source cannot provide is `None`, which the outputs leave out entirely.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{ShortName, TcpState, Tier};

/// ssthresh as written when the kernel reports "no threshold yet"
/// (Linux `TCP_INFINITE_SSTHRESH`, FreeBSD's initial maximum): the seed's
/// `2147483647`, never a product that overflowed.
pub const SSTHRESH_INFINITE: u64 = 0x7fff_ffff;

/// A per-socket sample. `Default` gives an all-absent record; sources fill
/// what they know.
#[derive(Clone, Debug, Serialize)]
pub struct SocketRecord {
    /// Nanoseconds since the Unix epoch.
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Stable identity: Linux socket cookie, FreeBSD `inp_gencnt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sock_id: Option<u64>,
    #[serde(serialize_with = "ser_addr")]
    pub local: SocketAddr,
    #[serde(serialize_with = "ser_addr")]
    pub remote: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Linux socket inode (as `ss -e` shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,

    pub state: TcpState,

    // Windows, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssthresh: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wnd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wnd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wscale: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wscale: Option<u8>,

    // Algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc: Option<ShortName>,
    /// FreeBSD TCP stack (`freebsd`, `rack`, `bbr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<ShortName>,

    // RTT, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rttvar_us: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_us: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_min_us: Option<u32>,

    // Sequence numbers (FreeBSD module).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_una: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_nxt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_nxt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_adv: Option<u32>,

    // Cumulative counters.
    /// Total retransmitted segments over the connection's life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rexmit: Option<u64>,
    /// Out-of-order segments received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ooo: Option<u64>,
    /// Zero-window events (probes sent / windows advertised as zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zerowin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsack_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsack_pack: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_acked: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_retrans: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_in: Option<u64>,
    /// Segments currently unacknowledged / lost / retransmitted-in-flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacked: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrans_out: Option<u32>,
    /// Bytes per second, as the kernel estimates them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_rate: Option<u64>,

    // Deltas over the tier interval (delta store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rexmit_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ooo_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zerowin_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_acked_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_out_delta: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_in_delta: Option<u64>,
    /// Milliseconds since the agent first saw this socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,

    // Timers, milliseconds until expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_rexmt_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_persist_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_keep_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_2msl_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_delack_ms: Option<u32>,
    /// Milliseconds since the last segment was received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u32>,

    // Buffers, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_buf_used: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_buf_hiwat: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_buf_used: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_buf_hiwat: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_buf_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_buf_pct: Option<f64>,
    /// Linux: bytes waiting in the send / receive queue (`ss` Send-Q/Recv-Q).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_queue: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_queue: Option<u32>,

    // Owning process (standard-tier join).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Arc<str>>,

    /// Key into the process map: Linux socket inode, FreeBSD kernel socket
    /// address (`xso_so`). A kernel address must never leave the process,
    /// so this is never serialized.
    #[serde(skip)]
    pub proc_key: Option<u64>,
}

fn ser_addr<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

impl SocketRecord {
    /// An all-absent record with the identity every source knows.
    pub fn new(ts: u64, local: SocketAddr, remote: SocketAddr, state: TcpState) -> SocketRecord {
        SocketRecord {
            ts,
            tier: None,
            sock_id: None,
            local,
            remote,
            uid: None,
            inode: None,
            state,
            cwnd: None,
            ssthresh: None,
            mss: None,
            rcv_wnd: None,
            snd_wnd: None,
            snd_wscale: None,
            rcv_wscale: None,
            cc: None,
            stack: None,
            rtt_us: None,
            rttvar_us: None,
            rto_us: None,
            rtt_min_us: None,
            snd_una: None,
            snd_nxt: None,
            snd_max: None,
            rcv_nxt: None,
            rcv_adv: None,
            rexmit: None,
            ooo: None,
            zerowin: None,
            dsack_bytes: None,
            dsack_pack: None,
            bytes_sent: None,
            bytes_acked: None,
            bytes_received: None,
            bytes_retrans: None,
            segs_out: None,
            segs_in: None,
            unacked: None,
            lost: None,
            retrans_out: None,
            delivery_rate: None,
            pacing_rate: None,
            rexmit_delta: None,
            ooo_delta: None,
            zerowin_delta: None,
            bytes_acked_delta: None,
            bytes_received_delta: None,
            segs_out_delta: None,
            segs_in_delta: None,
            age_ms: None,
            timer_rexmt_ms: None,
            timer_persist_ms: None,
            timer_keep_ms: None,
            timer_2msl_ms: None,
            timer_delack_ms: None,
            idle_ms: None,
            snd_buf_used: None,
            snd_buf_hiwat: None,
            rcv_buf_used: None,
            rcv_buf_hiwat: None,
            snd_buf_pct: None,
            rcv_buf_pct: None,
            snd_queue: None,
            rcv_queue: None,
            pid: None,
            fd: None,
            command: None,
            proc_key: None,
        }
    }

    /// Fill `snd_buf_pct` / `rcv_buf_pct` from used and high-water marks,
    /// rounded to one decimal as in the seed. Absent when either is unknown
    /// or the high-water mark is zero.
    pub fn derive_buffer_pcts(&mut self) {
        self.snd_buf_pct = pct(self.snd_buf_used, self.snd_buf_hiwat);
        self.rcv_buf_pct = pct(self.rcv_buf_used, self.rcv_buf_hiwat);
    }
}

#[cfg(test)]
impl SocketRecord {
    /// Every field set, integers derived from `seed`. The literal names
    /// every field on purpose: a field added to `SocketRecord` breaks the
    /// output tests (JSON writer, CSV columns) until it is set here, and then
    /// until each output knows it.
    pub(crate) fn every_field_set(seed: u64) -> SocketRecord {
        let n = |k: u64| Some(seed.wrapping_mul(31).wrapping_add(k));
        let s = |k: u64| Some((seed as u32).wrapping_add(k as u32));
        SocketRecord {
            ts: seed,
            tier: Some(Tier::Fast),
            sock_id: n(1),
            local: "10.1.2.3:443".parse().unwrap(),
            remote: "[fe80::1%2]:55555".parse().unwrap(),
            uid: s(2),
            inode: n(3),
            state: TcpState::FinWait2,
            cwnd: n(4),
            ssthresh: n(5),
            mss: s(6),
            rcv_wnd: n(7),
            snd_wnd: n(8),
            snd_wscale: Some(7),
            rcv_wscale: Some(14),
            cc: Some(ShortName::new("cubic")),
            stack: Some(ShortName::new("rack")),
            rtt_us: s(9),
            rttvar_us: s(10),
            rto_us: s(11),
            rtt_min_us: s(12),
            snd_una: s(13),
            snd_nxt: s(14),
            snd_max: s(15),
            rcv_nxt: s(16),
            rcv_adv: s(17),
            rexmit: n(18),
            ooo: n(19),
            zerowin: n(20),
            dsack_bytes: n(21),
            dsack_pack: n(22),
            bytes_sent: n(23),
            bytes_acked: n(24),
            bytes_received: n(25),
            bytes_retrans: n(26),
            segs_out: n(27),
            segs_in: n(28),
            unacked: s(29),
            lost: s(30),
            retrans_out: s(31),
            delivery_rate: n(32),
            pacing_rate: n(33),
            rexmit_delta: n(34),
            ooo_delta: n(35),
            zerowin_delta: n(36),
            bytes_acked_delta: n(37),
            bytes_received_delta: n(38),
            segs_out_delta: n(39),
            segs_in_delta: n(40),
            age_ms: n(41),
            timer_rexmt_ms: s(42),
            timer_persist_ms: s(43),
            timer_keep_ms: s(44),
            timer_2msl_ms: s(45),
            timer_delack_ms: s(46),
            idle_ms: s(47),
            snd_buf_used: s(48),
            snd_buf_hiwat: s(49),
            rcv_buf_used: s(50),
            rcv_buf_hiwat: s(51),
            snd_buf_pct: Some(55.5),
            rcv_buf_pct: Some(12.3),
            snd_queue: s(52),
            rcv_queue: s(53),
            pid: s(54),
            fd: Some(-1),
            command: Some(Arc::from("nginx: worker")),
            proc_key: n(55),
        }
    }

    /// Knock fields out (or flip them) by the bits of `mask`, so one
    /// proptest input covers present and absent fields in any mix.
    #[rustfmt::skip]
    pub(crate) fn knock_out(&mut self, mask: u64) {
        let bit = |i: u32| mask & (1 << i) != 0;
        if bit(0) { self.tier = None; }
        if bit(1) { self.sock_id = None; }
        if bit(2) { self.cc = None; }
        if bit(3) { self.command = None; }
        if bit(4) { self.snd_buf_pct = None; }
        if bit(5) { self.rtt_us = None; }
        if bit(6) { self.cwnd = None; }
        if bit(7) { self.fd = self.fd.map(|fd| -fd); }
        if bit(8) { self.fd = None; }
        if bit(9) { self.stack = None; }
        if bit(10) { self.uid = None; }
        if bit(11) { self.pid = None; }
        if bit(12) { std::mem::swap(&mut self.local, &mut self.remote); }
    }
}

fn pct(used: Option<u32>, hiwat: Option<u32>) -> Option<f64> {
    match (used, hiwat) {
        (Some(u), Some(h)) if h > 0 => Some((u as f64 * 1000.0 / h as f64).round() / 10.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> SocketRecord {
        SocketRecord::new(
            1_709_312_400_000_000_000,
            "192.168.1.5:52341".parse().unwrap(),
            "151.101.1.69:443".parse().unwrap(),
            TcpState::Established,
        )
    }

    #[test]
    fn absent_fields_are_left_out() {
        let j = serde_json::to_string(&rec()).unwrap();
        assert_eq!(
            j,
            r#"{"ts":1709312400000000000,"local":"192.168.1.5:52341","remote":"151.101.1.69:443","state":"ESTABLISHED"}"#
        );
    }

    #[test]
    fn ipv6_is_bracketed_and_proc_key_hidden() {
        let mut r = rec();
        r.local = "[2001:db8::1]:443".parse().unwrap();
        r.proc_key = Some(0xfffff80012345678);
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""local":"[2001:db8::1]:443""#), "{j}");
        assert!(!j.contains("proc_key") && !j.contains(&0xfffff80012345678u64.to_string()));
    }

    #[test]
    fn buffer_percentages() {
        let mut r = rec();
        r.snd_buf_used = Some(0);
        r.snd_buf_hiwat = Some(65536);
        r.rcv_buf_used = Some(8061);
        r.rcv_buf_hiwat = Some(65536);
        r.derive_buffer_pcts();
        assert_eq!(r.snd_buf_pct, Some(0.0));
        assert_eq!(r.rcv_buf_pct, Some(12.3));
        r.rcv_buf_hiwat = Some(0);
        r.derive_buffer_pcts();
        assert_eq!(r.rcv_buf_pct, None);
    }
}
