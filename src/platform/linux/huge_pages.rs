//! Transparent huge pages for the socket table (FFI: `madvise`).
//!
//! A 40,000-socket scan fills ~35 MiB of records. With 4 KiB pages that is
//! ~9,000 page faults whenever the table is new (every `netpulse once`, the
//! daemon's first scan and every time the table grows), measurable next to
//! the dump itself. Asking for huge pages is advice only: on hosts whose
//! THP mode is `always` or `never` it changes nothing, and it never changes
//! memory contents.

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::sys::mman::{MmapAdvise, madvise};

/// Below this the table fits in a handful of huge pages at best.
const MIN_BYTES: usize = 4 << 20;
const PAGE: usize = 4096;

/// Advise huge pages for `v`'s allocated (not necessarily initialised)
/// capacity. Failures are ignored: it is an optimisation.
pub fn advise<T>(v: &Vec<T>) {
    let bytes = v.capacity().saturating_mul(size_of::<T>());
    if bytes < MIN_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.saturating_add(PAGE - 1) & !(PAGE - 1);
    let end = start.saturating_add(bytes) & !(PAGE - 1);
    let Some(len) = end.checked_sub(first).filter(|&l| l > 0) else {
        return;
    };
    let Some(addr) = NonNull::new(first as *mut c_void) else {
        return;
    };
    // SAFETY: [first, first + len) lies inside the vector's own heap
    // allocation (its capacity, rounded inward to page boundaries), which
    // outlives this call. MADV_HUGEPAGE only changes how the kernel backs
    // those pages, never their contents or mapping, so no Rust value can be
    // affected.
    let _ = unsafe { madvise(addr, len, MmapAdvise::MADV_HUGEPAGE) };
}
