//! The HTTP server: `/` (dashboard), `/metrics`, `/api/snapshot`.
//!
//! Built for hostile clients on a shared host: a bounded number of
//! connections (the rest get a 503 written without blocking, then are
//! closed), a request-head size limit (431), a header read timeout
//! (slowloris), a hard lifetime per connection (a client that stops reading
//! a response cannot hold a slot forever), GET/HEAD only, and no request
//! bodies read. Renders run on the blocking pool and are shared by all
//! requests for the same sample.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::accept_errors::{self, AcceptErrors};
use super::dashboard;
use super::hub::{Hub, bump, drop_one};
use super::metrics;
use super::snapshot::{self, SnapshotQuery};

/// A running HTTP server.
pub(super) struct HttpServer {
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Bind now (so the caller sees the error), serve in the background.
    pub fn start(addr: SocketAddr, hub: Hub) -> std::io::Result<HttpServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            warn!(
                "endpoint: HTTP listens on {addr}, reachable from other hosts; it has no authentication"
            );
        }
        let cancel = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, hub, cancel.clone()));
        Ok(HttpServer { addr, cancel, task })
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }

    /// The same without waiting: the listener closes as its task ends.
    pub fn stop_now(self) {
        self.cancel.cancel();
    }
}

/// Holds one connection slot; released on drop.
struct Slot(Hub);

impl Drop for Slot {
    fn drop(&mut self) {
        drop_one(&self.0.counters().http_connections);
    }
}

const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n";

async fn accept_loop(listener: TcpListener, hub: Hub, cancel: CancellationToken) {
    let mut errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of fds or similar: back off instead of spinning.
                errors.report("HTTP", &e);
                tokio::time::sleep(accept_errors::RETRY).await;
                continue;
            }
        };
        let settings = hub.settings();
        let c = hub.counters();
        if c.http_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            >= settings.http_max_connections as u64
        {
            bump(&c.http_connections_refused);
            let _ = stream.try_write(BUSY);
            continue;
        }
        bump(&c.http_connections);
        let slot = Slot(hub.clone());
        let hub = hub.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(settings.http_header_timeout)
                .max_buf_size(settings.http_max_request_bytes)
                .max_header_size(settings.http_max_request_bytes)
                .max_headers(64)
                .keep_alive(true);
            let svc_hub = hub.clone();
            let conn = builder.serve_connection(
                TokioIo::new(stream),
                service_fn(move |req| {
                    let hub = svc_hub.clone();
                    async move { Ok::<_, Infallible>(handle(&hub, req).await) }
                }),
            );
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = tokio::time::timeout(settings.http_connection_timeout, conn) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        bump(&hub.counters().http_connection_errors);
                        debug!("endpoint: HTTP connection from {peer}: {e}");
                    }
                    Err(_) => bump(&hub.counters().http_connections_timed_out),
                },
            }
        });
    }
}

async fn handle(hub: &Hub, req: Request<Incoming>) -> Response<Full<Bytes>> {
    bump(&hub.counters().http_requests);
    // hyper leaves the body out of HEAD responses itself.
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut resp = match req.uri().path() {
        "/" | "/index.html" => {
            let mut r = body(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Bytes::from_static(dashboard::PAGE.as_bytes()),
            );
            // The page needs nothing from anywhere but this agent.
            r.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
                ),
            );
            r
        }
        "/metrics" => {
            let live = hub.live();
            let data = blocking(move || live.metrics_body(metrics::render_data)).await;
            match data {
                Some(data) => {
                    let mut o = String::with_capacity(data.len() + 2048);
                    o.push_str(&String::from_utf8_lossy(&data));
                    metrics::render_endpoint(&mut o, &hub.stats());
                    super::process_metrics::render(&mut o, hub.source_name());
                    body(StatusCode::OK, metrics::CONTENT_TYPE, Bytes::from(o))
                }
                None => busy(),
            }
        }
        "/api/snapshot" => {
            let live = hub.live();
            let mut q = SnapshotQuery::parse(req.uri().query(), live.settings.snapshot_sockets);
            // Every "more rows than there are" is the same document.
            let total = live.sockets().len();
            q.sockets = q.sockets.min(total);
            let standard = q.top == snapshot::DEFAULT_TOP
                && (q.sockets == 0
                    || q.sockets == total
                    || q.sockets == live.settings.snapshot_sockets.min(total));
            let host = hub.host().to_string();
            let data = blocking(move || {
                live.snapshot_body((q.sockets, q.top), standard, |l| {
                    snapshot::render(l, &host, q)
                })
            })
            .await;
            match data {
                Some(Some(d)) => body(StatusCode::OK, "application/json", d),
                Some(None) => {
                    let mut r = text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many different snapshot queries for this sample; retry in a second or use the default, ?sockets=all or ?sockets=0\n",
                    );
                    r.headers_mut()
                        .insert("retry-after", HeaderValue::from_static("1"));
                    r
                }
                None => busy(),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /, /metrics or /api/snapshot\n",
        ),
    };
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

fn busy() -> Response<Full<Bytes>> {
    text(StatusCode::SERVICE_UNAVAILABLE, "render failed; retry\n")
}

fn text(status: StatusCode, msg: &'static str) -> Response<Full<Bytes>> {
    body(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(msg.as_bytes()),
    )
}

fn body(status: StatusCode, ctype: &'static str, b: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(b));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}
