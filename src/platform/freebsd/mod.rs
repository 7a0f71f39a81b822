//! FreeBSD: parsers for sysctl and /dev/tcpstats bytes (plain Rust, built
//! and tested everywhere) and the live source (FreeBSD only).
//!
//! PLACEHOLDER until the FreeBSD source lands (issue 4).

pub mod tcpstats_dev;

#[cfg(target_os = "freebsd")]
pub fn open_live(kind: super::SourceKind) -> Result<Box<dyn super::Source>, super::SourceError> {
    Err(super::SourceError::Unavailable {
        name: kind.name().to_string(),
        reason: "the FreeBSD source is not built yet".into(),
    })
}
