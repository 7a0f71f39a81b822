//! The read loop of a sysctl table, generic over the system call so that
//! it is tested on every platform; `sysctl.rs` supplies the call.
//!
//! Tables grow between the size probe and the read, so the buffer gets
//! headroom; an `ENOMEM` is probed again and answered as `sysctl_size`
//! says, a bounded number of times. The kernel never truncates silently:
//! it fails with `ENOMEM`, so a returned length is a whole table.

use std::io;

use super::sysctl_size::{ATTEMPTS, AfterNoMem, after_enomem, capacity_for, shrink_to};

/// One sysctl object as the read loop sees it. Errors carry the OS error
/// code (`ENOMEM` when the table did not fit, `ESRCH` when the object does
/// not exist).
pub trait SysctlCall {
    /// The size the kernel says the table needs now.
    fn size(&mut self) -> io::Result<usize>;

    /// Copy the table into the spare capacity of `buf` (which is empty)
    /// and set its length to the bytes copied.
    fn copy_out(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
}

/// Read the table behind `call` into `buf` (its capacity is reused between
/// calls; its length is set to what the kernel returned).
pub fn read_table(call: &mut impl SysctlCall, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut want = capacity_for(call.size()?);
    for _ in 0..ATTEMPTS {
        buf.clear();
        buf.reserve(want);
        let tried = buf.capacity();
        match call.copy_out(buf) {
            Ok(()) => {
                if let Some(keep) = shrink_to(buf.capacity(), buf.len()) {
                    buf.shrink_to(keep);
                }
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {}
            Err(e) => return Err(e),
        }
        match after_enomem(tried, call.size()?) {
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

/// A read of an object that may have gone away (`kern.proc.pid.<pid>`):
/// `Ok(false)` when it does not exist (`ESRCH`: the process has exited).
pub fn found(read: io::Result<()>) -> io::Result<bool> {
    match read {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_error(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    /// Test double of a sysctl object: a table whose size each call may
    /// change, a copy that fails with `ENOMEM` when the table does not fit
    /// (as the kernel does) or with a chosen error, and a record of the
    /// capacities it was offered.
    struct TableDouble {
        /// The table's size at each successive call (size or copy); the
        /// last one stays.
        sizes: Vec<usize>,
        calls: usize,
        /// Copies fail with ENOMEM even when the table fits: the kernel
        /// could not wire the buffer.
        wiring_refused: bool,
        /// Every call fails with this OS error code.
        fail_with: Option<i32>,
        /// Every size probe fails with this OS error code from the
        /// given call on.
        size_fails_from_call: Option<(usize, i32)>,
        offered: Vec<usize>,
        probes: usize,
    }

    impl TableDouble {
        fn new(sizes: &[usize]) -> TableDouble {
            TableDouble {
                sizes: sizes.to_vec(),
                calls: 0,
                wiring_refused: false,
                fail_with: None,
                size_fails_from_call: None,
                offered: Vec::new(),
                probes: 0,
            }
        }

        fn size_now(&mut self) -> usize {
            let i = self.calls.min(self.sizes.len() - 1);
            self.calls += 1;
            self.sizes[i]
        }
    }

    /// The table's bytes at a size: a pattern that tells bytes apart.
    fn table(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }

    impl SysctlCall for TableDouble {
        fn size(&mut self) -> io::Result<usize> {
            self.probes += 1;
            if let Some(code) = self.fail_with {
                return Err(os_error(code));
            }
            if let Some((from, code)) = self.size_fails_from_call
                && self.calls >= from
            {
                return Err(os_error(code));
            }
            Ok(self.size_now())
        }

        fn copy_out(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            assert!(buf.is_empty(), "the read loop hands over an empty buffer");
            self.offered.push(buf.capacity());
            if let Some(code) = self.fail_with {
                return Err(os_error(code));
            }
            let size = self.size_now();
            if self.wiring_refused || size > buf.capacity() {
                return Err(os_error(libc::ENOMEM));
            }
            buf.extend_from_slice(&table(size));
            Ok(())
        }
    }

    #[test]
    fn a_table_that_fits_is_read_whole_with_headroom_offered() {
        let mut t = TableDouble::new(&[10_000]);
        let mut buf = Vec::new();
        read_table(&mut t, &mut buf).unwrap();
        assert_eq!(buf, table(10_000));
        assert_eq!(t.offered.len(), 1);
        assert!(t.offered[0] >= capacity_for(10_000), "{:?}", t.offered);
        assert_eq!(t.probes, 1);
    }

    #[test]
    fn a_table_that_grew_past_the_buffer_is_probed_again_and_read() {
        // Probed at 1000 bytes, 100 000 when copied: ENOMEM, probe again.
        let mut t = TableDouble::new(&[1000, 100_000]);
        let mut buf = Vec::new();
        read_table(&mut t, &mut buf).unwrap();
        assert_eq!(buf, table(100_000));
        assert_eq!(t.offered.len(), 2);
        assert!(t.offered[0] < 100_000);
        assert!(t.offered[1] >= capacity_for(100_000), "{:?}", t.offered);
        assert_eq!(t.probes, 2);
    }

    /// Doubles on every call (the first probe, then each copy and probe),
    /// more than the headroom a probe's buffer gets.
    fn ever_growing(calls: usize) -> Vec<usize> {
        let sizes: Vec<usize> = (0..calls).map(|i| 10_000 << i).collect();
        assert!(sizes.windows(2).all(|w| w[1] > capacity_for(w[0])));
        sizes
    }

    #[test]
    fn a_table_that_fits_on_the_last_attempt_is_read() {
        // Each copy sees the table eight times larger than the probe
        // before it, until the last attempt's copy, which sees it as the
        // probe before it said.
        let mut sizes = ever_growing(2 * ATTEMPTS - 1);
        let last_probe = sizes[2 * ATTEMPTS - 2];
        sizes.push(last_probe);
        let mut t = TableDouble::new(&sizes);
        let mut buf = Vec::new();
        read_table(&mut t, &mut buf).unwrap();
        assert_eq!(t.offered.len(), ATTEMPTS);
        assert_eq!(buf, table(last_probe));
    }

    #[test]
    fn a_table_that_keeps_outgrowing_the_buffer_is_given_up_after_the_attempts() {
        let mut t = TableDouble::new(&ever_growing(2 * ATTEMPTS + 4));
        let mut buf = Vec::new();
        let e = read_table(&mut t, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        assert_eq!(
            e.to_string(),
            format!("the table kept outgrowing the buffer over {ATTEMPTS} reads")
        );
        assert_eq!(t.offered.len(), ATTEMPTS, "exactly ATTEMPTS copies");
        assert_eq!(t.probes, ATTEMPTS + 1, "the first probe and one per ENOMEM");
        // Each attempt offered what the probe before it asked for.
        for w in t.offered.windows(2) {
            assert!(w[1] > w[0], "{:?}", t.offered);
        }
    }

    #[test]
    fn a_buffer_the_kernel_cannot_wire_is_the_wiring_limit_at_once() {
        let mut t = TableDouble::new(&[50_000]);
        t.wiring_refused = true;
        let mut buf = Vec::new();
        let e = read_table(&mut t, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        let tried = t.offered[0];
        assert!(
            e.to_string()
                .starts_with(&format!("the kernel could not wire a {tried}-byte buffer")),
            "{e}"
        );
        assert!(e.to_string().contains("vm.max_user_wired"), "{e}");
        assert_eq!(t.offered.len(), 1, "growing cannot help: no second copy");
        assert_eq!(t.probes, 2);
    }

    #[test]
    fn errors_other_than_enomem_are_returned_as_they_are() {
        let mut t = TableDouble::new(&[100]);
        t.fail_with = Some(libc::EPERM);
        let mut buf = Vec::new();
        let e = read_table(&mut t, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert!(t.offered.is_empty(), "a failed probe copies nothing");

        // The probe works, the copy fails with something else than ENOMEM.
        struct CopyFailsDouble;
        impl SysctlCall for CopyFailsDouble {
            fn size(&mut self) -> io::Result<usize> {
                Ok(100)
            }
            fn copy_out(&mut self, _: &mut Vec<u8>) -> io::Result<()> {
                Err(os_error(libc::EACCES))
            }
        }
        let e = read_table(&mut CopyFailsDouble, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn a_failed_probe_after_enomem_is_returned() {
        let mut t = TableDouble::new(&[1000, 100_000]);
        t.size_fails_from_call = Some((1, libc::EIO));
        let mut buf = Vec::new();
        let e = read_table(&mut t, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        assert_eq!(t.offered.len(), 1);
    }

    #[test]
    fn a_buffer_left_large_by_an_earlier_table_is_shrunk() {
        let mut buf = Vec::new();
        read_table(&mut TableDouble::new(&[8 << 20]), &mut buf).unwrap();
        assert!(buf.capacity() >= 8 << 20);
        read_table(&mut TableDouble::new(&[1000]), &mut buf).unwrap();
        assert_eq!(buf, table(1000));
        assert!(
            buf.capacity() < 2 << 20,
            "kept {} bytes for a 1000-byte table",
            buf.capacity()
        );
        // One in proportion is kept as it is.
        let mut buf = Vec::with_capacity(3 << 20);
        read_table(&mut TableDouble::new(&[1 << 20]), &mut buf).unwrap();
        assert_eq!(buf.capacity(), 3 << 20);
    }

    #[test]
    fn a_missing_object_is_not_found_and_other_errors_stay_errors() {
        assert!(found(Ok(())).unwrap());
        assert!(!found(Err(os_error(libc::ESRCH))).unwrap());
        let e = found(Err(os_error(libc::ENOMEM))).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        let e = found(Err(io::Error::other("not an OS error"))).unwrap_err();
        assert_eq!(e.to_string(), "not an OS error");
    }
}
