//! FreeBSD: parsers for sysctl bytes (plain Rust over `&[u8]`, built and
//! tested everywhere), the replay source over captured dumps, and the live
//! source.
//!
//! Data flow: `sysctl` (the only FFI) or `replay` (files) → bytes →
//! `pcblist` / `kern_file` / `kinfo_proc` / `tcpstat` / `tcp_states` →
//! records. Every offset comes from `layout`, generated from FreeBSD's
//! headers.
//!
//! The live source's logic is generic over the system call and built and
//! tested on every platform: the read loop of a table (`sysctl_read`,
//! sized by `sysctl_size`), the consistent pcblist read (`pcblist_read`),
//! `kern.hz` (`kernel_hz`) and the command lookup (`command_lookup`).
//! Only the FFI (`sysctl`) and the wiring (`live`, `open_live`) are built
//! on FreeBSD alone.

pub(crate) mod bytes;
pub mod command_cache;
#[cfg(any(target_os = "freebsd", test))]
mod command_lookup;
#[cfg(any(target_os = "freebsd", test))]
mod idle_wrap;
pub mod kern_file;
#[cfg(any(target_os = "freebsd", test))]
mod kernel_hz;
pub mod kinfo_proc;
pub mod layout;
pub mod pcblist;
#[cfg(any(target_os = "freebsd", test))]
mod pcblist_read;
pub mod replay;
mod scope;
pub mod tcp_states;
pub mod tcpstat;

pub mod tcpstats_dev;
#[cfg(any(target_os = "freebsd", test))]
mod warn_interval;

#[cfg(target_os = "freebsd")]
mod live;
#[cfg(target_os = "freebsd")]
mod sysctl;
#[cfg(any(target_os = "freebsd", test))]
mod sysctl_read;
#[cfg(any(target_os = "freebsd", test))]
mod sysctl_size;

#[cfg(target_os = "freebsd")]
pub use live::FreeBsdSource;
pub use replay::{ReplayInputs, ReplaySource, SocketsDump};

/// The live source `platform::open` uses on FreeBSD.
#[cfg(target_os = "freebsd")]
pub fn open_live(kind: super::SourceKind) -> Result<Box<dyn super::Source>, super::SourceError> {
    use super::{SourceKind, unavailable};
    match kind {
        SourceKind::Auto | SourceKind::FreebsdSysctl | SourceKind::FreebsdKmod => {
            Ok(Box::new(FreeBsdSource::open(kind)?))
        }
        SourceKind::Linux | SourceKind::Macos => Err(unavailable(
            kind,
            "this is a FreeBSD host; use source = \"auto\" or \"freebsd-sysctl\"",
        )),
    }
}
