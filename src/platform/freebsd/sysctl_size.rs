//! How big a buffer to give a sysctl table read, what an `ENOMEM` means,
//! and when to let a buffer go. Pure arithmetic, so that it is tested on
//! every platform; `sysctl_read.rs` runs the read loop.
//!
//! `ENOMEM` has two causes. The table grew past the buffer since the size
//! probe: probe again and grow to what it says (not blindly doubling,
//! which overshoots a large table by gigabytes). Or the kernel could not
//! wire the buffer (`sysctl_wire_old_buffer`: it would exceed
//! `vm.max_user_wired`), in which case every copy fails however large the
//! buffer: a fresh probe that fits in what was tried says so, and growing
//! cannot help.

/// Reads per table before giving up on one that keeps outgrowing the buffer.
pub const ATTEMPTS: usize = 4;

/// Buffer bytes for a table the kernel sized at `probe`, with headroom for
/// entries added between the probe and the read.
pub fn capacity_for(probe: usize) -> usize {
    probe.saturating_add(probe / 4).saturating_add(4096)
}

/// What to do after a read into `tried` bytes failed with `ENOMEM` and the
/// size was probed again as `probe`.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterNoMem {
    /// The table outgrew the buffer: read again with this many bytes.
    Grow(usize),
    /// The buffer was large enough, so the kernel could not wire it.
    WiringLimit,
}

pub fn after_enomem(tried: usize, probe: usize) -> AfterNoMem {
    if probe <= tried {
        AfterNoMem::WiringLimit
    } else {
        AfterNoMem::Grow(capacity_for(probe).max(tried.saturating_add(1)))
    }
}

/// A buffer kept between reads is shrunk back when one unusually large
/// read left it far bigger than the table now is (`kern.file` on a host
/// with a million open files is over 128 MB): the capacity to keep, or
/// `None` to keep it as it is.
pub fn shrink_to(capacity: usize, len: usize) -> Option<usize> {
    const SMALL: usize = 1 << 20;
    let keep = capacity_for(len);
    (capacity > SMALL && capacity / 4 > keep).then_some(keep.max(SMALL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grown_table_gets_what_the_new_probe_says() {
        assert_eq!(
            after_enomem(100_000, 180_000),
            AfterNoMem::Grow(capacity_for(180_000))
        );
        assert_eq!(capacity_for(180_000), 180_000 + 45_000 + 4096);
        // Never smaller than what already failed.
        assert_eq!(after_enomem(100_000, 100_001), AfterNoMem::Grow(129_097));
        assert_eq!(capacity_for(usize::MAX), usize::MAX);
    }

    #[test]
    fn a_buffer_that_was_large_enough_is_the_wiring_limit() {
        assert_eq!(after_enomem(300_000, 200_000), AfterNoMem::WiringLimit);
        assert_eq!(after_enomem(300_000, 300_000), AfterNoMem::WiringLimit);
    }

    #[test]
    fn only_a_much_too_large_buffer_is_shrunk() {
        // 128 MiB kept after a huge read, the table now 1 MiB.
        let keep = shrink_to(128 << 20, 1 << 20).unwrap();
        assert_eq!(keep, capacity_for(1 << 20));
        // Small buffers and ones in proportion are left alone.
        assert_eq!(shrink_to(512 << 10, 10), None);
        assert_eq!(shrink_to(8 << 20, 4 << 20), None);
        // Never below the small floor.
        assert_eq!(shrink_to(64 << 20, 10), Some(1 << 20));
    }

    #[test]
    fn shrinking_starts_just_past_both_limits() {
        // Exactly the small floor is never shrunk, however small the table.
        assert_eq!(shrink_to(1 << 20, 10), None);
        assert_eq!(shrink_to((1 << 20) + 4, 10), Some(1 << 20));
        // Exactly four times what the table needs is kept; four bytes more
        // (one more after the division) is shrunk.
        let len = 416_152;
        let keep = capacity_for(len);
        assert_eq!(keep, 524_286);
        assert_eq!(shrink_to(4 * keep, len), None);
        assert_eq!(shrink_to(4 * keep + 4, len), Some(1 << 20));
    }
}
