//! The local endpoint: a live JSON-lines stream on a Unix socket, and an
//! HTTP server with Prometheus `/metrics`, `/api/snapshot` and a dashboard.
//!
//! The pipeline sees only [`Hub::publish`], which never blocks. Everything
//! else (clients, renders) happens on the endpoint's own tasks, and every
//! client that cannot keep up is dropped and counted rather than slowing
//! the agent down.
//!
//! ```text
//! delta store ──publish(Arc<Batch>)──► Hub ──► Live (latest table, system records)
//!                                       │            ▲  lazily rendered once per sample
//!                                       │            └── http: /metrics, /api/snapshot, /
//!                                       └─try_send─► unix_stream: encode once → per-client queues
//! ```

mod accept_errors;
mod dashboard;
mod http;
mod hub;
pub mod live;
mod metric_names;
mod metrics;
mod per_socket;
mod process_metrics;
mod snapshot;
mod socket_file;
mod socket_lock;
mod unix_stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::config::{EndpointConfig, EndpointSettings};
pub use hub::{EndpointStats, Hub};
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
pub use unix_stream::STREAM_BACKLOG;

use http::HttpServer;
use unix_stream::UnixServer;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid [endpoint] config:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    #[error(
        "cannot listen for HTTP on {addr}: {cause}; free the port or change endpoint.http_listen"
    )]
    HttpBind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("Unix socket {}: {what}: {cause}; fix endpoint.unix_socket* or the directory's permissions", path.display())]
    UnixSocket {
        path: PathBuf,
        what: String,
        cause: std::io::Error,
    },
}

/// The running endpoint. Dropping it without `shutdown` leaves its tasks
/// running until the runtime ends.
pub struct Endpoint {
    hub: Hub,
    settings: Arc<EndpointSettings>,
    unix: Option<UnixServer>,
    http: Option<HttpServer>,
}

impl Endpoint {
    /// Validate `cfg` and start whatever it enables. Must be called inside
    /// a tokio runtime. With everything off, only the hub exists and
    /// `publish` is a pointer swap.
    pub fn spawn(cfg: &EndpointConfig) -> Result<Endpoint, EndpointError> {
        let settings = Arc::new(cfg.validate().map_err(EndpointError::Config)?);
        let hub = Hub::new(settings.clone());
        let mut ep = Endpoint {
            hub,
            // Everything off: what ran before the first apply.
            settings: Arc::new(
                EndpointConfig::default()
                    .validate()
                    .map_err(EndpointError::Config)?,
            ),
            unix: None,
            http: None,
        };
        ep.apply(settings)?;
        Ok(ep)
    }

    /// The handle the pipeline publishes into.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// The HTTP server's bound address (resolves port 0), if it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// The Unix socket's path, if it runs.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.unix.as_ref().map(|u| u.path.as_path())
    }

    /// Apply a new config (SIGHUP). Limits take effect for new clients at
    /// once; listeners are rebound only when their address changes, and the
    /// new one is bound before the old one closes, so a config whose
    /// address cannot be bound leaves the running listener in place.
    /// Must be called inside the runtime the endpoint runs on.
    pub fn reconfigure(&mut self, cfg: &EndpointConfig) -> Result<(), EndpointError> {
        let settings = Arc::new(cfg.validate().map_err(EndpointError::Config)?);
        let (old_unix, old_http) = self.apply_listeners(&settings)?;
        self.hub.set_settings(settings.clone());
        self.settings = settings;
        if let Some(u) = old_unix {
            u.stop_now();
        }
        if let Some(h) = old_http {
            h.stop_now();
        }
        Ok(())
    }

    fn apply(&mut self, settings: Arc<EndpointSettings>) -> Result<(), EndpointError> {
        let (old_unix, old_http) = self.apply_listeners(&settings)?;
        // Nothing ran before the first apply.
        debug_assert!(old_unix.is_none() && old_http.is_none());
        self.hub.set_settings(settings.clone());
        self.settings = settings;
        Ok(())
    }

    /// Start listeners whose address changed; return the ones to stop.
    /// On error nothing has changed.
    fn apply_listeners(
        &mut self,
        new: &EndpointSettings,
    ) -> Result<(Option<UnixServer>, Option<HttpServer>), EndpointError> {
        let old = self.settings.clone();
        let mode = new.unix_socket_mode;
        let group = new.unix_socket_group.as_deref();
        let unix_same = self.unix.is_some() == new.unix_socket.is_some()
            && (self.unix.is_none() || new.unix_socket == old.unix_socket);
        let http_same = self.http.is_some() == new.http_listen.is_some()
            && (self.http.is_none() || new.http_listen == old.http_listen);

        // HTTP first: a bind failure then leaves everything untouched. The
        // Unix side, whose permission change cannot be undone, goes last.
        let mut new_http = None;
        if !http_same {
            if let Some(addr) = new.http_listen {
                let h = HttpServer::start(addr, self.hub.clone())
                    .map_err(|cause| EndpointError::HttpBind { addr, cause })?;
                new_http = Some(h);
            }
        }
        let mut new_unix = None;
        let unix_result = if !unix_same {
            match &new.unix_socket {
                Some(path) => UnixServer::start(path, mode, group, self.hub.clone())
                    .map(|u| new_unix = Some(u)),
                None => Ok(()),
            }
        } else {
            match &self.unix {
                Some(u)
                    if mode != old.unix_socket_mode
                        || new.unix_socket_group != old.unix_socket_group =>
                {
                    u.set_permissions(mode, group)
                }
                _ => Ok(()),
            }
        };
        if let Err(e) = unix_result {
            if let Some(h) = new_http {
                // Undo: the running HTTP listener stays as it was.
                h.stop_now();
            }
            return Err(e);
        }

        let old_unix = if unix_same {
            None
        } else {
            self.hub.set_stream(new_unix.as_ref().map(|u| u.sender()));
            std::mem::replace(&mut self.unix, new_unix)
        };
        let old_http = if http_same {
            None
        } else {
            std::mem::replace(&mut self.http, new_http)
        };
        Ok((old_unix, old_http))
    }

    /// Stop listening, disconnect clients, remove the socket file.
    pub async fn shutdown(mut self) {
        self.hub.set_stream(None);
        if let Some(u) = self.unix.take() {
            u.stop().await;
        }
        if let Some(h) = self.http.take() {
            h.stop().await;
        }
    }
}

impl Hub {
    /// Do what the first scrape after a sample does — render `/metrics`
    /// and the default `/api/snapshot` of the latest state — and return the
    /// body sizes. Later scrapes of the same sample reuse these renders.
    /// For benchmarks.
    #[doc(hidden)]
    pub fn render_now(&self) -> (usize, usize) {
        let live = self.live();
        let m = live.metrics_body(metrics::render_data);
        let q = snapshot::SnapshotQuery {
            sockets: live.settings.snapshot_sockets,
            top: snapshot::DEFAULT_TOP,
        };
        let host = self.host().to_string();
        let s = live.snapshot_body((q.sockets, q.top), true, |l| snapshot::render(l, &host, q));
        (m.len(), s.map_or(0, |s| s.len()))
    }
}
