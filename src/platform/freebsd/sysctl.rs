//! The only FFI of the FreeBSD source: `sysctl(3)` by name and by MIB.
//! The read loop around the calls (headroom, `ENOMEM`, bounded attempts)
//! is `sysctl_read`, tested on every platform.

use std::ffi::CStr;
use std::io;

use super::sysctl_read::{SysctlCall, found, read_table};

/// Read `name` into `buf` (its capacity is reused between calls; its length
/// is set to what the kernel returned).
pub fn read_by_name(name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    read_table(
        &mut Raw(|ptr, len| {
            // SAFETY: `name` is NUL-terminated; `ptr` is null (size probe)
            // or points to `*len` writable bytes owned by the caller's
            // buffer; no new value is set.
            unsafe { libc::sysctlbyname(name.as_ptr(), ptr, len, std::ptr::null(), 0) }
        }),
        buf,
    )
}

/// Read a sysctl by MIB (used for `kern.proc.pid.<pid>`). `Ok(false)` when
/// the object does not exist (ESRCH: the process has exited).
pub fn read_by_mib(mib: &[libc::c_int], buf: &mut Vec<u8>) -> io::Result<bool> {
    found(read_table(
        &mut Raw(|ptr, len| {
            // SAFETY: `mib` is a valid array of `mib.len()` ints; `ptr` is
            // null or points to `*len` writable bytes owned by the caller's
            // buffer.
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
        }),
        buf,
    ))
}

/// A sysctl call as libc makes it: an old-value pointer (null to probe the
/// size) and its length, 0 or -1 with `errno`.
struct Raw<F>(F);

impl<F: FnMut(*mut libc::c_void, *mut libc::size_t) -> libc::c_int> SysctlCall for Raw<F> {
    fn size(&mut self) -> io::Result<usize> {
        let mut size: libc::size_t = 0;
        if (self.0)(std::ptr::null_mut(), &mut size) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(size)
    }

    fn copy_out(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let capacity = buf.capacity();
        let mut len: libc::size_t = capacity;
        if (self.0)(buf.as_mut_ptr().cast(), &mut len) != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel wrote `len` (≤ capacity) initialised bytes.
        unsafe { buf.set_len(len.min(capacity)) };
        Ok(())
    }
}
