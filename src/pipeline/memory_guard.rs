//! `agent.memory_limit`: the agent reads its own resident size before each
//! poll. Past the limit it skips the work nothing depends on (the process
//! scan, whose last map stays in use, and the live endpoint's copies of
//! each batch) and warns at most once a minute, so a service manager's
//! hard limit set above it is not reached by that work.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tracing::{info, warn};

use super::log_limit::LogLimit;

const WARN_PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct MemoryGuard {
    /// Bytes; 0 = no limit.
    limit: AtomicU64,
    /// Resident bytes at the last check; 0 = not known here.
    resident: AtomicU64,
    over: AtomicBool,
    log: Mutex<LogLimit>,
}

impl Default for MemoryGuard {
    fn default() -> MemoryGuard {
        MemoryGuard {
            limit: AtomicU64::new(0),
            resident: AtomicU64::new(0),
            over: AtomicBool::new(false),
            log: Mutex::new(LogLimit::new(WARN_PERIOD)),
        }
    }
}

impl MemoryGuard {
    /// Set or clear the limit (start and reload).
    pub fn set_limit(&self, limit: Option<u64>) {
        self.limit.store(limit.unwrap_or(0), Relaxed);
        if limit.is_some() && resident_bytes().is_none() {
            warn!(
                "agent.memory_limit is set, but this platform does not report the agent's resident size: the limit is not checked"
            );
        }
    }

    /// Read the resident size; whether optional work is to be skipped.
    pub fn check(&self) -> bool {
        match resident_bytes() {
            Some(rss) => self.note(rss),
            None => false,
        }
    }

    /// Whether the last check found the agent past its limit.
    pub fn over(&self) -> bool {
        self.over.load(Relaxed)
    }

    /// Resident bytes at the last check, where the platform reports it.
    pub fn resident(&self) -> Option<u64> {
        Some(self.resident.load(Relaxed)).filter(|&b| b > 0)
    }

    /// [`MemoryGuard::check`] with a resident size read elsewhere.
    pub(crate) fn note(&self, rss: u64) -> bool {
        self.resident.store(rss, Relaxed);
        let limit = self.limit.load(Relaxed);
        let over = limit > 0 && rss > limit;
        let was = self.over.swap(over, Relaxed);
        if over {
            let allowed = self.log.lock().ok().and_then(|mut l| l.allow());
            if let Some(more) = allowed {
                warn!(
                    resident_bytes = rss,
                    limit_bytes = limit,
                    "past agent.memory_limit: skipping process scans and live endpoint updates ({more} more checks over the limit since the last warning)"
                );
            }
        } else if was {
            info!(
                resident_bytes = rss,
                limit_bytes = limit,
                "back under agent.memory_limit"
            );
        }
        over
    }
}

/// This process's resident size (`VmRSS` of `/proc/self/status`, Linux).
#[cfg(target_os = "linux")]
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = kib.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(not(target_os = "linux"))]
pub fn resident_bytes() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_only_past_a_set_limit() {
        let g = MemoryGuard::default();
        assert!(!g.note(u64::MAX / 2), "no limit: never over");
        g.set_limit(Some(64 << 20));
        assert!(!g.note(64 << 20), "at the limit is not past it");
        assert!(g.note((64 << 20) + 1));
        assert!(g.over());
        assert_eq!(g.resident(), Some((64 << 20) + 1));
        assert!(!g.note(32 << 20), "back under");
        assert!(!g.over());
        g.set_limit(None);
        assert!(!g.note(u64::MAX / 2));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_resident_size() {
        let before = resident_bytes().expect("/proc/self/statm");
        // Touch 32 MiB: the resident size must grow by about that.
        let block = vec![1u8; 32 << 20];
        let after = resident_bytes().unwrap();
        assert!(
            after >= before + (24 << 20),
            "{before} -> {after} with 32 MiB touched"
        );
        std::hint::black_box(&block);
    }
}
