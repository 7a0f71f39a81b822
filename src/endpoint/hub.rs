//! Where the pipeline hands batches to the endpoint.
//!
//! `publish` is called by the delta store for every enriched batch. It must
//! never block or slow the pipeline: it swaps a pointer and offers the batch
//! to the Unix stream with `try_send`; if the stream is behind, the batch is
//! dropped for the stream and counted, and files are unaffected.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use tokio::sync::mpsc;

use super::live::Live;
use crate::config::EndpointSettings;
use crate::record::Batch;

/// A cheap, cloneable handle: give one to the delta store.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    live: Mutex<Arc<Live>>,
    /// HTTP is on, so the latest batch must be kept for it. With HTTP off
    /// the hub keeps no table: holding the last 40,000-socket batch while
    /// the next one is built would double the agent's memory for nobody.
    keep_latest: AtomicBool,
    stream: Mutex<Option<mpsc::Sender<Arc<Batch>>>>,
    host: String,
    /// The socket source the agent reads (`netpulse_build_info`).
    source: OnceLock<&'static str>,
    pub(super) counters: Counters,
}

/// The endpoint's own counters (all since start).
#[derive(Default)]
pub(super) struct Counters {
    pub published: AtomicU64,
    pub stream_samples_dropped: AtomicU64,
    pub unix_clients: AtomicU64,
    pub unix_clients_accepted: AtomicU64,
    pub unix_clients_dropped: AtomicU64,
    pub unix_clients_refused: AtomicU64,
    pub http_connections: AtomicU64,
    pub http_connections_refused: AtomicU64,
    pub http_connection_errors: AtomicU64,
    pub http_connections_timed_out: AtomicU64,
    pub http_requests: AtomicU64,
}

/// A copy of the endpoint's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    /// Batches handed to `publish`.
    pub published: u64,
    /// Batches the Unix stream could not take (its renderer was behind).
    pub stream_samples_dropped: u64,
    /// Unix clients connected now.
    pub unix_clients: u64,
    pub unix_clients_accepted: u64,
    /// Unix clients disconnected for falling behind or stalling a write.
    pub unix_clients_dropped: u64,
    /// Unix clients refused at `unix_max_clients`.
    pub unix_clients_refused: u64,
    /// HTTP connections open now.
    pub http_connections: u64,
    /// HTTP connections closed on accept at `http_max_connections`.
    pub http_connections_refused: u64,
    /// HTTP connections ended by a protocol error (malformed, too large,
    /// header timeout).
    pub http_connection_errors: u64,
    /// HTTP connections closed at `http_connection_timeout`.
    pub http_connections_timed_out: u64,
    pub http_requests: u64,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn drop_one(c: &AtomicU64) {
    c.fetch_sub(1, Ordering::Relaxed);
}

impl crate::pipeline::publish::Publisher for Hub {
    fn publish(&self, batch: Arc<Batch>) -> Option<Arc<Batch>> {
        Hub::publish(self, batch)
    }
}

impl Hub {
    pub(super) fn new(settings: Arc<EndpointSettings>) -> Hub {
        super::process_metrics::mark_start();
        let host = crate::output::proto::host_name();
        Hub {
            inner: Arc::new(HubInner {
                keep_latest: AtomicBool::new(settings.http_listen.is_some()),
                live: Mutex::new(Arc::new(Live::empty(settings))),
                stream: Mutex::new(None),
                host,
                source: OnceLock::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// Hand the endpoint a batch. Never blocks on clients. Returns the
    /// socket-table batch the endpoint let go of in exchange, when nothing
    /// else of the endpoint still reads it, so the caller can reuse its
    /// table (see `pipeline::table_pool`).
    pub fn publish(&self, batch: Arc<Batch>) -> Option<Arc<Batch>> {
        bump(&self.inner.counters.published);
        // The old state (maybe the last reference to a big table) is taken
        // apart after the lock is released.
        let old = if self.inner.keep_latest.load(Ordering::Relaxed) {
            self.inner.live.lock().ok().map(|mut live| {
                let next = Arc::new(live.with_batch(batch.clone()));
                std::mem::replace(&mut *live, next)
            })
        } else {
            None
        };
        let stream = self.inner.stream.lock().ok().and_then(|s| s.clone());
        if let Some(tx) = stream {
            match tx.try_send(batch) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    bump(&self.inner.counters.stream_samples_dropped)
                }
            }
        }
        // An HTTP request still rendering from the old state keeps it.
        Arc::try_unwrap(old?).ok()?.into_table()
    }

    /// Name the socket source the agent reads; the first call wins.
    pub fn set_source_name(&self, name: &'static str) {
        let _ = self.inner.source.set(name);
    }

    /// The socket source's name, `unknown` until the agent names it.
    pub fn source_name(&self) -> &'static str {
        self.inner.source.get().copied().unwrap_or("unknown")
    }

    /// The endpoint's counters now.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.inner.counters;
        EndpointStats {
            published: get(&c.published),
            stream_samples_dropped: get(&c.stream_samples_dropped),
            unix_clients: get(&c.unix_clients),
            unix_clients_accepted: get(&c.unix_clients_accepted),
            unix_clients_dropped: get(&c.unix_clients_dropped),
            unix_clients_refused: get(&c.unix_clients_refused),
            http_connections: get(&c.http_connections),
            http_connections_refused: get(&c.http_connections_refused),
            http_connection_errors: get(&c.http_connection_errors),
            http_connections_timed_out: get(&c.http_connections_timed_out),
            http_requests: get(&c.http_requests),
        }
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(super) fn host(&self) -> &str {
        &self.inner.host
    }

    /// The newest state (a pointer copy).
    pub(super) fn live(&self) -> Arc<Live> {
        match self.inner.live.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(super) fn settings(&self) -> Arc<EndpointSettings> {
        self.live().settings.clone()
    }

    pub(super) fn set_settings(&self, settings: Arc<EndpointSettings>) {
        let keep = settings.http_listen.is_some();
        self.inner.keep_latest.store(keep, Ordering::Relaxed);
        let _old = self.inner.live.lock().ok().map(|mut live| {
            // HTTP turned off: let go of the table it was serving.
            let next = if keep {
                Arc::new(live.derive(settings))
            } else {
                Arc::new(Live::empty(settings))
            };
            std::mem::replace(&mut *live, next)
        });
    }

    pub(super) fn set_stream(&self, tx: Option<mpsc::Sender<Arc<Batch>>>) {
        if let Ok(mut s) = self.inner.stream.lock() {
            *s = tx;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EndpointConfig;
    use crate::record::{SocketRecord, SystemRecord, TcpState, Tier};

    fn hub_listening(http: &str) -> Hub {
        let cfg = EndpointConfig {
            http_listen: http.into(),
            ..EndpointConfig::default()
        };
        Hub::new(Arc::new(cfg.validate().unwrap()))
    }

    fn fast(seq: u64) -> Arc<Batch> {
        let a = "127.0.0.1:1".parse().unwrap();
        Arc::new(Batch {
            closes: Vec::new(),
            tier: Some(Tier::Fast),
            ts: seq,
            seq,
            interval_ms: 1000,
            system: Some(SystemRecord::default()),
            sockets: vec![SocketRecord::new(seq, a, a, TcpState::Established)],
        })
    }

    #[test]
    fn the_next_table_hands_back_the_previous_one_once_unread() {
        let hub = hub_listening("127.0.0.1:9");
        let (a, b, c) = (fast(0), fast(1), fast(2));
        assert!(hub.publish(Arc::clone(&a)).is_none(), "nothing held before");
        let back = hub.publish(Arc::clone(&b)).expect("the first table back");
        assert!(Arc::ptr_eq(&back, &a));
        // A request still rendering from the current state keeps its table.
        let reader = hub.live();
        assert!(hub.publish(c).is_none());
        drop(reader);
        // Without HTTP the hub holds nothing, so has nothing to give back.
        let quiet = hub_listening("");
        assert!(quiet.publish(fast(3)).is_none());
        assert!(quiet.publish(fast(4)).is_none());
    }
}
