//! The live macOS source. Sockets come from `net.inet.tcp.pcblist_n` (every
//! TCP pcb, with cwnd and RTT); owners from the libproc walk, joined on the
//! pcb generation count. Without root, libproc refuses other users'
//! processes: those are counted and logged, and their sockets keep no
//! owner, instead of the poll failing.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::layout::SOCKET_FDINFO_SIZE;
use super::{bsdinfo, libproc, owners, pcblist_n, tcpstat};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, TcpCounters};

const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct MacSource {
    sysctl_buf: Vec<u8>,
    pids: Vec<i32>,
    fds: Vec<u8>,
    last_warned: Option<Instant>,
}

impl MacSource {
    pub fn open() -> Result<MacSource, SourceError> {
        let mut s = MacSource {
            sysctl_buf: Vec::new(),
            pids: Vec::new(),
            fds: Vec::new(),
            last_warned: None,
        };
        // Fail at start, not at the first tick, when the sysctl is missing.
        libproc::sysctl_bytes(c"net.inet.tcp.pcblist_n", &mut s.sysctl_buf)
            .map_err(|e| SourceError::io(pcblist_n::SYSCTL, e))?;
        Ok(s)
    }

    fn warn_limited(&mut self, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        if self
            .last_warned
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last_warned = Some(now);
            warn!("{}", msg());
        }
    }
}

impl Source for MacSource {
    fn name(&self) -> &'static str {
        "macos"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        libproc::sysctl_bytes(c"net.inet.tcp.pcblist_n", &mut self.sysctl_buf)
            .map_err(|e| SourceError::io(pcblist_n::SYSCTL, e))?;
        let s = pcblist_n::parse(&self.sysctl_buf, pcblist_n::SYSCTL, ts, out)?;
        Ok(ScanStats {
            skipped: s.skipped,
            inconsistent: !s.consistent(),
        })
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        libproc::list_pids(&mut self.pids).map_err(|e| SourceError::io("proc_listpids", e))?;
        let map = owners::walk(&self.pids, &mut Libproc, &mut self.fds);
        let refused = map.unreadable_processes().unwrap_or(0);
        if refused > 0 {
            self.warn_limited(|| {
                format!(
                    "libproc: {refused} processes' descriptors could not be read ({}); their \
                     sockets have no pid or command. Run as root to see them.",
                    io::Error::from_raw_os_error(libc::EPERM)
                )
            });
        }
        Ok(map)
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        libproc::sysctl_bytes(c"net.inet.tcp.stats", &mut self.sysctl_buf)
            .map_err(|e| SourceError::io(tcpstat::SYSCTL, e))?;
        tcpstat::parse(&self.sysctl_buf, tcpstat::SYSCTL)
    }
}

/// The real libproc calls, for the process walk.
struct Libproc;

impl owners::ProcessTable for Libproc {
    fn list_fds(&mut self, pid: i32, out: &mut Vec<u8>) -> io::Result<()> {
        libproc::list_fds(pid, out)
    }

    fn socket_info(
        &mut self,
        pid: i32,
        fd: i32,
        out: &mut [u8; SOCKET_FDINFO_SIZE],
    ) -> io::Result<()> {
        libproc::socket_info(pid, fd, out)
    }

    fn command(&mut self, pid: i32) -> Arc<str> {
        libproc::bsd_info(pid)
            .ok()
            .and_then(|b| bsdinfo::decode(&b).ok())
            .map_or_else(|| Arc::from(""), |b| Arc::from(b.command))
    }
}
