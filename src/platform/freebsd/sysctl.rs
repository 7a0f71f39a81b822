//! The only FFI of the FreeBSD source: reading a sysctl into a buffer.
//!
//! Tables grow between the size probe and the read, so the buffer gets
//! headroom, and a read that still finds it too small (ENOMEM) grows it and
//! tries again, a bounded number of times. The kernel never truncates
//! silently: it fails with ENOMEM, so a returned length is a whole table.

use std::ffi::CStr;
use std::io;

const GROW_RETRIES: usize = 8;

/// Read `name` into `buf` (its capacity is reused between calls; its length
/// is set to what the kernel returned).
pub fn read_by_name(name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    read_with(buf, |ptr, len| {
        // SAFETY: `name` is NUL-terminated; `ptr` is null (size probe) or
        // points to `*len` writable bytes owned by `buf`; no new value is set.
        unsafe { libc::sysctlbyname(name.as_ptr(), ptr, len, std::ptr::null(), 0) }
    })
}

/// Read a sysctl by MIB (used for `kern.proc.pid.<pid>`). `Ok(false)` when
/// the object does not exist (ESRCH: the process has exited).
pub fn read_by_mib(mib: &[libc::c_int], buf: &mut Vec<u8>) -> io::Result<bool> {
    let r = read_with(buf, |ptr, len| {
        // SAFETY: `mib` is a valid array of `mib.len()` ints; `ptr` is null
        // or points to `*len` writable bytes owned by `buf`.
        unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                ptr,
                len,
                std::ptr::null(),
                0,
            )
        }
    });
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

fn read_with(
    buf: &mut Vec<u8>,
    mut call: impl FnMut(*mut libc::c_void, *mut libc::size_t) -> libc::c_int,
) -> io::Result<()> {
    let mut probe: libc::size_t = 0;
    if call(std::ptr::null_mut(), &mut probe) != 0 {
        return Err(io::Error::last_os_error());
    }
    // Headroom for sockets opened between the probe and the read.
    let mut want = probe + probe / 4 + 4096;
    for _ in 0..GROW_RETRIES {
        buf.clear();
        buf.reserve(want);
        let mut len: libc::size_t = buf.capacity();
        if call(buf.as_mut_ptr().cast(), &mut len) == 0 {
            // SAFETY: the kernel wrote `len` (≤ capacity) initialised bytes.
            unsafe { buf.set_len(len.min(buf.capacity())) };
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
        want = buf.capacity().saturating_mul(2);
    }
    Err(io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("the table kept growing faster than {GROW_RETRIES} reads could follow"),
    ))
}
