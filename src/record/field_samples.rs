//! Test values for socket fields, chosen by type, so the generators built
//! from the field table set a new field without being told about it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{STATE_COUNT, ShortName, TcpCounterDeltas, TcpCounters, TcpState, Tier};

/// A tiny deterministic generator (no extra crate for test data).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Edge values often, anything otherwise.
    pub fn value(&mut self) -> u64 {
        match self.next() % 6 {
            0 => 0,
            1 => u64::MAX,
            2 => u64::from(u32::MAX),
            3 => self.next() % 1000,
            _ => self.next(),
        }
    }

    /// `value()`, absent one time in five.
    pub fn opt64(&mut self) -> Option<u64> {
        (self.next() % 5 != 0).then(|| self.value())
    }

    /// Present always (`all`) or mostly.
    fn maybe(&mut self, all: bool) -> Option<u64> {
        if all {
            Some(self.value())
        } else {
            self.opt64()
        }
    }
}

/// A value of a field's type for tests.
pub(crate) trait Sample: Sized {
    /// A fixed value for field number `k` (1-based, table order) of the
    /// record made from `seed`.
    fn every(seed: u64, k: u64) -> Self;

    /// A value that stresses the encodings; with `all`, never absent.
    fn random(rng: &mut Rng, all: bool) -> Self;
}

impl Sample for u64 {
    fn every(seed: u64, _: u64) -> Self {
        seed
    }
    fn random(rng: &mut Rng, _: bool) -> Self {
        rng.value()
    }
}

impl Sample for Option<u64> {
    fn every(seed: u64, k: u64) -> Self {
        Some(seed.wrapping_mul(31).wrapping_add(k))
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all)
    }
}

impl Sample for Option<u32> {
    fn every(seed: u64, k: u64) -> Self {
        Some((seed as u32).wrapping_add(k as u32))
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all).map(|v| v as u32)
    }
}

impl Sample for Option<u8> {
    fn every(_: u64, k: u64) -> Self {
        Some(k as u8 % 15)
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all).map(|v| v as u8)
    }
}

impl Sample for Option<i32> {
    /// Negative, so flipping the sign tests both.
    fn every(_: u64, _: u64) -> Self {
        Some(-1)
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all).map(|v| v as i32)
    }
}

impl Sample for Option<f64> {
    fn every(_: u64, k: u64) -> Self {
        Some(k as f64 + 0.5)
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all).map(|v| (v % 1001) as f64 / 10.0)
    }
}

impl Sample for Option<ShortName> {
    fn every(_: u64, k: u64) -> Self {
        Some(ShortName::new(if k % 2 == 0 { "cubic" } else { "rack" }))
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all)
            .map(|v| ShortName::new(["cubic", "", "rack"][(v % 3) as usize]))
    }
}

impl Sample for Option<Arc<str>> {
    fn every(_: u64, _: u64) -> Self {
        Some(Arc::from("nginx: worker"))
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        rng.maybe(all).map(|v| {
            Arc::from(match v % 3 {
                0 => "firefox",
                1 => "a,b \"quoted\"\nnewline é",
                _ => "",
            })
        })
    }
}

impl Sample for Option<Tier> {
    fn every(_: u64, _: u64) -> Self {
        Some(Tier::Fast)
    }
    fn random(rng: &mut Rng, _: bool) -> Self {
        [None, Some(Tier::Fast), Some(Tier::Aggregate)][(rng.next() % 3) as usize]
    }
}

impl Sample for TcpState {
    fn every(_: u64, _: u64) -> Self {
        TcpState::FinWait2
    }
    fn random(rng: &mut Rng, _: bool) -> Self {
        TcpState::ALL[(rng.next() % TcpState::ALL.len() as u64) as usize]
    }
}

impl Sample for SocketAddr {
    /// IPv4 and IPv6 with a scope id, alternating by field.
    fn every(_: u64, k: u64) -> Self {
        let a = if k % 2 == 0 {
            "10.1.2.3:443"
        } else {
            "[fe80::1%2]:55555"
        };
        a.parse().unwrap()
    }
    fn random(rng: &mut Rng, _: bool) -> Self {
        let a = [
            "192.168.1.5:52341",
            "[fe80::1%3]:0",
            "[2001:db8::1]:443",
            "0.0.0.0:65535",
        ][(rng.next() % 4) as usize];
        a.parse().unwrap()
    }
}

impl Sample for [u64; STATE_COUNT] {
    fn every(seed: u64, k: u64) -> Self {
        std::array::from_fn(|i| seed + k + i as u64)
    }
    fn random(rng: &mut Rng, _: bool) -> Self {
        std::array::from_fn(|_| rng.value())
    }
}

impl Sample for TcpCounters {
    fn every(seed: u64, k: u64) -> Self {
        let mut c = TcpCounters::default();
        for (i, name) in TcpCounters::NAMES.iter().enumerate() {
            c.set(name, seed.wrapping_mul(31).wrapping_add(k * 100 + i as u64));
        }
        c
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        let mut c = TcpCounters::default();
        for name in TcpCounters::NAMES {
            if let Some(v) = rng.maybe(all) {
                c.set(name, v);
            }
        }
        c
    }
}

impl Sample for TcpCounterDeltas {
    fn every(seed: u64, k: u64) -> Self {
        let mut d = TcpCounterDeltas::default();
        for (i, name) in TcpCounterDeltas::NAMES.iter().enumerate() {
            d.set(name, seed.wrapping_add(k * 100 + i as u64));
        }
        d
    }
    fn random(rng: &mut Rng, all: bool) -> Self {
        let mut d = TcpCounterDeltas::default();
        for name in TcpCounterDeltas::NAMES {
            if let Some(v) = rng.maybe(all) {
                d.set(name, v);
            }
        }
        d
    }
}
