//! Reading the compiled platform fixtures and judging parser errors about
//! them, for the FreeBSD and macOS parser tests.

use std::net::SocketAddr;

use netpulse::platform::SourceError;

/// The bytes of `tests/<dir>/<name>.bin`.
pub fn read(dir: &str, name: &str) -> Vec<u8> {
    let p = format!("{}/tests/{dir}/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The offset and reason of a `Malformed` error, which must name `what`.
pub fn malformed(e: SourceError, what: &str) -> (usize, String) {
    match e {
        SourceError::Malformed {
            what: named,
            offset,
            reason,
        } => {
            assert_eq!(named, what);
            (offset, reason)
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}
