//! The replay source: the same parsers over dumps captured on a FreeBSD
//! host with `sysctl -b NAME > FILE` (or `cat /dev/tcpstats > FILE`), so a
//! host can be analysed offline. Every error names the file and the byte
//! offset.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use super::{kern_file, kinfo_proc, pcblist, tcp_states, tcpstat, tcpstats_dev};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, StateCounts, TcpCounters};

/// Where the socket table was captured from.
#[derive(Clone, Debug)]
pub enum SocketsDump {
    /// `sysctl -b net.inet.tcp.pcblist`
    Pcblist(PathBuf),
    /// `cat /dev/tcpstats` (the tcpstats kernel module)
    TcpstatsDev(PathBuf),
}

/// Which dumps to read. Only the socket table is required.
#[derive(Clone, Debug)]
pub struct ReplayInputs {
    pub sockets: SocketsDump,
    /// `sysctl -b kern.file`
    pub kern_file: Option<PathBuf>,
    /// `sysctl -b kern.proc.all`
    pub kern_proc: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.stats`
    pub tcp_stats: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.states`
    pub tcp_states: Option<PathBuf>,
}

/// A dump read into memory.
struct Dump {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Dump {
    fn read(path: &Path) -> Result<Dump, SourceError> {
        let bytes = std::fs::read(path).map_err(|e| SourceError::File {
            path: path.to_path_buf(),
            source: Box::new(SourceError::io("reading the dump", e)),
        })?;
        Ok(Dump {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Put the file name in front of a parser error.
    fn err(&self, e: SourceError) -> SourceError {
        SourceError::File {
            path: self.path.clone(),
            source: Box::new(e),
        }
    }
}

pub struct ReplaySource {
    sockets: Dump,
    tcpstats_dev: bool,
    kern_file: Option<Dump>,
    kern_proc: Option<Dump>,
    tcp_stats: Option<Dump>,
    tcp_states: Option<Dump>,
    /// The socket table's TCP generation once it has been read; the
    /// process map joins no socket newer than it.
    generation: Option<u64>,
}

impl ReplaySource {
    /// Read every given file now, so a missing file fails before any output.
    pub fn open(inputs: &ReplayInputs) -> Result<ReplaySource, SourceError> {
        let opt = |p: &Option<PathBuf>| p.as_deref().map(Dump::read).transpose();
        let (sockets, tcpstats_dev) = match &inputs.sockets {
            SocketsDump::Pcblist(p) => (Dump::read(p)?, false),
            SocketsDump::TcpstatsDev(p) => (Dump::read(p)?, true),
        };
        Ok(ReplaySource {
            sockets,
            tcpstats_dev,
            kern_file: opt(&inputs.kern_file)?,
            kern_proc: opt(&inputs.kern_proc)?,
            tcp_stats: opt(&inputs.tcp_stats)?,
            tcp_states: opt(&inputs.tcp_states)?,
            generation: None,
        })
    }
}

impl Source for ReplaySource {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        let d = &self.sockets;
        if self.tcpstats_dev {
            let what = d.path.display().to_string();
            let s =
                tcpstats_dev::parse(&d.bytes, ts, out).map_err(|e| e.into_source_error(&what))?;
            if let Err(e) = s.header.require_complete() {
                warn!("{what}: {e}");
            }
            self.generation = Some(s.header.generation);
            return Ok(tcpstats_dev::scan_stats(&s));
        }
        let s = pcblist::parse(&d.bytes, pcblist::SYSCTL, ts, out).map_err(|e| d.err(e))?;
        self.generation = Some(s.header_gen);
        let inconsistent = !s.consistent();
        if inconsistent {
            warn!(
                "{}: the socket table changed while it was captured (generation {} at the \
                 start, {} at the end; {} sockets announced, {} read); it may mix two moments",
                d.path.display(),
                s.header_gen,
                s.trailer_gen,
                s.header_count,
                s.records
            );
        }
        Ok(ScanStats {
            skipped: s.skipped,
            inconsistent,
        })
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        let Some(files) = &self.kern_file else {
            return Ok(ProcessMap::new());
        };
        let owners = kern_file::parse(&files.bytes, kern_file::SYSCTL).map_err(|e| files.err(e))?;
        let mut names: HashMap<u32, Arc<str>> = HashMap::new();
        if let Some(procs) = &self.kern_proc {
            let parsed =
                kinfo_proc::parse(&procs.bytes, kinfo_proc::SYSCTL).map_err(|e| procs.err(e))?;
            names.extend(parsed);
        }
        Ok(kern_file::process_map(&owners, self.generation, |pid| {
            names.get(&pid).cloned()
        }))
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        match &self.tcp_stats {
            Some(d) => tcpstat::parse(&d.bytes, tcpstat::SYSCTL).map_err(|e| d.err(e)),
            None => Ok(TcpCounters::default()),
        }
    }

    fn state_counts(&mut self) -> Result<Option<StateCounts>, SourceError> {
        self.tcp_states
            .as_ref()
            .map(|d| tcp_states::parse(&d.bytes, tcp_states::SYSCTL).map_err(|e| d.err(e)))
            .transpose()
    }
}
