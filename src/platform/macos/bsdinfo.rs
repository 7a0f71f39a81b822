//! `proc_pidinfo(pid, PROC_PIDTBSDINFO)`: `struct proc_bsdinfo` (SDK
//! `sys/proc_info.h`), read for the process's command name.

use super::layout::*;
use crate::platform::freebsd::bytes::{bytes_at, u32_le};

/// A process as the socket join needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BsdInfo {
    pub pid: u32,
    pub uid: u32,
    /// `pbi_name` when the process registered one (it is not cut at 16
    /// bytes), else `pbi_comm`.
    pub command: String,
}

pub fn decode(buf: &[u8]) -> Result<BsdInfo, String> {
    if buf.len() != PROC_BSDINFO_SIZE {
        return Err(format!(
            "{} bytes, but struct proc_bsdinfo is {PROC_BSDINFO_SIZE} in this build",
            buf.len()
        ));
    }
    let name = c_string(bytes_at(buf, PBI_NAME));
    let command = if name.is_empty() {
        c_string(bytes_at(buf, PBI_COMM))
    } else {
        name
    };
    Ok(BsdInfo {
        pid: u32_le(buf, PBI_PID),
        uid: u32_le(buf, PBI_UID),
        command,
    })
}

/// Up to the first NUL (or the whole field), invalid UTF-8 replaced.
fn c_string(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}
