//! The only system calls of the socket scan: a `NETLINK_SOCK_DIAG` socket
//! that sends one dump request and receives the kernel's replies into one
//! reused buffer. Everything the kernel sends back is parsed elsewhere
//! (`sock_diag.rs`), in safe code.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Receive buffer size. The kernel fills at most ~32 KiB per dump
/// datagram (`netlink_dump` caps its allocation), so one buffer of this
/// size always holds a whole datagram; it is allocated once per source.
pub const RECV_BUF_LEN: usize = 256 * 1024;

/// How long one receive may wait for the kernel before the scan fails.
const RECV_TIMEOUT_SECS: i64 = 5;

/// A netlink socket talking to the kernel's sock_diag subsystem.
pub struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl DiagSocket {
    pub fn open() -> io::Result<DiagSocket> {
        // SAFETY: plain socket(2) call with constant arguments; the result
        // is checked before it is used as a descriptor.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A kernel that stops answering mid-dump must not hang the tier.
        let timeout = nix::sys::time::TimeVal::new(RECV_TIMEOUT_SECS, 0);
        nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .map_err(io::Error::from)?;
        Ok(DiagSocket {
            fd,
            buf: vec![0u8; RECV_BUF_LEN],
        })
    }

    /// Send one complete netlink request (header included) to the kernel.
    pub fn send(&self, request: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value
        // (pid 0 = the kernel, no groups).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: `request` is a live slice of `request.len()` bytes and
            // `addr` a live sockaddr_nl whose size we pass; the kernel only
            // reads from both.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return if n as usize == request.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short send of a sock_diag request",
                    ))
                };
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receive one datagram into the reused buffer and return it. A
    /// datagram larger than the buffer is an error (never silently cut).
    pub fn recv(&mut self) -> io::Result<&[u8]> {
        loop {
            // SAFETY: `buf` is a live, writable allocation of `buf.len()`
            // bytes owned by `self`; the kernel writes at most that many.
            // MSG_TRUNC makes the return value the datagram's real length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "sock_diag datagram of {n} bytes exceeds the {} byte buffer",
                        self.buf.len()
                    ),
                ));
            }
            return Ok(&self.buf[..n]);
        }
    }
}
