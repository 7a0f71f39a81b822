//! The live FreeBSD source: sysctl tables read through `sysctl`, parsed by
//! the same code as replayed dumps.

use std::collections::HashSet;

use tracing::{debug, info, warn};

use super::command_cache::CommandCache;
use super::tcpstats_dev::{self, TcpstatsDevice};
use super::{kern_file, kinfo_proc, pcblist, sysctl, tcp_states, tcpstat};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError, SourceKind};
use crate::record::{SocketRecord, StateCounts, TcpCounters};

const _: () = assert!(
    cfg!(target_endian = "little"),
    "the FreeBSD parsers read little-endian (amd64, arm64) kernel structures"
);

/// Reads of a table whose generation changed while it was copied out,
/// before the last one is used anyway and counted as inconsistent.
const GENERATION_RETRIES: usize = 3;

/// Where the socket table comes from: the tcpstats kernel module's device
/// (RTT, RTO, sequence numbers) or `net.inet.tcp.pcblist`.
enum SocketReader {
    Pcblist { buf: Vec<u8> },
    Tcpstats { dev: TcpstatsDevice },
}

impl SocketReader {
    fn read(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        match self {
            SocketReader::Pcblist { buf } => read_pcblist(buf, ts, out),
            SocketReader::Tcpstats { dev } => {
                let start = out.len();
                let s = dev.snapshot(ts, out).inspect_err(|_| out.truncate(start))?;
                Ok(tcpstats_dev::scan_stats(&s))
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            SocketReader::Pcblist { .. } => "freebsd-sysctl",
            SocketReader::Tcpstats { .. } => "freebsd-kmod",
        }
    }

    /// `freebsd-kmod` requires the module; `auto` prefers it when loaded
    /// and falls back to pcblist, saying which it uses.
    fn choose(kind: SourceKind) -> Result<SocketReader, SourceError> {
        let pcblist = || SocketReader::Pcblist { buf: Vec::new() };
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
                        warn!("{e}; falling back to {}", pcblist::SYSCTL);
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

fn read_pcblist(
    buf: &mut Vec<u8>,
    ts: u64,
    out: &mut Vec<SocketRecord>,
) -> Result<ScanStats, SourceError> {
    let start = out.len();
    for attempt in 0..=GENERATION_RETRIES {
        sysctl::read_by_name(c"net.inet.tcp.pcblist", buf)
            .map_err(|e| SourceError::io(pcblist::SYSCTL, e))?;
        out.truncate(start);
        let s = pcblist::parse(buf, pcblist::SYSCTL, ts, out)?;
        if s.consistent() {
            return Ok(ScanStats {
                skipped: s.skipped,
                inconsistent: false,
            });
        }
        debug!(
            "{}: generation {} → {} during read {attempt}; retrying",
            pcblist::SYSCTL,
            s.header_gen,
            s.trailer_gen
        );
        if attempt == GENERATION_RETRIES {
            warn!(
                "{}: the socket table kept changing over {} reads; using the last one",
                pcblist::SYSCTL,
                GENERATION_RETRIES + 1
            );
            return Ok(ScanStats {
                skipped: s.skipped,
                inconsistent: true,
            });
        }
    }
    Ok(ScanStats::default())
}

pub struct FreeBsdSource {
    sockets: SocketReader,
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
            files_buf: Vec::new(),
            proc_buf: Vec::new(),
            stats_buf: Vec::new(),
            commands: CommandCache::new(),
        };
        let mut probe = Vec::new();
        src.sockets.read(0, &mut probe)?;
        Ok(src)
    }

    fn command_of(&mut self, pid: u32) -> Option<std::sync::Arc<str>> {
        if let Some(c) = self.commands.get(pid) {
            return Some(c);
        }
        let mib = [
            libc::CTL_KERN,
            libc::KERN_PROC,
            libc::KERN_PROC_PID,
            pid as libc::c_int,
        ];
        match sysctl::read_by_mib(&mib, &mut self.proc_buf) {
            Ok(true) => {}
            Ok(false) => return None, // exited since kern.file was read
            Err(e) => {
                debug!("kern.proc.pid.{pid}: {e}");
                return None;
            }
        }
        let what = format!("kern.proc.pid.{pid}");
        match kinfo_proc::parse(&self.proc_buf, &what) {
            Ok(list) => {
                let (_, command) = list.into_iter().find(|(p, _)| *p == pid)?;
                self.commands.insert(pid, command.clone());
                Some(command)
            }
            Err(e) => {
                warn!("{e}");
                None
            }
        }
    }
}

impl Source for FreeBsdSource {
    fn name(&self) -> &'static str {
        self.sockets.name()
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        self.sockets.read(ts, out)
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
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
        Ok(kern_file::process_map(&files, |pid| {
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
