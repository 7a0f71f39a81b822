//! The TOML config: what to sample, how often, what
//! to leave out, and where to write it.
//!
//! Every section is read the same way, in two steps:
//!
//! 1. `raw`: serde structs, one per section and one field per key, each
//!    value wrapped in `lenient::Given` so a wrong type is remembered, not
//!    fatal. Unknown keys are those a struct has no field for.
//! 2. `validate`: one pass turning the raw structs into the typed
//!    [`Config`] (durations, sizes, names, ranges, paths), collecting EVERY
//!    problem (serde alone stops at the first), each naming its key
//!    (`output[2].keep`) and what to do.
//!
//! Adding a key is one field in its `raw` struct (`pub keep: Key<i64>`),
//! one line in its section's function in `validate` turning it into the
//! typed field (`c.duration(...)`, `c.string(...)`, ...), the typed field
//! itself in this file, and its dotted name in [`ALL_KEYS`] (a test checks
//! that list against the raw structs). `[endpoint]` is the exception: its
//! raw struct is the public [`EndpointConfig`], because the endpoint checks
//! it again on every reload; a key there is a field of that struct.

pub mod endpoint;
mod format;
mod lenient;
pub mod nats;
pub mod nats_credentials;
pub mod preflight;
mod raw;
mod units;
mod validate;

pub use preflight::LOCK_FILE;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use endpoint::{EndpointConfig, EndpointSettings};
pub use format::Format;
pub use nats::{NatsConfig, NatsEncoding};
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
    "output.sockets",
    "output.heartbeat",
    "output.closes",
    "output.compress",
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
    "nats.url",
    "nats.subject",
    "nats.encoding",
    "nats.tiers",
    "nats.sockets",
    "nats.credentials",
    "nats.tls_ca",
    "nats.spool_dir",
    "nats.spool_max",
];

/// A validated config. Add a section by adding a field here, its raw struct
/// in `raw` and its function in `validate`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub agent: AgentConfig,
    pub tiers: TiersConfig,
    pub filter: FilterConfig,
    pub outputs: Vec<OutputConfig>,
    /// `[endpoint]`: the live Unix stream and HTTP server (off by default).
    pub endpoint: EndpointConfig,
    /// `[[nats]]`: JetStream outputs (none by default).
    pub nats: Vec<NatsConfig>,
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
    /// Every socket every poll, or only the sockets whose state changed.
    pub sockets: SocketLines,
    /// `changed`: a socket gets a line at least this often even if nothing
    /// changed, so a reader joining late has every socket within this time.
    pub heartbeat: Duration,
    /// Write a `close` record for each socket that left the table.
    pub closes: bool,
    /// How rotated files are compressed.
    pub compress: Compression,
}

/// How an output compresses its rotated files (`compress = ...`). The
/// active file always stays plain, for `tail -F`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// `<name>.<stamp>.zst`, zstd level 3.
    #[default]
    Zstd,
    /// `<name>.<stamp>.gz`, gzip level 6.
    Gzip,
    /// Rotated files stay plain.
    Off,
}

impl Compression {
    pub fn from_name(s: &str) -> Option<Compression> {
        match s {
            "zstd" => Some(Compression::Zstd),
            "gzip" => Some(Compression::Gzip),
            "off" => Some(Compression::Off),
            _ => None,
        }
    }

    /// The suffix of a compressed rotated file, `None` for `Off`.
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Compression::Zstd => Some("zst"),
            Compression::Gzip => Some("gz"),
            Compression::Off => None,
        }
    }
}

/// Which socket lines an output writes (`sockets = ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SocketLines {
    /// A line when a socket is first seen, when any state field (not the
    /// clock-driven ones) differs from its last line, and per heartbeat.
    #[default]
    Changed,
    /// Every socket, every poll.
    All,
}

impl SocketLines {
    pub fn from_name(s: &str) -> Option<SocketLines> {
        match s {
            "changed" => Some(SocketLines::Changed),
            "all" => Some(SocketLines::All),
            _ => None,
        }
    }
}

/// Default `heartbeat` of an output.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(300);
/// Longest `heartbeat`: a day.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(86_400);

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
            sockets: SocketLines::Changed,
            heartbeat: DEFAULT_HEARTBEAT,
            closes: true,
            compress: Compression::Zstd,
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
            nats: Vec::new(),
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
        validate::parse(text)
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
