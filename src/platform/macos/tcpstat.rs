//! `net.inet.tcp.stats`: macOS's `struct tcpstat`, `u_int32_t` counters
//! (unlike FreeBSD's 64-bit ones) with the same member names. Offsets come
//! from the leading members restated from XNU (`layout::TCPSTAT_FIELDS`).

use super::layout::{TCPSTAT_FIELDS, TCPSTAT_PREFIX_SIZE};
use crate::platform::SourceError;
use crate::platform::freebsd::bytes::u32_le;
use crate::record::TcpCounters;

pub const SYSCTL: &str = "net.inet.tcp.stats";

/// The kernel's structure is longer than the members read here (members
/// are only appended), so any whole number of `u32`s at least as long as
/// the read prefix is accepted.
pub fn parse(buf: &[u8], what: &str) -> Result<TcpCounters, SourceError> {
    if buf.len() < TCPSTAT_PREFIX_SIZE || buf.len() % 4 != 0 {
        return Err(SourceError::malformed(
            what,
            buf.len(),
            format!(
                "{} bytes is not a macOS struct tcpstat (u_int32_t counters, at least \
                 {TCPSTAT_PREFIX_SIZE} bytes)",
                buf.len()
            ),
        ));
    }
    let mut c = TcpCounters::default();
    for (name, f) in TCPSTAT_FIELDS {
        c.set(name, u32_le(buf, *f) as u64);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_name_is_a_tcp_counters_field() {
        let mut c = TcpCounters::default();
        for (name, _) in TCPSTAT_FIELDS {
            assert!(c.set(name, 1), "{name} is not a TcpCounters field");
        }
    }

    #[test]
    fn short_or_ragged_input_is_an_error() {
        assert!(parse(&[0; 4], "t").is_err());
        assert!(parse(&[0; TCPSTAT_PREFIX_SIZE + 1], "t").is_err());
        assert!(parse(&[0; TCPSTAT_PREFIX_SIZE], "t").is_ok());
    }
}
