//! Handing memory freed after a large batch back to the system.
//!
//! glibc's allocator raises its mmap threshold to the size of the largest
//! block freed so far (up to 32 MiB), so after the first every-socket
//! batch the next multi-megabyte buffers come from the threads' arenas,
//! and what they free there stays resident. `malloc_trim` returns the free
//! pages of every arena. Other C libraries (FreeBSD's jemalloc, macOS)
//! return large blocks on their own: nothing to do there.

/// Return the allocator's free pages to the system (glibc only).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn freed_memory() {
    // SAFETY: malloc_trim takes no pointer and works only on the
    // allocator's own free lists, under its own locks; memory in use is
    // not touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Return the allocator's free pages to the system (glibc only).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn freed_memory() {}
