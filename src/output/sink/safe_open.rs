//! Opening the files the agent writes so that whoever can write the output
//! directory cannot point root's writes somewhere else.
//!
//! A name in the output directory is opened without following a symbolic
//! link (`O_NOFOLLOW`) and without blocking on a FIFO or a device
//! (`O_NONBLOCK`, cleared once the file is known to be regular). After the
//! open, `fstat` decides: only a regular file with a single link is kept,
//! so neither a link to a victim file nor a FIFO that would freeze the
//! writer is ever written, truncated or repaired.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::file_kind::describe_non_regular;
use crate::output::OutputError;

/// Open `path` with `opts` (read/append/create as the caller sets them),
/// refusing anything but a regular file with one link.
pub fn open_regular(path: &Path, opts: &mut OpenOptions) -> Result<File, OutputError> {
    let file = opts
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| open_error(path, source))?;
    check_regular(path, &file)?;
    // Regular files never block on open; writes should wait normally.
    let flags = fcntl(&file, FcntlArg::F_GETFL).map_err(|e| open_error(path, e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(flags)).map_err(|e| open_error(path, e.into()))?;
    Ok(file)
}

/// A failed open as the operator should read it: a link at the name is a
/// refusal, anything else an ordinary open error.
fn open_error(path: &Path, source: io::Error) -> OutputError {
    // O_NOFOLLOW fails with ELOOP on Linux and EMLINK on FreeBSD.
    let is_link = matches!(
        source.raw_os_error(),
        Some(libc::ELOOP) | Some(libc::EMLINK)
    ) && path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        return OutputError::NotRegular {
            path: path.to_path_buf(),
            what: "a symbolic link".into(),
        };
    }
    OutputError::Open {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// The open file is a regular file with one link, or the refusal.
fn check_regular(path: &Path, file: &File) -> Result<(), OutputError> {
    let meta = file.metadata().map_err(|source| OutputError::Open {
        path: path.to_path_buf(),
        cause: source,
    })?;
    match describe_non_regular(&meta) {
        Some(what) => Err(OutputError::NotRegular {
            path: path.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append() -> OpenOptions {
        let mut o = OpenOptions::new();
        o.read(true).append(true);
        o
    }

    #[test]
    fn refuses_links_fifos_directories_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let victim = d.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("link")).unwrap();
        std::fs::hard_link(&victim, d.join("hard")).unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        nix::unistd::mkfifo(
            &d.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        for (name, what) in [
            ("link", "symbolic link"),
            ("hard", "2 hard links"),
            ("dir", "directory"),
            ("fifo", "FIFO"),
        ] {
            let err = open_regular(&d.join(name), &mut append()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(what) && msg.contains(name), "{name}: {msg}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn opens_a_regular_file_for_blocking_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x").unwrap();
        let f = open_regular(&path, &mut append()).unwrap();
        let flags = OFlag::from_bits_truncate(fcntl(&f, FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK));
    }
}
