//! Platform sources: where socket tables, process maps and system counters
//! come from. Everything above this module is platform-independent.

pub mod freebsd;
mod kernel_id_hash;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod macos;
mod process_map;

use std::path::PathBuf;

pub use kernel_id_hash::{KernelIdHash, KernelIdHasher};
pub use process_map::{ProcessInfo, ProcessMap};

use crate::record::{SocketRecord, StateCounts, TcpCounters};

/// Allocator settings that keep resident memory near what is live (glibc
/// on Linux: see `linux::allocator`; elsewhere nothing to do). Call once,
/// first thing, before any thread starts.
pub fn keep_heap_compact() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    linux::allocator::keep_heap_compact();
}

/// Hand memory freed after an unusually large batch back to the system
/// (glibc; FreeBSD's and macOS's allocators return large blocks on their
/// own).
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    linux::allocator::give_back_freed();
}

/// What went wrong reading a platform source. Every variant says which
/// input failed so the operator knows where to look.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
    #[error("malformed {what} at byte {offset}: {reason}")]
    Malformed {
        what: String,
        offset: usize,
        reason: String,
    },
    #[error("source `{name}` is not available here: {reason}")]
    Unavailable { name: String, reason: String },
    #[error("{path}: {cause}")]
    File {
        path: PathBuf,
        cause: Box<SourceError>,
    },
}

impl SourceError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> SourceError {
        SourceError::Io {
            what: what.into(),
            cause: source,
        }
    }

    pub fn malformed(
        what: impl Into<String>,
        offset: usize,
        reason: impl Into<String>,
    ) -> SourceError {
        SourceError::Malformed {
            what: what.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// What a socket scan met besides the sockets it returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Records skipped because they were malformed (each is logged).
    pub skipped: u64,
    /// The kernel table changed while it was read and retries ran out, so
    /// the table may mix two moments (FreeBSD generation mismatch).
    pub inconsistent: bool,
}

/// A platform's view of the host's TCP sockets. Methods block; the daemon
/// calls them from blocking tasks, one tier at a time per method.
pub trait Source: Send {
    /// Short name for logs (`linux`, `freebsd-sysctl`, `replay`).
    fn name(&self) -> &'static str;

    /// Fast tier: append every TCP socket to `out` (the caller clears it),
    /// stamped with `ts`. Process fields are left for the process map.
    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError>;

    /// Every TCP socket, handed to `each` a part at a time (the part is
    /// cleared after each call), for callers that only count: they never
    /// hold the whole table. The default reads the whole table and hands it
    /// over as one part.
    fn sockets_in_parts(
        &mut self,
        ts: u64,
        each: &mut dyn FnMut(&mut Vec<SocketRecord>),
    ) -> Result<ScanStats, SourceError> {
        let mut all = Vec::new();
        let stats = self.sockets(ts, &mut all)?;
        each(&mut all);
        Ok(stats)
    }

    /// Standard tier: which process owns which socket.
    fn processes(&mut self) -> Result<ProcessMap, SourceError>;

    /// Standard tier: system TCP counters since boot.
    fn counters(&mut self) -> Result<TcpCounters, SourceError>;

    /// Slow tier: the kernel's own count of sockets per state, where the
    /// platform keeps one (FreeBSD `net.inet.tcp.states`). `None` means
    /// "count the socket table".
    fn state_counts(&mut self) -> Result<Option<StateCounts>, SourceError> {
        Ok(None)
    }
}

/// Which source to use (`[agent] source`, `--source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum SourceKind {
    /// The best this host offers: Linux sock_diag; FreeBSD's module when
    /// loaded, else sysctl; macOS pcblist_n with libproc.
    #[default]
    Auto,
    Linux,
    FreebsdKmod,
    FreebsdSysctl,
    Macos,
}

impl SourceKind {
    pub const NAMES: [&'static str; 5] =
        ["auto", "linux", "freebsd-kmod", "freebsd-sysctl", "macos"];

    pub fn from_name(s: &str) -> Option<SourceKind> {
        Some(match s {
            "auto" => SourceKind::Auto,
            "linux" => SourceKind::Linux,
            "freebsd-kmod" => SourceKind::FreebsdKmod,
            "freebsd-sysctl" => SourceKind::FreebsdSysctl,
            "macos" => SourceKind::Macos,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

fn unavailable(kind: SourceKind, reason: &str) -> SourceError {
    SourceError::Unavailable {
        name: kind.name().to_string(),
        reason: reason.to_string(),
    }
}

/// Open the live source for this host.
pub fn open(kind: SourceKind) -> Result<Box<dyn Source>, SourceError> {
    #[cfg(target_os = "linux")]
    {
        match kind {
            SourceKind::Auto | SourceKind::Linux => Ok(Box::new(linux::LinuxSource::open()?)),
            _ => Err(unavailable(
                kind,
                "this is a Linux host; use source = \"linux\" or \"auto\", or `netpulse replay` for FreeBSD and macOS dumps",
            )),
        }
    }
    #[cfg(target_os = "freebsd")]
    {
        freebsd::open_live(kind)
    }
    #[cfg(target_os = "macos")]
    {
        match kind {
            SourceKind::Auto | SourceKind::Macos => Ok(Box::new(macos::MacSource::open()?)),
            _ => Err(unavailable(
                kind,
                "this is a macOS host; use source = \"macos\" or \"auto\"",
            )),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
    {
        Err(unavailable(
            kind,
            "this operating system is not supported yet",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_name_round_trips() {
        for name in SourceKind::NAMES {
            let kind = SourceKind::from_name(name).unwrap();
            assert_eq!(kind.name(), name);
        }
        assert_eq!(SourceKind::from_name("macos"), Some(SourceKind::Macos));
        assert_eq!(SourceKind::from_name("darwin"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn macos_source_on_linux_is_unavailable_and_says_so() {
        let Err(e) = open(SourceKind::Macos) else {
            panic!("the macOS source opened on Linux");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("`macos`") && msg.contains("Linux host"),
            "{msg}"
        );
    }
}
