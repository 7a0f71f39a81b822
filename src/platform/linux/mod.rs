//! Linux: NETLINK_SOCK_DIAG socket dumps, /proc process attribution and
//! /proc/net counters.
//!
//! - `netlink`: FFI for the dump (socket, send, recv into one reused buffer).
//! - `huge_pages`: FFI advice (`madvise`) for the large socket table.
//! - `sock_diag`: request builder and pure parser, kernel bytes → records.
//! - `procfs`: socket inode → owning process from `/proc/<pid>/fd`.
//! - `snmp`: `/proc/net/snmp` and `/proc/net/netstat` → `TcpCounters`.

mod huge_pages;
mod netlink;
pub mod procfs;
pub mod snmp;
pub mod sock_diag;

use std::path::PathBuf;

use tracing::debug;

use super::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, TcpCounters};
use netlink::DiagSocket;
use sock_diag::Progress;

pub struct LinuxSource {
    /// `None` after a failed dump: the next scan opens a fresh socket so
    /// replies left over from the failed dump cannot mix in.
    diag: Option<DiagSocket>,
    seq: u32,
    procs: procfs::ProcScanner,
    net_dir: PathBuf,
    /// Sockets seen by the last scan, to size the output once (records
    /// are large; regrowing a 40,000-record vector copies tens of MiB).
    last_count: usize,
}

impl LinuxSource {
    pub fn open() -> Result<LinuxSource, SourceError> {
        let diag = DiagSocket::open().map_err(|e| {
            SourceError::io(
                "opening a NETLINK_SOCK_DIAG socket (needs a Linux kernel with sock_diag; \
                 check `ss -t` works)",
                e,
            )
        })?;
        Ok(LinuxSource {
            diag: Some(diag),
            seq: 0,
            procs: procfs::ProcScanner::new("/proc"),
            net_dir: PathBuf::from("/proc/net"),
            last_count: 0,
        })
    }

    /// One complete dump of one address family into `out`.
    fn dump_family(
        &mut self,
        family: u8,
        ts: u64,
        out: &mut Vec<SocketRecord>,
        stats: &mut ScanStats,
    ) -> Result<(), SourceError> {
        let diag = match &mut self.diag {
            Some(d) => d,
            None => self.diag.insert(
                DiagSocket::open().map_err(|e| SourceError::io("reopening sock_diag socket", e))?,
            ),
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        diag.send(&sock_diag::dump_request(family, seq))
            .map_err(|e| SourceError::io("sending a sock_diag dump request", e))?;
        loop {
            let buf = diag
                .recv()
                .map_err(|e| SourceError::io("receiving the sock_diag dump", e))?;
            if sock_diag::parse_datagram(buf, seq, ts, out, stats)? == Progress::Done {
                return Ok(());
            }
        }
    }
}

impl Source for LinuxSource {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        let mut stats = ScanStats::default();
        let expected = match self.last_count {
            0 => snmp::sockstat_estimate(&self.net_dir).unwrap_or(0),
            n => n,
        };
        let capacity = out.capacity();
        out.reserve(expected + expected / 16 + 64);
        if out.capacity() != capacity {
            huge_pages::advise(out);
        }
        let start = out.len();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            if let Err(e) = self.dump_family(family, ts, out, &mut stats) {
                self.diag = None;
                // A kernel without IPv6 has no AF_INET6 diag handler.
                if family == libc::AF_INET6 as u8 && is_no_handler(&e) {
                    continue;
                }
                return Err(e);
            }
        }
        self.last_count = out.len() - start;
        Ok(stats)
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        let map = self.procs.scan()?;
        let st = self.procs.last_stats();
        debug!(
            processes = st.processes,
            sockets = st.sockets,
            skipped = st.skipped,
            probed = st.probed,
            "process scan"
        );
        Ok(map)
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        snmp::read(&self.net_dir)
    }
}

fn is_no_handler(e: &SourceError) -> bool {
    matches!(e, SourceError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOENT))
}
