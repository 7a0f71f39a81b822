//! The only FFI of the FreeBSD source: reading a sysctl into a buffer.
//!
//! Tables grow between the size probe and the read, so the buffer gets
//! headroom; an ENOMEM is probed again and answered as `sysctl_size`
//! says, a bounded number of times. The kernel never truncates silently:
//! it fails with ENOMEM, so a returned length is a whole table.

use std::ffi::CStr;
use std::io;

use super::sysctl_size::{ATTEMPTS, AfterNoMem, after_enomem, capacity_for, shrink_to};

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

/// The size the kernel says the table needs now.
fn probe(
    call: &mut impl FnMut(*mut libc::c_void, *mut libc::size_t) -> libc::c_int,
) -> io::Result<usize> {
    let mut size: libc::size_t = 0;
    if call(std::ptr::null_mut(), &mut size) != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

fn read_with(
    buf: &mut Vec<u8>,
    mut call: impl FnMut(*mut libc::c_void, *mut libc::size_t) -> libc::c_int,
) -> io::Result<()> {
    let mut want = capacity_for(probe(&mut call)?);
    for _ in 0..ATTEMPTS {
        buf.clear();
        buf.reserve(want);
        let tried = buf.capacity();
        let mut len: libc::size_t = tried;
        if call(buf.as_mut_ptr().cast(), &mut len) == 0 {
            // SAFETY: the kernel wrote `len` (≤ capacity) initialised bytes.
            unsafe { buf.set_len(len.min(tried)) };
            if let Some(keep) = shrink_to(buf.capacity(), buf.len()) {
                buf.shrink_to(keep);
            }
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
        match after_enomem(tried, probe(&mut call)?) {
            AfterNoMem::Grow(bytes) => want = bytes,
            AfterNoMem::WiringLimit => {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "the kernel could not wire a {tried}-byte buffer for the table: raise \
                         vm.max_user_wired (sysctl) above the wired memory in use plus that"
                    ),
                ));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("the table kept outgrowing the buffer over {ATTEMPTS} reads"),
    ))
}
