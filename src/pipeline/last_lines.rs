//! The previous poll's socket lines, kept compact for close records.
//!
//! A close record is a gone socket's last line, so the delta store's task
//! needs the previous poll's records once the next poll is in. Keeping the
//! previous batch itself meant a second full socket table (~1 KiB a socket:
//! most fields are `Option<u64>`) alive beside the one the next poll fills.
//! Here each record is packed field by field (a presence byte, then the
//! value as a varint), about a sixth of that, and the table itself goes back
//! to the pool as soon as the sinks are done with it. Only the few records
//! of gone sockets are ever unpacked.
//!
//! The packing is generated from the field table, so a new field takes part
//! without an edit here.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use crate::record::{ShortName, SocketRecord, TcpState, Tier, set_field};

/// Bytes reserved before packing each record: more than a packed Linux
/// socket takes (~150 bytes), so the pushes stay within capacity.
const RECORD_ROOM: usize = 512;

/// The packed records of one poll, by their index in that poll's table.
#[derive(Default)]
pub struct LastLines {
    bytes: Vec<u8>,
    /// Where each record starts in `bytes`.
    starts: Vec<usize>,
    /// Command names, shared with the records rather than copied (a run of
    /// sockets of one process shares one entry).
    commands: Vec<Arc<str>>,
}

impl LastLines {
    /// Keep `table` in place of what was kept before (the buffers are
    /// reused).
    pub fn keep(&mut self, table: &[SocketRecord]) {
        self.bytes.clear();
        self.starts.clear();
        self.commands.clear();
        let mut out = Out {
            bytes: &mut self.bytes,
            commands: &mut self.commands,
        };
        self.starts.reserve(table.len());
        for r in table {
            self.starts.push(out.bytes.len());
            // Room for a typical record up front: the byte pushes below
            // then never reallocate mid-record.
            out.bytes.reserve(RECORD_ROOM);
            put_record(r, &mut out);
        }
        // A table that shrank a lot lets its memory go.
        if self.bytes.capacity() > 4 * self.bytes.len().max(1 << 16) {
            self.bytes.shrink_to_fit();
            self.starts.shrink_to_fit();
            self.commands.shrink_to_fit();
        }
    }

    /// The record kept at `index`, as it was.
    pub fn get(&self, index: usize) -> Option<SocketRecord> {
        let start = *self.starts.get(index)?;
        let mut inp = In {
            bytes: self.bytes.get(start..)?,
            commands: &self.commands,
        };
        take_record(&mut inp)
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bytes held (for figures and tests).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.starts.capacity() * std::mem::size_of::<usize>()
            + self.commands.capacity() * std::mem::size_of::<Arc<str>>()
    }
}

struct Out<'a> {
    bytes: &'a mut Vec<u8>,
    commands: &'a mut Vec<Arc<str>>,
}

struct In<'a> {
    bytes: &'a [u8],
    commands: &'a [Arc<str>],
}

impl Out<'_> {
    /// Every socket of every poll is packed, so the common cases (a value
    /// under 128, one byte) take the shortest path and 128-bit arithmetic
    /// is left to the one value that needs it (`u64::MAX` + 1).
    #[inline]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    fn varint128(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(v) => self.varint(v),
            Err(_) => {
                // Same bytes as the loop above would write for a u128.
                let mut v = v;
                while v >= 0x80 {
                    self.bytes.push(v as u8 | 0x80);
                    v >>= 7;
                }
                self.bytes.push(v as u8);
            }
        }
    }
}

impl In<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    fn varint(&mut self) -> Option<u64> {
        u64::try_from(self.varint128()?).ok()
    }

    fn varint128(&mut self) -> Option<u128> {
        let mut v = 0u128;
        for shift in (0..128).step_by(7) {
            let b = self.byte()?;
            v |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

/// A field type packed into a record's bytes.
trait Packed: Sized {
    fn put(&self, out: &mut Out);
    fn take(inp: &mut In) -> Option<Self>;

    /// `Some(self)`: a presence byte, then the value.
    fn put_some(&self, out: &mut Out) {
        out.bytes.push(1);
        self.put(out);
    }

    /// What [`Packed::put_some`] or a 0 for `None` wrote.
    fn take_option(inp: &mut In) -> Option<Option<Self>> {
        match inp.byte()? {
            0 => Some(None),
            1 => Some(Some(Self::take(inp)?)),
            _ => None,
        }
    }
}

macro_rules! packed_unsigned {
    ($($t:ty),*) => {$(
        impl Packed for $t {
            fn put(&self, out: &mut Out) {
                out.varint(u64::from(*self));
            }
            fn take(inp: &mut In) -> Option<Self> {
                <$t>::try_from(inp.varint()?).ok()
            }
            // Most fields are present counters: value + 1 in one varint,
            // 0 for absent, saves their presence byte.
            #[inline]
            fn put_some(&self, out: &mut Out) {
                match u64::from(*self).checked_add(1) {
                    Some(v) => out.varint(v),
                    None => out.varint128(u128::from(*self) + 1),
                }
            }
            fn take_option(inp: &mut In) -> Option<Option<Self>> {
                match inp.varint128()? {
                    0 => Some(None),
                    v => Some(Some(<$t>::try_from(v - 1).ok()?)),
                }
            }
        }
    )*};
}
packed_unsigned!(u64, u32, u8);

impl Packed for i32 {
    fn put(&self, out: &mut Out) {
        // Zigzag: small negative numbers stay short.
        out.varint(u64::from(((*self << 1) ^ (*self >> 31)) as u32));
    }
    fn take(inp: &mut In) -> Option<Self> {
        let z = u32::try_from(inp.varint()?).ok()?;
        Some((z >> 1) as i32 ^ -((z & 1) as i32))
    }
}

impl Packed for f64 {
    fn put(&self, out: &mut Out) {
        out.bytes.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    fn take(inp: &mut In) -> Option<Self> {
        Some(f64::from_bits(u64::from_le_bytes(inp.array()?)))
    }
}

impl Packed for SocketAddr {
    fn put(&self, out: &mut Out) {
        match self {
            SocketAddr::V4(a) => {
                out.bytes.push(4);
                out.bytes.extend_from_slice(&a.ip().octets());
                out.varint(u64::from(a.port()));
            }
            SocketAddr::V6(a) => {
                out.bytes.push(6);
                out.bytes.extend_from_slice(&a.ip().octets());
                out.varint(u64::from(a.port()));
                out.varint(u64::from(a.flowinfo()));
                out.varint(u64::from(a.scope_id()));
            }
        }
    }
    fn take(inp: &mut In) -> Option<Self> {
        let port = |inp: &mut In| u16::try_from(inp.varint()?).ok();
        let u32_of = |inp: &mut In| u32::try_from(inp.varint()?).ok();
        match inp.byte()? {
            4 => {
                let ip = Ipv4Addr::from(inp.array::<4>()?);
                Some(SocketAddr::V4(SocketAddrV4::new(ip, port(inp)?)))
            }
            6 => {
                let ip = Ipv6Addr::from(inp.array::<16>()?);
                let port = port(inp)?;
                let (flow, scope) = (u32_of(inp)?, u32_of(inp)?);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope)))
            }
            _ => None,
        }
    }
}

impl Packed for TcpState {
    fn put(&self, out: &mut Out) {
        out.bytes.push(self.index() as u8);
    }
    fn take(inp: &mut In) -> Option<Self> {
        TcpState::ALL.get(usize::from(inp.byte()?)).copied()
    }
}

impl Packed for Tier {
    fn put(&self, out: &mut Out) {
        out.bytes.push(*self as u8);
    }
    fn take(inp: &mut In) -> Option<Self> {
        Tier::ALL.get(usize::from(inp.byte()?)).copied()
    }
}

impl Packed for ShortName {
    fn put(&self, out: &mut Out) {
        let s = self.as_str().as_bytes();
        out.bytes.push(s.len() as u8);
        out.bytes.extend_from_slice(s);
    }
    fn take(inp: &mut In) -> Option<Self> {
        let len = usize::from(inp.byte()?);
        let s = inp.bytes.get(..len)?;
        inp.bytes = &inp.bytes[len..];
        Some(ShortName::new(std::str::from_utf8(s).ok()?))
    }
}

impl Packed for Arc<str> {
    fn put(&self, out: &mut Out) {
        if !out.commands.last().is_some_and(|c| Arc::ptr_eq(c, self)) {
            out.commands.push(Arc::clone(self));
        }
        out.varint((out.commands.len() - 1) as u64);
    }
    fn take(inp: &mut In) -> Option<Self> {
        let i = usize::try_from(inp.varint()?).ok()?;
        inp.commands.get(i).cloned()
    }
}

impl<T: Packed> Packed for Option<T> {
    #[inline]
    fn put(&self, out: &mut Out) {
        match self {
            None => out.bytes.push(0),
            Some(v) => v.put_some(out),
        }
    }
    fn take(inp: &mut In) -> Option<Self> {
        T::take_option(inp)
    }
}

macro_rules! packed_record {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident $(($($arg:tt)*))?, $timing:ident;
    )*) => {
        fn put_record(r: &SocketRecord, out: &mut Out) {
            $( Packed::put(&r.$name(), out); )*
        }

        fn take_record(inp: &mut In) -> Option<SocketRecord> {
            let mut r = SocketRecord::blank();
            $( set_field!($kind, r, $name, <$ty as Packed>::take(inp)?); )*
            Some(r)
        }
    };
}
crate::record::socket_fields!(packed_record);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::field_samples::Rng;

    fn same(a: &SocketRecord, b: &SocketRecord) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn every_field_comes_back_as_it_was() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut table: Vec<_> = (0..200)
            .map(|i| SocketRecord::random(&mut rng, i % 2 == 0))
            .collect();
        table.push(SocketRecord::every_field_set(3));
        let mut v6 = SocketRecord::every_field_set(4);
        v6.local = "[fe80::1%7]:443".parse().unwrap();
        v6.set().fd(Some(-3));
        v6.set().command(Some(Arc::from("nginx: worker")));
        table.push(v6);
        let mut kept = LastLines::default();
        kept.keep(&table);
        assert_eq!(kept.len(), table.len());
        for (i, r) in table.iter().enumerate() {
            let back = kept.get(i).expect("kept");
            assert!(same(r, &back), "record {i}:\n{r:?}\n{back:?}");
        }
        assert!(kept.get(table.len()).is_none());
    }

    #[test]
    fn extreme_values_come_back_as_they_were() {
        // The largest counters take the 128-bit path of the packing (value
        // + 1 does not fit 64 bits); the ones around 2^7k take the last
        // byte of each varint length.
        let mut table = Vec::new();
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX - 1, u64::MAX] {
            let mut r = SocketRecord::every_field_set(5);
            r.set()
                .bytes_acked(Some(v))
                .bytes_received(Some(v))
                .sock_id(Some(v));
            r.set().snd_wscale(u8::try_from(v).ok().or(Some(u8::MAX)));
            table.push(r);
        }
        let mut kept = LastLines::default();
        kept.keep(&table);
        for (i, r) in table.iter().enumerate() {
            assert!(same(r, &kept.get(i).expect("kept")), "record {i}");
        }
    }

    /// A socket as the Linux source fills it for an idle loopback
    /// connection (values from a real dump).
    fn linux_shaped(id: u64, command: &Arc<str>) -> SocketRecord {
        let mut r = SocketRecord::new(
            1_796_427_067_012_911_262,
            "127.0.3.13:52437".parse().unwrap(),
            "127.0.0.1:35974".parse().unwrap(),
            TcpState::Established,
        );
        r.set().tier(Some(Tier::Fast));
        r.set().sock_id(Some(1_288_855 + id));
        r.set().uid(Some(0)).inode(Some(14_380_022 + id));
        r.set()
            .cwnd(Some(327_680))
            .ssthresh(Some(2_147_483_647))
            .mss(Some(32_768));
        r.set().rcv_wnd(Some(65_483)).snd_wnd(Some(65_536));
        r.set().snd_wscale(Some(10)).rcv_wscale(Some(10));
        r.set().cc(Some(ShortName::new("bbr")));
        r.set()
            .rtt_us(Some(5))
            .rttvar_us(Some(2))
            .rto_us(Some(204_000))
            .rtt_min_us(Some(5));
        r.set().rexmit(Some(0)).ooo(Some(0)).dsack_pack(Some(0));
        r.set()
            .bytes_sent(Some(0))
            .bytes_acked(Some(0))
            .bytes_received(Some(0));
        r.set()
            .bytes_retrans(Some(0))
            .segs_out(Some(0))
            .segs_in(Some(2));
        r.set().unacked(Some(0)).lost(Some(0)).retrans_out(Some(0));
        r.set()
            .delivery_rate(Some(0))
            .pacing_rate(Some(187_292_160_000));
        r.set()
            .rexmit_delta(Some(0))
            .ooo_delta(Some(0))
            .bytes_acked_delta(Some(0));
        r.set()
            .bytes_received_delta(Some(0))
            .segs_out_delta(Some(0))
            .segs_in_delta(Some(0));
        r.set().age_ms(Some(15_127)).idle_ms(Some(15_860));
        r.set().snd_buf_used(Some(0)).snd_buf_hiwat(Some(3_939_840));
        r.set().rcv_buf_used(Some(0)).rcv_buf_hiwat(Some(131_072));
        r.set().snd_buf_pct(Some(0.0)).rcv_buf_pct(Some(0.0));
        r.set().snd_queue(Some(0)).rcv_queue(Some(0));
        r.set()
            .pid(Some(3801))
            .fd(Some(2623))
            .command(Some(Arc::clone(command)));
        let inode = r.inode();
        r.set().proc_key(inode);
        r
    }

    #[test]
    fn a_kept_table_is_a_fraction_of_the_table() {
        let command: Arc<str> = Arc::from("python3");
        let table: Vec<_> = (0..4000).map(|i| linux_shaped(i, &command)).collect();
        let mut kept = LastLines::default();
        kept.keep(&table);
        let table_bytes = table.len() * std::mem::size_of::<SocketRecord>();
        // Packed: ~150 bytes a record here (the table's record is ~550);
        // held: up to twice that while the buffer has room to grow.
        assert!(
            kept.bytes.len() < 160 * table.len() && kept.heap_bytes() < 2 * 160 * table.len(),
            "kept {} bytes ({} held) for a {table_bytes}-byte table",
            kept.bytes.len(),
            kept.heap_bytes()
        );
        assert!(same(&kept.get(17).unwrap(), &table[17]));
        // Keeping the next poll replaces, not adds.
        kept.keep(&table[..10]);
        assert_eq!(kept.len(), 10);
        assert!(same(&kept.get(9).unwrap(), &table[9]));
    }
}
