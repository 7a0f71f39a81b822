//! The macOS replay source: the pcblist_n parser over a dump captured on a
//! Mac with `sysctl -b net.inet.tcp.pcblist_n > FILE` (and optionally
//! `sysctl -b net.inet.tcp.stats`), read anywhere. Every error names the
//! file and the byte offset.

use std::path::{Path, PathBuf};

use tracing::warn;

use super::{pcblist_n, tcpstat};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, TcpCounters};

/// Which dumps to read. Only the socket table is required.
#[derive(Clone, Debug)]
pub struct MacReplayInputs {
    /// `sysctl -b net.inet.tcp.pcblist_n`
    pub pcblist_n: PathBuf,
    /// `sysctl -b net.inet.tcp.stats`
    pub tcp_stats: Option<PathBuf>,
}

struct Dump {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Dump {
    fn read(path: &Path) -> Result<Dump, SourceError> {
        let bytes = crate::platform::freebsd::replay::read_undeclared_dump(path)?;
        Ok(Dump {
            path: path.to_path_buf(),
            bytes,
        })
    }

    fn err(&self, e: SourceError) -> SourceError {
        SourceError::File {
            path: self.path.clone(),
            cause: Box::new(e),
        }
    }
}

pub struct MacReplaySource {
    pcblist_n: Dump,
    tcp_stats: Option<Dump>,
}

impl MacReplaySource {
    /// Read every given file now, so a missing file fails before any output.
    pub fn open(inputs: &MacReplayInputs) -> Result<MacReplaySource, SourceError> {
        Ok(MacReplaySource {
            pcblist_n: Dump::read(&inputs.pcblist_n)?,
            tcp_stats: inputs.tcp_stats.as_deref().map(Dump::read).transpose()?,
        })
    }
}

impl Source for MacReplaySource {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        let d = &self.pcblist_n;
        let s = pcblist_n::parse(&d.bytes, pcblist_n::SYSCTL, ts, out).map_err(|e| d.err(e))?;
        let inconsistent = !s.consistent();
        if inconsistent {
            warn!(
                "{}: the socket table changed while it was captured (generation {} at the \
                 start, {:?} at the end); it may mix two moments",
                d.path.display(),
                s.header_gen,
                s.trailer_gen
            );
        }
        Ok(ScanStats {
            skipped: s.skipped,
            inconsistent,
        })
    }

    /// A pcblist_n dump names no processes (that is libproc's part, which
    /// only runs on the Mac itself).
    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        Ok(ProcessMap::new())
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        match &self.tcp_stats {
            Some(d) => tcpstat::parse(&d.bytes, tcpstat::SYSCTL).map_err(|e| d.err(e)),
            None => Ok(TcpCounters::default()),
        }
    }
}
