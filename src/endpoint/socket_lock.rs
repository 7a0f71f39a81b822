//! One agent per Unix socket path: an exclusive `flock` on `<path>.lock`,
//! held for as long as the socket is served. A second agent is refused
//! with the holder's pid instead of removing the first one's socket.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The held lock; released when dropped (the file stays, so a waiting
/// agent never locks a file that was unlinked under it).
#[derive(Debug)]
pub(super) struct SocketLock {
    _file: Flock<File>,
}

/// `<socket>.lock`.
pub(super) fn lock_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Take the lock of `socket`, or say who holds it.
pub(super) fn acquire(socket: &Path) -> std::io::Result<SocketLock> {
    let path = lock_path(socket);
    // Never follow a planted link, never block on a planted FIFO.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| annotate(e, &path, "cannot open the lock file"))?;
    let md = file.metadata()?;
    let euid = nix::unistd::geteuid().as_raw();
    if !md.file_type().is_file() || md.nlink() != 1 || md.uid() != euid {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a lock file this agent created (not a regular file of uid {euid} with one link); remove it",
                path.display()
            ),
        ));
    }
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = (&file).take(32).read_to_string(&mut text);
            let holder = text.trim();
            let holder = if holder.is_empty() { "unknown" } else { holder };
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another agent (pid {holder}) holds {}: stop it or choose another unix_socket path",
                    path.display()
                ),
            ));
        }
        Err((_, e)) => return Err(std::io::Error::from(e)),
    };
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(SocketLock { _file: file })
}

fn annotate(e: std::io::Error, path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
