//! `net.inet.tcp.pcblist_n`, what macOS's own `netstat` reads: an `xinpgen`
//! header, then per connection six items — `xinpcb_n`, `xsocket_n`, two
//! `xsockbuf_n` (receive, send), `xsockstat_n`, `xtcpcb_n` — each starting
//! with its own `u32` length and kind and padded to a multiple of 8 bytes,
//! then an `xinpgen` trailer (absent when the header counts no pcb).
//!
//! Every item's declared length must equal the size this build knows for
//! its kind: a different length means another kernel ABI (or corruption),
//! and reading on at guessed offsets would print wrong numbers, so the whole
//! dump is refused with both lengths named. Kernel pointers in the dump
//! (`xi_inpp`, `xso_so`, ...) are never read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use tracing::warn;

use super::layout::*;
use crate::platform::SourceError;
use crate::platform::freebsd::bytes::{bytes_at, i32_le, u8_at, u16_be, u32_le, u64_le};
use crate::record::{SSTHRESH_INFINITE, SocketRecord, TcpState};

/// The sysctl name, used in messages about live reads.
pub const SYSCTL: &str = "net.inet.tcp.pcblist_n";

/// XNU's initial `snd_ssthresh` (`TCP_MAXWIN << TCP_MAX_WINSHIFT`): "no
/// threshold yet".
const SSTHRESH_INITIAL: u32 = 65535 << 14;

/// Items start on 8-byte boundaries (`ROUNDUP64` in XNU's in_pcblist.c).
const fn padded(len: usize) -> usize {
    (len + 7) & !7
}

/// One connection's items, in the order the kernel writes them, with the
/// size this build knows for each.
const ITEMS: [(u64, usize, &str); 6] = [
    (XSO_INPCB, XINPCB_N_SIZE, "xinpcb_n"),
    (XSO_SOCKET, XSOCKET_N_SIZE, "xsocket_n"),
    (XSO_RCVBUF, XSOCKBUF_N_SIZE, "xsockbuf_n (receive)"),
    (XSO_SNDBUF, XSOCKBUF_N_SIZE, "xsockbuf_n (send)"),
    (XSO_STATS, XSOCKSTAT_N_SIZE, "xsockstat_n"),
    (XSO_TCPCB, XTCPCB_N_SIZE, "xtcpcb_n"),
];

/// Bytes one connection takes in the dump.
pub const ITEM_SET_SIZE: usize = padded(XINPCB_N_SIZE)
    + padded(XSOCKET_N_SIZE)
    + 2 * padded(XSOCKBUF_N_SIZE)
    + padded(XSOCKSTAT_N_SIZE)
    + padded(XTCPCB_N_SIZE);

// Every member read lies inside its item; a layout change that breaks this
// fails the build.
const _: () = {
    let inp = [
        XI_FPORT, XI_LPORT, XI_GENCNT, XI_VFLAG, XI_FADDR6, XI_LADDR6,
    ];
    let mut i = 0;
    while i < inp.len() {
        assert!(inp[i].end() <= XINPCB_N_SIZE);
        i += 1;
    }
    let tcp = [
        XT_STATE,
        XT_SND_UNA,
        XT_SND_MAX,
        XT_SND_NXT,
        XT_RCV_NXT,
        XT_RCV_ADV,
        XT_RCV_WND,
        XT_SND_WND,
        XT_SND_CWND,
        XT_SND_SSTHRESH,
        XT_RXTCUR,
        XT_MAXSEG,
        XT_SRTT,
        XT_RTTVAR,
    ];
    let mut i = 0;
    while i < tcp.len() {
        assert!(tcp[i].size == 4 && tcp[i].end() <= XTCPCB_N_SIZE);
        i += 1;
    }
    assert!(XI_GENCNT.size == 8 && XI_FPORT.size == 2 && XI_VFLAG.size == 1);
    assert!(XSO_UID.end() <= XSOCKET_N_SIZE && XSB_HIWAT.end() <= XSOCKBUF_N_SIZE);
    assert!(XIG_LEN.size == 4 && XIG_GEN.end() <= XINPGEN_SIZE);
};

/// What a dump said about itself besides its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcbListNSummary {
    /// `xig_count` of the header.
    pub header_count: u32,
    pub header_gen: u64,
    /// `None` when the dump ends after a header that counts no pcb (the
    /// kernel writes no trailer then).
    pub trailer_gen: Option<u64>,
    pub records: usize,
    /// Connections skipped as unrepresentable (unknown state or family).
    pub skipped: u64,
}

impl PcbListNSummary {
    /// False when the table changed while the kernel copied it out.
    pub fn consistent(&self) -> bool {
        self.trailer_gen.is_none_or(|g| g == self.header_gen)
    }
}

/// Parse a whole dump, appending one record per connection to `out`,
/// stamped with `ts`. On error `out` is left as it was.
pub fn parse(
    buf: &[u8],
    what: &str,
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<PcbListNSummary, SourceError> {
    let start_len = out.len();
    let r = parse_into(buf, what, ts, out);
    if r.is_err() {
        out.truncate(start_len);
    }
    r
}

/// The `(length, kind)` words every item (and the xinpgen's length and
/// count) starts with, or `None` when fewer than 8 bytes remain.
#[inline(always)]
fn head_at(buf: &[u8], off: usize) -> Option<(u32, u32)> {
    let b = buf.get(off..off.checked_add(8)?)?;
    Some((
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

fn parse_into(
    buf: &[u8],
    what: &str,
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<PcbListNSummary, SourceError> {
    let bad = |offset: usize, reason: String| SourceError::malformed(what, offset, reason);
    let header = xinpgen_at(buf, 0).map_err(|r| bad(0, format!("header: {r}")))?;
    let mut summary = PcbListNSummary {
        header_count: u32_le(header, XIG_COUNT),
        header_gen: u64_le(header, XIG_GEN),
        trailer_gen: None,
        records: 0,
        skipped: 0,
    };
    let mut off = padded(XINPGEN_SIZE);
    if off == buf.len() && summary.header_count == 0 {
        return Ok(summary);
    }
    out.reserve(buf.len() / ITEM_SET_SIZE);
    // One message per dump, not per connection, so a bad table cannot
    // flood the log.
    let mut first_skip: Option<(usize, String)> = None;
    loop {
        let Some((len, _)) = head_at(buf, off) else {
            return Err(bad(
                off,
                format!(
                    "truncated: {} bytes left where a connection's items or the xinpgen \
                     trailer should start; capture the whole sysctl output",
                    buf.len().saturating_sub(off)
                ),
            ));
        };
        // As netstat does: an item no longer than an xinpgen is the trailer.
        if len as usize <= XINPGEN_SIZE {
            let trailer = xinpgen_at(buf, off).map_err(|r| bad(off, format!("trailer: {r}")))?;
            summary.trailer_gen = Some(u64_le(trailer, XIG_GEN));
            off += padded(XINPGEN_SIZE);
            break;
        }
        let set = item_set(buf, off).map_err(|(at, reason)| bad(at, reason))?;
        match decode(&set, ts) {
            Ok(r) => {
                out.push(r);
                summary.records += 1;
            }
            Err(reason) => {
                first_skip.get_or_insert((off, reason));
                summary.skipped += 1;
            }
        }
        off += ITEM_SET_SIZE;
    }
    if let Some((at, reason)) = first_skip {
        warn!(
            "{what}: skipped {} connection(s); the first, at byte {at}: {reason}",
            summary.skipped
        );
    }
    if off != buf.len() {
        return Err(bad(
            off,
            format!(
                "{} unexpected bytes after the xinpgen trailer; a pcblist_n dump ends at its \
                 trailer",
                buf.len().saturating_sub(off)
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
    let len = u32_le(g, XIG_LEN);
    if len as usize != XINPGEN_SIZE {
        return Err(format!(
            "xig_len = {len}, but this build knows only xinpgen = {XINPGEN_SIZE} bytes; is \
             this a `sysctl -b net.inet.tcp.pcblist_n` dump from a supported macOS?"
        ));
    }
    Ok(g)
}

/// One connection's items, each cut to the size this build reads.
struct ItemSet<'a> {
    inp: &'a [u8],
    so: &'a [u8],
    rcv: &'a [u8],
    snd: &'a [u8],
    tcp: &'a [u8],
    /// The socket items carry data (the kernel writes only their lengths
    /// for a pcb without a socket).
    has_socket: bool,
}

/// Check every item's length and kind and cut it out; an error gives the
/// offset of the offending item.
fn item_set(buf: &[u8], start: usize) -> Result<ItemSet<'_>, (usize, String)> {
    let mut parts: [&[u8]; 6] = [&[]; 6];
    let mut off = start;
    let mut socket_kinds = 0;
    for (i, &(kind, size, name)) in ITEMS.iter().enumerate() {
        let Some((len, got_kind)) = head_at(buf, off) else {
            return Err((
                off,
                format!(
                    "truncated: the connection starting at byte {start} ends before its \
                     {name} item"
                ),
            ));
        };
        if len as usize != size {
            return Err((
                off,
                format!(
                    "{name} declares {len} bytes, but this build knows {size}; the dump comes \
                     from a macOS whose ABI this build does not support, or is corrupt"
                ),
            ));
        }
        // A pcb without a socket has zeroed buffer items (kind 0).
        let socket_side = matches!(kind, XSO_RCVBUF | XSO_SNDBUF);
        if got_kind as u64 != kind && !(socket_side && got_kind == 0) {
            return Err((
                off + 4,
                format!(
                    "item kind {got_kind:#x} where the {name} (kind {kind:#x}) should be; \
                     items are out of order or the dump is corrupt"
                ),
            ));
        }
        if socket_side && got_kind != 0 {
            socket_kinds += 1;
        }
        let Some(item) = buf.get(off..).and_then(|b| b.get(..padded(size))) else {
            return Err((
                off,
                format!(
                    "truncated {name}: {} bytes (padded) announced, {} left",
                    padded(size),
                    buf.len().saturating_sub(off)
                ),
            ));
        };
        parts[i] = &item[..size];
        off += padded(size);
    }
    Ok(ItemSet {
        inp: parts[0],
        so: parts[1],
        rcv: parts[2],
        snd: parts[3],
        tcp: parts[5],
        has_socket: socket_kinds == 2,
    })
}

/// One connection into a record. `inp_gencnt` is both the record's
/// `sock_id` and its join key with the libproc walk (which reports it as
/// `insi_gencnt`): no kernel address is involved.
#[inline]
fn decode(set: &ItemSet<'_>, ts: u64) -> Result<SocketRecord, String> {
    let raw_state = i32_le(set.tcp, XT_STATE);
    let Some(state) = u32::try_from(raw_state)
        .ok()
        .and_then(TcpState::from_freebsd)
    else {
        return Err(format!("t_state = {raw_state} is not a TCPS_* state"));
    };
    let (local, remote) = addresses(
        set.inp,
        AddrFields {
            vflag: XI_VFLAG,
            lport: XI_LPORT,
            fport: XI_FPORT,
            laddr4: XI_LADDR4,
            faddr4: XI_FADDR4,
            laddr6: XI_LADDR6,
            faddr6: XI_FADDR6,
        },
    )?;
    let mut r = SocketRecord::new(ts, local, remote, state);
    let gencnt = u64_le(set.inp, XI_GENCNT);
    r.set().sock_id(Some(gencnt));
    r.set().proc_key(Some(gencnt));
    let t = set.tcp;
    r.set().cwnd(Some(u32_le(t, XT_SND_CWND) as u64));
    let ssthresh = u32_le(t, XT_SND_SSTHRESH);
    r.set().ssthresh(Some(if ssthresh >= SSTHRESH_INITIAL {
        SSTHRESH_INFINITE
    } else {
        ssthresh as u64
    }));
    r.set().mss(Some(u32_le(t, XT_MAXSEG)));
    r.set().rcv_wnd(Some(u32_le(t, XT_RCV_WND) as u64));
    r.set().snd_wnd(Some(u32_le(t, XT_SND_WND) as u64));
    // t_srtt and t_rttvar are milliseconds in fixed point (5 and 4
    // fraction bits); 0 means no sample yet. t_rxtcur is milliseconds.
    r.set()
        .rtt_us(fixed_ms_to_us(i32_le(t, XT_SRTT), TCP_RTT_SHIFT));
    r.set()
        .rttvar_us(fixed_ms_to_us(i32_le(t, XT_RTTVAR), TCP_RTTVAR_SHIFT));
    r.set().rto_us(fixed_ms_to_us(i32_le(t, XT_RXTCUR), 0));
    r.set().snd_una(Some(u32_le(t, XT_SND_UNA)));
    r.set().snd_nxt(Some(u32_le(t, XT_SND_NXT)));
    r.set().snd_max(Some(u32_le(t, XT_SND_MAX)));
    r.set().rcv_nxt(Some(u32_le(t, XT_RCV_NXT)));
    r.set().rcv_adv(Some(u32_le(t, XT_RCV_ADV)));
    if set.has_socket {
        r.set().uid(Some(u32_le(set.so, XSO_UID)));
        r.set().rcv_buf_used(Some(u32_le(set.rcv, XSB_CC)));
        r.set().rcv_buf_hiwat(Some(u32_le(set.rcv, XSB_HIWAT)));
        r.set().snd_buf_used(Some(u32_le(set.snd, XSB_CC)));
        r.set().snd_buf_hiwat(Some(u32_le(set.snd, XSB_HIWAT)));
        r.derive_buffer_pcts();
    }
    Ok(r)
}

/// Milliseconds with `shift` fraction bits to whole microseconds; `None`
/// for 0 (no sample) or a negative value.
#[inline]
fn fixed_ms_to_us(v: i32, shift: u64) -> Option<u32> {
    if v <= 0 {
        return None;
    }
    let us = (v as u64 * 1000) >> shift;
    Some(u32::try_from(us).unwrap_or(u32::MAX))
}

/// Where one structure keeps its addresses; pcblist_n's `xinpcb_n` and
/// libproc's `in_sockinfo` share the scheme.
#[derive(Clone, Copy)]
pub(super) struct AddrFields {
    pub vflag: Field,
    pub lport: Field,
    pub fport: Field,
    pub laddr4: Field,
    pub faddr4: Field,
    pub laddr6: Field,
    pub faddr6: Field,
}

/// The address view the version flag names (`INP_IPV4`/`INP_IPV6`, equal
/// to libproc's `INI_IPV4`/`INI_IPV6`). Ports are in network order, in
/// the low 16 bits of their field.
#[inline]
pub(super) fn addresses(rec: &[u8], f: AddrFields) -> Result<(SocketAddr, SocketAddr), String> {
    let vflag = u8_at(rec, f.vflag) as u64;
    let port = |field: Field| u16_be(rec, Field::new(field.offset, 2));
    let (lport, fport) = (port(f.lport), port(f.fport));
    if vflag & INP_IPV6 != 0 {
        let v6 = |field, port| {
            let b: [u8; 16] = bytes_at(rec, field).try_into().unwrap_or([0; 16]);
            SocketAddr::V6(v6_with_scope(b, port))
        };
        Ok((v6(f.laddr6, lport), v6(f.faddr6, fport)))
    } else if vflag & INP_IPV4 != 0 {
        let v4 = |field| {
            let b: [u8; 4] = bytes_at(rec, field).try_into().unwrap_or([0; 4]);
            IpAddr::V4(Ipv4Addr::from(b))
        };
        Ok((
            SocketAddr::new(v4(f.laddr4), lport),
            SocketAddr::new(v4(f.faddr4), fport),
        ))
    } else {
        Err(format!(
            "inp_vflag = {vflag:#x} has neither INP_IPV4 nor INP_IPV6"
        ))
    }
}

/// The kernel may keep a link-local address's interface index embedded in
/// its second 16-bit word (the KAME convention); it is moved to the scope
/// id so the printed address is the one on the wire.
fn v6_with_scope(mut b: [u8; 16], port: u16) -> SocketAddrV6 {
    let mut scope = 0;
    if Ipv6Addr::from(b).is_unicast_link_local() {
        scope = u16::from_be_bytes([b[2], b[3]]) as u32;
        b[2] = 0;
        b[3] = 0;
    }
    SocketAddrV6::new(Ipv6Addr::from(b), port, 0, scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_set_size_matches_the_kernel_formula() {
        // 104 + 104 + 2 * 32 + 136 + 208 (xtcpcb_n's 204 rounded up).
        assert_eq!(ITEM_SET_SIZE, 616);
        assert_eq!(padded(204), 208);
        assert_eq!(padded(24), 24);
    }

    #[test]
    fn fixed_point_rtt_to_microseconds() {
        assert_eq!(fixed_ms_to_us(0, 5), None);
        assert_eq!(fixed_ms_to_us(-3, 5), None);
        // 20.5 ms with 5 fraction bits.
        assert_eq!(fixed_ms_to_us(656, 5), Some(20_500));
        assert_eq!(fixed_ms_to_us(8, 4), Some(500));
        assert_eq!(fixed_ms_to_us(i32::MAX, 0), Some(u32::MAX));
    }

    #[test]
    fn embedded_link_local_scope_moves_to_scope_id() {
        let mut b = [0u8; 16];
        b[0] = 0xfe;
        b[1] = 0x80;
        b[3] = 4;
        b[15] = 1;
        let a = v6_with_scope(b, 22);
        assert_eq!(a.scope_id(), 4);
        assert_eq!(a.ip().to_string(), "fe80::1");
        let global: Ipv6Addr = "2001:db8:4::1".parse().unwrap();
        assert_eq!(v6_with_scope(global.octets(), 1).scope_id(), 0);
    }
}
