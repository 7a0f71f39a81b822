//! `kern.hz`, the kernel's clock rate, which sets where pcblist's idle time
//! wraps: its bytes to a rate, with FreeBSD's default when it cannot be
//! read.

use std::io;

use tracing::warn;

/// FreeBSD's default clock rate.
pub const DEFAULT_HZ: u32 = 1000;

/// The rate from a read of `kern.hz` (a native-endian C `int`); the
/// default, with a warning, when the read failed, is too short or holds
/// no positive rate.
pub fn from_sysctl(read: io::Result<&[u8]>) -> u32 {
    let hz = read
        .ok()
        .and_then(|b| b.first_chunk::<4>().map(|b| i32::from_ne_bytes(*b)))
        .and_then(|hz| u32::try_from(hz).ok())
        .filter(|&hz| hz > 0);
    hz.unwrap_or_else(|| {
        warn!("kern.hz unreadable; assuming {DEFAULT_HZ} for the idle_ms wrap horizon");
        DEFAULT_HZ
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hz(v: i32) -> u32 {
        from_sysctl(Ok(&v.to_ne_bytes()))
    }

    #[test]
    fn a_positive_rate_is_used() {
        assert_eq!(hz(100), 100);
        assert_eq!(hz(1), 1);
        assert_eq!(hz(i32::MAX), i32::MAX as u32);
        // Only the int is read, whatever follows it.
        let mut b = 250i32.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0xff; 4]);
        assert_eq!(from_sysctl(Ok(&b)), 250);
    }

    #[test]
    fn no_positive_rate_falls_back_to_the_default() {
        assert_eq!(DEFAULT_HZ, 1000);
        assert_eq!(hz(0), DEFAULT_HZ);
        assert_eq!(hz(-1), DEFAULT_HZ);
        assert_eq!(hz(i32::MIN), DEFAULT_HZ);
    }

    #[test]
    fn a_failed_or_short_read_falls_back_to_the_default() {
        let three = 100i32.to_ne_bytes();
        assert_eq!(from_sysctl(Ok(&three[..3])), DEFAULT_HZ);
        assert_eq!(from_sysctl(Ok(&[])), DEFAULT_HZ);
        assert_eq!(
            from_sysctl(Err(io::Error::from_raw_os_error(libc::ENOENT))),
            DEFAULT_HZ
        );
    }
}
