//! What can go wrong putting records into files. Every message names the
//! path and says what the operator can do about it.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "cannot create output directory {}: {cause}; create it (writable by the netpulse user) or set `dir` to another directory",
        dir.display()
    )]
    CreateDir { dir: PathBuf, cause: io::Error },

    #[error(
        "cannot open {}: {cause}; check that its directory exists, is writable by the netpulse user and the file system is not full",
        path.display()
    )]
    Open { path: PathBuf, cause: io::Error },

    #[error(
        "refusing {}: it is {what}, not a regular file netpulse may write; remove it (netpulse never writes through links, into FIFOs or devices, or into files with other names)",
        path.display()
    )]
    NotRegular { path: PathBuf, what: String },

    #[error(
        "output directory {} is in use by another netpulse (pid {holder}); stop that agent or give this output another dir",
        dir.display()
    )]
    Locked { dir: PathBuf, holder: String },

    #[error(
        "cannot write {}: {cause}; free space on that file system (records are counted in `write_errors` until writing succeeds again)",
        path.display()
    )]
    Write { path: PathBuf, cause: io::Error },

    #[error(
        "cannot rotate {}: {cause}; check that the netpulse user may rename and delete files in its directory",
        path.display()
    )]
    Rotate { path: PathBuf, cause: io::Error },

    #[error(
        "cannot fsync {}: {cause}; the disk may be failing or full, check the kernel log",
        path.display()
    )]
    Sync { path: PathBuf, cause: io::Error },

    #[error(
        "cannot compress {}: {cause}; the plain file is kept and compression is retried (free space on that file system)",
        path.display()
    )]
    Compress { path: PathBuf, cause: io::Error },

    #[error("invalid output setting: {0}")]
    Config(String),
}
