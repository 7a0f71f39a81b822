//! Little-endian reads of header-derived fields from kernel bytes.
//!
//! FreeBSD's 64-bit platforms this build knows (amd64, arm64) are
//! little-endian, and dumps replayed elsewhere keep those bytes, so reads are
//! explicitly little-endian rather than native. A field outside the slice
//! reads as zero instead of panicking; callers check record lengths first, so
//! that only happens on input already reported as malformed.

use super::layout::Field;

#[inline(always)]
fn array<const N: usize>(buf: &[u8], f: Field) -> [u8; N] {
    debug_assert_eq!(f.size, N, "field read with the wrong width");
    let Some(end) = f.offset.checked_add(N) else {
        return [0; N];
    };
    buf.get(f.offset..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

#[inline(always)]
pub fn u8_at(buf: &[u8], f: Field) -> u8 {
    array::<1>(buf, f)[0]
}

#[inline(always)]
pub fn u16_le(buf: &[u8], f: Field) -> u16 {
    u16::from_le_bytes(array(buf, f))
}

/// Network byte order (ports).
#[inline(always)]
pub fn u16_be(buf: &[u8], f: Field) -> u16 {
    u16::from_be_bytes(array(buf, f))
}

#[inline(always)]
pub fn u32_le(buf: &[u8], f: Field) -> u32 {
    u32::from_le_bytes(array(buf, f))
}

#[inline(always)]
pub fn i32_le(buf: &[u8], f: Field) -> i32 {
    i32::from_le_bytes(array(buf, f))
}

#[inline(always)]
pub fn u64_le(buf: &[u8], f: Field) -> u64 {
    u64::from_le_bytes(array(buf, f))
}

/// Raw bytes of a field (addresses, names); empty when out of range.
#[inline(always)]
pub fn bytes_at(buf: &[u8], f: Field) -> &[u8] {
    f.offset
        .checked_add(f.size)
        .and_then(|end| buf.get(f.offset..end))
        .unwrap_or(&[])
}

/// A `ksize_t` / `size_t` length field at the start of `buf[at..]`, or
/// `None` when fewer than 8 bytes remain.
#[inline(always)]
pub fn len_at(buf: &[u8], at: usize) -> Option<u64> {
    let s = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(s).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_reads_zero_not_panic() {
        let b = [1u8, 2, 3];
        assert_eq!(u32_le(&b, Field::new(0, 4)), 0);
        assert_eq!(u16_le(&b, Field::new(1, 2)), 0x0302);
        assert_eq!(u16_be(&b, Field::new(1, 2)), 0x0203);
        assert_eq!(u64_le(&b, Field::new(usize::MAX - 2, 8)), 0);
        assert!(bytes_at(&b, Field::new(2, 4)).is_empty());
        assert_eq!(len_at(&b, 0), None);
        assert_eq!(len_at(&[7, 0, 0, 0, 0, 0, 0, 0], 0), Some(7));
        assert_eq!(len_at(&b, usize::MAX), None);
    }
}
