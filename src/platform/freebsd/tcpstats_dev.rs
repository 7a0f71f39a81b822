//! `/dev/tcpstats` (the `tcpstats` kernel module, `kmod/tcpstats`): a
//! stream of one header and fixed-size records with RTT, RTO, sequence
//! numbers and window scales that `net.inet.tcp.pcblist` lacks.
//!
//! The parser is plain Rust over `&[u8]`, so it runs on every platform and
//! reads streams captured with `cat /dev/tcpstats > FILE`. It strides by the
//! header's record size (a newer module may append fields; this reader
//! reads the ones it knows) and refuses what it cannot read correctly: an
//! unknown ABI version, records or headers shorter than this build's, a
//! count that overruns the bytes. Every refusal names the byte offset.
//! A stream the kernel flagged as incomplete parses, and says so.
//!
//! Every offset below is checked against `tests/freebsd/tcpstats/layout.txt`,
//! which CI regenerates from `kmod/tcpstats/tcpstats.h` with FreeBSD's
//! compiler setup for amd64 and arm64.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tracing::warn;

use super::scope::kernel_v6;
use crate::platform::{ScanStats, SourceError};
use crate::record::{SSTHRESH_INFINITE, ShortName, SocketRecord, TcpState};

/// Where the module's device lives.
pub const DEVICE: &str = "/dev/tcpstats";

/// The ABI of `kmod/tcpstats/tcpstats.h`, version 2 (version 1 has the same
/// layout and never withholds sequence numbers, so it is read too).
pub mod abi {
    /// A member's place in its struct.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Field {
        pub off: usize,
        pub len: usize,
    }

    const fn f(off: usize, len: usize) -> Field {
        Field { off, len }
    }

    pub const MAGIC: u32 = 0x5350_4354; // "TCPS" in memory
    pub const ABI_VERSION: u16 = 2;
    /// The oldest version this build reads.
    pub const OLDEST_ABI_VERSION: u16 = 1;
    pub const HEADER_SIZE: usize = 64;
    pub const RECORD_SIZE: usize = 320;

    pub const F_TRUNCATED: u32 = 0x1;
    pub const F_KADDR: u32 = 0x2;
    pub const F_FILTERED: u32 = 0x4;
    pub const F_TIMEDOUT: u32 = 0x8;
    pub const AF_INET: u8 = 4;
    pub const AF_INET6: u8 = 6;
    pub const OPT_WSCALE: u32 = 0x4;
    pub const RF_HAVE_SOCKET: u32 = 0x1;
    pub const RF_LISTEN: u32 = 0x2;
    pub const RF_RTT_VALID: u32 = 0x4;
    pub const RF_KADDR: u32 = 0x8;
    pub const RF_SEQ_HIDDEN: u32 = 0x10;
    pub const TIMER_OFF: u32 = u32::MAX;
    pub const CC_NAME_LEN: usize = 16;
    pub const STACK_NAME_LEN: usize = 32;

    // struct tcpstats_header
    pub const TH_MAGIC: Field = f(0, 4);
    pub const TH_VERSION: Field = f(4, 2);
    pub const TH_HEADER_SIZE: Field = f(6, 2);
    pub const TH_RECORD_SIZE: Field = f(8, 4);
    pub const TH_FLAGS: Field = f(12, 4);
    pub const TH_GENERATION: Field = f(16, 8);
    pub const TH_UPTIME_NS: Field = f(24, 8);
    pub const TH_RECORD_COUNT: Field = f(32, 4);
    pub const TH_RECORDS_TOTAL: Field = f(36, 4);
    pub const TH_NEEDED_SIZE: Field = f(40, 8);
    pub const TH_HZ: Field = f(48, 4);

    // struct tcpstats_record
    pub const TR_GENCNT: Field = f(0, 8);
    pub const TR_KADDR: Field = f(8, 8);
    pub const TR_LADDR: Field = f(16, 16);
    pub const TR_FADDR: Field = f(32, 16);
    pub const TR_LPORT: Field = f(48, 2);
    pub const TR_FPORT: Field = f(50, 2);
    pub const TR_FAMILY: Field = f(52, 1);
    pub const TR_STATE: Field = f(53, 1);
    pub const TR_SND_WSCALE: Field = f(54, 1);
    pub const TR_RCV_WSCALE: Field = f(55, 1);
    pub const TR_UID: Field = f(56, 4);
    pub const TR_OPTIONS: Field = f(60, 4);
    pub const TR_RFLAGS: Field = f(64, 4);
    pub const TR_MSS: Field = f(68, 4);
    pub const TR_RTT_US: Field = f(72, 4);
    pub const TR_RTTVAR_US: Field = f(76, 4);
    pub const TR_RTO_US: Field = f(80, 4);
    pub const TR_RTT_MIN_US: Field = f(84, 4);
    pub const TR_SND_UNA: Field = f(88, 4);
    pub const TR_SND_NXT: Field = f(92, 4);
    pub const TR_SND_MAX: Field = f(96, 4);
    pub const TR_RCV_NXT: Field = f(100, 4);
    pub const TR_RCV_ADV: Field = f(104, 4);
    pub const TR_SND_CWND: Field = f(108, 4);
    pub const TR_SND_SSTHRESH: Field = f(112, 4);
    pub const TR_SND_WND: Field = f(116, 4);
    pub const TR_RCV_WND: Field = f(120, 4);
    pub const TR_REXMIT_PACK: Field = f(128, 4);
    pub const TR_OOO_PACK: Field = f(132, 4);
    pub const TR_ZEROWIN: Field = f(136, 4);
    pub const TR_DSACK_BYTES: Field = f(156, 4);
    pub const TR_DSACK_PACK: Field = f(160, 4);
    pub const TR_SND_BYTES: Field = f(184, 8);
    pub const TR_SND_RXT_BYTES: Field = f(192, 8);
    pub const TR_TIMER_REXMT_MS: Field = f(200, 4);
    pub const TR_TIMER_PERSIST_MS: Field = f(204, 4);
    pub const TR_TIMER_KEEP_MS: Field = f(208, 4);
    pub const TR_TIMER_2MSL_MS: Field = f(212, 4);
    pub const TR_TIMER_DELACK_MS: Field = f(216, 4);
    pub const TR_IDLE_MS: Field = f(220, 4);
    pub const TR_SND_BUF_USED: Field = f(224, 4);
    pub const TR_SND_BUF_HIWAT: Field = f(228, 4);
    pub const TR_RCV_BUF_USED: Field = f(232, 4);
    pub const TR_RCV_BUF_HIWAT: Field = f(236, 4);
    pub const TR_PACING_RATE: Field = f(248, 8);
    pub const TR_CC: Field = f(256, CC_NAME_LEN);
    pub const TR_STACK: Field = f(272, STACK_NAME_LEN);

    /// Every field this reader uses, by its C name, for the layout test.
    pub const FIELDS: &[(&str, Field)] = &[
        ("tcpstats_header.th_magic", TH_MAGIC),
        ("tcpstats_header.th_version", TH_VERSION),
        ("tcpstats_header.th_header_size", TH_HEADER_SIZE),
        ("tcpstats_header.th_record_size", TH_RECORD_SIZE),
        ("tcpstats_header.th_flags", TH_FLAGS),
        ("tcpstats_header.th_generation", TH_GENERATION),
        ("tcpstats_header.th_uptime_ns", TH_UPTIME_NS),
        ("tcpstats_header.th_record_count", TH_RECORD_COUNT),
        ("tcpstats_header.th_records_total", TH_RECORDS_TOTAL),
        ("tcpstats_header.th_needed_size", TH_NEEDED_SIZE),
        ("tcpstats_header.th_hz", TH_HZ),
        ("tcpstats_record.tr_gencnt", TR_GENCNT),
        ("tcpstats_record.tr_kaddr", TR_KADDR),
        ("tcpstats_record.tr_laddr", TR_LADDR),
        ("tcpstats_record.tr_faddr", TR_FADDR),
        ("tcpstats_record.tr_lport", TR_LPORT),
        ("tcpstats_record.tr_fport", TR_FPORT),
        ("tcpstats_record.tr_family", TR_FAMILY),
        ("tcpstats_record.tr_state", TR_STATE),
        ("tcpstats_record.tr_snd_wscale", TR_SND_WSCALE),
        ("tcpstats_record.tr_rcv_wscale", TR_RCV_WSCALE),
        ("tcpstats_record.tr_uid", TR_UID),
        ("tcpstats_record.tr_options", TR_OPTIONS),
        ("tcpstats_record.tr_rflags", TR_RFLAGS),
        ("tcpstats_record.tr_mss", TR_MSS),
        ("tcpstats_record.tr_rtt_us", TR_RTT_US),
        ("tcpstats_record.tr_rttvar_us", TR_RTTVAR_US),
        ("tcpstats_record.tr_rto_us", TR_RTO_US),
        ("tcpstats_record.tr_rtt_min_us", TR_RTT_MIN_US),
        ("tcpstats_record.tr_snd_una", TR_SND_UNA),
        ("tcpstats_record.tr_snd_nxt", TR_SND_NXT),
        ("tcpstats_record.tr_snd_max", TR_SND_MAX),
        ("tcpstats_record.tr_rcv_nxt", TR_RCV_NXT),
        ("tcpstats_record.tr_rcv_adv", TR_RCV_ADV),
        ("tcpstats_record.tr_snd_cwnd", TR_SND_CWND),
        ("tcpstats_record.tr_snd_ssthresh", TR_SND_SSTHRESH),
        ("tcpstats_record.tr_snd_wnd", TR_SND_WND),
        ("tcpstats_record.tr_rcv_wnd", TR_RCV_WND),
        ("tcpstats_record.tr_rexmit_pack", TR_REXMIT_PACK),
        ("tcpstats_record.tr_ooo_pack", TR_OOO_PACK),
        ("tcpstats_record.tr_zerowin", TR_ZEROWIN),
        ("tcpstats_record.tr_dsack_bytes", TR_DSACK_BYTES),
        ("tcpstats_record.tr_dsack_pack", TR_DSACK_PACK),
        ("tcpstats_record.tr_snd_bytes", TR_SND_BYTES),
        ("tcpstats_record.tr_snd_rxt_bytes", TR_SND_RXT_BYTES),
        ("tcpstats_record.tr_timer_rexmt_ms", TR_TIMER_REXMT_MS),
        ("tcpstats_record.tr_timer_persist_ms", TR_TIMER_PERSIST_MS),
        ("tcpstats_record.tr_timer_keep_ms", TR_TIMER_KEEP_MS),
        ("tcpstats_record.tr_timer_2msl_ms", TR_TIMER_2MSL_MS),
        ("tcpstats_record.tr_timer_delack_ms", TR_TIMER_DELACK_MS),
        ("tcpstats_record.tr_idle_ms", TR_IDLE_MS),
        ("tcpstats_record.tr_snd_buf_used", TR_SND_BUF_USED),
        ("tcpstats_record.tr_snd_buf_hiwat", TR_SND_BUF_HIWAT),
        ("tcpstats_record.tr_rcv_buf_used", TR_RCV_BUF_USED),
        ("tcpstats_record.tr_rcv_buf_hiwat", TR_RCV_BUF_HIWAT),
        ("tcpstats_record.tr_pacing_rate", TR_PACING_RATE),
        ("tcpstats_record.tr_cc", TR_CC),
        ("tcpstats_record.tr_stack", TR_STACK),
    ];

    /// Every constant this reader uses, by its C name, for the layout test.
    pub const CONSTS: &[(&str, u64)] = &[
        ("TCPSTATS_MAGIC", MAGIC as u64),
        ("TCPSTATS_ABI_VERSION", ABI_VERSION as u64),
        ("TCPSTATS_F_TRUNCATED", F_TRUNCATED as u64),
        ("TCPSTATS_F_KADDR", F_KADDR as u64),
        ("TCPSTATS_F_FILTERED", F_FILTERED as u64),
        ("TCPSTATS_F_TIMEDOUT", F_TIMEDOUT as u64),
        ("TCPSTATS_AF_INET", AF_INET as u64),
        ("TCPSTATS_AF_INET6", AF_INET6 as u64),
        ("TCPSTATS_OPT_WSCALE", OPT_WSCALE as u64),
        ("TCPSTATS_RF_HAVE_SOCKET", RF_HAVE_SOCKET as u64),
        ("TCPSTATS_RF_LISTEN", RF_LISTEN as u64),
        ("TCPSTATS_RF_RTT_VALID", RF_RTT_VALID as u64),
        ("TCPSTATS_RF_KADDR", RF_KADDR as u64),
        ("TCPSTATS_RF_SEQ_HIDDEN", RF_SEQ_HIDDEN as u64),
        ("TCPSTATS_TIMER_OFF", TIMER_OFF as u64),
        ("TCPSTATS_CC_NAME_LEN", CC_NAME_LEN as u64),
        ("TCPSTATS_STACK_NAME_LEN", STACK_NAME_LEN as u64),
    ];

    // Every field read lies inside the struct this build knows, so reading
    // a record of at least RECORD_SIZE bytes cannot go out of bounds.
    const _: () = {
        let mut i = 0;
        while i < FIELDS.len() {
            let (name, fl) = FIELDS[i];
            let limit = if name.as_bytes()[9] == b'h' {
                HEADER_SIZE
            } else {
                RECORD_SIZE
            };
            assert!(fl.off + fl.len <= limit);
            i += 1;
        }
    };
}

use abi::Field;

/// FreeBSD's initial `snd_ssthresh` (`TCP_MAXWIN << TCP_MAX_WINSHIFT`):
/// no threshold yet, written as `SSTHRESH_INFINITE` like pcblist.
const SSTHRESH_INITIAL: u32 = 65535 << 14;

/// Why a stream was refused. Each names the byte offset where the stream
/// stopped making sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcpstatsError {
    #[error(
        "byte {offset}: stream ends after {have} bytes but {need} are needed; \
         capture the whole device (`cat /dev/tcpstats > FILE`)"
    )]
    Short {
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error(
        "byte 0: magic {found:#010x} is not a /dev/tcpstats stream (expected {:#010x}, \"TCPS\")",
        abi::MAGIC
    )]
    BadMagic { found: u32 },
    #[error(
        "byte 4: ABI version {found} is not one this netpulse reads ({} to {}); \
         use a netpulse and tcpstats.ko from the same release",
        abi::OLDEST_ABI_VERSION,
        abi::ABI_VERSION
    )]
    UnknownVersion { found: u16 },
    #[error(
        "byte 6: header size {found} is smaller than the {} bytes of the header this netpulse reads",
        abi::HEADER_SIZE
    )]
    HeaderTooSmall { found: u16 },
    #[error(
        "byte 8: record size {found} is smaller than the {} bytes this reader needs; \
         the stream is corrupt or from an incompatible module",
        abi::RECORD_SIZE
    )]
    RecordTooSmall { found: u32 },
    #[error(
        "byte 32: header announces {count} records of {record_size} bytes from byte {start}, \
         {need} bytes in all, but the stream has only {have} bytes: the capture was cut short \
         or is corrupt"
    )]
    CountOverrun {
        count: u32,
        record_size: u32,
        start: usize,
        need: u64,
        have: usize,
    },
    #[error(
        "byte 12: the kernel marked this snapshot incomplete ({delivered} of {total} records{hint}); \
         raise dev.tcpstats.max_bytes or dev.tcpstats.max_read_ms"
    )]
    Incomplete {
        delivered: u32,
        total: u32,
        hint: String,
    },
}

impl TcpstatsError {
    /// The byte offset the error names.
    pub fn offset(&self) -> usize {
        match self {
            TcpstatsError::Short { offset, .. } => *offset,
            TcpstatsError::BadMagic { .. } => abi::TH_MAGIC.off,
            TcpstatsError::UnknownVersion { .. } => abi::TH_VERSION.off,
            TcpstatsError::HeaderTooSmall { .. } => abi::TH_HEADER_SIZE.off,
            TcpstatsError::RecordTooSmall { .. } => abi::TH_RECORD_SIZE.off,
            TcpstatsError::CountOverrun { .. } => abi::TH_RECORD_COUNT.off,
            TcpstatsError::Incomplete { .. } => abi::TH_FLAGS.off,
        }
    }

    /// As the platform error type, naming the input.
    pub fn into_source_error(self, what: &str) -> SourceError {
        // SourceError names the offset itself; do not say it twice.
        let msg = self.to_string();
        let prefix = format!("byte {}: ", self.offset());
        let reason = msg.strip_prefix(&prefix).unwrap_or(&msg).to_string();
        SourceError::malformed(what, self.offset(), reason)
    }
}

/// What the stream's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    pub version: u16,
    pub header_size: u16,
    pub record_size: u32,
    pub flags: u32,
    /// The kernel's TCP generation count when the walk began.
    pub generation: u64,
    pub uptime_ns: u64,
    pub record_count: u32,
    /// Records that matched; more than `record_count` when truncated.
    pub records_total: u32,
    /// Bytes a complete stream needs.
    pub needed_size: u64,
    pub hz: u32,
}

impl StreamHeader {
    /// The kernel ran out of buffer (`dev.tcpstats.max_bytes`).
    pub fn truncated(&self) -> bool {
        self.flags & abi::F_TRUNCATED != 0
    }

    /// The walk ran out of time (`dev.tcpstats.max_read_ms`).
    pub fn timed_out(&self) -> bool {
        self.flags & abi::F_TIMEDOUT != 0
    }

    /// Records carry kernel socket addresses (a privileged reader).
    pub fn has_kernel_addresses(&self) -> bool {
        self.flags & abi::F_KADDR != 0
    }

    /// Neither truncated nor timed out.
    pub fn complete(&self) -> bool {
        !self.truncated() && !self.timed_out()
    }

    /// `Err(Incomplete)` unless complete, for callers that want all or
    /// nothing.
    pub fn require_complete(&self) -> Result<(), TcpstatsError> {
        if self.complete() {
            return Ok(());
        }
        let hint = if self.timed_out() {
            "; the walk timed out".to_string()
        } else {
            format!("; {} bytes needed", self.needed_size)
        };
        Err(TcpstatsError::Incomplete {
            delivered: self.record_count,
            total: self.records_total,
            hint,
        })
    }
}

/// A parsed stream's header and what happened to its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    pub header: StreamHeader,
    /// Records appended to the output.
    pub records: usize,
    /// Records skipped because their family or state is unknown.
    pub skipped: u64,
}

fn field<const N: usize>(buf: &[u8], at: usize, f: Field) -> Option<[u8; N]> {
    let start = at.checked_add(f.off)?;
    buf.get(start..start.checked_add(N)?)?.try_into().ok()
}

/// Read and check a stream's header.
pub fn parse_header(buf: &[u8]) -> Result<StreamHeader, TcpstatsError> {
    let short = |need: usize| TcpstatsError::Short {
        offset: buf.len(),
        need,
        have: buf.len(),
    };
    // The magic first, so that any non-stream says so even when short.
    let magic = field::<4>(buf, 0, abi::TH_MAGIC).ok_or_else(|| short(abi::HEADER_SIZE))?;
    let magic = u32::from_le_bytes(magic);
    if magic != abi::MAGIC {
        return Err(TcpstatsError::BadMagic { found: magic });
    }
    let head: &[u8; abi::HEADER_SIZE] = buf.first_chunk().ok_or_else(|| short(abi::HEADER_SIZE))?;
    let h = StreamHeader {
        version: u16::from_le_bytes(arr(head, abi::TH_VERSION)),
        header_size: u16::from_le_bytes(arr(head, abi::TH_HEADER_SIZE)),
        record_size: u32::from_le_bytes(arr(head, abi::TH_RECORD_SIZE)),
        flags: u32::from_le_bytes(arr(head, abi::TH_FLAGS)),
        generation: u64::from_le_bytes(arr(head, abi::TH_GENERATION)),
        uptime_ns: u64::from_le_bytes(arr(head, abi::TH_UPTIME_NS)),
        record_count: u32::from_le_bytes(arr(head, abi::TH_RECORD_COUNT)),
        records_total: u32::from_le_bytes(arr(head, abi::TH_RECORDS_TOTAL)),
        needed_size: u64::from_le_bytes(arr(head, abi::TH_NEEDED_SIZE)),
        hz: u32::from_le_bytes(arr(head, abi::TH_HZ)),
    };
    if !(abi::OLDEST_ABI_VERSION..=abi::ABI_VERSION).contains(&h.version) {
        return Err(TcpstatsError::UnknownVersion { found: h.version });
    }
    if (h.header_size as usize) < abi::HEADER_SIZE {
        return Err(TcpstatsError::HeaderTooSmall {
            found: h.header_size,
        });
    }
    if (h.record_size as usize) < abi::RECORD_SIZE {
        return Err(TcpstatsError::RecordTooSmall {
            found: h.record_size,
        });
    }
    let need = h.header_size as u64 + h.record_count as u64 * h.record_size as u64;
    if need > buf.len() as u64 {
        return Err(TcpstatsError::CountOverrun {
            count: h.record_count,
            record_size: h.record_size,
            start: h.header_size as usize,
            need,
            have: buf.len(),
        });
    }
    Ok(h)
}

/// Parse a whole stream, appending one record per socket to `out` stamped
/// with `ts`. On error `out` is left as it was. An incomplete snapshot
/// (truncated or timed out) parses: check `summary.header.complete()`.
pub fn parse(
    buf: &[u8],
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<StreamSummary, TcpstatsError> {
    let header = parse_header(buf)?;
    let start = header.header_size as usize;
    let stride = header.record_size as usize;
    let count = header.record_count as usize;
    // parse_header proved start + count * stride <= buf.len().
    let body = buf.get(start..).unwrap_or_default();
    out.reserve(count);
    let mut summary = StreamSummary {
        header,
        records: 0,
        skipped: 0,
    };
    for chunk in body.chunks_exact(stride).take(count) {
        let Some(rec) = chunk.first_chunk::<{ abi::RECORD_SIZE }>() else {
            // Unreachable: stride >= RECORD_SIZE was checked.
            summary.skipped += 1;
            continue;
        };
        if push_socket_record(rec, ts, out) {
            summary.records += 1;
        } else {
            summary.skipped += 1;
        }
    }
    Ok(summary)
}

#[inline(always)]
fn arr<const N: usize, const S: usize>(rec: &[u8; S], f: Field) -> [u8; N] {
    // In bounds by the const assertion in `abi`; the compiler sees the
    // constant offsets and drops the checks.
    let mut b = [0u8; N];
    b.copy_from_slice(&rec[f.off..f.off + N]);
    b
}

#[inline(always)]
fn u8_at(rec: &[u8; abi::RECORD_SIZE], f: Field) -> u8 {
    rec[f.off]
}

#[inline(always)]
fn u16_at(rec: &[u8; abi::RECORD_SIZE], f: Field) -> u16 {
    u16::from_le_bytes(arr(rec, f))
}

#[inline(always)]
fn u32_at(rec: &[u8; abi::RECORD_SIZE], f: Field) -> u32 {
    u32::from_le_bytes(arr(rec, f))
}

#[inline(always)]
fn u64_at(rec: &[u8; abi::RECORD_SIZE], f: Field) -> u64 {
    u64::from_le_bytes(arr(rec, f))
}

fn timer(v: u32) -> Option<u32> {
    (v != abi::TIMER_OFF).then_some(v)
}

fn name(raw: &[u8]) -> Option<ShortName> {
    let n = ShortName::from_c_bytes(raw);
    (!n.is_empty()).then_some(n)
}

/// The module copies addresses as the pcb holds them: a link-local zone
/// is embedded in the address and moves to the scope id here.
fn addr(rec: &[u8; abi::RECORD_SIZE], family: u8, a: Field, port: Field) -> Option<SocketAddr> {
    let port = u16_at(rec, port);
    match family {
        abi::AF_INET => Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(arr::<4, _>(rec, a))),
            port,
        )),
        abi::AF_INET6 => Some(SocketAddr::V6(kernel_v6(arr::<16, _>(rec, a), 0, port))),
        _ => None,
    }
}

/// Append one record as a `SocketRecord`; false (nothing appended) for an
/// unknown family or state. Fills the record in place in `out`: a
/// `SocketRecord` is large, and moving it per record costs more than
/// parsing it.
fn push_socket_record(rec: &[u8; abi::RECORD_SIZE], ts: u64, out: &mut Vec<SocketRecord>) -> bool {
    let family = u8_at(rec, abi::TR_FAMILY);
    let (Some(local), Some(remote), Some(state)) = (
        addr(rec, family, abi::TR_LADDR, abi::TR_LPORT),
        addr(rec, family, abi::TR_FADDR, abi::TR_FPORT),
        TcpState::from_freebsd(u8_at(rec, abi::TR_STATE) as u32),
    ) else {
        return false;
    };
    out.push(SocketRecord::new(ts, local, remote, state));
    let Some(r) = out.last_mut() else {
        return false;
    };
    let rflags = u32_at(rec, abi::TR_RFLAGS);

    r.set().sock_id(Some(u64_at(rec, abi::TR_GENCNT)));
    r.set().uid(Some(u32_at(rec, abi::TR_UID)));
    if rflags & abi::RF_KADDR != 0 {
        // Join key for kern.file only; never serialized.
        r.set().proc_key(Some(u64_at(rec, abi::TR_KADDR)));
    }

    r.set().mss(Some(u32_at(rec, abi::TR_MSS)));
    r.set().cwnd(Some(u32_at(rec, abi::TR_SND_CWND) as u64));
    let ssthresh = u32_at(rec, abi::TR_SND_SSTHRESH);
    r.set().ssthresh(Some(if ssthresh >= SSTHRESH_INITIAL {
        SSTHRESH_INFINITE
    } else {
        ssthresh as u64
    }));
    r.set().snd_wnd(Some(u32_at(rec, abi::TR_SND_WND) as u64));
    r.set().rcv_wnd(Some(u32_at(rec, abi::TR_RCV_WND) as u64));
    if u32_at(rec, abi::TR_OPTIONS) & abi::OPT_WSCALE != 0 {
        r.set().snd_wscale(Some(u8_at(rec, abi::TR_SND_WSCALE)));
        r.set().rcv_wscale(Some(u8_at(rec, abi::TR_RCV_WSCALE)));
    }
    r.set()
        .cc(name(&arr::<{ abi::CC_NAME_LEN }, _>(rec, abi::TR_CC)));
    r.set()
        .stack(name(&arr::<{ abi::STACK_NAME_LEN }, _>(rec, abi::TR_STACK)));

    // Before the first measurement the kernel's RTT fields hold seeds, not
    // measurements: leave them out. The RTO is always the one in force.
    if rflags & abi::RF_RTT_VALID != 0 {
        r.set().rtt_us(Some(u32_at(rec, abi::TR_RTT_US)));
        r.set().rttvar_us(Some(u32_at(rec, abi::TR_RTTVAR_US)));
        let min = u32_at(rec, abi::TR_RTT_MIN_US);
        r.set().rtt_min_us((min != 0).then_some(min));
    }
    r.set().rto_us(Some(u32_at(rec, abi::TR_RTO_US)));

    // A listener or closed socket has no sequence space, and the module
    // withholds the numbers of other users' connections from an
    // unprivileged reader (zeros there are not values).
    if !matches!(state, TcpState::Listen | TcpState::Closed) && rflags & abi::RF_SEQ_HIDDEN == 0 {
        r.set().snd_una(Some(u32_at(rec, abi::TR_SND_UNA)));
        r.set().snd_nxt(Some(u32_at(rec, abi::TR_SND_NXT)));
        r.set().snd_max(Some(u32_at(rec, abi::TR_SND_MAX)));
        r.set().rcv_nxt(Some(u32_at(rec, abi::TR_RCV_NXT)));
        r.set().rcv_adv(Some(u32_at(rec, abi::TR_RCV_ADV)));
    }

    r.set()
        .rexmit(Some(u32_at(rec, abi::TR_REXMIT_PACK) as u64));
    r.set().ooo(Some(u32_at(rec, abi::TR_OOO_PACK) as u64));
    r.set().zerowin(Some(u32_at(rec, abi::TR_ZEROWIN) as u64));
    r.set()
        .dsack_bytes(Some(u32_at(rec, abi::TR_DSACK_BYTES) as u64));
    r.set()
        .dsack_pack(Some(u32_at(rec, abi::TR_DSACK_PACK) as u64));
    // FreeBSD counts retransmitted bytes apart from t_sndbytes; Linux's
    // bytes_sent includes them, so the field means the same on both.
    let retrans = u64_at(rec, abi::TR_SND_RXT_BYTES);
    r.set()
        .bytes_sent(Some(u64_at(rec, abi::TR_SND_BYTES).saturating_add(retrans)));
    r.set().bytes_retrans(Some(retrans));
    let pacing = u64_at(rec, abi::TR_PACING_RATE) as i64;
    r.set().pacing_rate((pacing >= 0).then_some(pacing as u64));

    r.set()
        .timer_rexmt_ms(timer(u32_at(rec, abi::TR_TIMER_REXMT_MS)));
    r.set()
        .timer_persist_ms(timer(u32_at(rec, abi::TR_TIMER_PERSIST_MS)));
    r.set()
        .timer_keep_ms(timer(u32_at(rec, abi::TR_TIMER_KEEP_MS)));
    r.set()
        .timer_2msl_ms(timer(u32_at(rec, abi::TR_TIMER_2MSL_MS)));
    r.set()
        .timer_delack_ms(timer(u32_at(rec, abi::TR_TIMER_DELACK_MS)));
    r.set().idle_ms(Some(u32_at(rec, abi::TR_IDLE_MS)));

    if rflags & abi::RF_HAVE_SOCKET != 0 {
        r.set()
            .snd_buf_hiwat(Some(u32_at(rec, abi::TR_SND_BUF_HIWAT)));
        r.set()
            .rcv_buf_hiwat(Some(u32_at(rec, abi::TR_RCV_BUF_HIWAT)));
        // A listener's buffers hold no data; its "used" would be a fake 0.
        if rflags & abi::RF_LISTEN == 0 {
            r.set()
                .snd_buf_used(Some(u32_at(rec, abi::TR_SND_BUF_USED)));
            r.set()
                .rcv_buf_used(Some(u32_at(rec, abi::TR_RCV_BUF_USED)));
        }
        r.derive_buffer_pcts();
    }
    true
}

/// Read one whole stream from an open device (or a captured file) into
/// `buf`, reusing its allocation. The device takes a new snapshot on a
/// read at offset 0 and ends the stream at its last byte, so this seeks to
/// 0 and reads to end of file.
pub fn read_stream<R: Read + Seek>(dev: &mut R, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    dev.seek(SeekFrom::Start(0))?;
    dev.read_to_end(buf)?;
    Ok(())
}

/// An open `/dev/tcpstats`, or a file holding a stream captured from it:
/// one whole snapshot per call, into a buffer reused between calls. The
/// live FreeBSD source keeps one open; `replay --tcpstats-dev` opens the
/// capture.
pub struct TcpstatsDevice {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    warned_no_kaddr: bool,
}

impl TcpstatsDevice {
    /// Whether the module is loaded on this host (its device exists).
    pub fn present() -> bool {
        Path::new(DEVICE).exists()
    }

    pub fn open(path: impl Into<PathBuf>) -> Result<TcpstatsDevice, SourceError> {
        let path = path.into();
        let file = File::open(&path).map_err(|e| {
            let hint = if path == Path::new(DEVICE) {
                " (is the module loaded? `kldload tcpstats`; EBUSY means its reader limits were \
                 reached: dev.tcpstats.max_readers in all, of which \
                 dev.tcpstats.reserved_readers only for root, and \
                 dev.tcpstats.max_readers_per_uid per other user; see `sysctl dev.tcpstats`)"
            } else {
                ""
            };
            SourceError::io(format!("open {}{hint}", path.display()), e)
        })?;
        Ok(TcpstatsDevice {
            path,
            file,
            buf: Vec::new(),
            warned_no_kaddr: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append every socket of one snapshot to `out`. An incomplete snapshot
    /// (the kernel's byte or time limit) is used, logged with its remedy
    /// and reported as `inconsistent`; a stream that cannot be read
    /// correctly is an error naming the file and byte offset.
    pub fn snapshot(
        &mut self,
        ts: u64,
        out: &mut Vec<SocketRecord>,
    ) -> Result<StreamSummary, SourceError> {
        let what = self.path.display().to_string();
        read_stream(&mut self.file, &mut self.buf)
            .map_err(|e| SourceError::io(format!("read {what}"), e))?;
        let summary = parse(&self.buf, ts, out).map_err(|e| e.into_source_error(&what))?;
        if let Err(e) = summary.header.require_complete() {
            warn!("{what}: {e}");
        }
        if !summary.header.has_kernel_addresses() && summary.records > 0 && !self.warned_no_kaddr {
            self.warned_no_kaddr = true;
            warn!(
                "{what}: no socket addresses in the records (the reader was not root), so \
                 sockets cannot be joined to processes: run netpulse as root for pid and command"
            );
        }
        Ok(summary)
    }
}

/// A snapshot's summary as the source trait reports it.
pub fn scan_stats(summary: &StreamSummary) -> ScanStats {
    ScanStats {
        skipped: summary.skipped,
        inconsistent: !summary.header.complete(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: &str = include_str!("../../../tests/freebsd/tcpstats/layout.txt");

    fn layout(key: &str) -> Option<(u64, u64)> {
        LAYOUT.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == key).then(|| {
                let a = it.next().and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
                let b = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                (a, b)
            })
        })
    }

    #[test]
    fn layout_matches_the_c_header() {
        for (name, f) in abi::FIELDS {
            assert_eq!(
                layout(name),
                Some((f.off as u64, f.len as u64)),
                "{name}: Rust says {f:?}, tests/freebsd/tcpstats/layout.txt disagrees"
            );
        }
        for (name, v) in abi::CONSTS {
            let key = format!("const.{name}");
            assert_eq!(layout(&key).map(|x| x.0), Some(*v), "{key}");
        }
        assert_eq!(
            layout("sizeof.tcpstats_header").map(|x| x.0),
            Some(abi::HEADER_SIZE as u64)
        );
        assert_eq!(
            layout("sizeof.tcpstats_record").map(|x| x.0),
            Some(abi::RECORD_SIZE as u64)
        );
        // The table itself is not empty or stale-looking.
        assert!(LAYOUT.lines().count() > 100);
    }

    /// A test double of a log sink: keeps every byte the formatter writes.
    #[derive(Clone, Default)]
    struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
        type Writer = CapturedLog;

        fn make_writer(&'a self) -> CapturedLog {
            self.clone()
        }
    }

    /// What `polls` snapshots of a captured `stream` log.
    fn log_of_snapshots(stream: &[u8], polls: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.bin");
        std::fs::write(&path, stream).unwrap();
        let log = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut dev = TcpstatsDevice::open(&path).unwrap();
            assert_eq!(dev.path(), path);
            for _ in 0..polls {
                dev.snapshot(0, &mut Vec::new()).unwrap();
            }
        });
        String::from_utf8(log.0.lock().unwrap().clone()).unwrap()
    }

    const UNPRIVILEGED: &[u8] = include_bytes!("../../../tests/freebsd/tcpstats/unprivileged.bin");
    const NORMAL: &[u8] = include_bytes!("../../../tests/freebsd/tcpstats/normal.bin");

    /// Records without kernel addresses cannot be joined to processes: the
    /// operator is told once per device, not per poll, and only when there
    /// were records to join.
    #[test]
    fn missing_kernel_addresses_are_warned_about_once() {
        const WARNING: &str = "no socket addresses in the records";
        let log = log_of_snapshots(UNPRIVILEGED, 3);
        assert_eq!(log.matches(WARNING).count(), 1, "{log}");
        let log = log_of_snapshots(NORMAL, 2);
        assert_eq!(log.matches(WARNING).count(), 0, "{log}");
        let mut empty = UNPRIVILEGED[..abi::HEADER_SIZE].to_vec();
        let count = abi::TH_RECORD_COUNT;
        empty[count.off..count.off + count.len].copy_from_slice(&0u32.to_le_bytes());
        let log = log_of_snapshots(&empty, 2);
        assert_eq!(log.matches(WARNING).count(), 0, "{log}");
    }
}
