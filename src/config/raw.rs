//! The config file as written: one struct per section, one field per key,
//! every value [`Given`] so a wrong type is reported, not fatal. Units,
//! names and ranges are checked later, in `validate`.

use serde::Deserialize;
use toml::Table;

use super::lenient::Given;
use crate::record::Tier;

type Key<T> = Option<Given<T>>;

/// The whole file.
#[derive(Debug, Deserialize)]
pub(super) struct RawConfig {
    pub agent: Key<RawAgent>,
    pub tiers: Key<RawTiers>,
    pub filter: Key<RawFilter>,
    pub output: Key<Vec<Given<RawOutput>>>,
    /// Checked key by key as the public `EndpointConfig`, which the
    /// endpoint validates again on every reload.
    pub endpoint: Key<Table>,
    pub nats: Key<Vec<Given<super::nats::RawNats>>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawAgent {
    pub source: Key<String>,
    pub log_level: Key<String>,
    pub shutdown_timeout: Key<String>,
    pub memory_limit: Key<String>,
}

/// `[tiers.<name>]`, one field per `Tier`.
#[derive(Debug, Deserialize)]
pub(super) struct RawTiers {
    pub fast: Key<RawTier>,
    pub standard: Key<RawTier>,
    pub slow: Key<RawTier>,
    pub aggregate: Key<RawTier>,
}

impl RawTiers {
    pub fn get(&self, tier: Tier) -> &Key<RawTier> {
        match tier {
            Tier::Fast => &self.fast,
            Tier::Standard => &self.standard,
            Tier::Slow => &self.slow,
            Tier::Aggregate => &self.aggregate,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RawTier {
    pub enabled: Key<bool>,
    pub interval: Key<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawFilter {
    pub exclude_states: Key<Vec<Given<String>>>,
    pub local_ports: Key<Vec<Given<u16>>>,
    pub remote_ports: Key<Vec<Given<u16>>>,
}

/// One `[[output]]`.
#[derive(Debug, Deserialize)]
pub(super) struct RawOutput {
    pub format: Key<String>,
    pub dir: Key<String>,
    pub prefix: Key<String>,
    pub tiers: Key<Vec<Given<String>>>,
    pub rotate_size: Key<String>,
    pub rotate_age: Key<String>,
    pub keep: Key<i64>,
    pub file_mode: Key<String>,
    pub sockets: Key<String>,
    pub heartbeat: Key<String>,
    pub closes: Key<bool>,
    pub compress: Key<String>,
}
