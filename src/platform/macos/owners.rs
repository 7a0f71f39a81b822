//! The join between the two macOS views: libproc names the process and
//! descriptor of a socket and its pcb generation count (`insi_gencnt`);
//! pcblist_n records carry the same count (`inp_gencnt`) as `proc_key`.
//! Kept apart from the FFI so the join is tested on any host.

use std::io;
use std::sync::Arc;

use super::fdinfo;
use super::layout::SOCKET_FDINFO_SIZE;
use crate::platform::{ProcessInfo, ProcessMap};

/// The libproc calls the process walk makes: the live source passes the
/// real ones, tests a double.
pub trait ProcessTable {
    /// The `PROC_PIDLISTFDS` answer for `pid` into `out`.
    fn list_fds(&mut self, pid: i32, out: &mut Vec<u8>) -> io::Result<()>;
    /// One descriptor's `socket_fdinfo` into `out`.
    fn socket_info(
        &mut self,
        pid: i32,
        fd: i32,
        out: &mut [u8; SOCKET_FDINFO_SIZE],
    ) -> io::Result<()>;
    /// The process's command name; empty when it cannot be read.
    fn command(&mut self, pid: i32) -> Arc<str>;
}

/// The owners of every TCP socket of `pids`. A process whose descriptors
/// cannot be listed (not ours to read without root) is counted in the map's
/// `unreadable_processes`, and its sockets keep no owner; one that exited
/// since the pid list (`ESRCH`) is not counted. `fds` is scratch space
/// kept between walks.
pub fn walk(pids: &[i32], table: &mut impl ProcessTable, fds: &mut Vec<u8>) -> ProcessMap {
    let mut map = ProcessMap::new();
    let mut unreadable = 0u64;
    let mut info = [0u8; SOCKET_FDINFO_SIZE];
    for &pid in pids {
        if let Err(e) = table.list_fds(pid, fds) {
            if e.raw_os_error() != Some(libc::ESRCH) {
                unreadable += 1;
            }
            continue;
        }
        let mut command: Option<Arc<str>> = None;
        let sockets: Vec<i32> = fdinfo::socket_fds(fds).collect();
        for fd in sockets {
            if table.socket_info(pid, fd, &mut info).is_err() {
                continue; // closed since the list
            }
            add_owner(&mut map, pid as u32, fd, &info, || {
                command.get_or_insert_with(|| table.command(pid)).clone()
            });
        }
    }
    map.set_unreadable_processes(unreadable);
    map
}

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
    let Some(key) = rec.proc_key() else {
        return false;
    };
    map.insert(
        key,
        ProcessInfo {
            pid,
            fd,
            uid: rec.uid(),
            command: command(),
        },
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::macos::layout::{
        PROC_FD, PROC_FDINFO_SIZE, PROC_FDTYPE, PROX_FDTYPE_SOCKET,
    };

    /// A test double of libproc: pid 10 is another user's (EPERM), pid 11
    /// exited after the pid list (ESRCH), pid 12 holds the fixture's
    /// socket as fd 3, and pid 13 is another user's too.
    struct FakeLibproc {
        socket_fdinfo: Vec<u8>,
    }

    impl ProcessTable for FakeLibproc {
        fn list_fds(&mut self, pid: i32, out: &mut Vec<u8>) -> io::Result<()> {
            match pid {
                10 | 13 => Err(io::Error::from_raw_os_error(libc::EPERM)),
                11 => Err(io::Error::from_raw_os_error(libc::ESRCH)),
                _ => {
                    out.clear();
                    out.resize(PROC_FDINFO_SIZE, 0);
                    out[PROC_FD.offset..PROC_FD.end()].copy_from_slice(&3i32.to_le_bytes());
                    out[PROC_FDTYPE.offset..PROC_FDTYPE.end()]
                        .copy_from_slice(&(PROX_FDTYPE_SOCKET as u32).to_le_bytes());
                    Ok(())
                }
            }
        }

        fn socket_info(
            &mut self,
            _: i32,
            _: i32,
            out: &mut [u8; SOCKET_FDINFO_SIZE],
        ) -> io::Result<()> {
            out.copy_from_slice(&self.socket_fdinfo[..SOCKET_FDINFO_SIZE]);
            Ok(())
        }

        fn command(&mut self, _: i32) -> Arc<str> {
            Arc::from("nginx")
        }
    }

    #[test]
    fn processes_not_ours_to_read_are_counted_and_exited_ones_are_not() {
        let mut libproc = FakeLibproc {
            socket_fdinfo: include_bytes!("../../../tests/macos/fixtures/socket_fdinfo.bin")
                .to_vec(),
        };
        let map = walk(&[10, 11, 12, 13], &mut libproc, &mut Vec::new());
        assert_eq!(map.unreadable_processes(), Some(2));
        assert_eq!(map.len(), 1, "the readable process's socket has its owner");
        let none = walk(&[11, 12], &mut libproc, &mut Vec::new());
        assert_eq!(none.unreadable_processes(), Some(0));
    }
}
