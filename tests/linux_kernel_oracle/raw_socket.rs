//! The two socket calls std cannot make: shrink a listener's accept queue,
//! and start a connection without waiting for it.

use std::net::SocketAddrV4;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `listen(2)` again on a listening socket: Linux takes the new backlog.
pub fn relisten(fd: RawFd, backlog: i32) {
    // SAFETY: a plain syscall on a descriptor the caller owns; no memory
    // is passed.
    let rc = unsafe { libc::listen(fd, backlog) };
    assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
}

/// A non-blocking TCP socket whose connect to `to` is under way (a SYN
/// sent, no answer awaited).
pub fn connect_started(to: SocketAddrV4) -> OwnedFd {
    // SAFETY: socket(2) takes no memory; a non-negative result is a new
    // descriptor that nothing else owns, handed to OwnedFd at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: see above: `fd` is ours alone.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(to.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sa` is a live sockaddr_in and we pass its exact size; the
    // kernel only reads it.
    let rc = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let err = std::io::Error::last_os_error();
    assert!(
        rc == 0 || err.raw_os_error() == Some(libc::EINPROGRESS),
        "connect: {err}"
    );
    owned
}
