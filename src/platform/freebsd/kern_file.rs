//! `kern.file`: one `xfile` per open descriptor of every process the reader
//! may see. Socket descriptors carry the kernel address of their socket in
//! `xf_data`, the same value as a pcblist record's `xso_so`: that is the
//! join from socket to process. The address is only ever a map key.

use std::sync::Arc;

use super::bytes::{i32_le, len_at, u16_le, u32_le, u64_le};
use super::layout::*;
use crate::platform::{ProcessInfo, ProcessMap, SourceError};

pub const SYSCTL: &str = "kern.file";

const _: () = {
    assert!(XF_PID.size == 4 && XF_UID.size == 4 && XF_FD.size == 4);
    assert!(XF_TYPE.size == 2 && XF_DATA.size == 8 && XF_SIZE.size == 8);
    assert!(XF_DATA.end() <= XFILE_SIZE && XF_TYPE.end() <= XFILE_SIZE);
};

/// A socket descriptor: which process holds which socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketFile {
    /// Kernel socket address (`xf_data`); the join key, never output.
    pub key: u64,
    pub pid: u32,
    pub uid: u32,
    pub fd: i32,
}

/// Every socket descriptor in a `kern.file` table. Entries are strided by
/// their own `xf_size`, which must be the size this build knows.
pub fn parse(buf: &[u8], what: &str) -> Result<Vec<SocketFile>, SourceError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let size = len_at(buf, off).unwrap_or(0);
        if size != XFILE_SIZE as u64 {
            let reason = if buf.len() - off < 8 {
                format!(
                    "truncated: {} bytes left, an xfile needs {XFILE_SIZE}",
                    buf.len() - off
                )
            } else {
                format!(
                    "xf_size = {size}, but this build knows only xfile = {XFILE_SIZE} bytes; \
                     the table comes from a FreeBSD whose ABI this build does not support, or \
                     is not a kern.file dump"
                )
            };
            return Err(SourceError::malformed(what, off, reason));
        }
        let Some(x) = buf.get(off..).and_then(|b| b.first_chunk::<XFILE_SIZE>()) else {
            return Err(SourceError::malformed(
                what,
                off,
                format!(
                    "truncated xfile: {XFILE_SIZE} bytes announced, {} left",
                    buf.len() - off
                ),
            ));
        };
        let data = u64_le(x, XF_DATA);
        if u16_le(x, XF_TYPE) as u64 == DTYPE_SOCKET && data != 0 {
            out.push(SocketFile {
                key: data,
                pid: u32_le(x, XF_PID),
                uid: u32_le(x, XF_UID),
                fd: i32_le(x, XF_FD),
            });
        }
        off += XFILE_SIZE;
    }
    Ok(out)
}

/// Join socket descriptors with command names. `command(pid)` gives the
/// name when known; an unknown name is left empty, which the process map
/// treats as absent.
///
/// `generation` is the TCP generation (`xig_gen`) of a socket table read
/// before `kern.file`: sockets with a larger `inp_gencnt` were opened
/// after it, perhaps at the kernel address of a socket the table still
/// names with its old owner, so they are not joined (a socket shared by
/// several processes goes to the lowest pid, see `ProcessMap::insert`).
pub fn process_map(
    files: &[SocketFile],
    generation: Option<u64>,
    mut command: impl FnMut(u32) -> Option<Arc<str>>,
) -> ProcessMap {
    let unknown: Arc<str> = Arc::from("");
    let mut map = ProcessMap::new();
    if let Some(g) = generation {
        map.join_only_up_to(g);
    }
    for f in files {
        map.insert(
            f.key,
            ProcessInfo {
                pid: f.pid,
                fd: f.fd,
                uid: Some(f.uid),
                command: command(f.pid).unwrap_or_else(|| Arc::clone(&unknown)),
            },
        );
    }
    map
}
