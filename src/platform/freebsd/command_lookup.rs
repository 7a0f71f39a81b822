//! A process's command name for the process map: from the cache, else from
//! a read of `kern.proc.pid.<pid>`, picking that pid's entry. Generic over
//! the read, so that it is tested on every platform; `live.rs` passes the
//! sysctl.

use std::io;
use std::sync::Arc;

use tracing::{debug, warn};

use super::command_cache::CommandCache;
use super::kinfo_proc;

/// The command of `pid`, or `None` when it cannot be known (the process
/// exited, the read failed, the entry is malformed or missing). `read`
/// fills `buf` with `kern.proc.pid.<pid>` and says whether the process
/// still exists; it runs only when the cache does not know the pid.
pub fn command_of(
    cache: &mut CommandCache,
    pid: u32,
    buf: &mut Vec<u8>,
    read: impl FnOnce(&mut Vec<u8>) -> io::Result<bool>,
) -> Option<Arc<str>> {
    if let Some(c) = cache.get(pid) {
        return Some(c);
    }
    match read(buf) {
        Ok(true) => {}
        Ok(false) => return None, // exited since kern.file was read
        Err(e) => {
            debug!("kern.proc.pid.{pid}: {e}");
            return None;
        }
    }
    let what = format!("kern.proc.pid.{pid}");
    match kinfo_proc::parse(buf, &what) {
        Ok(list) => {
            let (_, command) = list.into_iter().find(|(p, _)| *p == pid)?;
            cache.insert(pid, command.clone());
            Some(command)
        }
        Err(e) => {
            warn!("{e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::platform::freebsd::layout::KINFO_PROC_SIZE;

    /// The byte-exact `kern.proc.all` fixture: pids 1 (init), 80 (nginx),
    /// 700 (sshd), 4242 (curl), 5000, 6000, in that order.
    fn kern_proc() -> Vec<u8> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/freebsd/fixtures/kern_proc.bin");
        std::fs::read(path).unwrap()
    }

    /// One entry of the fixture, as `kern.proc.pid.<pid>` returns it.
    fn entry(index: usize) -> Vec<u8> {
        kern_proc()[index * KINFO_PROC_SIZE..(index + 1) * KINFO_PROC_SIZE].to_vec()
    }

    /// Test double of the sysctl read: answers with the given result and
    /// bytes, and counts the reads.
    struct ProcReadDouble {
        answer: Option<io::Result<bool>>,
        bytes: Vec<u8>,
        reads: usize,
    }

    impl ProcReadDouble {
        fn new(answer: io::Result<bool>, bytes: Vec<u8>) -> ProcReadDouble {
            ProcReadDouble {
                answer: Some(answer),
                bytes,
                reads: 0,
            }
        }

        fn read(&mut self) -> impl FnOnce(&mut Vec<u8>) -> io::Result<bool> + '_ {
            |buf| {
                self.reads += 1;
                buf.clear();
                buf.extend_from_slice(&self.bytes);
                self.answer.take().expect("one answer per double")
            }
        }
    }

    #[test]
    fn a_new_pid_is_read_picked_and_cached() {
        let mut cache = CommandCache::new();
        let mut buf = Vec::new();
        let mut double = ProcReadDouble::new(Ok(true), entry(2));
        let c = command_of(&mut cache, 700, &mut buf, double.read());
        assert_eq!(c.as_deref(), Some("sshd"));
        assert_eq!(double.reads, 1);
        assert_eq!(cache.get(700).as_deref(), Some("sshd"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cached_pid_is_not_read_again() {
        let mut cache = CommandCache::new();
        cache.insert(80, Arc::from("nginx"));
        let mut double = ProcReadDouble::new(Ok(true), entry(3));
        let c = command_of(&mut cache, 80, &mut Vec::new(), double.read());
        assert_eq!(c.as_deref(), Some("nginx"));
        assert_eq!(double.reads, 0);
    }

    #[test]
    fn the_entry_of_the_asked_pid_is_picked_among_several() {
        let mut cache = CommandCache::new();
        let mut double = ProcReadDouble::new(Ok(true), kern_proc());
        let c = command_of(&mut cache, 4242, &mut Vec::new(), double.read());
        assert_eq!(c.as_deref(), Some("curl"));
        assert_eq!(cache.len(), 1, "only the asked pid is cached");
    }

    #[test]
    fn an_answer_without_the_pid_is_none_and_not_cached() {
        let mut cache = CommandCache::new();
        let mut double = ProcReadDouble::new(Ok(true), entry(0));
        assert_eq!(
            command_of(&mut cache, 700, &mut Vec::new(), double.read()),
            None
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn an_exited_process_a_failed_read_or_bad_bytes_give_none() {
        let answers: [(io::Result<bool>, Vec<u8>); 3] = [
            (Ok(false), entry(2)),
            (Err(io::Error::from_raw_os_error(libc::EPERM)), entry(2)),
            (Ok(true), entry(2)[..KINFO_PROC_SIZE - 1].to_vec()),
        ];
        for (answer, bytes) in answers {
            let mut cache = CommandCache::new();
            let mut double = ProcReadDouble::new(answer, bytes);
            assert_eq!(
                command_of(&mut cache, 700, &mut Vec::new(), double.read()),
                None
            );
            assert_eq!(double.reads, 1);
            assert!(cache.is_empty());
        }
    }
}
