//! libproc's per-descriptor socket view: `proc_pidfdinfo(pid, fd,
//! PROC_PIDFDSOCKETINFO)` fills a `struct socket_fdinfo` (SDK
//! `sys/proc_info.h`). For a TCP socket it gives the addresses, state, MSS,
//! buffers and owner, and `insi_gencnt`, the pcb's generation count, which
//! pcblist_n reports as `inp_gencnt`: the two are joined on it.
//!
//! A socket that no process holds (TIME_WAIT, or closed but not yet freed)
//! is not in this walk; pcblist_n has it.

use super::layout::*;
use super::pcblist_n::{AddrFields, addresses};
use crate::platform::freebsd::bytes::{i32_le, u32_le, u64_le};
use crate::record::{SocketRecord, TcpState};

/// Why a descriptor's socket info is not a TCP socket record.
#[derive(Debug, PartialEq, Eq)]
pub enum NotTcp {
    /// Another family, protocol or kind of socket: not ours, not an error.
    Other,
    /// Looks like TCP but cannot be represented.
    Malformed(String),
}

/// Decode one `socket_fdinfo`. The buffer must be exactly the structure
/// (`proc_pidfdinfo` returns its size on success).
pub fn decode(buf: &[u8], ts: u64) -> Result<SocketRecord, NotTcp> {
    if buf.len() != SOCKET_FDINFO_SIZE {
        return Err(NotTcp::Malformed(format!(
            "{} bytes, but struct socket_fdinfo is {SOCKET_FDINFO_SIZE} in this build",
            buf.len()
        )));
    }
    let family = i32_le(buf, SOI_FAMILY) as u64;
    let kind = i32_le(buf, SOI_KIND) as u64;
    if (family != AF_INET && family != AF_INET6)
        || i32_le(buf, SOI_PROTOCOL) as u64 != IPPROTO_TCP
        || kind != SOCKINFO_TCP
    {
        return Err(NotTcp::Other);
    }
    let raw_state = i32_le(buf, TCPSI_STATE);
    let state = u32::try_from(raw_state)
        .ok()
        .and_then(TcpState::from_freebsd)
        .ok_or_else(|| {
            NotTcp::Malformed(format!("tcpsi_state = {raw_state} is not a TCPS_* state"))
        })?;
    let (local, remote) = addresses(
        buf,
        AddrFields {
            vflag: INSI_VFLAG,
            lport: INSI_LPORT,
            fport: INSI_FPORT,
            laddr4: INSI_LADDR4,
            faddr4: INSI_FADDR4,
            laddr6: INSI_LADDR6,
            faddr6: INSI_FADDR6,
        },
    )
    .map_err(NotTcp::Malformed)?;
    let mut r = SocketRecord::new(ts, local, remote, state);
    let gencnt = u64_le(buf, INSI_GENCNT);
    r.set().sock_id(Some(gencnt));
    r.set().proc_key(Some(gencnt));
    r.set().uid(Some(u32_le(buf, SOI_UID)));
    r.set().mss(Some(u32_le(buf, TCPSI_MSS)));
    r.set().rcv_buf_used(Some(u32_le(buf, SOI_RCV_CC)));
    r.set().rcv_buf_hiwat(Some(u32_le(buf, SOI_RCV_HIWAT)));
    r.set().snd_buf_used(Some(u32_le(buf, SOI_SND_CC)));
    r.set().snd_buf_hiwat(Some(u32_le(buf, SOI_SND_HIWAT)));
    r.derive_buffer_pcts();
    Ok(r)
}

/// `proc_pidinfo(pid, PROC_PIDLISTFDS)`: `(fd, fdtype)` pairs; only whole
/// entries are read.
pub fn fd_list(buf: &[u8]) -> impl Iterator<Item = (i32, u32)> + '_ {
    buf.chunks_exact(PROC_FDINFO_SIZE)
        .map(|e| (i32_le(e, PROC_FD), u32_le(e, PROC_FDTYPE)))
}

/// The socket descriptors of a `PROC_PIDLISTFDS` answer.
pub fn socket_fds(buf: &[u8]) -> impl Iterator<Item = i32> + '_ {
    fd_list(buf)
        .filter(|&(_, t)| t as u64 == PROX_FDTYPE_SOCKET)
        .map(|(fd, _)| fd)
}
