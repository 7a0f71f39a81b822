//! `kern.proc.all` / `kern.proc.pid.<pid>`: `struct kinfo_proc` entries,
//! read for `ki_pid` and `ki_comm` (the command name).

use std::sync::Arc;

use super::bytes::{bytes_at, i32_le, u32_le};
use super::layout::*;
use crate::platform::SourceError;

pub const SYSCTL: &str = "kern.proc.all";

const _: () = {
    assert!(KI_STRUCTSIZE.size == 4 && KI_PID.size == 4);
    assert!(KI_COMM.end() <= KINFO_PROC_SIZE);
};

/// `(pid, command)` for every entry. Entries are strided by their own
/// `ki_structsize`, which must be the size this build knows.
pub fn parse(buf: &[u8], what: &str) -> Result<Vec<(u32, Arc<str>)>, SourceError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let Some(k) = buf
            .get(off..)
            .and_then(|b| b.first_chunk::<KINFO_PROC_SIZE>())
        else {
            // Read the size field if it is there, to say which problem it is.
            let size = buf
                .get(off..)
                .filter(|b| b.len() >= 4)
                .map(|b| i32_le(b, KI_STRUCTSIZE));
            let reason = match size {
                Some(s) if s != KINFO_PROC_SIZE as i32 => unknown_size(s),
                _ => format!(
                    "truncated: {} bytes left, a kinfo_proc needs {KINFO_PROC_SIZE}",
                    buf.len() - off
                ),
            };
            return Err(SourceError::malformed(what, off, reason));
        };
        let size = i32_le(k, KI_STRUCTSIZE);
        if size != KINFO_PROC_SIZE as i32 {
            return Err(SourceError::malformed(what, off, unknown_size(size)));
        }
        let pid = u32_le(k, KI_PID);
        out.push((pid, command(bytes_at(k, KI_COMM))));
        off += KINFO_PROC_SIZE;
    }
    Ok(out)
}

fn unknown_size(size: i32) -> String {
    format!(
        "ki_structsize = {size}, but this build knows only kinfo_proc = {KINFO_PROC_SIZE} bytes; \
         the dump comes from a FreeBSD whose ABI this build does not support, or is not a \
         kern.proc dump"
    )
}

/// `ki_comm` is NUL-terminated; names are bytes, shown lossily as UTF-8.
fn command(raw: &[u8]) -> Arc<str> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Arc::from(String::from_utf8_lossy(raw.get(..end).unwrap_or_default()))
}
