//! `net.inet.tcp.stats`: `struct tcpstat`, all `uint64_t`. Counters are
//! found by member name through offsets generated from the header
//! (`layout::TCPSTAT_FIELDS`), never by guessed position.

use super::bytes::u64_le;
use super::layout::{TCPSTAT_FIELDS, TCPSTAT_SIZE};
use crate::platform::SourceError;
use crate::record::TcpCounters;

pub const SYSCTL: &str = "net.inet.tcp.stats";

/// Members are only ever appended to `struct tcpstat`, so a shorter
/// structure from an older kernel still has the early counters at the same
/// offsets: counters beyond the end are absent rather than an error.
pub fn parse(buf: &[u8], what: &str) -> Result<TcpCounters, SourceError> {
    if buf.is_empty() || buf.len() % 8 != 0 {
        return Err(SourceError::malformed(
            what,
            buf.len() / 8 * 8,
            format!(
                "{} bytes is not a struct tcpstat (an array of uint64_t, {TCPSTAT_SIZE} bytes \
                 in this build)",
                buf.len()
            ),
        ));
    }
    let mut c = TcpCounters::default();
    for (name, f) in TCPSTAT_FIELDS {
        if f.end() <= buf.len() {
            c.set(name, u64_le(buf, *f));
        }
    }
    Ok(c)
}
