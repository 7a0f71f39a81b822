//! What can go wrong putting records into files. Every message names the
//! path and says what the operator can do about it.

use std::io;
use std::path::PathBuf;

use super::Format;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "cannot create output directory {}: {source}; create it (writable by the netpulse user) or set `dir` to another directory",
        dir.display()
    )]
    CreateDir { dir: PathBuf, source: io::Error },

    #[error(
        "cannot open {}: {source}; check that its directory exists, is writable by the netpulse user and the file system is not full",
        path.display()
    )]
    Open { path: PathBuf, source: io::Error },

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
        "cannot write {}: {source}; free space on that file system (records are counted in `write_errors` until writing succeeds again)",
        path.display()
    )]
    Write { path: PathBuf, source: io::Error },

    #[error(
        "cannot rotate {}: {source}; check that the netpulse user may rename and delete files in its directory",
        path.display()
    )]
    Rotate { path: PathBuf, source: io::Error },

    #[error(
        "cannot fsync {}: {source}; the disk may be failing or full, check the kernel log",
        path.display()
    )]
    Sync { path: PathBuf, source: io::Error },

    #[error("output format {0:?} is not built yet; use format = \"json\" or \"csv\"")]
    FormatUnavailable(Format),

    #[error("invalid output setting: {0}")]
    Config(String),
}
