//! A short, inline, copyable name (congestion control, TCP stack).
//!
//! Kernel names of this kind are NUL-padded fixed arrays (16 bytes for
//! `TCP_CA_NAME_MAX`, 32 for FreeBSD's `TCP_FUNCTION_NAME_LEN_MAX`); keeping
//! them inline means a socket record costs no heap allocation.

use serde::{Serialize, Serializer};

/// Up to 32 bytes of UTF-8, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ShortName {
    len: u8,
    bytes: [u8; ShortName::CAPACITY],
}

impl ShortName {
    pub const CAPACITY: usize = 32;

    /// From a kernel's NUL-padded byte array: stops at the first NUL, keeps
    /// at most `CAPACITY` bytes, and replaces bytes that are not printable
    /// ASCII with `?` (names are ASCII; anything else is corruption).
    pub fn from_c_bytes(raw: &[u8]) -> ShortName {
        let mut out = ShortName::default();
        for &b in raw.iter().take_while(|&&b| b != 0).take(Self::CAPACITY) {
            out.bytes[out.len as usize] = if b.is_ascii_graphic() { b } else { b'?' };
            out.len += 1;
        }
        out
    }

    /// From a Rust string, truncated to `CAPACITY` on a char boundary.
    pub fn new(s: &str) -> ShortName {
        let mut end = s.len().min(Self::CAPACITY);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = ShortName {
            len: end as u8,
            ..ShortName::default()
        };
        out.bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        out
    }

    pub fn as_str(&self) -> &str {
        // Both constructors only store whole UTF-8 characters.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ShortName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_nul_and_sanitises() {
        assert_eq!(
            ShortName::from_c_bytes(b"cubic\0\0garbage").as_str(),
            "cubic"
        );
        assert_eq!(ShortName::from_c_bytes(b"a\x01b\0").as_str(), "a?b");
        assert_eq!(ShortName::from_c_bytes(&[b'x'; 40]).as_str().len(), 32);
        assert!(ShortName::from_c_bytes(b"\0").is_empty());
    }

    #[test]
    fn new_truncates_on_char_boundary() {
        let s = "é".repeat(20); // 40 bytes
        let n = ShortName::new(&s);
        assert_eq!(n.as_str(), "é".repeat(16));
    }
}
