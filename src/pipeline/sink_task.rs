//! Each sink on its own thread (file writes block) behind its own bounded
//! queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::health::{Health, SinkStats};
use super::log_limit::LogLimit;
use super::table_pool::TablePool;
use crate::config::OutputConfig;
use crate::output::sink::{self, Sink, SinkError};
use crate::record::{Batch, Tier};

/// Batches queued per sink (besides the one being written). One is enough:
/// a poll takes far less than an interval to write, a 40,000-socket batch
/// is ~20 MiB, and a full queue only slows the pipeline (ticks are then
/// skipped and counted), it never loses records.
pub const SINK_QUEUE: usize = 1;

/// The daemon's side of a running sink.
pub struct SinkHandle {
    pub cfg: OutputConfig,
    pub name: String,
    pub stats: Arc<SinkStats>,
    reopen: Arc<AtomicBool>,
    /// The daemon's copy of the route; the delta store holds another.
    route: Option<Route>,
    thread: Option<JoinHandle<()>>,
}

/// The delta store's side: where to send which tiers.
#[derive(Clone)]
pub struct Route {
    pub tiers: Vec<Tier>,
    pub name: String,
    pub tx: mpsc::Sender<Arc<Batch>>,
    pub stats: Arc<SinkStats>,
}

impl SinkHandle {
    /// Open the output and start its thread. The thread ends once every
    /// copy of its route is dropped (ours in `join`, the delta store's when
    /// it exits or gets new routes) and the queue is written and fsynced.
    pub fn start(
        cfg: &OutputConfig,
        health: &Arc<Health>,
        tables: &TablePool,
    ) -> Result<SinkHandle, SinkError> {
        let sink = sink::open(cfg)?;
        let name = sink::describe(cfg);
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let stats = Arc::new(SinkStats::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stats, reopen, health, name, tables) = (
                Arc::clone(&stats),
                Arc::clone(&reopen),
                Arc::clone(health),
                name.clone(),
                tables.clone(),
            );
            std::thread::Builder::new()
                .name(format!("sink {name}"))
                .spawn(move || sink_loop(sink, rx, &reopen, &stats, &health, &name, &tables))?
        };
        let route = Route {
            tiers: cfg.tiers.clone(),
            name: name.clone(),
            tx,
            stats: Arc::clone(&stats),
        };
        Ok(SinkHandle {
            cfg: cfg.clone(),
            name,
            stats,
            reopen,
            route: Some(route),
            thread: Some(thread),
        })
    }

    /// A sender for the delta store.
    pub fn route(&self) -> Option<Route> {
        self.route.clone()
    }

    /// Reopen the files before the next batch (SIGHUP, newsyslog).
    pub fn request_reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Drop our route and wait for the thread (see `start`). Blocking.
    pub fn join(mut self) {
        self.route = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                error!(sink = %self.name, "sink thread panicked; its queued records are lost");
            }
        }
    }
}

/// `tables` takes back a fast batch's table from whichever sink writes it
/// last.
fn sink_loop(
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    reopen: &AtomicBool,
    stats: &SinkStats,
    health: &Health,
    name: &str,
    tables: &TablePool,
) {
    let mut fail_log = LogLimit::default();
    while let Some(batch) = rx.blocking_recv() {
        if reopen.swap(false, Ordering::Relaxed) {
            match sink.reopen() {
                Ok(()) => info!(sink = %name, "files reopened"),
                Err(e) => {
                    error!(sink = %name, "reopen failed: {e}; still writing to the old files")
                }
            }
        }
        let w = sink.write_batch(&batch);
        Health::add(&stats.written, w.written);
        if w.failed > 0 {
            Health::add(&stats.failed, w.failed);
            Health::add(&health.write_errors, w.failed);
            if let Some(more) = fail_log.allow() {
                warn!(sink = %name, failed = w.failed, written = w.written,
                    "records could not be written (disk full or I/O error; check the output directory); {more} more failing batches since last warning");
            }
        }
        tables.recycle(batch);
    }
    if let Err(e) = sink.flush_sync() {
        error!(sink = %name, "final flush/fsync failed: {e}; the last records may not be on disk");
    }
}
