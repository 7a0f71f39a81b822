//! The only FFI on macOS: libproc's process and descriptor queries and
//! `sysctlbyname`, each returning plain bytes for the pure parsers.

use std::ffi::{CStr, c_void};
use std::io;

use super::layout::{
    PROC_ALL_PIDS, PROC_BSDINFO_SIZE, PROC_FDINFO_SIZE, PROC_PIDFDSOCKETINFO, PROC_PIDLISTFDS,
    PROC_PIDTBSDINFO, SOCKET_FDINFO_SIZE,
};

/// Largest sysctl answer accepted (a pcblist_n of ~800,000 connections).
const SYSCTL_MAX: usize = 512 << 20;
/// Largest descriptor table asked for per process.
const FDS_MAX: usize = 1 << 20;

fn int_len(len: usize) -> io::Result<i32> {
    i32::try_from(len).map_err(|_| io::Error::other("buffer larger than libproc accepts"))
}

/// Every pid on the host (`proc_listpids(PROC_ALL_PIDS)`).
pub fn list_pids(out: &mut Vec<i32>) -> io::Result<()> {
    // SAFETY: a null buffer asks only for the size in bytes.
    let need = unsafe { libc::proc_listpids(PROC_ALL_PIDS as u32, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return Err(io::Error::last_os_error());
    }
    // Room for processes started between the two calls.
    let cap = need as usize / size_of::<i32>() + 64;
    out.clear();
    out.resize(cap, 0);
    let bytes = int_len(cap * size_of::<i32>())?;
    // SAFETY: `out` holds `cap` i32s, exactly `bytes` bytes, writable.
    let got =
        unsafe { libc::proc_listpids(PROC_ALL_PIDS as u32, 0, out.as_mut_ptr().cast(), bytes) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    out.truncate(got as usize / size_of::<i32>());
    out.retain(|&p| p > 0);
    Ok(())
}

/// `proc_pidinfo(pid, PROC_PIDLISTFDS)`: `struct proc_fdinfo` entries.
pub fn list_fds(pid: i32, out: &mut Vec<u8>) -> io::Result<()> {
    // SAFETY: a null buffer asks only for the size in bytes.
    let need =
        unsafe { libc::proc_pidinfo(pid, PROC_PIDLISTFDS as i32, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return Err(io::Error::last_os_error());
    }
    let cap = (need as usize + 16 * PROC_FDINFO_SIZE).min(FDS_MAX * PROC_FDINFO_SIZE);
    out.clear();
    out.resize(cap, 0);
    // SAFETY: `out` is `cap` writable bytes and libproc is told so.
    let got = unsafe {
        libc::proc_pidinfo(
            pid,
            PROC_PIDLISTFDS as i32,
            0,
            out.as_mut_ptr().cast::<c_void>(),
            int_len(cap)?,
        )
    };
    if got <= 0 {
        return Err(io::Error::last_os_error());
    }
    out.truncate((got as usize).min(cap));
    Ok(())
}

/// `proc_pidinfo(pid, PROC_PIDTBSDINFO)`: one `struct proc_bsdinfo`.
pub fn bsd_info(pid: i32) -> io::Result<[u8; PROC_BSDINFO_SIZE]> {
    let mut b = [0u8; PROC_BSDINFO_SIZE];
    // SAFETY: `b` is PROC_BSDINFO_SIZE writable bytes and libproc is told so.
    let got = unsafe {
        libc::proc_pidinfo(
            pid,
            PROC_PIDTBSDINFO as i32,
            0,
            b.as_mut_ptr().cast(),
            PROC_BSDINFO_SIZE as i32,
        )
    };
    if got != PROC_BSDINFO_SIZE as i32 {
        return Err(io::Error::last_os_error());
    }
    Ok(b)
}

/// `proc_pidfdinfo(pid, fd, PROC_PIDFDSOCKETINFO)`: one `struct socket_fdinfo`.
pub fn socket_info(pid: i32, fd: i32, out: &mut [u8; SOCKET_FDINFO_SIZE]) -> io::Result<()> {
    // SAFETY: `out` is SOCKET_FDINFO_SIZE writable bytes and libproc is told so.
    let got = unsafe {
        libc::proc_pidfdinfo(
            pid,
            fd,
            PROC_PIDFDSOCKETINFO as i32,
            out.as_mut_ptr().cast(),
            SOCKET_FDINFO_SIZE as i32,
        )
    };
    if got != SOCKET_FDINFO_SIZE as i32 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A whole sysctl value into `out`, retrying while it grows between the
/// size query and the read.
pub fn sysctl_bytes(name: &CStr, out: &mut Vec<u8>) -> io::Result<()> {
    for _ in 0..8 {
        let mut len: libc::size_t = 0;
        // SAFETY: `name` is NUL-terminated; a null old pointer asks for the size.
        let r = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                std::ptr::null_mut(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let cap = (len + len / 8 + 4096).min(SYSCTL_MAX);
        out.clear();
        out.resize(cap, 0);
        let mut got: libc::size_t = cap;
        // SAFETY: `out` is `cap` writable bytes and `got` says so.
        let r = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                out.as_mut_ptr().cast(),
                &mut got,
                std::ptr::null_mut(),
                0,
            )
        };
        if r == 0 {
            out.truncate(got.min(cap));
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) || cap == SYSCTL_MAX {
            return Err(e);
        }
    }
    Err(io::Error::other("the value kept growing while it was read"))
}
