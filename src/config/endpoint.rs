//! The `[endpoint]` table: where the live stream and the HTTP server listen
//! and how much a client may cost the agent.
//!
//! Everything is off by default: an agent that nobody asked to listen opens
//! no socket.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::units::parse_duration;

/// Default TCP port of the HTTP server when `http_listen` names only a port.
pub const DEFAULT_HTTP_PORT: u16 = 9477;

/// `[endpoint]` keys; every one has a default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// Path of the Unix socket streaming live JSON lines; empty = off.
    pub unix_socket: String,
    /// Octal permission bits of the Unix socket file.
    pub unix_socket_mode: String,
    /// Group owning the Unix socket file (name or number); empty = the
    /// agent's own group.
    pub unix_socket_group: String,
    /// Allow a `unix_socket_mode` that lets every local user connect.
    pub unix_socket_world_readable: bool,
    /// Most clients connected to the Unix socket at once; more are refused.
    pub unix_max_clients: usize,
    /// Samples queued per Unix client; a client this far behind is dropped.
    pub unix_client_queue: usize,
    /// A single write to a Unix client stalled this long drops the client.
    pub unix_write_timeout: String,

    /// HTTP listen address (`127.0.0.1:9477`, `[::1]:9477`, or a bare port
    /// meaning 127.0.0.1); empty = off.
    pub http_listen: String,
    /// Most HTTP connections open at once; more are closed on accept.
    pub http_max_connections: usize,
    /// Time a client gets to send a complete request head.
    pub http_header_timeout: String,
    /// Longest an HTTP connection may stay open, whatever it does.
    pub http_connection_timeout: String,
    /// Largest request head accepted, bytes (431 above it).
    pub http_max_request_bytes: usize,
    /// Socket rows in `/api/snapshot` unless the request asks for
    /// `?sockets=all` or another number.
    pub snapshot_sockets: usize,

    /// Ports whose connection counts `/metrics` reports (local and remote
    /// side, by state).
    pub metrics_ports: Vec<u16>,
    /// Per-socket series in `/metrics` (high cardinality: off by default).
    pub per_socket_metrics: bool,
    /// Most sockets given per-socket series; the worst (most retransmits,
    /// then highest RTT) are chosen.
    pub per_socket_metrics_limit: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            unix_socket: String::new(),
            unix_socket_mode: "0660".into(),
            unix_socket_group: String::new(),
            unix_socket_world_readable: false,
            unix_max_clients: 16,
            unix_client_queue: 8,
            unix_write_timeout: "5s".into(),
            http_listen: String::new(),
            http_max_connections: 64,
            http_header_timeout: "5s".into(),
            http_connection_timeout: "60s".into(),
            http_max_request_bytes: 16 * 1024,
            snapshot_sockets: 1000,
            metrics_ports: Vec::new(),
            per_socket_metrics: false,
            per_socket_metrics_limit: 200,
        }
    }
}

/// Every `[endpoint]` key, for "unknown key" messages and documentation
/// checks.
pub const ALL_KEYS: &[&str] = &[
    "unix_socket",
    "unix_socket_mode",
    "unix_socket_group",
    "unix_socket_world_readable",
    "unix_max_clients",
    "unix_client_queue",
    "unix_write_timeout",
    "http_listen",
    "http_max_connections",
    "http_header_timeout",
    "http_connection_timeout",
    "http_max_request_bytes",
    "snapshot_sockets",
    "metrics_ports",
    "per_socket_metrics",
    "per_socket_metrics_limit",
];

/// The checked, typed form of an `EndpointConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSettings {
    pub unix_socket: Option<std::path::PathBuf>,
    pub unix_socket_mode: u32,
    pub unix_socket_group: Option<String>,
    pub unix_max_clients: usize,
    pub unix_client_queue: usize,
    pub unix_write_timeout: Duration,
    pub http_listen: Option<SocketAddr>,
    pub http_max_connections: usize,
    pub http_header_timeout: Duration,
    pub http_connection_timeout: Duration,
    pub http_max_request_bytes: usize,
    pub snapshot_sockets: usize,
    pub metrics_ports: Vec<u16>,
    pub per_socket_metrics: bool,
    pub per_socket_metrics_limit: usize,
}

/// hyper will not buffer less than this for a request head.
const MIN_REQUEST_BYTES: usize = 8 * 1024;
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

impl EndpointConfig {
    /// Check every key; on failure, every problem, each saying what to do.
    pub fn validate(&self) -> Result<EndpointSettings, Vec<String>> {
        let mut problems = Vec::new();
        let mut duration = |key: &str, value: &str| match parse_duration(value) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push(format!(
                    "endpoint.{key}: `{value}` is zero; use a positive duration such as \"5s\""
                ));
                Duration::from_secs(1)
            }
            Err(e) => {
                problems.push(format!("endpoint.{key}: {e}"));
                Duration::from_secs(1)
            }
        };
        let unix_write_timeout = duration("unix_write_timeout", &self.unix_write_timeout);
        let http_header_timeout = duration("http_header_timeout", &self.http_header_timeout);
        let http_connection_timeout =
            duration("http_connection_timeout", &self.http_connection_timeout);

        let unix_socket = if self.unix_socket.trim().is_empty() {
            None
        } else {
            let p = std::path::PathBuf::from(&self.unix_socket);
            if !p.is_absolute() {
                problems.push(format!(
                    "endpoint.unix_socket: {:?} is relative; use an absolute path such as \"/var/run/netpulse/netpulse.sock\" (FreeBSD) or \"/run/netpulse/netpulse.sock\" (Linux), or \"\" to turn the socket off",
                    self.unix_socket
                ));
            }
            if p.file_name().is_none() {
                problems.push(format!(
                    "endpoint.unix_socket: {:?} names no file; add a file name such as \"netpulse.sock\"",
                    self.unix_socket
                ));
            }
            // sun_path is 104 bytes on FreeBSD, 108 on Linux, NUL included.
            if self.unix_socket.len() > 103 {
                problems.push(format!(
                    "endpoint.unix_socket: the path is {} bytes long; Unix socket paths must be at most 103 bytes: choose a shorter path",
                    self.unix_socket.len()
                ));
            }
            Some(p)
        };
        let unix_socket_mode = match parse_mode(&self.unix_socket_mode) {
            Some(m) => m,
            None => {
                problems.push(format!(
                    "endpoint.unix_socket_mode: {:?} is not an octal permission; write e.g. \"0660\" (owner and group read/write)",
                    self.unix_socket_mode
                ));
                0o660
            }
        };
        if unix_socket_mode & 0o007 != 0 && !self.unix_socket_world_readable {
            problems.push(format!(
                "endpoint.unix_socket_mode: {:?} lets every local user read every socket and process name; drop the bits for others (e.g. \"0660\" with unix_socket_group), or set unix_socket_world_readable = true if that is intended",
                self.unix_socket_mode
            ));
        }
        let group = self.unix_socket_group.trim();
        let unix_socket_group = (!group.is_empty()).then(|| group.to_string());
        if let Some(g) = &unix_socket_group {
            if let Err(e) = resolve_group(g) {
                problems.push(format!("endpoint.unix_socket_group: {e}"));
            }
        }

        let http_listen = if self.http_listen.trim().is_empty() {
            None
        } else {
            match parse_listen(&self.http_listen) {
                Some(a) => Some(a),
                None => {
                    problems.push(format!(
                        "endpoint.http_listen: {:?} is not an address; write \"127.0.0.1:{DEFAULT_HTTP_PORT}\", \"[::1]:{DEFAULT_HTTP_PORT}\", a bare port, or \"\" to turn HTTP off",
                        self.http_listen
                    ));
                    None
                }
            }
        };

        let mut at_least = |key: &str, value: usize, min: usize, max: usize, hint: &str| {
            if value < min || value > max {
                problems.push(format!(
                    "endpoint.{key}: {value} is out of range; use {min} to {max} ({hint})"
                ));
            }
        };
        at_least(
            "unix_max_clients",
            self.unix_max_clients,
            1,
            4096,
            "default 16",
        );
        at_least(
            "unix_client_queue",
            self.unix_client_queue,
            1,
            1024,
            "samples a client may fall behind; default 8",
        );
        at_least(
            "http_max_connections",
            self.http_max_connections,
            1,
            10_000,
            "default 64",
        );
        at_least(
            "http_max_request_bytes",
            self.http_max_request_bytes,
            MIN_REQUEST_BYTES,
            MAX_REQUEST_BYTES,
            "bytes; default 16384",
        );
        at_least(
            "per_socket_metrics_limit",
            self.per_socket_metrics_limit,
            1,
            100_000,
            "default 200",
        );
        if self.metrics_ports.contains(&0) {
            problems.push(
                "endpoint.metrics_ports: contains 0; list real port numbers, e.g. [443, 5432]"
                    .into(),
            );
        }
        if self.metrics_ports.len() > 256 {
            problems.push(format!(
                "endpoint.metrics_ports: {} ports listed; at most 256 keep /metrics small: list the ports you alert on",
                self.metrics_ports.len()
            ));
        }
        let mut metrics_ports = self.metrics_ports.clone();
        metrics_ports.sort_unstable();
        metrics_ports.dedup();

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(EndpointSettings {
            unix_socket,
            unix_socket_mode,
            unix_socket_group,
            unix_max_clients: self.unix_max_clients,
            unix_client_queue: self.unix_client_queue,
            unix_write_timeout,
            http_listen,
            http_max_connections: self.http_max_connections,
            http_header_timeout,
            http_connection_timeout,
            http_max_request_bytes: self.http_max_request_bytes,
            snapshot_sockets: self.snapshot_sockets,
            metrics_ports,
            per_socket_metrics: self.per_socket_metrics,
            per_socket_metrics_limit: self.per_socket_metrics_limit,
        })
    }
}

/// A group name or number as a gid; a name must exist on this host.
pub fn resolve_group(g: &str) -> std::io::Result<u32> {
    if let Ok(gid) = g.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(gr)) => Ok(gr.gid.as_raw()),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no group named {g:?}: create it or set unix_socket_group to an existing group"
            ),
        )),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// `"0660"` / `"660"` / `"0o660"` → 0o660; at most 0o777 (no setuid bits
/// on a socket).
pub fn parse_mode(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    let m = u32::from_str_radix(digits, 8).ok()?;
    (m <= 0o777).then_some(m)
}

/// An address, or a bare port meaning 127.0.0.1:port.
pub fn parse_listen(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let s = EndpointConfig::default().validate().unwrap();
        assert_eq!(s.unix_socket, None);
        assert_eq!(s.http_listen, None);
        assert_eq!(s.unix_socket_mode, 0o660);
    }

    #[test]
    fn parses_a_full_table() {
        let cfg: EndpointConfig = toml::from_str(
            r#"
            unix_socket = "/run/netpulse/netpulse.sock"
            unix_socket_mode = "0640"
            unix_socket_group = "daemon"
            http_listen = "9478"
            metrics_ports = [443, 22, 443]
            per_socket_metrics = true
            per_socket_metrics_limit = 50
            "#,
        )
        .unwrap();
        let s = cfg.validate().unwrap();
        assert_eq!(s.unix_socket_mode, 0o640);
        assert_eq!(s.http_listen, Some("127.0.0.1:9478".parse().unwrap()));
        assert_eq!(s.metrics_ports, vec![22, 443]);
        assert_eq!(s.unix_socket_group.as_deref(), Some("daemon"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<EndpointConfig>("http_port = 1").unwrap_err();
        assert!(err.to_string().contains("http_port"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_advice() {
        let cfg = EndpointConfig {
            unix_socket: "relative.sock".into(),
            unix_socket_mode: "rw-rw----".into(),
            http_listen: "localhost:x".into(),
            http_header_timeout: "5".into(),
            http_max_request_bytes: 10,
            metrics_ports: vec![0],
            ..EndpointConfig::default()
        };
        let problems = cfg.validate().unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        for p in &problems {
            assert!(p.starts_with("endpoint."), "{p}");
            assert!(
                p.contains(';') || p.contains("write e.g."),
                "no advice in {p}"
            );
        }
    }

    #[test]
    fn modes_and_durations() {
        assert_eq!(parse_mode("0660"), Some(0o660));
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("4755"), None);
        assert_eq!(parse_mode("0999"), None);
    }
}
