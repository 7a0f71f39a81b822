//! Reading a whole input file (config, captured dumps) with a ceiling, so
//! `/dev/zero`, a FIFO or a huge file named by mistake gives a clear error
//! instead of growing memory without bound or blocking forever at open.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("it is larger than {limit} bytes ({found}); this is not a file netpulse reads")]
    TooLarge { limit: u64, found: String },
}

/// Open `path` for reading without blocking on a FIFO with no writer; the
/// returned file reads in blocking mode again.
pub fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let flags = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(file)
}

/// Read all of `path`, refusing more than `limit` bytes. A regular file is
/// judged by its size before anything is read; anything else (pipe,
/// device) by what it yields, reading at most `limit + 1` bytes.
pub fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = open_nonblocking(path)?;
    let md = file.metadata()?;
    if md.is_file() && md.len() > limit {
        return Err(BoundedReadError::TooLarge {
            limit,
            found: format!("{} bytes", md.len()),
        });
    }
    read_stream_at_most(file, limit)
}

/// Read what `reader` yields, refusing more than `limit` bytes.
pub fn read_stream_at_most(reader: impl Read, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            limit,
            found: "more".into(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_device_is_refused_at_the_limit() {
        let e = read_at_most(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(
            matches!(e, BoundedReadError::TooLarge { limit: 4096, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_within_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_at_most(&p, 5).unwrap(), b"12345");
        let e = read_at_most(&p, 4).unwrap_err();
        assert!(e.to_string().contains("5 bytes"), "{e}");
    }
}
