//! One agent per output directory.
//!
//! Two agents appending to the same files cut each other's records, rotate
//! each other's files away and put header rows mid-file. Each agent takes
//! an exclusive `flock` on `<dir>/.netpulse.lock` (created 0600, opened
//! like every other file it writes: no links, regular files only) and
//! writes its pid there, so a second agent can name the holder. The lock is
//! per directory, shared by every output of this agent in that directory,
//! and released by the kernel when the agent exits, however it exits.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::safe_open::open_regular;
use crate::output::OutputError;

pub use crate::config::LOCK_FILE;

/// The held lock; released when the last output using it is closed.
#[derive(Debug)]
pub struct DirLock {
    _file: Flock<File>,
    key: (u64, u64),
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut held = held_locks().lock().unwrap_or_else(|e| e.into_inner());
        if held.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            held.remove(&self.key);
        }
    }
}

/// Locks this process holds, by the directory's (device, inode).
type HeldLocks = Mutex<HashMap<(u64, u64), Weak<DirLock>>>;

/// A second `flock` from this process on a new descriptor would conflict
/// with the first, so outputs sharing a directory share its lock.
fn held_locks() -> &'static HeldLocks {
    static HELD: std::sync::OnceLock<HeldLocks> = std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Take (or share, within this process) the lock of the existing directory
/// `dir`.
pub fn lock_dir(dir: &Path) -> Result<Arc<DirLock>, OutputError> {
    let path = dir.join(LOCK_FILE);
    let meta = std::fs::metadata(dir).map_err(|source| OutputError::Open {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let key = (meta.dev(), meta.ino());
    let mut held = held_locks().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let file = open_regular(
        &path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600),
    )?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            return Err(OutputError::Locked {
                dir: dir.to_path_buf(),
                holder: read_holder(&mut file),
            });
        }
        Err((_, e)) => {
            return Err(OutputError::Open {
                path,
                cause: e.into(),
            });
        }
    };
    write_pid(&mut file).map_err(|source| OutputError::Write {
        path: path.clone(),
        cause: source,
    })?;
    let lock = Arc::new(DirLock { _file: file, key });
    held.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())
}

/// The holder's pid as it wrote it (bounded, digits only), or a note that
/// it could not be read.
fn read_holder(file: &mut File) -> String {
    let mut buf = Vec::with_capacity(24);
    let read = file.take(24).read_to_end(&mut buf);
    let digits: String = buf
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    if read.is_ok() && !digits.is_empty() {
        digits
    } else {
        "unknown".into()
    }
}

/// Where the lock of `dir` lives (for checks and messages).
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_within_a_process_and_released_with_the_last_user() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock_dir(dir.path()).unwrap();
        let b = lock_dir(dir.path()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let pid = std::fs::read_to_string(lock_path(dir.path())).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        // Another open file description conflicts while we hold it.
        let other = File::open(lock_path(dir.path())).unwrap();
        let other = match Flock::lock(other, FlockArg::LockExclusiveNonblock) {
            Err((f, Errno::EWOULDBLOCK)) => f,
            r => panic!("lock not held: {r:?}"),
        };
        drop((a, b));
        assert!(Flock::lock(other, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
