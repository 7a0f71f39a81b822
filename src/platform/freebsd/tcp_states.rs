//! `net.inet.tcp.states`: one `uint64_t` per `TCPS_*` state, the kernel's
//! own count of connections per state.

use super::layout::TCP_NSTATES;
use crate::platform::SourceError;
use crate::record::{STATE_COUNT, StateCounts};

pub const SYSCTL: &str = "net.inet.tcp.states";

const _: () = assert!(TCP_NSTATES as usize == STATE_COUNT);

pub fn parse(buf: &[u8], what: &str) -> Result<StateCounts, SourceError> {
    let want = STATE_COUNT * 8;
    if buf.len() != want {
        return Err(SourceError::malformed(
            what,
            buf.len().min(want),
            format!(
                "{} bytes, but net.inet.tcp.states is {STATE_COUNT} uint64_t = {want} bytes",
                buf.len()
            ),
        ));
    }
    let mut counts = [0u64; STATE_COUNT];
    for (slot, chunk) in counts.iter_mut().zip(buf.chunks_exact(8)) {
        *slot = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    Ok(counts)
}
