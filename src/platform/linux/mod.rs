//! Linux: NETLINK_SOCK_DIAG socket dumps, /proc process attribution and
//! /proc/net counters.
//!
//! PLACEHOLDER until the Linux source lands (issue 2): opening it fails
//! with a clear message rather than pretending to sample.

use super::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, TcpCounters};

pub struct LinuxSource {}

impl LinuxSource {
    pub fn open() -> Result<LinuxSource, SourceError> {
        Err(SourceError::Unavailable {
            name: "linux".into(),
            reason: "the sock_diag reader is not built yet".into(),
        })
    }
}

impl Source for LinuxSource {
    fn name(&self) -> &'static str {
        "linux"
    }
    fn sockets(
        &mut self,
        _ts: u64,
        _out: &mut Vec<SocketRecord>,
    ) -> Result<ScanStats, SourceError> {
        Ok(ScanStats::default())
    }
    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        Ok(ProcessMap::new())
    }
    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        Ok(TcpCounters::default())
    }
}
