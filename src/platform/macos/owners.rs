//! The join between the two macOS views: libproc names the process and
//! descriptor of a socket and its pcb generation count (`insi_gencnt`);
//! pcblist_n records carry the same count (`inp_gencnt`) as `proc_key`.
//! Kept apart from the FFI so the join is tested on any host.

use std::sync::Arc;

use super::fdinfo;
use crate::platform::{ProcessInfo, ProcessMap};

/// Record the owner of one descriptor's socket, given the descriptor's
/// `socket_fdinfo` bytes. `command` is only asked for when the descriptor
/// is a TCP socket, so non-TCP descriptors cost no process lookup. Returns
/// whether an owner was recorded.
pub fn add_owner(
    map: &mut ProcessMap,
    pid: u32,
    fd: i32,
    socket_fdinfo: &[u8],
    command: impl FnOnce() -> Arc<str>,
) -> bool {
    let Ok(rec) = fdinfo::decode(socket_fdinfo, 0) else {
        return false;
    };
    let Some(key) = rec.proc_key else {
        return false;
    };
    map.insert(
        key,
        ProcessInfo {
            pid,
            fd,
            uid: rec.uid,
            command: command(),
        },
    );
    true
}
