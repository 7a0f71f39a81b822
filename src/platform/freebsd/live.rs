//! The live FreeBSD source: sysctl tables read through `sysctl`, parsed by
//! the same code as replayed dumps. Only the wiring is here; the logic
//! (`pcblist_read`, `command_lookup`, `kernel_hz`, `sysctl_read`) is built
//! and tested on every platform.

use std::collections::HashSet;

use tracing::{error, info};

use super::command_cache::CommandCache;
use super::pcblist_read::PcblistReader;
use super::tcpstats_dev::{self, TcpstatsDevice};
use super::{command_lookup, kern_file, kernel_hz, pcblist, sysctl, tcp_states, tcpstat};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError, SourceKind};
use crate::record::{SocketRecord, StateCounts, TcpCounters};

const _: () = assert!(
    cfg!(target_endian = "little"),
    "the FreeBSD parsers read little-endian (amd64, arm64) kernel structures"
);

/// Where the socket table comes from: the tcpstats kernel module's device
/// (RTT, RTO, sequence numbers) or `net.inet.tcp.pcblist`.
enum SocketReader {
    Pcblist(PcblistReader),
    Tcpstats { dev: TcpstatsDevice },
}

impl SocketReader {
    /// One table into `out`, with the TCP generation it was read at.
    fn read(
        &mut self,
        ts: u64,
        out: &mut Vec<SocketRecord>,
    ) -> Result<(ScanStats, u64), SourceError> {
        match self {
            SocketReader::Pcblist(pcblist) => pcblist.read(ts, out, |buf| {
                sysctl::read_by_name(c"net.inet.tcp.pcblist", buf)
            }),
            SocketReader::Tcpstats { dev } => {
                let start = out.len();
                let s = dev.snapshot(ts, out).inspect_err(|_| out.truncate(start))?;
                Ok((tcpstats_dev::scan_stats(&s), s.header.generation))
            }
        }
    }

    /// Forget what earlier reads showed (the probe read at open, which is
    /// not a scan).
    fn forget_history(&mut self) {
        if let SocketReader::Pcblist(pcblist) = self {
            pcblist.forget_history();
        }
    }

    fn name(&self) -> &'static str {
        match self {
            SocketReader::Pcblist(_) => "freebsd-sysctl",
            SocketReader::Tcpstats { .. } => "freebsd-kmod",
        }
    }

    /// `freebsd-kmod` requires the module; `auto` prefers it when loaded
    /// and falls back to pcblist, saying which it uses.
    fn choose(kind: SourceKind) -> Result<SocketReader, SourceError> {
        let pcblist = || SocketReader::Pcblist(PcblistReader::new(clock_rate()));
        match kind {
            SourceKind::FreebsdKmod => Ok(SocketReader::Tcpstats {
                dev: TcpstatsDevice::open(tcpstats_dev::DEVICE)?,
            }),
            SourceKind::Auto if TcpstatsDevice::present() => {
                match TcpstatsDevice::open(tcpstats_dev::DEVICE) {
                    Ok(dev) => {
                        info!(
                            "sockets from {} (tcpstats kernel module)",
                            tcpstats_dev::DEVICE
                        );
                        Ok(SocketReader::Tcpstats { dev })
                    }
                    Err(e) => {
                        // Loud: the agent loses RTT and sequence data, and
                        // a refusal can mean other users hold the device.
                        error!(
                            "{e}; the tcpstats module is loaded but refused this reader, so \
                             sockets come from {} without RTT, RTO or sequence numbers",
                            pcblist::SYSCTL
                        );
                        Ok(pcblist())
                    }
                }
            }
            _ => {
                info!(
                    "sockets from {} (load the tcpstats kernel module for RTT, RTO and \
                     sequence numbers)",
                    pcblist::SYSCTL
                );
                Ok(pcblist())
            }
        }
    }
}

/// The kernel's clock rate (`kern.hz`), which sets where pcblist's idle
/// time wraps.
fn clock_rate() -> u32 {
    let mut buf = Vec::new();
    kernel_hz::from_sysctl(sysctl::read_by_name(c"kern.hz", &mut buf).map(|()| &buf[..]))
}

pub struct FreeBsdSource {
    sockets: SocketReader,
    /// TCP generation of the latest socket table read; the process map
    /// read after it joins no newer socket.
    generation: u64,
    files_buf: Vec<u8>,
    proc_buf: Vec<u8>,
    stats_buf: Vec<u8>,
    commands: CommandCache,
}

impl FreeBsdSource {
    /// The live source; reads the socket table once so that a host where
    /// it cannot work fails here, with the reason.
    pub fn open(kind: SourceKind) -> Result<FreeBsdSource, SourceError> {
        let mut src = FreeBsdSource {
            sockets: SocketReader::choose(kind)?,
            generation: 0,
            files_buf: Vec::new(),
            proc_buf: Vec::new(),
            stats_buf: Vec::new(),
            commands: CommandCache::new(),
        };
        let mut probe = Vec::new();
        src.generation = src.sockets.read(0, &mut probe)?.1;
        src.sockets.forget_history();
        Ok(src)
    }

    fn command_of(&mut self, pid: u32) -> Option<std::sync::Arc<str>> {
        command_lookup::command_of(&mut self.commands, pid, &mut self.proc_buf, |buf| {
            let mib = [
                libc::CTL_KERN,
                libc::KERN_PROC,
                libc::KERN_PROC_PID,
                pid as libc::c_int,
            ];
            sysctl::read_by_mib(&mib, buf)
        })
    }
}

impl Source for FreeBsdSource {
    fn name(&self) -> &'static str {
        self.sockets.name()
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        let (stats, generation) = self.sockets.read(ts, out)?;
        self.generation = generation;
        Ok(stats)
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        // Taken before kern.file is read: every socket up to it existed then.
        let generation = self.generation;
        sysctl::read_by_name(c"kern.file", &mut self.files_buf)
            .map_err(|e| SourceError::io(kern_file::SYSCTL, e))?;
        let files = kern_file::parse(&self.files_buf, kern_file::SYSCTL)?;
        let live: HashSet<u32> = files.iter().map(|f| f.pid).collect();
        self.commands.retain_live(&live);
        let mut names = std::collections::HashMap::with_capacity(live.len());
        for pid in live {
            if let Some(c) = self.command_of(pid) {
                names.insert(pid, c);
            }
        }
        Ok(kern_file::process_map(&files, Some(generation), |pid| {
            names.get(&pid).cloned()
        }))
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        sysctl::read_by_name(c"net.inet.tcp.stats", &mut self.stats_buf)
            .map_err(|e| SourceError::io(tcpstat::SYSCTL, e))?;
        tcpstat::parse(&self.stats_buf, tcpstat::SYSCTL)
    }

    fn state_counts(&mut self) -> Result<Option<StateCounts>, SourceError> {
        sysctl::read_by_name(c"net.inet.tcp.states", &mut self.stats_buf)
            .map_err(|e| SourceError::io(tcp_states::SYSCTL, e))?;
        tcp_states::parse(&self.stats_buf, tcp_states::SYSCTL).map(Some)
    }
}
