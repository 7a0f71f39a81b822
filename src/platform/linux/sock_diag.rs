//! sock_diag wire format: the dump request we send and a parser for the
//! replies, in plain safe Rust over `&[u8]`.
//!
//! The parser walks `nlmsghdr`s, handles `NLMSG_DONE`/`NLMSG_ERROR`, and turns
//! each `inet_diag_msg` plus its attributes (`INET_DIAG_INFO` = `tcp_info`,
//! `INET_DIAG_CONG`, `INET_DIAG_SKMEMINFO`) into a `SocketRecord` without a
//! heap allocation. Every read is bounds-checked: a field beyond what the
//! kernel sent is absent, a malformed message is skipped and counted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tracing::debug;

use crate::platform::{ScanStats, SourceError};
use crate::record::{SSTHRESH_INFINITE, ShortName, SocketRecord, TcpState};

// netlink.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
/// sock_diag.h
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;

// inet_diag.h attribute types.
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_CONG: u16 = 4;
const INET_DIAG_SKMEMINFO: u16 = 7;
/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = !(0x8000 | 0x4000);

/// `idiag_ext` bits: extension N is requested by bit N-1.
pub const REQUESTED_EXTENSIONS: u8 =
    (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_CONG - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1));

/// Every TCP state, including TIME_WAIT (6) and NEW_SYN_RECV (12).
pub const ALL_STATES: u32 = u32::MAX;

/// `sizeof(struct inet_diag_req_v2)`.
const REQ_V2_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
pub const INET_DIAG_MSG_LEN: usize = 72;
pub const REQUEST_LEN: usize = NLMSG_HDRLEN + REQ_V2_LEN;

// Linux TCP states that carry placeholder zeros instead of uid/inode/queues
// (mini sockets: `inet_twsk_diag_fill`, `inet_req_diag_fill`).
const LINUX_TIME_WAIT: u8 = 6;
const LINUX_LISTEN: u8 = 10;
const LINUX_NEW_SYN_RECV: u8 = 12;

/// Linux's `TCP_INFINITE_SSTHRESH`.
const LINUX_INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// The dump request for one address family: `nlmsghdr` + `inet_diag_req_v2`
/// asking for every TCP socket in every state with `tcp_info`, congestion
/// control name and socket memory.
pub fn dump_request(family: u8, seq: u32) -> [u8; REQUEST_LEN] {
    let mut b = [0u8; REQUEST_LEN];
    b[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port id.
    let r = NLMSG_HDRLEN;
    b[r] = family;
    b[r + 1] = libc::IPPROTO_TCP as u8;
    b[r + 2] = REQUESTED_EXTENSIONS;
    b[r + 4..r + 8].copy_from_slice(&ALL_STATES.to_ne_bytes());
    // inet_diag_sockid left zero: no filter, dump everything.
    b
}

/// Whether a dump has more datagrams to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

/// Parse one datagram of a dump reply whose request had sequence number
/// `seq`. Sockets are appended to `out`; malformed messages are skipped and
/// counted in `stats.skipped`. A kernel-reported error is returned as
/// `SourceError::Io`.
pub fn parse_datagram(
    buf: &[u8],
    seq: u32,
    ts: u64,
    out: &mut Vec<SocketRecord>,
    stats: &mut ScanStats,
) -> Result<Progress, SourceError> {
    let mut off = 0usize;
    while off < buf.len() {
        let Some(hdr) = buf.get(off..off + NLMSG_HDRLEN) else {
            // Trailing bytes too short for a header.
            stats.skipped += 1;
            debug!(
                offset = off,
                "sock_diag: trailing bytes after the last message"
            );
            return Ok(Progress::More);
        };
        let len = u32_ne(hdr, 0) as usize;
        let kind = u16_ne(hdr, 4);
        let flags = u16_ne(hdr, 6);
        let msg_seq = u32_ne(hdr, 8);
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            // The framing itself is broken: nothing after this point of the
            // datagram can be trusted.
            stats.skipped += 1;
            debug!(
                offset = off,
                len, "sock_diag: message length out of bounds, rest of datagram dropped"
            );
            return Ok(Progress::More);
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        off = off.saturating_add(align4(len));
        if msg_seq != seq {
            // Left over from an earlier, abandoned dump on this socket.
            continue;
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            stats.inconsistent = true;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => match parse_socket(payload, ts) {
                Ok(rec) => out.push(rec),
                Err(reason) => {
                    stats.skipped += 1;
                    debug!(reason, "sock_diag: skipped a malformed socket message");
                }
            },
            NLMSG_DONE => {
                // A dump's DONE carries an int: negative errno if the dump
                // failed part-way.
                let err = i32_ne(payload, 0).unwrap_or(0);
                if err < 0 {
                    return Err(SourceError::io(
                        "sock_diag dump ended with an error; retry, and check `ss -t` works",
                        std::io::Error::from_raw_os_error(-err),
                    ));
                }
                return Ok(Progress::Done);
            }
            NLMSG_ERROR => {
                let err = i32_ne(payload, 0).unwrap_or(-libc::EPROTO);
                if err != 0 {
                    return Err(SourceError::io(
                        "sock_diag request refused by the kernel (is the inet_diag/tcp_diag module available?)",
                        std::io::Error::from_raw_os_error(err.saturating_neg()),
                    ));
                }
            }
            NLMSG_OVERRUN => {
                return Err(SourceError::malformed(
                    "sock_diag dump",
                    off,
                    "the kernel reported an overrun; the dump is incomplete, retry",
                ));
            }
            NLMSG_NOOP => {}
            _ => {
                stats.skipped += 1;
                debug!(kind, "sock_diag: unexpected message type");
            }
        }
    }
    Ok(Progress::More)
}

/// One `inet_diag_msg` and its attributes → a record. The error is a static
/// reason (no allocation on the skip path either).
pub fn parse_socket(p: &[u8], ts: u64) -> Result<SocketRecord, &'static str> {
    if p.len() < INET_DIAG_MSG_LEN {
        return Err("inet_diag_msg truncated");
    }
    let family = p[0];
    let linux_state = p[1];
    let timer = p[2];
    let state = TcpState::from_linux(linux_state).ok_or("unknown TCP state")?;
    let sport = u16::from_be_bytes([p[4], p[5]]);
    let dport = u16::from_be_bytes([p[6], p[7]]);
    let (src, dst) = match family as i32 {
        libc::AF_INET => (
            IpAddr::V4(Ipv4Addr::new(p[8], p[9], p[10], p[11])),
            IpAddr::V4(Ipv4Addr::new(p[24], p[25], p[26], p[27])),
        ),
        libc::AF_INET6 => (
            IpAddr::V6(Ipv6Addr::from(arr16(&p[8..24]))),
            IpAddr::V6(Ipv6Addr::from(arr16(&p[24..40]))),
        ),
        _ => return Err("unknown address family"),
    };
    let mut rec = SocketRecord::new(
        ts,
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        state,
    );

    // The cookie is two native-endian u32s, low word first.
    let cookie = u64::from(u32_ne(p, 44)) | (u64::from(u32_ne(p, 48)) << 32);
    if cookie != u64::MAX {
        rec.sock_id = Some(cookie);
    }
    let expires = u32_ne(p, 52);
    let rqueue = u32_ne(p, 56);
    let wqueue = u32_ne(p, 60);
    let uid = u32_ne(p, 64);
    let inode = u32_ne(p, 68);

    let mini = matches!(linux_state, LINUX_TIME_WAIT | LINUX_NEW_SYN_RECV);
    if !mini {
        rec.uid = Some(uid);
        if inode != 0 {
            rec.inode = Some(u64::from(inode));
            rec.proc_key = Some(u64::from(inode));
        }
        // A listener's queues count connections (accept queue, backlog),
        // not bytes, so they are left out rather than mislabelled.
        if linux_state != LINUX_LISTEN {
            rec.rcv_queue = Some(rqueue);
            rec.snd_queue = Some(wqueue);
        }
    }
    // idiag_timer kinds (inet_diag.c): 1 retransmit (also loss probe and
    // reorder timeouts; SYN-ACK for request sockets), 2 keepalive,
    // 3 TIME_WAIT, 4 zero-window probe. The delayed-ACK timer is not exposed.
    match timer {
        1 => rec.timer_rexmt_ms = Some(expires),
        2 => rec.timer_keep_ms = Some(expires),
        3 => rec.timer_2msl_ms = Some(expires),
        4 => rec.timer_persist_ms = Some(expires),
        _ => {}
    }

    let mut attrs = &p[INET_DIAG_MSG_LEN..];
    while !attrs.is_empty() {
        if attrs.len() < 4 {
            return Err("attribute header truncated");
        }
        let alen = usize::from(u16_ne(attrs, 0));
        let atype = u16_ne(attrs, 2) & NLA_TYPE_MASK;
        if alen < 4 || alen > attrs.len() {
            return Err("attribute length out of bounds");
        }
        let data = &attrs[4..alen];
        match atype {
            INET_DIAG_INFO if linux_state != LINUX_LISTEN => apply_tcp_info(&mut rec, data),
            INET_DIAG_CONG => {
                let cc = ShortName::from_c_bytes(data);
                if !cc.is_empty() {
                    rec.cc = Some(cc);
                }
            }
            INET_DIAG_SKMEMINFO => apply_skmeminfo(&mut rec, data),
            _ => {}
        }
        attrs = attrs.get(align4(alen)..).unwrap_or(&[]);
    }
    rec.derive_buffer_pcts();
    Ok(rec)
}

/// Byte offsets in `struct tcp_info` (include/uapi/linux/tcp.h). Checked
/// against the C header and the `libc` crate by tests.
pub mod tcpi {
    /// `tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4` share this byte.
    pub const WSCALE: usize = 6;
    pub const RTO: usize = 8;
    pub const SND_MSS: usize = 16;
    pub const UNACKED: usize = 24;
    pub const LOST: usize = 32;
    pub const RETRANS: usize = 36;
    pub const LAST_DATA_RECV: usize = 52;
    pub const RTT: usize = 68;
    pub const RTTVAR: usize = 72;
    pub const SND_SSTHRESH: usize = 76;
    pub const SND_CWND: usize = 80;
    pub const TOTAL_RETRANS: usize = 100;
    pub const PACING_RATE: usize = 104;
    pub const BYTES_ACKED: usize = 120;
    pub const BYTES_RECEIVED: usize = 128;
    pub const SEGS_OUT: usize = 136;
    pub const SEGS_IN: usize = 140;
    pub const MIN_RTT: usize = 148;
    pub const DELIVERY_RATE: usize = 160;
    pub const BYTES_SENT: usize = 200;
    pub const BYTES_RETRANS: usize = 208;
    pub const DSACK_DUPS: usize = 216;
    pub const RCV_OOOPACK: usize = 224;
    pub const SND_WND: usize = 228;
    /// Linux 6.7 and later.
    pub const RCV_WND: usize = 232;
}

/// Copy `tcp_info` fields into the record. `d` may be shorter (older
/// kernel) or longer (newer kernel) than the layout we know: each field is
/// read only if the kernel sent all of its bytes.
fn apply_tcp_info(rec: &mut SocketRecord, d: &[u8]) {
    let u32_at = |off: usize| d.get(off..off + 4).map(|b| u32_ne(b, 0));
    let u64_at = |off: usize| {
        d.get(off..off + 8)
            .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };

    if let Some(&ws) = d.get(tcpi::WSCALE) {
        // GCC allocates the first bitfield member in the low bits on
        // little-endian targets and in the high bits on big-endian ones.
        let (snd, rcv) = if cfg!(target_endian = "little") {
            (ws & 0x0f, ws >> 4)
        } else {
            (ws >> 4, ws & 0x0f)
        };
        rec.snd_wscale = Some(snd);
        rec.rcv_wscale = Some(rcv);
    }
    rec.rto_us = u32_at(tcpi::RTO);
    let mss = u32_at(tcpi::SND_MSS);
    rec.mss = mss;
    rec.unacked = u32_at(tcpi::UNACKED);
    rec.lost = u32_at(tcpi::LOST);
    rec.retrans_out = u32_at(tcpi::RETRANS);
    rec.idle_ms = u32_at(tcpi::LAST_DATA_RECV);
    rec.rtt_us = u32_at(tcpi::RTT);
    rec.rttvar_us = u32_at(tcpi::RTTVAR);
    if let Some(mss) = mss.filter(|&m| m > 0) {
        let mss = u64::from(mss);
        rec.cwnd = u32_at(tcpi::SND_CWND).map(|c| u64::from(c) * mss);
        rec.ssthresh = u32_at(tcpi::SND_SSTHRESH).map(|s| {
            if s >= LINUX_INFINITE_SSTHRESH {
                SSTHRESH_INFINITE
            } else {
                u64::from(s) * mss
            }
        });
    }
    rec.rexmit = u32_at(tcpi::TOTAL_RETRANS).map(u64::from);
    // ~0 means "no pacing rate set", not a rate.
    rec.pacing_rate = u64_at(tcpi::PACING_RATE).filter(|&r| r != u64::MAX);
    rec.bytes_acked = u64_at(tcpi::BYTES_ACKED);
    rec.bytes_received = u64_at(tcpi::BYTES_RECEIVED);
    rec.segs_out = u32_at(tcpi::SEGS_OUT).map(u64::from);
    rec.segs_in = u32_at(tcpi::SEGS_IN).map(u64::from);
    // ~0 means "no RTT sample yet".
    rec.rtt_min_us = u32_at(tcpi::MIN_RTT).filter(|&r| r != u32::MAX);
    rec.delivery_rate = u64_at(tcpi::DELIVERY_RATE);
    rec.bytes_sent = u64_at(tcpi::BYTES_SENT);
    rec.bytes_retrans = u64_at(tcpi::BYTES_RETRANS);
    rec.dsack_pack = u32_at(tcpi::DSACK_DUPS).map(u64::from);
    rec.ooo = u32_at(tcpi::RCV_OOOPACK).map(u64::from);
    rec.snd_wnd = u32_at(tcpi::SND_WND).map(u64::from);
    rec.rcv_wnd = u32_at(tcpi::RCV_WND).map(u64::from);
}

/// `INET_DIAG_SKMEMINFO`: `u32 [SK_MEMINFO_VARS]` (linux/sock_diag.h).
fn apply_skmeminfo(rec: &mut SocketRecord, d: &[u8]) {
    const RMEM_ALLOC: usize = 0;
    const RCVBUF: usize = 1;
    const SNDBUF: usize = 3;
    const WMEM_QUEUED: usize = 5;
    let at = |i: usize| d.get(i * 4..i * 4 + 4).map(|b| u32_ne(b, 0));
    rec.rcv_buf_used = at(RMEM_ALLOC);
    rec.rcv_buf_hiwat = at(RCVBUF);
    rec.snd_buf_hiwat = at(SNDBUF);
    rec.snd_buf_used = at(WMEM_QUEUED);
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn arr16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    a
}

/// Native-endian u32 at `off`; callers have checked the bounds.
fn u32_ne(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u16_ne(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn i32_ne(b: &[u8], off: usize) -> Option<i32> {
    b.get(off..off + 4)
        .map(|x| i32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}
