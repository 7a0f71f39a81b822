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
/// inet_diag.h: the original request type. The kernel still serves it, and
/// serves it with the family left open (`AF_UNSPEC`), so one dump returns
/// IPv4 and IPv6 sockets. `SOCK_DIAG_BY_FAMILY` needs one dump per family,
/// and each dump walks the whole established hash table.
pub const TCPDIAG_GETSOCK: u16 = 18;

// inet_diag.h attribute types.
pub const INET_DIAG_INFO: u16 = 2;
pub const INET_DIAG_CONG: u16 = 4;
pub const INET_DIAG_SKMEMINFO: u16 = 7;
/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = !(0x8000 | 0x4000);

/// `idiag_ext` bits: extension N is requested by bit N-1.
pub const REQUESTED_EXTENSIONS: u8 =
    (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_CONG - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1));

/// Every TCP state, including TIME_WAIT (6) and NEW_SYN_RECV (12).
pub const ALL_STATES: u32 = u32::MAX;

/// `sizeof(struct inet_diag_req_v2)`.
const REQ_V2_LEN: usize = 56;
/// `sizeof(struct inet_diag_req)`, the `TCPDIAG_GETSOCK` request.
const REQ_V1_LEN: usize = 60;
pub const BOTH_FAMILIES_REQUEST_LEN: usize = NLMSG_HDRLEN + REQ_V1_LEN;
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

/// The `nlmsghdr` of a dump request of type `kind` filling all of `b`.
/// `nlmsg_pid` stays 0: the kernel fills in our port id.
fn dump_header(b: &mut [u8], kind: u16, seq: u32) {
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b[4..6].copy_from_slice(&kind.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
}

/// The dump request for one address family: `nlmsghdr` + `inet_diag_req_v2`
/// asking for every TCP socket in every state with `tcp_info`, congestion
/// control name and socket memory.
pub fn dump_request(family: u8, seq: u32) -> [u8; REQUEST_LEN] {
    let mut b = [0u8; REQUEST_LEN];
    dump_header(&mut b, SOCK_DIAG_BY_FAMILY, seq);
    let r = NLMSG_HDRLEN;
    b[r] = family;
    b[r + 1] = libc::IPPROTO_TCP as u8;
    b[r + 2] = REQUESTED_EXTENSIONS;
    b[r + 4..r + 8].copy_from_slice(&ALL_STATES.to_ne_bytes());
    // inet_diag_sockid left zero: no filter, dump everything.
    b
}

/// The dump request for both address families in one walk of the kernel's
/// tables: `nlmsghdr` + `inet_diag_req`, asking for the same states and
/// extensions as [`dump_request`]. Replies carry `TCPDIAG_GETSOCK` as
/// their type and the same `inet_diag_msg` payload.
pub fn both_families_request(seq: u32) -> [u8; BOTH_FAMILIES_REQUEST_LEN] {
    let mut b = [0u8; BOTH_FAMILIES_REQUEST_LEN];
    dump_header(&mut b, TCPDIAG_GETSOCK, seq);
    let r = NLMSG_HDRLEN;
    // idiag_family is not used to filter this dump; AF_INET is what the
    // kernel's own compatibility code expects to see.
    b[r] = libc::AF_INET as u8;
    // idiag_src_len, idiag_dst_len: 0.
    b[r + 3] = REQUESTED_EXTENSIONS;
    // inet_diag_sockid (48 bytes) left zero: no filter.
    b[r + 52..r + 56].copy_from_slice(&ALL_STATES.to_ne_bytes());
    // idiag_dbs: 0.
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
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if let Err(reason) = push_socket(payload, ts, out) {
                    stats.skipped += 1;
                    debug!(reason, "sock_diag: skipped a malformed socket message");
                }
            }
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

/// Parse one `inet_diag_msg` straight into a new element of `out` (records
/// are large; filling them in place avoids copying each one). On error
/// nothing is left behind in `out`; the error is a static reason (no
/// allocation on the skip path either).
fn push_socket(p: &[u8], ts: u64, out: &mut Vec<SocketRecord>) -> Result<(), &'static str> {
    if p.len() < INET_DIAG_MSG_LEN {
        return Err("inet_diag_msg truncated");
    }
    let family = p[diag::FAMILY];
    let linux_state = p[diag::STATE];
    let timer = p[diag::TIMER];
    let state = TcpState::from_linux(linux_state).ok_or("unknown TCP state")?;
    let sport = u16::from_be_bytes([p[diag::SPORT], p[diag::SPORT + 1]]);
    let dport = u16::from_be_bytes([p[diag::DPORT], p[diag::DPORT + 1]]);
    let (src, dst) = match family as i32 {
        libc::AF_INET => (
            IpAddr::V4(Ipv4Addr::from(arr4(&p[diag::SRC..]))),
            IpAddr::V4(Ipv4Addr::from(arr4(&p[diag::DST..]))),
        ),
        libc::AF_INET6 => (
            IpAddr::V6(Ipv6Addr::from(arr16(&p[diag::SRC..]))),
            IpAddr::V6(Ipv6Addr::from(arr16(&p[diag::DST..]))),
        ),
        _ => return Err("unknown address family"),
    };
    out.push(SocketRecord::new(
        ts,
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        state,
    ));
    let filled = out
        .last_mut()
        .map(|rec| fill(rec, p, linux_state, timer))
        .unwrap_or(Err("no record"));
    if filled.is_err() {
        out.pop();
    }
    filled
}

/// Everything after the identity: ids, queues, timers, attributes.
fn fill(rec: &mut SocketRecord, p: &[u8], linux_state: u8, timer: u8) -> Result<(), &'static str> {
    // The cookie is two native-endian u32s, low word first.
    let cookie =
        u64::from(u32_ne(p, diag::COOKIE)) | (u64::from(u32_ne(p, diag::COOKIE + 4)) << 32);
    if cookie != u64::MAX {
        rec.set().sock_id(Some(cookie));
    }
    let expires = u32_ne(p, diag::EXPIRES);
    let rqueue = u32_ne(p, diag::RQUEUE);
    let wqueue = u32_ne(p, diag::WQUEUE);
    let uid = u32_ne(p, diag::UID);
    let inode = u32_ne(p, diag::INODE);

    let mini = matches!(linux_state, LINUX_TIME_WAIT | LINUX_NEW_SYN_RECV);
    if !mini {
        rec.set().uid(Some(uid));
        if inode != 0 {
            rec.set().inode(Some(u64::from(inode)));
            rec.set().proc_key(Some(u64::from(inode)));
        }
        // A listener's queues count connections, not bytes: the accept
        // queue and its limit, kept apart from the byte queues.
        if linux_state == LINUX_LISTEN {
            rec.set().accept_queue(Some(rqueue));
            rec.set().accept_backlog(Some(wqueue));
        } else {
            rec.set().rcv_queue(Some(rqueue));
            rec.set().snd_queue(Some(wqueue));
        }
    }
    // idiag_timer kinds (inet_diag.c): 1 retransmit (also loss probe and
    // reorder timeouts; SYN-ACK for request sockets), 2 keepalive,
    // 3 TIME_WAIT, 4 zero-window probe. The delayed-ACK timer is not exposed.
    match timer {
        1 => {
            rec.set().timer_rexmt_ms(Some(expires));
        }
        2 => {
            rec.set().timer_keep_ms(Some(expires));
        }
        3 => {
            rec.set().timer_2msl_ms(Some(expires));
        }
        4 => {
            rec.set().timer_persist_ms(Some(expires));
        }
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
            INET_DIAG_INFO if linux_state != LINUX_LISTEN => apply_tcp_info(rec, data),
            INET_DIAG_CONG => {
                let cc = ShortName::from_c_bytes(data);
                if !cc.is_empty() {
                    rec.set().cc(Some(cc));
                }
            }
            INET_DIAG_SKMEMINFO => apply_skmeminfo(rec, data),
            _ => {}
        }
        attrs = attrs.get(align4(alen)..).unwrap_or(&[]);
    }
    rec.derive_buffer_pcts();
    Ok(())
}

/// Byte offsets in `struct inet_diag_msg` (include/uapi/linux/inet_diag.h).
pub mod diag {
    pub const FAMILY: usize = 0;
    pub const STATE: usize = 1;
    pub const TIMER: usize = 2;
    pub const SPORT: usize = 4;
    pub const DPORT: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    /// Two `__u32`s, low word first.
    pub const COOKIE: usize = 44;
    pub const EXPIRES: usize = 52;
    pub const RQUEUE: usize = 56;
    pub const WQUEUE: usize = 60;
    pub const UID: usize = 64;
    pub const INODE: usize = 68;
}

/// Indices into the `INET_DIAG_SKMEMINFO` array (linux/sock_diag.h).
pub mod skmem {
    pub const RMEM_ALLOC: usize = 0;
    pub const RCVBUF: usize = 1;
    pub const SNDBUF: usize = 3;
    pub const WMEM_QUEUED: usize = 5;
}

/// Every layout number this parser relies on, each with the C expression
/// that must evaluate to it against the kernel's UAPI headers. The layout
/// test compiles the expressions; nothing is checked by a number typed
/// into a test. (The wscale bitfield has no `offsetof`; the message built
/// by C in the tests covers it.)
pub const C_LAYOUT: &[(&str, usize)] = &[
    ("offsetof(struct tcp_info, tcpi_rto)", tcpi::RTO),
    ("offsetof(struct tcp_info, tcpi_snd_mss)", tcpi::SND_MSS),
    ("offsetof(struct tcp_info, tcpi_unacked)", tcpi::UNACKED),
    ("offsetof(struct tcp_info, tcpi_lost)", tcpi::LOST),
    ("offsetof(struct tcp_info, tcpi_retrans)", tcpi::RETRANS),
    (
        "offsetof(struct tcp_info, tcpi_last_data_recv)",
        tcpi::LAST_DATA_RECV,
    ),
    ("offsetof(struct tcp_info, tcpi_rtt)", tcpi::RTT),
    ("offsetof(struct tcp_info, tcpi_rttvar)", tcpi::RTTVAR),
    (
        "offsetof(struct tcp_info, tcpi_snd_ssthresh)",
        tcpi::SND_SSTHRESH,
    ),
    ("offsetof(struct tcp_info, tcpi_snd_cwnd)", tcpi::SND_CWND),
    (
        "offsetof(struct tcp_info, tcpi_total_retrans)",
        tcpi::TOTAL_RETRANS,
    ),
    (
        "offsetof(struct tcp_info, tcpi_pacing_rate)",
        tcpi::PACING_RATE,
    ),
    (
        "offsetof(struct tcp_info, tcpi_bytes_acked)",
        tcpi::BYTES_ACKED,
    ),
    (
        "offsetof(struct tcp_info, tcpi_bytes_received)",
        tcpi::BYTES_RECEIVED,
    ),
    ("offsetof(struct tcp_info, tcpi_segs_out)", tcpi::SEGS_OUT),
    ("offsetof(struct tcp_info, tcpi_segs_in)", tcpi::SEGS_IN),
    ("offsetof(struct tcp_info, tcpi_min_rtt)", tcpi::MIN_RTT),
    (
        "offsetof(struct tcp_info, tcpi_delivery_rate)",
        tcpi::DELIVERY_RATE,
    ),
    (
        "offsetof(struct tcp_info, tcpi_bytes_sent)",
        tcpi::BYTES_SENT,
    ),
    (
        "offsetof(struct tcp_info, tcpi_bytes_retrans)",
        tcpi::BYTES_RETRANS,
    ),
    (
        "offsetof(struct tcp_info, tcpi_dsack_dups)",
        tcpi::DSACK_DUPS,
    ),
    (
        "offsetof(struct tcp_info, tcpi_rcv_ooopack)",
        tcpi::RCV_OOOPACK,
    ),
    ("offsetof(struct tcp_info, tcpi_snd_wnd)", tcpi::SND_WND),
    // tcpi_rcv_wnd (Linux 6.7) follows tcpi_snd_wnd; headers older than
    // the running kernel lack it, the libc unit test covers it by name.
    (
        "offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof(__u32)",
        tcpi::RCV_WND,
    ),
    ("offsetof(struct inet_diag_msg, idiag_family)", diag::FAMILY),
    ("offsetof(struct inet_diag_msg, idiag_state)", diag::STATE),
    ("offsetof(struct inet_diag_msg, idiag_timer)", diag::TIMER),
    (
        "offsetof(struct inet_diag_msg, id.idiag_sport)",
        diag::SPORT,
    ),
    (
        "offsetof(struct inet_diag_msg, id.idiag_dport)",
        diag::DPORT,
    ),
    ("offsetof(struct inet_diag_msg, id.idiag_src)", diag::SRC),
    ("offsetof(struct inet_diag_msg, id.idiag_dst)", diag::DST),
    (
        "offsetof(struct inet_diag_msg, id.idiag_cookie)",
        diag::COOKIE,
    ),
    (
        "offsetof(struct inet_diag_msg, idiag_expires)",
        diag::EXPIRES,
    ),
    ("offsetof(struct inet_diag_msg, idiag_rqueue)", diag::RQUEUE),
    ("offsetof(struct inet_diag_msg, idiag_wqueue)", diag::WQUEUE),
    ("offsetof(struct inet_diag_msg, idiag_uid)", diag::UID),
    ("offsetof(struct inet_diag_msg, idiag_inode)", diag::INODE),
    ("sizeof(struct inet_diag_msg)", INET_DIAG_MSG_LEN),
    ("sizeof(struct nlmsghdr)", NLMSG_HDRLEN),
    (
        "sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req_v2)",
        REQUEST_LEN,
    ),
    (
        "sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req)",
        BOTH_FAMILIES_REQUEST_LEN,
    ),
    ("INET_DIAG_INFO", INET_DIAG_INFO as usize),
    ("INET_DIAG_CONG", INET_DIAG_CONG as usize),
    ("INET_DIAG_SKMEMINFO", INET_DIAG_SKMEMINFO as usize),
    ("SK_MEMINFO_RMEM_ALLOC", skmem::RMEM_ALLOC),
    ("SK_MEMINFO_RCVBUF", skmem::RCVBUF),
    ("SK_MEMINFO_SNDBUF", skmem::SNDBUF),
    ("SK_MEMINFO_WMEM_QUEUED", skmem::WMEM_QUEUED),
    ("SOCK_DIAG_BY_FAMILY", SOCK_DIAG_BY_FAMILY as usize),
    ("TCPDIAG_GETSOCK", TCPDIAG_GETSOCK as usize),
];

/// The socket record fields this parser can fill (given a socket in the
/// right state: each timer only while it runs). The kernel-oracle test
/// checks each of them against the kernel; a test here keeps the list
/// equal to what a message with every attribute yields.
pub const FILLED_FIELDS: &[&str] = &[
    "ts",
    "sock_id",
    "local",
    "remote",
    "uid",
    "inode",
    "state",
    "cwnd",
    "ssthresh",
    "mss",
    "rcv_wnd",
    "snd_wnd",
    "snd_wscale",
    "rcv_wscale",
    "cc",
    "rtt_us",
    "rttvar_us",
    "rto_us",
    "rtt_min_us",
    "rexmit",
    "ooo",
    "dsack_pack",
    "bytes_sent",
    "bytes_acked",
    "bytes_received",
    "bytes_retrans",
    "segs_out",
    "segs_in",
    "unacked",
    "lost",
    "retrans_out",
    "delivery_rate",
    "pacing_rate",
    "timer_rexmt_ms",
    "timer_persist_ms",
    "timer_keep_ms",
    "timer_2msl_ms",
    "idle_ms",
    "snd_buf_used",
    "snd_buf_hiwat",
    "rcv_buf_used",
    "rcv_buf_hiwat",
    "snd_buf_pct",
    "rcv_buf_pct",
    "snd_queue",
    "rcv_queue",
    "accept_queue",
    "accept_backlog",
    "proc_key",
];

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
        rec.set().snd_wscale(Some(snd));
        rec.set().rcv_wscale(Some(rcv));
    }
    rec.set().rto_us(u32_at(tcpi::RTO));
    let mss = u32_at(tcpi::SND_MSS);
    rec.set().mss(mss);
    rec.set().unacked(u32_at(tcpi::UNACKED));
    rec.set().lost(u32_at(tcpi::LOST));
    rec.set().retrans_out(u32_at(tcpi::RETRANS));
    rec.set().idle_ms(u32_at(tcpi::LAST_DATA_RECV));
    rec.set().rtt_us(u32_at(tcpi::RTT));
    rec.set().rttvar_us(u32_at(tcpi::RTTVAR));
    if let Some(mss) = mss.filter(|&m| m > 0) {
        let mss = u64::from(mss);
        rec.set()
            .cwnd(u32_at(tcpi::SND_CWND).map(|c| u64::from(c) * mss));
        rec.set().ssthresh(u32_at(tcpi::SND_SSTHRESH).map(|s| {
            if s >= LINUX_INFINITE_SSTHRESH {
                SSTHRESH_INFINITE
            } else {
                u64::from(s) * mss
            }
        }));
    }
    rec.set().rexmit(u32_at(tcpi::TOTAL_RETRANS).map(u64::from));
    // ~0 means "no pacing rate set", not a rate.
    rec.set()
        .pacing_rate(u64_at(tcpi::PACING_RATE).filter(|&r| r != u64::MAX));
    rec.set().bytes_acked(u64_at(tcpi::BYTES_ACKED));
    rec.set().bytes_received(u64_at(tcpi::BYTES_RECEIVED));
    rec.set().segs_out(u32_at(tcpi::SEGS_OUT).map(u64::from));
    rec.set().segs_in(u32_at(tcpi::SEGS_IN).map(u64::from));
    // ~0 means "no RTT sample yet".
    rec.set()
        .rtt_min_us(u32_at(tcpi::MIN_RTT).filter(|&r| r != u32::MAX));
    rec.set().delivery_rate(u64_at(tcpi::DELIVERY_RATE));
    rec.set().bytes_sent(u64_at(tcpi::BYTES_SENT));
    rec.set().bytes_retrans(u64_at(tcpi::BYTES_RETRANS));
    rec.set()
        .dsack_pack(u32_at(tcpi::DSACK_DUPS).map(u64::from));
    rec.set().ooo(u32_at(tcpi::RCV_OOOPACK).map(u64::from));
    rec.set().snd_wnd(u32_at(tcpi::SND_WND).map(u64::from));
    rec.set().rcv_wnd(u32_at(tcpi::RCV_WND).map(u64::from));
}

/// `INET_DIAG_SKMEMINFO`: `u32 [SK_MEMINFO_VARS]` (linux/sock_diag.h).
fn apply_skmeminfo(rec: &mut SocketRecord, d: &[u8]) {
    use skmem::{RCVBUF, RMEM_ALLOC, SNDBUF, WMEM_QUEUED};
    let at = |i: usize| d.get(i * 4..i * 4 + 4).map(|b| u32_ne(b, 0));
    rec.set().rcv_buf_used(at(RMEM_ALLOC));
    rec.set().rcv_buf_hiwat(at(RCVBUF));
    rec.set().snd_buf_hiwat(at(SNDBUF));
    rec.set().snd_buf_used(at(WMEM_QUEUED));
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn arr4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    a
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    const SEQ: u32 = 7;

    /// `struct tcp_info` offsets agree with the `libc` crate's definition
    /// (the C header is checked by `tests/it/linux/tcp_info_layout.rs`).
    #[test]
    fn tcp_info_offsets_match_libc() {
        type T = libc::tcp_info;
        assert_eq!(offset_of!(T, tcpi_snd_rcv_wscale), tcpi::WSCALE);
        assert_eq!(offset_of!(T, tcpi_rto), tcpi::RTO);
        assert_eq!(offset_of!(T, tcpi_snd_mss), tcpi::SND_MSS);
        assert_eq!(offset_of!(T, tcpi_unacked), tcpi::UNACKED);
        assert_eq!(offset_of!(T, tcpi_lost), tcpi::LOST);
        assert_eq!(offset_of!(T, tcpi_retrans), tcpi::RETRANS);
        assert_eq!(offset_of!(T, tcpi_last_data_recv), tcpi::LAST_DATA_RECV);
        assert_eq!(offset_of!(T, tcpi_rtt), tcpi::RTT);
        assert_eq!(offset_of!(T, tcpi_rttvar), tcpi::RTTVAR);
        assert_eq!(offset_of!(T, tcpi_snd_ssthresh), tcpi::SND_SSTHRESH);
        assert_eq!(offset_of!(T, tcpi_snd_cwnd), tcpi::SND_CWND);
        assert_eq!(offset_of!(T, tcpi_total_retrans), tcpi::TOTAL_RETRANS);
        assert_eq!(offset_of!(T, tcpi_pacing_rate), tcpi::PACING_RATE);
        assert_eq!(offset_of!(T, tcpi_bytes_acked), tcpi::BYTES_ACKED);
        assert_eq!(offset_of!(T, tcpi_bytes_received), tcpi::BYTES_RECEIVED);
        assert_eq!(offset_of!(T, tcpi_segs_out), tcpi::SEGS_OUT);
        assert_eq!(offset_of!(T, tcpi_segs_in), tcpi::SEGS_IN);
        assert_eq!(offset_of!(T, tcpi_min_rtt), tcpi::MIN_RTT);
        assert_eq!(offset_of!(T, tcpi_delivery_rate), tcpi::DELIVERY_RATE);
        assert_eq!(offset_of!(T, tcpi_bytes_sent), tcpi::BYTES_SENT);
        assert_eq!(offset_of!(T, tcpi_bytes_retrans), tcpi::BYTES_RETRANS);
        assert_eq!(offset_of!(T, tcpi_dsack_dups), tcpi::DSACK_DUPS);
        assert_eq!(offset_of!(T, tcpi_rcv_ooopack), tcpi::RCV_OOOPACK);
        assert_eq!(offset_of!(T, tcpi_snd_wnd), tcpi::SND_WND);
        assert_eq!(offset_of!(T, tcpi_rcv_wnd), tcpi::RCV_WND);
    }

    fn put_u32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    /// A test double of one kernel message: nlmsghdr + inet_diag_msg +
    /// attributes, laid out as the kernel lays them out.
    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn diag_msg(state: u8, timer: u8, info: Option<&[u8]>) -> Vec<u8> {
        let mut p = vec![0u8; INET_DIAG_MSG_LEN];
        p[0] = libc::AF_INET as u8;
        p[1] = state;
        p[2] = timer;
        p[4..6].copy_from_slice(&8080u16.to_be_bytes());
        p[6..8].copy_from_slice(&443u16.to_be_bytes());
        p[8..12].copy_from_slice(&[10, 0, 0, 1]);
        p[24..28].copy_from_slice(&[10, 0, 0, 2]);
        put_u32(&mut p, 44, 0xdead_beef);
        put_u32(&mut p, 48, 0x1);
        put_u32(&mut p, 52, 1234); // expires
        put_u32(&mut p, 56, 11); // rqueue
        put_u32(&mut p, 60, 22); // wqueue
        put_u32(&mut p, 64, 1000); // uid
        put_u32(&mut p, 68, 555); // inode
        if let Some(info) = info {
            p.extend(attr(INET_DIAG_INFO, info));
        }
        p.extend(attr(INET_DIAG_CONG, b"cubic\0"));
        let mem: Vec<u8> = [100u32, 200, 0, 400, 0, 50, 0, 0, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        p.extend(attr(INET_DIAG_SKMEMINFO, &mem));
        p
    }

    fn tcp_info(len: usize, cwnd: u32, ssthresh: u32, mss: u32) -> Vec<u8> {
        let mut t = vec![0u8; len.max(256)];
        t[tcpi::WSCALE] = 0x7 | (0x9 << 4);
        put_u32(&mut t, tcpi::SND_MSS, mss);
        put_u32(&mut t, tcpi::SND_CWND, cwnd);
        put_u32(&mut t, tcpi::SND_SSTHRESH, ssthresh);
        put_u32(&mut t, tcpi::RTT, 321);
        put_u32(&mut t, tcpi::MIN_RTT, u32::MAX);
        put_u32(&mut t, tcpi::TOTAL_RETRANS, 3);
        put_u32(&mut t, tcpi::RCV_OOOPACK, 4);
        put_u32(&mut t, tcpi::SND_WND, 65535);
        put_u32(&mut t, tcpi::RCV_WND, 131072);
        t.truncate(len);
        t
    }

    fn parse(buf: &[u8]) -> (Result<Progress, SourceError>, Vec<SocketRecord>, ScanStats) {
        let mut out = Vec::new();
        let mut stats = ScanStats::default();
        let r = parse_datagram(buf, SEQ, 42, &mut out, &mut stats);
        (r, out, stats)
    }

    #[test]
    fn request_layout() {
        let r = dump_request(libc::AF_INET6 as u8, 9);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 9);
        assert_eq!(r[16], libc::AF_INET6 as u8);
        assert_eq!(r[17], 6);
        assert_eq!(r[18], 0b0100_1010, "INFO, CONG, SKMEMINFO");
        assert_eq!(&r[20..24], &[0xff; 4]);
    }

    #[test]
    fn both_families_request_layout() {
        let r = both_families_request(9);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 18);
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 9);
        assert_eq!(r[16], libc::AF_INET as u8);
        assert_eq!(r[19], 0b0100_1010, "INFO, CONG, SKMEMINFO");
        assert_eq!(&r[20..68], &[0; 48], "no socket filter");
        assert_eq!(&r[68..72], &[0xff; 4], "every state");
        assert_eq!(&r[72..76], &[0; 4]);
    }

    /// One socket message with every attribute, of reply type `kind`, and
    /// the dump's end, parsed.
    fn parse_full_message(
        kind: u16,
    ) -> (Result<Progress, SourceError>, Vec<SocketRecord>, ScanStats) {
        let info = tcp_info(248, 10, 20, 1448);
        let mut buf = message(kind, SEQ, &diag_msg(1, 1, Some(&info)));
        buf.extend(message(NLMSG_DONE, SEQ, &0i32.to_ne_bytes()));
        parse(&buf)
    }

    /// Replies to the both-families request carry its type; they parse as
    /// the same socket, not as unexpected messages.
    #[test]
    fn both_families_replies_parse_as_per_family_ones() {
        let (r, out, stats) = parse_full_message(TCPDIAG_GETSOCK);
        assert_eq!(r.unwrap(), Progress::Done);
        assert_eq!(stats, ScanStats::default());
        assert_eq!(out.len(), 1);
        let (_, want, _) = parse_full_message(SOCK_DIAG_BY_FAMILY);
        assert_eq!(format!("{out:?}"), format!("{want:?}"));
    }

    #[test]
    fn full_message_maps_every_field() {
        let (r, out, stats) = parse_full_message(SOCK_DIAG_BY_FAMILY);
        assert_eq!(r.unwrap(), Progress::Done);
        assert_eq!(stats, ScanStats::default());
        let s = &out[0];
        assert_eq!(s.local.to_string(), "10.0.0.1:8080");
        assert_eq!(s.remote.to_string(), "10.0.0.2:443");
        assert_eq!(s.state, TcpState::Established);
        assert_eq!(s.sock_id(), Some(0x1_dead_beef));
        assert_eq!(
            (s.uid(), s.inode(), s.proc_key()),
            (Some(1000), Some(555), Some(555))
        );
        assert_eq!((s.rcv_queue(), s.snd_queue()), (Some(11), Some(22)));
        assert_eq!(s.timer_rexmt_ms(), Some(1234));
        assert_eq!(s.mss(), Some(1448));
        assert_eq!(s.cwnd(), Some(14480));
        assert_eq!(s.ssthresh(), Some(28960));
        assert_eq!((s.snd_wscale(), s.rcv_wscale()), (Some(7), Some(9)));
        assert_eq!(s.rtt_us(), Some(321));
        assert_eq!(s.rtt_min_us(), None, "~0 = no sample");
        assert_eq!(s.rexmit(), Some(3));
        assert_eq!(s.ooo(), Some(4));
        assert_eq!(s.snd_wnd(), Some(65535));
        assert_eq!(s.rcv_wnd(), Some(131072));
        assert_eq!(s.cc().unwrap().as_str(), "cubic");
        assert_eq!(
            (s.rcv_buf_used(), s.rcv_buf_hiwat()),
            (Some(100), Some(200))
        );
        assert_eq!((s.snd_buf_used(), s.snd_buf_hiwat()), (Some(50), Some(400)));
        assert_eq!(s.rcv_buf_pct(), Some(50.0));
        assert_eq!(s.snd_buf_pct(), Some(12.5));
    }

    /// `FILLED_FIELDS` is what messages with every attribute yield (one
    /// per timer kind, since a socket runs one timer at a time): a field
    /// the parser starts filling must be listed, and so gets an oracle.
    #[test]
    fn filled_fields_lists_what_a_full_message_yields() {
        let mut seen = std::collections::BTreeSet::new();
        for timer in 1..=4 {
            let mut info = tcp_info(256, 10, 20, 1448);
            put_u32(&mut info, tcpi::MIN_RTT, 5);
            let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, timer, Some(&info)));
            let (_, out, _) = parse(&buf);
            let json = serde_json::to_value(&out[0]).unwrap();
            seen.extend(json.as_object().unwrap().keys().cloned());
            if out[0].proc_key().is_some() {
                seen.insert("proc_key".to_string());
            }
        }
        // A listener (Linux state 10) reports its accept queue instead.
        let info = tcp_info(256, 10, 20, 1448);
        let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(10, 0, Some(&info)));
        let json = serde_json::to_value(&parse(&buf).1[0]).unwrap();
        seen.extend(json.as_object().unwrap().keys().cloned());
        let listed: std::collections::BTreeSet<String> =
            FILLED_FIELDS.iter().map(|f| f.to_string()).collect();
        assert_eq!(listed.len(), FILLED_FIELDS.len(), "listed twice");
        assert_eq!(seen, listed);
    }

    /// Without an MSS the segment counts cannot become bytes: the
    /// windows are absent, not 0.
    #[test]
    fn zero_mss_leaves_the_byte_windows_absent() {
        let info = tcp_info(248, 10, 20, 0);
        let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));
        let s = &parse(&buf).1[0];
        assert_eq!((s.mss(), s.cwnd(), s.ssthresh()), (Some(0), None, None));
    }

    #[test]
    fn infinite_ssthresh_is_not_multiplied() {
        for raw in [0x7fff_ffff, u32::MAX] {
            let info = tcp_info(232, 10, raw, 65483);
            let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));
            let (_, out, _) = parse(&buf);
            assert_eq!(out[0].ssthresh(), Some(SSTHRESH_INFINITE));
            assert_eq!(out[0].cwnd(), Some(654830));
        }
    }

    #[test]
    fn short_tcp_info_leaves_newer_fields_absent() {
        // A 4.x kernel's tcp_info ends after tcpi_delivery_rate (168 bytes).
        let info = tcp_info(168, 10, 20, 1000);
        let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));
        let (_, out, stats) = parse(&buf);
        assert_eq!(stats.skipped, 0);
        let s = &out[0];
        assert_eq!(s.cwnd(), Some(10_000));
        assert_eq!(s.delivery_rate(), Some(0));
        assert_eq!(
            (s.bytes_sent(), s.ooo(), s.snd_wnd(), s.rcv_wnd()),
            (None, None, None, None)
        );
        // A tcp_info cut inside a field: that field is absent too.
        let info = tcp_info(tcpi::SND_CWND + 2, 10, 20, 1000);
        let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));
        let (_, out, _) = parse(&buf);
        assert_eq!(out[0].mss(), Some(1000));
        assert_eq!(out[0].cwnd(), None);
        // Longer than we know (a future kernel): the known prefix is used.
        let info = tcp_info(400, 10, 20, 1000);
        let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));
        assert_eq!(parse(&buf).1[0].rcv_wnd(), Some(131072));
    }

    #[test]
    fn mini_sockets_have_no_placeholder_uid_inode_or_queues() {
        for state in [LINUX_TIME_WAIT, LINUX_NEW_SYN_RECV] {
            let buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(state, 3, None));
            let (_, out, _) = parse(&buf);
            let s = &out[0];
            assert_eq!(
                (s.uid(), s.inode(), s.proc_key(), s.rcv_queue()),
                (None, None, None, None)
            );
        }
        let buf = message(
            SOCK_DIAG_BY_FAMILY,
            SEQ,
            &diag_msg(LINUX_TIME_WAIT, 3, None),
        );
        assert_eq!(parse(&buf).1[0].timer_2msl_ms(), Some(1234));
        // A listener's tcp_info is mostly placeholders and its queues
        // count connections: the queues are its accept queue and backlog.
        let info = tcp_info(248, 10, 20, 0);
        let buf = message(
            SOCK_DIAG_BY_FAMILY,
            SEQ,
            &diag_msg(LINUX_LISTEN, 0, Some(&info)),
        );
        let s = &parse(&buf).1[0];
        assert_eq!(s.state, TcpState::Listen);
        assert_eq!((s.cwnd(), s.mss(), s.rcv_queue()), (None, None, None));
        assert_eq!((s.accept_queue(), s.accept_backlog()), (Some(11), Some(22)));
        assert_eq!(s.uid(), Some(1000));
    }

    #[test]
    fn kernel_errors_are_typed() {
        let buf = message(NLMSG_ERROR, SEQ, &(-libc::EPERM).to_ne_bytes());
        match parse(&buf).0 {
            Err(SourceError::Io { cause: source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EPERM))
            }
            other => panic!("{other:?}"),
        }
        let buf = message(NLMSG_DONE, SEQ, &(-libc::EINTR).to_ne_bytes());
        assert!(matches!(parse(&buf).0, Err(SourceError::Io { .. })));
        let buf = message(NLMSG_OVERRUN, SEQ, &[]);
        assert!(matches!(parse(&buf).0, Err(SourceError::Malformed { .. })));
    }

    #[test]
    fn corrupt_messages_are_skipped_and_counted() {
        let info = tcp_info(232, 10, 20, 1000);
        let good = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, Some(&info)));

        // Unknown state and family: skipped, the next message still parsed.
        let mut bad_state = diag_msg(99, 0, None);
        bad_state[1] = 99;
        let mut bad_family = diag_msg(1, 0, None);
        bad_family[0] = 77;
        let mut buf = message(SOCK_DIAG_BY_FAMILY, SEQ, &bad_state);
        buf.extend(message(SOCK_DIAG_BY_FAMILY, SEQ, &bad_family));
        buf.extend(message(
            SOCK_DIAG_BY_FAMILY,
            SEQ,
            &diag_msg(1, 0, None)[..40],
        ));
        buf.extend(&good);
        let (r, out, stats) = parse(&buf);
        assert_eq!(r.unwrap(), Progress::More);
        assert_eq!(out.len(), 1);
        assert_eq!(stats.skipped, 3);

        // An attribute claiming more bytes than the message holds.
        let mut p = diag_msg(1, 0, None);
        p[INET_DIAG_MSG_LEN..INET_DIAG_MSG_LEN + 2].copy_from_slice(&5000u16.to_ne_bytes());
        let (_, out, stats) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, &p));
        assert_eq!((out.len(), stats.skipped), (0, 1));

        // nlmsg_len past the end of the datagram: the rest is dropped.
        let mut buf = good.clone();
        buf[0..4].copy_from_slice(&100_000u32.to_ne_bytes());
        let (r, out, stats) = parse(&buf);
        assert_eq!(
            (r.unwrap(), out.len(), stats.skipped),
            (Progress::More, 0, 1)
        );

        // Messages of another (abandoned) dump are ignored.
        let stale = message(SOCK_DIAG_BY_FAMILY, SEQ + 1, &diag_msg(1, 0, None));
        let (_, out, stats) = parse(&stale);
        assert_eq!((out.len(), stats.skipped), (0, 0));

        // NLM_F_DUMP_INTR marks the scan inconsistent.
        let mut buf = good.clone();
        buf[6..8].copy_from_slice(&(0x2u16 | NLM_F_DUMP_INTR).to_ne_bytes());
        assert!(parse(&buf).2.inconsistent);
    }

    /// An attribute's type may carry the NLA_F_NESTED or
    /// NLA_F_NET_BYTEORDER flag bits; they are not part of the type.
    #[test]
    fn attribute_flag_bits_do_not_change_its_type() {
        let mut p = diag_msg(1, 0, None);
        p.truncate(INET_DIAG_MSG_LEN);
        p.extend(attr(INET_DIAG_CONG | 0x8000, b"bbr\0"));
        let mem: Vec<u8> = [7u32, 8].iter().flat_map(|v| v.to_ne_bytes()).collect();
        p.extend(attr(INET_DIAG_SKMEMINFO | 0x4000, &mem));
        let (_, out, stats) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, &p));
        assert_eq!(stats.skipped, 0);
        assert_eq!(
            out[0].cc().map(|c| c.as_str().to_string()).as_deref(),
            Some("bbr")
        );
        assert_eq!(
            (out[0].rcv_buf_used(), out[0].rcv_buf_hiwat()),
            (Some(7), Some(8))
        );
    }

    /// Messages are padded to 4 bytes; the next one starts after the
    /// padding, not at `nlmsg_len`. NOOP and a zero ACK are neither
    /// sockets nor errors, and a DONE without its int ends the dump.
    #[test]
    fn framing_skips_padding_noop_and_acks() {
        let mut buf = message(NLMSG_NOOP, SEQ, &[9]);
        assert_eq!(buf.len(), NLMSG_HDRLEN + 4, "1 byte padded to 4");
        buf.extend(message(NLMSG_ERROR, SEQ, &0i32.to_ne_bytes()));
        buf.extend(message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, None)));
        buf.extend(message(NLMSG_DONE, SEQ, &[]));
        let (r, out, stats) = parse(&buf);
        assert_eq!(r.unwrap(), Progress::Done);
        assert_eq!((out.len(), stats), (1, ScanStats::default()));
        assert_eq!(out[0].local.to_string(), "10.0.0.1:8080");
    }

    /// Broken framing after a good message: the good one is kept, the
    /// rest of the datagram is counted once and dropped, never read past
    /// its end.
    #[test]
    fn broken_framing_after_a_good_message_is_counted_once() {
        let good = message(SOCK_DIAG_BY_FAMILY, SEQ, &diag_msg(1, 0, None));
        // 1. Fewer bytes left than a header.
        // 2. A header claiming less than itself.
        // 3. A header claiming more than is left (but less than the whole
        //    datagram).
        let mut short_len = message(NLMSG_NOOP, SEQ, &[0; 8]);
        short_len[0..4].copy_from_slice(&8u32.to_ne_bytes());
        let mut long_len = message(NLMSG_NOOP, SEQ, &[0; 8]);
        long_len[0..4].copy_from_slice(&((good.len() + 4) as u32).to_ne_bytes());
        for tail in [vec![0u8; 8], short_len, long_len] {
            let mut buf = good.clone();
            buf.extend(&tail);
            let (r, out, stats) = parse(&buf);
            assert_eq!(r.unwrap(), Progress::More);
            assert_eq!((out.len(), stats.skipped), (1, 1), "tail {tail:?}");
        }
        // A message of another type is skipped and counted, and the next
        // one still read.
        let mut buf = message(99, SEQ, &[0; 4]);
        buf.extend(&good);
        let (_, out, stats) = parse(&buf);
        assert_eq!((out.len(), stats.skipped), (1, 1));
    }

    /// The errno of a failed dump is the kernel's, with its sign turned;
    /// an error message too short to hold one is a protocol error.
    #[test]
    fn kernel_errors_carry_the_errno() {
        let errno = |buf: &[u8]| match parse(buf).0 {
            Err(SourceError::Io { cause, .. }) => cause.raw_os_error(),
            other => panic!("{other:?}"),
        };
        let buf = message(NLMSG_DONE, SEQ, &(-libc::EINTR).to_ne_bytes());
        assert_eq!(errno(&buf), Some(libc::EINTR));
        let buf = message(NLMSG_ERROR, SEQ, &[0; 2]);
        assert_eq!(errno(&buf), Some(libc::EPROTO));
    }

    /// An `inet_diag_msg` of exactly its size, with no attributes, is a
    /// socket; IPv6 addresses are read whole.
    #[test]
    fn bare_message_and_ipv6_addresses() {
        let bare = &diag_msg(1, 0, None)[..INET_DIAG_MSG_LEN];
        let (_, out, stats) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, bare));
        assert_eq!((out.len(), stats.skipped), (1, 0));
        assert_eq!((out[0].cc(), out[0].rcv_buf_used()), (None, None));

        let mut p = diag_msg(1, 0, None);
        p[diag::FAMILY] = libc::AF_INET6 as u8;
        let src: Ipv6Addr = "2001:db8::1:2:3:4".parse().unwrap();
        let dst: Ipv6Addr = "fe80::aa:bb:cc:dd".parse().unwrap();
        p[diag::SRC..diag::SRC + 16].copy_from_slice(&src.octets());
        p[diag::DST..diag::DST + 16].copy_from_slice(&dst.octets());
        let (_, out, _) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, &p));
        assert_eq!(out[0].local, SocketAddr::new(src.into(), 8080));
        assert_eq!(out[0].remote, SocketAddr::new(dst.into(), 443));
    }

    /// The attribute walk: an empty attribute (4 bytes, no data) is
    /// valid, also as the last one; an attribute length below its own
    /// header, or 1-3 bytes left over, make the message malformed.
    #[test]
    fn attribute_walk_bounds() {
        let mut p = diag_msg(1, 0, None);
        p.extend(attr(99, &[]));
        let (_, out, stats) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, &p));
        assert_eq!((out.len(), stats.skipped), (1, 0));
        assert_eq!(out[0].cc().unwrap().as_str(), "cubic");

        let mut tiny = diag_msg(1, 0, None);
        tiny.extend(3u16.to_ne_bytes());
        tiny.extend(99u16.to_ne_bytes());
        let mut ragged = diag_msg(1, 0, None);
        ragged.extend([4u8, 0]);
        for p in [tiny, ragged] {
            let (r, out, stats) = parse(&message(SOCK_DIAG_BY_FAMILY, SEQ, &p));
            assert_eq!(r.unwrap(), Progress::More);
            assert_eq!((out.len(), stats.skipped), (0, 1));
        }
    }

    /// A real datagram from this kernel, for mutation below.
    fn real_dump() -> Vec<u8> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut sock = super::super::netlink::DiagSocket::open().unwrap();
        sock.send(&dump_request(libc::AF_INET as u8, SEQ)).unwrap();
        let mut all = Vec::new();
        loop {
            let d = sock.recv().unwrap().to_vec();
            let done = parse(&d).0.unwrap() == Progress::Done;
            all.extend(d);
            if done {
                return all;
            }
        }
    }

    /// The first 8 KiB of one real dump, taken once per test run (the host
    /// may hold tens of thousands of sockets; dumping per case would be slow).
    fn first_bytes_of_real_dump() -> &'static [u8] {
        static DUMP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        DUMP.get_or_init(|| {
            let mut d = real_dump();
            d.truncate(8192);
            d
        })
    }

    #[test]
    fn real_kernel_dump_parses_cleanly() {
        let buf = real_dump();
        let mut out = Vec::new();
        let mut stats = ScanStats::default();
        // Datagrams were concatenated; messages are self-delimiting.
        let r = parse_datagram(&buf, SEQ, 1, &mut out, &mut stats).unwrap();
        assert_eq!(r, Progress::Done);
        assert_eq!(stats.skipped, 0);
        assert!(out.len() >= 3, "listener + both ends: {}", out.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Arbitrary bytes: never a panic; every outcome is a value.
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = parse(&buf);
        }

        /// A real dump truncated anywhere and with bytes overwritten: never a
        /// panic, never more records than the intact dump had.
        #[test]
        fn mutated_real_dump_never_panics(
            cut in 0usize..8192,
            edits in proptest::collection::vec((0usize..8192, proptest::num::u8::ANY), 0..16),
        ) {
            let intact = first_bytes_of_real_dump();
            let n_intact = parse(intact).1.len();
            let mut buf = intact.to_vec();
            for (at, v) in edits {
                if let Some(b) = buf.get_mut(at % intact.len().max(1)) {
                    *b = v;
                }
            }
            buf.truncate(cut % (intact.len() + 1));
            let (_, out, _) = parse(&buf);
            proptest::prop_assert!(out.len() <= n_intact);
        }
    }
}
