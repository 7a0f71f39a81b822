//! Socket → owning process, built by the standard tier and joined onto
//! every socket record until the next map replaces it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::KernelIdHash;
use crate::record::SocketRecord;

/// The process holding a socket open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub fd: i32,
    pub uid: Option<u32>,
    /// Shared so that every record of one process costs a refcount, not a copy.
    pub command: Arc<str>,
}

impl ProcessInfo {
    /// Fill `pid`, `fd`, `command` (and `uid` when the source had none).
    pub fn apply_to(&self, rec: &mut SocketRecord) {
        rec.set().pid(Some(self.pid));
        rec.set().fd(Some(self.fd));
        // An empty command means "not known" (e.g. a FreeBSD dump without kern.proc).
        rec.set()
            .command((!self.command.is_empty()).then(|| Arc::clone(&self.command)));
        if rec.uid().is_none() {
            rec.set().uid(self.uid);
        }
    }
}

/// Keyed by `SocketRecord::proc_key` (Linux inode, FreeBSD socket address).
#[derive(Clone, Debug)]
pub struct ProcessMap {
    by_key: HashMap<u64, ProcessInfo, KernelIdHash>,
    generation: u64,
    /// When set, only sockets whose `sock_id` is at most this join: the
    /// newest socket known to exist before the map was read.
    newest_sock_id: Option<u64>,
    /// Processes whose descriptors could not be read, where the source
    /// counts them.
    unreadable_processes: Option<u64>,
}

/// Source of `ProcessMap::generation` values, unique within the process.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

impl Default for ProcessMap {
    fn default() -> ProcessMap {
        ProcessMap {
            by_key: HashMap::default(),
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            newest_sock_id: None,
            unreadable_processes: None,
        }
    }
}

impl ProcessMap {
    pub fn new() -> ProcessMap {
        ProcessMap::default()
    }

    /// Changes whenever the contents may have: two maps with the same
    /// generation answer every lookup alike, so a join result can be
    /// remembered per socket until the map is replaced.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Record an owner. A socket shared by several processes (inherited
    /// across fork) is attributed to the lowest pid, so the answer does not
    /// depend on scan order.
    pub fn insert(&mut self, key: u64, info: ProcessInfo) {
        self.generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        match self.by_key.get(&key) {
            Some(old) if old.pid <= info.pid => {}
            _ => {
                self.by_key.insert(key, info);
            }
        }
    }

    pub fn get(&self, key: u64) -> Option<&ProcessInfo> {
        self.by_key.get(&key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Join only sockets with a `sock_id` of at most `newest`. For sources
    /// whose ids grow with every new socket (FreeBSD `inp_gencnt`) and whose
    /// join key is a kernel address the allocator hands to the next socket
    /// at once: a socket opened after the map was read would otherwise
    /// inherit the previous owner of its address. Newer sockets get no
    /// owner until the next map.
    pub fn join_only_up_to(&mut self, newest: u64) {
        self.generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        self.newest_sock_id = Some(newest);
    }

    /// Record how many processes' descriptors the scan could not read.
    pub fn set_unreadable_processes(&mut self, n: u64) {
        self.unreadable_processes = Some(n);
    }

    /// Processes whose descriptors the scan could not read; `None` where
    /// the source does not count them.
    pub fn unreadable_processes(&self) -> Option<u64> {
        self.unreadable_processes
    }

    /// The owner of the socket `rec`, by its `proc_key`.
    pub fn owner(&self, rec: &SocketRecord) -> Option<&ProcessInfo> {
        if let (Some(newest), Some(id)) = (self.newest_sock_id, rec.sock_id())
            && id > newest
        {
            return None;
        }
        rec.proc_key().and_then(|k| self.by_key.get(&k))
    }

    /// Fill `pid`, `fd`, `command` (and `uid` when the source had none).
    pub fn attribute(&self, rec: &mut SocketRecord) {
        if let Some(info) = self.owner(rec) {
            info.apply_to(rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    fn info(pid: u32, cmd: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            fd: 3,
            uid: Some(1000),
            command: Arc::from(cmd),
        }
    }

    #[test]
    fn lowest_pid_wins_and_join_fills_fields() {
        let mut m = ProcessMap::new();
        m.insert(42, info(200, "child"));
        m.insert(42, info(100, "parent"));
        m.insert(42, info(300, "grandchild"));
        let mut r = SocketRecord::new(
            0,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            TcpState::Established,
        );
        m.attribute(&mut r);
        assert_eq!(r.pid(), None, "no proc_key, no join");
        r.set().proc_key(Some(42));
        m.attribute(&mut r);
        assert_eq!(r.pid(), Some(100));
        assert_eq!(r.command().as_deref(), Some("parent"));
        assert_eq!(r.uid(), Some(1000));
    }
}
