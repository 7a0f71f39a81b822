//! `net.inet.tcp.pcblist`: an `xinpgen` header, one `xtcpcb` per TCP socket
//! the reader may see, and an `xinpgen` trailer whose generation tells
//! whether the table changed while the kernel copied it out.
//!
//! Records are told apart from the trailer by their own length field (as
//! netstat does), and each record is strided by that length. A length this
//! build does not know means a different kernel ABI: the whole dump is
//! refused with both lengths named, rather than read at wrong offsets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tracing::warn;

use super::bytes::{bytes_at, i32_le, len_at, u8_at, u16_be, u16_le, u32_le, u64_le};
use super::layout::*;
use super::scope::kernel_v6;
use crate::platform::SourceError;
use crate::record::{SSTHRESH_INFINITE, ShortName, SocketRecord, TcpState};

/// The sysctl name, used in messages about live reads.
pub const SYSCTL: &str = "net.inet.tcp.pcblist";

// Every member read below lies inside the record and has the width its
// reader expects; a layout change that breaks this fails the build.
const _: () = {
    let u32s = [
        XT_SO_UID,
        XT_SO_RCV_CC,
        XT_SO_RCV_HIWAT,
        XT_SO_SND_CC,
        XT_SO_SND_HIWAT,
        XT_FADDR4,
        XT_LADDR4,
        XT_ZONEID6,
        XT_T_STATE,
        XT_T_SNDZEROWIN,
        XT_T_SNDREXMITPACK,
        XT_T_RCVOOPACK,
        XT_T_RCVTIME,
        XT_TT_REXMT,
        XT_TT_PERSIST,
        XT_TT_KEEP,
        XT_TT_2MSL,
        XT_TT_DELACK,
        XT_T_SND_CWND,
        XT_T_SND_SSTHRESH,
        XT_T_MAXSEG,
        XT_T_RCV_WND,
        XT_T_SND_WND,
        XT_T_DSACK_BYTES,
        XT_T_DSACK_PACK,
    ];
    let mut i = 0;
    while i < u32s.len() {
        assert!(u32s[i].size == 4 && u32s[i].end() <= XTCPCB_SIZE);
        i += 1;
    }
    let u64s = [XT_LEN, XT_XI_LEN, XT_XSO_LEN, XT_XSO_SO, XT_INP_GENCNT];
    let mut i = 0;
    while i < u64s.len() {
        assert!(u64s[i].size == 8 && u64s[i].end() <= XTCPCB_SIZE);
        i += 1;
    }
    assert!(XT_FPORT.size == 2 && XT_LPORT.size == 2 && XT_INP_VFLAG.size == 1);
    assert!(XT_SO_OPTIONS.size == 2 && XT_SO_OPTIONS.end() <= XTCPCB_SIZE);
    assert!(XT_FADDR6.size == 16 && XT_LADDR6.end() <= XTCPCB_SIZE);
    assert!(XT_STACK.end() <= XTCPCB_SIZE && XT_CC.end() <= XTCPCB_SIZE);
    assert!(XIG_LEN.size == 8 && XIG_COUNT.size == 4 && XIG_GEN.size == 8);
    assert!(XIG_GEN.end() <= XINPGEN_SIZE && XIG_SOGEN.end() <= XINPGEN_SIZE);
};

/// What a dump said about itself besides its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcbListSummary {
    /// `xig_count` of the header: sockets the kernel had when it started,
    /// including ones this reader may not see (jails), so usually ≥ records.
    pub header_count: u32,
    pub header_gen: u64,
    pub trailer_gen: u64,
    /// Records appended to the output.
    pub records: usize,
    /// Records skipped as malformed (unknown state or address family).
    pub skipped: u64,
}

impl PcbListSummary {
    /// False when the table changed while it was copied out: header and
    /// trailer generations differ, or more records came than the header
    /// announced.
    pub fn consistent(&self) -> bool {
        self.header_gen == self.trailer_gen && self.records <= self.header_count as usize
    }
}

/// Parse a whole dump, appending one record per socket to `out`, stamped
/// with `ts`. `what` names the input in errors (the sysctl, or a file).
/// On error `out` is left as it was.
pub fn parse(
    buf: &[u8],
    what: &str,
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<PcbListSummary, SourceError> {
    let start_len = out.len();
    let r = parse_into(buf, what, ts, out);
    if r.is_err() {
        out.truncate(start_len);
    }
    r
}

fn parse_into(
    buf: &[u8],
    what: &str,
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<PcbListSummary, SourceError> {
    let bad = |offset: usize, reason: String| SourceError::malformed(what, offset, reason);
    let header = xinpgen_at(buf, 0).map_err(|r| bad(0, format!("header: {r}")))?;
    out.reserve(buf.len() / XTCPCB_SIZE);
    let mut summary = PcbListSummary {
        header_count: u32_le(header, XIG_COUNT),
        header_gen: u64_le(header, XIG_GEN),
        trailer_gen: 0,
        records: 0,
        skipped: 0,
    };
    let mut off = XINPGEN_SIZE;
    loop {
        let Some(len) = len_at(buf, off) else {
            return Err(bad(
                off,
                format!(
                    "truncated: {} bytes left where an xtcpcb ({XTCPCB_SIZE} bytes) or the \
                     xinpgen trailer ({XINPGEN_SIZE} bytes) should start; capture the whole \
                     sysctl output",
                    buf.len().saturating_sub(off)
                ),
            ));
        };
        if len == XINPGEN_SIZE as u64 {
            let trailer = xinpgen_at(buf, off).map_err(|r| bad(off, format!("trailer: {r}")))?;
            summary.trailer_gen = u64_le(trailer, XIG_GEN);
            off += XINPGEN_SIZE;
            break;
        }
        if len != XTCPCB_SIZE as u64 {
            return Err(bad(
                off,
                format!(
                    "record length xt_len = {len}, but this build knows only xtcpcb = \
                     {XTCPCB_SIZE} bytes (and the xinpgen trailer = {XINPGEN_SIZE}); the dump \
                     comes from a FreeBSD whose ABI this build does not support, or is corrupt"
                ),
            ));
        }
        let Some(rec) = buf.get(off..).and_then(|b| b.first_chunk::<XTCPCB_SIZE>()) else {
            return Err(bad(
                off,
                format!(
                    "truncated xtcpcb: {XTCPCB_SIZE} bytes announced, {} left",
                    buf.len() - off
                ),
            ));
        };
        match decode(rec, ts) {
            Ok(r) => {
                out.push(r);
                summary.records += 1;
            }
            Err(Decode::Skip(reason)) => {
                warn!("{what}: skipping the xtcpcb at byte {off}: {reason}");
                summary.skipped += 1;
            }
            Err(Decode::Fatal(at, reason)) => return Err(bad(off + at, reason)),
        }
        off += XTCPCB_SIZE;
    }
    if off != buf.len() {
        return Err(bad(
            off,
            format!(
                "{} unexpected bytes after the xinpgen trailer; a pcblist dump ends at its \
                 trailer",
                buf.len() - off
            ),
        ));
    }
    Ok(summary)
}

fn xinpgen_at(buf: &[u8], off: usize) -> Result<&[u8; XINPGEN_SIZE], String> {
    let Some(g) = buf.get(off..).and_then(|b| b.first_chunk::<XINPGEN_SIZE>()) else {
        return Err(format!(
            "truncated: {} bytes, an xinpgen needs {XINPGEN_SIZE}",
            buf.len().saturating_sub(off)
        ));
    };
    let len = u64_le(g, XIG_LEN);
    if len != XINPGEN_SIZE as u64 {
        return Err(format!(
            "xig_len = {len}, but this build knows only xinpgen = {XINPGEN_SIZE} bytes; \
             is this a net.inet.tcp.pcblist dump from a supported FreeBSD?"
        ));
    }
    Ok(g)
}

enum Decode {
    /// A record that cannot be represented; counted and skipped.
    Skip(String),
    /// A record whose inner layout contradicts this build (offset within it).
    Fatal(usize, String),
}

/// One `xtcpcb` into a record. Kernel socket addresses only become the
/// `proc_key` join key, which is never serialized.
#[inline]
fn decode(rec: &[u8; XTCPCB_SIZE], ts: u64) -> Result<SocketRecord, Decode> {
    let xi_len = u64_le(rec, XT_XI_LEN);
    if xi_len == 0 && i32_le(rec, XT_T_STATE) as u64 == TCPS_SYN_RECEIVED {
        return syncache_entry(rec, ts);
    }
    if xi_len != XINPCB_SIZE as u64 {
        return Err(Decode::Fatal(
            XT_XI_LEN.offset,
            format!("xi_len = {xi_len}, but this build knows only xinpcb = {XINPCB_SIZE} bytes"),
        ));
    }
    // The kernel zeroes the xsocket of a pcb that has lost its socket
    // (TIME_WAIT): no buffers, owner or join key then.
    let xso_len = u64_le(rec, XT_XSO_LEN);
    let has_socket = match xso_len {
        0 => false,
        l if l == XSOCKET_SIZE as u64 => true,
        l => {
            return Err(Decode::Fatal(
                XT_XSO_LEN.offset,
                format!("xso_len = {l}, but this build knows only xsocket = {XSOCKET_SIZE} bytes"),
            ));
        }
    };
    let raw_state = i32_le(rec, XT_T_STATE);
    let Some(state) = u32::try_from(raw_state)
        .ok()
        .and_then(TcpState::from_freebsd)
    else {
        return Err(Decode::Skip(format!(
            "t_state = {raw_state} is not a TCPS_* state"
        )));
    };
    let (local, remote) = addresses(rec)?;

    let mut r = SocketRecord::new(ts, local, remote, state);
    r.set().sock_id(Some(u64_le(rec, XT_INP_GENCNT)));
    r.set().cwnd(Some(u32_le(rec, XT_T_SND_CWND) as u64));
    let ssthresh = u32_le(rec, XT_T_SND_SSTHRESH) as u64;
    // FreeBSD starts ssthresh at its largest window; that means "none yet".
    r.set().ssthresh(Some(if ssthresh >= SSTHRESH_INITIAL {
        SSTHRESH_INFINITE
    } else {
        ssthresh
    }));
    r.set().mss(Some(u32_le(rec, XT_T_MAXSEG)));
    r.set().rcv_wnd(Some(u32_le(rec, XT_T_RCV_WND) as u64));
    r.set().snd_wnd(Some(u32_le(rec, XT_T_SND_WND) as u64));
    r.set().cc(name(bytes_at(rec, XT_CC)));
    r.set().stack(name(bytes_at(rec, XT_STACK)));
    // int32 counters in the kernel; reading the bits unsigned keeps a
    // counter that passed 2^31 increasing.
    r.set().rexmit(Some(u32_le(rec, XT_T_SNDREXMITPACK) as u64));
    r.set().ooo(Some(u32_le(rec, XT_T_RCVOOPACK) as u64));
    r.set().zerowin(Some(u32_le(rec, XT_T_SNDZEROWIN) as u64));
    r.set()
        .dsack_bytes(Some(u32_le(rec, XT_T_DSACK_BYTES) as u64));
    r.set()
        .dsack_pack(Some(u32_le(rec, XT_T_DSACK_PACK) as u64));
    r.set().timer_rexmt_ms(timer(i32_le(rec, XT_TT_REXMT)));
    r.set().timer_persist_ms(timer(i32_le(rec, XT_TT_PERSIST)));
    r.set().timer_keep_ms(timer(i32_le(rec, XT_TT_KEEP)));
    r.set().timer_2msl_ms(timer(i32_le(rec, XT_TT_2MSL)));
    r.set().timer_delack_ms(timer(i32_le(rec, XT_TT_DELACK)));
    // t_rcvtime is exported as milliseconds since the last segment arrived.
    r.set()
        .idle_ms(Some(i32_le(rec, XT_T_RCVTIME).max(0) as u32));
    if has_socket {
        r.set().uid(Some(u32_le(rec, XT_SO_UID)));
        // The kernel copies no buffers out for a listening socket (its
        // buffer space holds the accept queues): they read 0, not a value.
        let listening = u16_le(rec, XT_SO_OPTIONS) as u64 & SO_ACCEPTCONN != 0;
        if listening {
            // What it copies instead: the accept queue and its limit.
            r.set().accept_queue(Some(u32_le(rec, XT_SO_QLEN)));
            r.set().accept_backlog(Some(u32_le(rec, XT_SO_QLIMIT)));
        } else {
            r.set().snd_buf_used(Some(u32_le(rec, XT_SO_SND_CC)));
            r.set().snd_buf_hiwat(Some(u32_le(rec, XT_SO_SND_HIWAT)));
            r.set().rcv_buf_used(Some(u32_le(rec, XT_SO_RCV_CC)));
            r.set().rcv_buf_hiwat(Some(u32_le(rec, XT_SO_RCV_HIWAT)));
            r.derive_buffer_pcts();
        }
        let so = u64_le(rec, XT_XSO_SO);
        r.set().proc_key((so != 0).then_some(so));
    }
    Ok(r)
}

/// A syncache entry: a connection still in its handshake, with no pcb or
/// socket yet. The kernel zeroes the record and fills in only the
/// addresses, the state and constant socket type fields; `xi_len` stays 0,
/// which a real pcb never has. Every other field would be a fake zero, so
/// the record has the addresses and state only. It has no `sock_id`
/// either (`inp_gencnt` is 0 for every entry): the delta store keys it by
/// its 4-tuple, which the syncache holds once at most.
fn syncache_entry(rec: &[u8; XTCPCB_SIZE], ts: u64) -> Result<SocketRecord, Decode> {
    let (local, remote) = addresses(rec)?;
    Ok(SocketRecord::new(ts, local, remote, TcpState::SynReceived))
}

/// `tt_*` are milliseconds until expiry, 0 when the timer is not running
/// (`tcp_inptoxtp`); an overdue timer that has not fired yet reads as 0 ms.
#[inline]
fn timer(ms: i32) -> Option<u32> {
    match ms {
        0 => None,
        m => Some(m.max(0) as u32),
    }
}

#[inline]
fn name(raw: &[u8]) -> Option<ShortName> {
    let n = ShortName::from_c_bytes(raw);
    (!n.is_empty()).then_some(n)
}

/// `inp_vflag` says which view of the address union is live. A dual-stack
/// listener has both bits and all-zero addresses; it is shown as IPv6 (`[::]`).
#[inline]
fn addresses(rec: &[u8; XTCPCB_SIZE]) -> Result<(SocketAddr, SocketAddr), Decode> {
    let vflag = u8_at(rec, XT_INP_VFLAG) as u64;
    let lport = u16_be(rec, XT_LPORT);
    let fport = u16_be(rec, XT_FPORT);
    if vflag & INP_IPV6 != 0 {
        let zone = u32_le(rec, XT_ZONEID6);
        let v6 = |f, port| {
            let b: [u8; 16] = bytes_at(rec, f).try_into().unwrap_or([0; 16]);
            SocketAddr::V6(kernel_v6(b, zone, port))
        };
        Ok((v6(XT_LADDR6, lport), v6(XT_FADDR6, fport)))
    } else if vflag & INP_IPV4 != 0 {
        let v4 = |f| {
            let b: [u8; 4] = bytes_at(rec, f).try_into().unwrap_or([0; 4]);
            IpAddr::V4(Ipv4Addr::from(b))
        };
        Ok((
            SocketAddr::new(v4(XT_LADDR4), lport),
            SocketAddr::new(v4(XT_FADDR4), fport),
        ))
    } else {
        Err(Decode::Skip(format!(
            "inp_vflag = {vflag:#x} has neither INP_IPV4 nor INP_IPV6"
        )))
    }
}
