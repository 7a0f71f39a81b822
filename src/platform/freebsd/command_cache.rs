//! pid → command name, kept between standard-tier scans so that only
//! processes not seen before cost a `kern.proc.pid.<pid>` read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct CommandCache {
    by_pid: HashMap<u32, Arc<str>>,
}

impl CommandCache {
    pub fn new() -> CommandCache {
        CommandCache::default()
    }

    pub fn get(&self, pid: u32) -> Option<Arc<str>> {
        self.by_pid.get(&pid).cloned()
    }

    pub fn insert(&mut self, pid: u32, command: Arc<str>) {
        self.by_pid.insert(pid, command);
    }

    /// Forget every pid not in `live`: a vanished process's name must not
    /// be reused for a later process that gets the same pid.
    pub fn retain_live(&mut self, live: &HashSet<u32>) {
        self.by_pid.retain(|pid, _| live.contains(pid));
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_pids_are_forgotten() {
        let mut c = CommandCache::new();
        c.insert(10, Arc::from("sshd"));
        c.insert(20, Arc::from("nginx"));
        c.retain_live(&HashSet::from([20, 30]));
        assert_eq!(c.get(10), None);
        assert_eq!(c.get(20).as_deref(), Some("nginx"));
        assert_eq!(c.len(), 1);
    }

    /// The size follows inserts and forgetting: empty when new, two after
    /// two pids, empty again once no pid is live.
    #[test]
    fn the_size_follows_inserts_and_forgetting() {
        let mut c = CommandCache::new();
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        c.insert(10, Arc::from("sshd"));
        c.insert(20, Arc::from("nginx"));
        c.insert(20, Arc::from("nginx"));
        assert!(!c.is_empty());
        assert_eq!(c.len(), 2, "a pid inserted twice is one entry");
        c.retain_live(&HashSet::new());
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
    }
}
