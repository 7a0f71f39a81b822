//! Hashing for identifiers the kernel assigns (socket cookies, inodes,
//! `inp_gencnt`, kernel socket addresses).
//!
//! Nobody outside the host chooses these numbers, so the HashDoS defence of
//! std's SipHash buys nothing for them, and at 40,000 sockets a tick the
//! delta store and the process join spend a visible share of the tick in
//! it. Keys a remote peer can influence (addresses, ports) must keep a
//! keyed hash: see `pipeline::delta`.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate mixing of whole words with a splitmix64 finish, so
/// sequential ids (cookies count up) spread over every bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelIdHasher(u64);

/// `HashMap<u64, V, KernelIdHash>`.
pub type KernelIdHash = BuildHasherDefault<KernelIdHasher>;

impl Hasher for KernelIdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_buckets() {
        // The low bits pick the bucket: 4,096 sequential ids must land in
        // nearly 4,096 distinct low-12-bit slots, not a handful.
        let b = KernelIdHash::default();
        let slots: std::collections::HashSet<u64> = (1_000_000..1_004_096u64)
            .map(|id| b.hash_one(id) & 0xfff)
            .collect();
        assert!(slots.len() > 2_500, "{} distinct slots", slots.len());
    }

    #[test]
    fn works_as_a_map_hasher() {
        let mut m: HashMap<u64, u64, KernelIdHash> = HashMap::default();
        for i in 0..10_000u64 {
            m.insert(i * 4096, i);
        }
        assert!((0..10_000u64).all(|i| m.get(&(i * 4096)) == Some(&i)));
    }
}
