//! The socket options the tests compare against, read straight from the
//! kernel with getsockopt(2), and how full a pipe is. The only unsafe code
//! of the tests.

use std::io;
use std::os::fd::RawFd;

fn getsockopt_raw(fd: RawFd, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is a live writable buffer of `len` bytes and `len` a
    // live socklen_t; the kernel writes at most `len` bytes and updates it.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(len as usize)
}

/// `TCP_INFO` and the number of bytes this kernel filled in.
pub fn tcp_info(fd: RawFd) -> (libc::tcp_info, usize) {
    let mut buf = [0u8; std::mem::size_of::<libc::tcp_info>()];
    let n = getsockopt_raw(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut buf).expect("TCP_INFO");
    // SAFETY: tcp_info is plain old data (integers only), so any bytes are
    // a valid value; `buf` has exactly its size; read_unaligned copes with
    // the byte array's alignment.
    let info = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<libc::tcp_info>()) };
    (info, n)
}

/// `SO_COOKIE`: the socket cookie sock_diag reports.
pub fn cookie(fd: RawFd) -> u64 {
    let mut buf = [0u8; 8];
    getsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_COOKIE, &mut buf).expect("SO_COOKIE");
    u64::from_ne_bytes(buf)
}

pub fn int(fd: RawFd, level: i32, name: i32) -> i32 {
    let mut buf = [0u8; 4];
    getsockopt_raw(fd, level, name, &mut buf).expect("getsockopt int");
    i32::from_ne_bytes(buf)
}

pub fn congestion(fd: RawFd) -> String {
    let mut buf = [0u8; 16];
    let n = getsockopt_raw(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut buf)
        .expect("TCP_CONGESTION");
    let raw = &buf[..n];
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn setsockopt_raw(fd: RawFd, level: i32, name: i32, val: &[u8]) -> io::Result<()> {
    // SAFETY: `val` is a live readable buffer of the length we pass; the
    // kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_congestion(fd: RawFd, name: &str) {
    setsockopt_raw(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, name.as_bytes()).expect(
        "TCP_CONGESTION (is the algorithm available? see tcp_available_congestion_control)",
    );
}

pub fn set_int(fd: RawFd, level: i32, name: i32, v: i32) {
    setsockopt_raw(fd, level, name, &v.to_ne_bytes()).expect("setsockopt int");
}

/// Bytes waiting in the pipe whose read end is `fd`, and the pipe's
/// capacity: equal when its writer is blocked.
pub fn pipe_fill(fd: RawFd) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is a
    // live, writable c_int.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    assert!(rc == 0, "FIONREAD: {}", io::Error::last_os_error());
    // SAFETY: F_GETPIPE_SZ takes no argument and only returns a size.
    let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    assert!(size > 0, "F_GETPIPE_SZ: {}", io::Error::last_os_error());
    (queued as usize, size as usize)
}
