//! The TOML config: what to sample, how often, what
//! to leave out, and where to write it.
//!
//! Parsing walks the TOML tree by hand rather than through
//! `#[serde(deny_unknown_fields)]` so that one pass reports EVERY problem
//! (serde stops at the first), each naming its key and what to do.

pub mod endpoint;
mod format;
mod parse;
pub mod preflight;
mod units;

pub use preflight::LOCK_FILE;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use endpoint::{EndpointConfig, EndpointSettings};
pub use format::Format;
pub use units::{format_duration, parse_duration, parse_size};

use crate::platform::SourceKind;
use crate::record::{TcpState, Tier};

/// Where `netpulse run` looks when no `--config` is given.
pub const DEFAULT_PATH: &str = "/usr/local/etc/netpulse.toml";
/// A config file larger than this is refused unread (1 MiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Where the built-in defaults write when there is no config file.
pub const DEFAULT_DATA_DIR: &str = "./netpulse-data";
/// `dir` value meaning "standard output" (foreground use, JSON only).
pub const STDOUT_DIR: &str = "-";

/// Every key the config accepts, dotted; `tiers.<tier>` keys for each tier
/// and `output.*` for each `[[output]]`. The sample config and man page
/// document exactly these.
pub const ALL_KEYS: &[&str] = &[
    "agent.source",
    "agent.log_level",
    "agent.shutdown_timeout",
    "agent.memory_limit",
    "tiers.fast.enabled",
    "tiers.fast.interval",
    "tiers.standard.enabled",
    "tiers.standard.interval",
    "tiers.slow.enabled",
    "tiers.slow.interval",
    "tiers.aggregate.enabled",
    "tiers.aggregate.interval",
    "filter.exclude_states",
    "filter.local_ports",
    "filter.remote_ports",
    "output.format",
    "output.dir",
    "output.prefix",
    "output.tiers",
    "output.rotate_size",
    "output.rotate_age",
    "output.keep",
    "output.file_mode",
    "endpoint.unix_socket",
    "endpoint.unix_socket_mode",
    "endpoint.unix_socket_group",
    "endpoint.unix_socket_world_readable",
    "endpoint.unix_max_clients",
    "endpoint.unix_client_queue",
    "endpoint.unix_write_timeout",
    "endpoint.http_listen",
    "endpoint.http_max_connections",
    "endpoint.http_header_timeout",
    "endpoint.http_connection_timeout",
    "endpoint.http_max_request_bytes",
    "endpoint.snapshot_sockets",
    "endpoint.metrics_ports",
    "endpoint.per_socket_metrics",
    "endpoint.per_socket_metrics_limit",
];

/// A validated config. Add a section by adding a field here and a branch
/// in `parse::parse_root`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub agent: AgentConfig,
    pub tiers: TiersConfig,
    pub filter: FilterConfig,
    pub outputs: Vec<OutputConfig>,
    /// `[endpoint]`: the live Unix stream and HTTP server (off by default).
    pub endpoint: EndpointConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub source: SourceKind,
    /// `off`, `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` wins.
    pub log_level: String,
    /// How long SIGTERM may take to drain and fsync before exiting non-zero.
    pub shutdown_timeout: Duration,
    /// Resident size past which the agent skips optional work and warns;
    /// `None` (`"off"`) by default.
    pub memory_limit: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierConfig {
    pub enabled: bool,
    pub interval: Duration,
}

/// Per-tier settings, indexed by `Tier`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiersConfig {
    by_tier: [TierConfig; 4],
}

impl TiersConfig {
    pub fn get(&self, tier: Tier) -> TierConfig {
        self.by_tier[tier as usize]
    }

    pub fn set(&mut self, tier: Tier, cfg: TierConfig) {
        self.by_tier[tier as usize] = cfg;
    }
}

impl Default for TiersConfig {
    fn default() -> Self {
        TiersConfig {
            by_tier: Tier::ALL.map(|t| TierConfig {
                enabled: true,
                interval: Duration::from_millis(t.default_interval_ms()),
            }),
        }
    }
}

/// Which sockets enter the pipeline. A socket is kept when its state is not
/// excluded AND (no port list is set, OR its local port is in
/// `local_ports`, OR its remote port is in `remote_ports`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterConfig {
    pub exclude_states: Vec<TcpState>,
    pub local_ports: Vec<u16>,
    pub remote_ports: Vec<u16>,
}

/// One `[[output]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputConfig {
    pub format: Format,
    /// Directory of the files, or `-` for standard output.
    pub dir: PathBuf,
    /// File-name prefix, so several outputs can share a directory.
    pub prefix: String,
    /// Tiers whose batches this output writes.
    pub tiers: Vec<Tier>,
    /// Rotate when the active file would grow past this many bytes.
    pub rotate_size: Option<u64>,
    /// Rotate when the active file is older than this.
    pub rotate_age: Option<Duration>,
    /// Rotated files kept per family; older ones are deleted.
    pub keep: usize,
    pub file_mode: u32,
}

impl OutputConfig {
    pub fn is_stdout(&self) -> bool {
        self.dir.as_os_str() == STDOUT_DIR
    }

    /// The built-in output: JSON Lines of every tier under `dir`.
    pub fn default_json(dir: impl Into<PathBuf>) -> OutputConfig {
        OutputConfig {
            format: Format::Json,
            dir: dir.into(),
            prefix: "netpulse".into(),
            tiers: Tier::ALL.to_vec(),
            rotate_size: Some(64 << 20),
            rotate_age: Some(Duration::from_secs(3600)),
            keep: 24,
            file_mode: 0o640,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            source: SourceKind::Auto,
            log_level: "info".into(),
            shutdown_timeout: Duration::from_secs(5),
            memory_limit: None,
        }
    }
}

impl Config {
    /// What `netpulse run` uses when no config file exists.
    pub fn builtin() -> Config {
        Config {
            agent: AgentConfig::default(),
            tiers: TiersConfig::default(),
            filter: FilterConfig::default(),
            outputs: vec![OutputConfig::default_json(DEFAULT_DATA_DIR)],
            endpoint: Default::default(),
        }
    }

    /// Read, parse and validate `path` (directories are checked, not created).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = crate::bounded_read::read_at_most(path, MAX_CONFIG_BYTES).map_err(|cause| {
            ConfigError::Read {
                path: path.to_path_buf(),
                cause,
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Syntax {
            origin: format!("{}: ", path.display()),
            message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        })?;
        Config::parse(&text).map_err(|e| e.with_path(path))
    }

    /// Parse and validate config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        parse::parse(text)
    }
}

/// Why a config was refused. `Invalid` lists every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {cause} (check the path and its permissions)", path.display())]
    Read {
        path: PathBuf,
        cause: crate::bounded_read::BoundedReadError,
    },
    #[error("{origin}is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}{} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

impl ConfigError {
    fn with_path(self, path: &Path) -> ConfigError {
        let origin = format!("{}: ", path.display());
        match self {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { origin, message },
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid { origin, problems },
            other => other,
        }
    }

    /// Each problem on its own (one for read and syntax errors).
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { problems, .. } => problems.clone(),
            other => vec![other.to_string()],
        }
    }
}

#[cfg(test)]
mod tests;
