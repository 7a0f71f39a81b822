//! The four sampling tiers and what each adds to a host's picture.

use serde::{Serialize, Serializer};

/// A sampling tier. Each collects only what it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// 1 s: the per-socket table.
    Fast,
    /// 30 s: process attribution and system TCP counters.
    Standard,
    /// 60 s: connection-state distribution.
    Slow,
    /// 300 s: system summary with counter deltas and rates over the window.
    Aggregate,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Fast, Tier::Standard, Tier::Slow, Tier::Aggregate];

    pub const fn name(self) -> &'static str {
        match self {
            Tier::Fast => "fast",
            Tier::Standard => "standard",
            Tier::Slow => "slow",
            Tier::Aggregate => "aggregate",
        }
    }

    pub fn from_name(s: &str) -> Option<Tier> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Default interval in milliseconds.
    pub const fn default_interval_ms(self) -> u64 {
        match self {
            Tier::Fast => 1_000,
            Tier::Standard => 30_000,
            Tier::Slow => 60_000,
            Tier::Aggregate => 300_000,
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
