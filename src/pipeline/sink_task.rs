//! Each sink on its own thread (file writes block) behind its own bounded
//! queue. A sink whose write does not finish (a hung file system, a pipe
//! nobody reads) is declared stuck: its batches are dropped and counted
//! until it takes one again, so it never stalls the other sinks or the
//! tiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{error, info, warn};

use super::change_filter::{ChangeFilter, narrow_in_parts};
use super::health::{Health, SinkStats};
use super::log_limit::LogLimit;
use super::table_pool::TablePool;
use crate::config::{NatsConfig, OutputConfig, SocketLines};
use crate::output::Part;
use crate::output::sink::{self, Sink, SinkError};
use crate::output::stream::nats::{NatsSink, describe as stream_name};
use crate::record::{Batch, Tier};

/// Batches queued per sink (besides the one being written). One is enough:
/// a poll takes far less than an interval to write, a 40,000-socket batch
/// is ~20 MiB, and a full queue only slows the pipeline (ticks are then
/// skipped and counted), it never loses records.
pub const SINK_QUEUE: usize = 1;

/// How long a full queue may wait for its sink before the sink counts as
/// stuck. Far above any healthy write of a poll (a 40,000-socket batch is
/// written in well under a second, a rotation's fsync in a few), so only a
/// write that is not coming back gets there.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// Socket lines copied at a time when an output writes only some of a
/// poll's lines: a few MiB, where a copy of a whole 40,000-socket poll
/// (every line changed: the first poll) is ~35 MiB beside the table.
pub const NARROW_PART: usize = 4096;

/// Why a batch did not reach its sink (it is counted as `dropped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The sink thread has ended.
    Stopped,
    /// The sink has not finished a write within [`STUCK_AFTER`].
    Stuck,
}

/// The daemon's side of a running sink; `C` is its config section
/// (`[[output]]` or `[[nats]]`).
pub struct SinkHandle<C = OutputConfig> {
    pub cfg: C,
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
    stuck: Arc<AtomicBool>,
}

impl Route {
    /// Queue `batch` for the sink. Waits for space (a slow sink slows the
    /// pipeline rather than lose records) up to [`STUCK_AFTER`]; after
    /// that, and while the sink has not taken a batch since, the batch is
    /// refused at once.
    pub async fn offer(&self, batch: Arc<Batch>) -> Result<(), Refused> {
        if self.stuck.load(Ordering::Relaxed) {
            return match self.tx.try_send(batch) {
                Ok(()) => {
                    self.stuck.store(false, Ordering::Relaxed);
                    info!(sink = %self.name, "sink is taking batches again");
                    Ok(())
                }
                Err(TrySendError::Full(_)) => Err(Refused::Stuck),
                Err(TrySendError::Closed(_)) => Err(Refused::Stopped),
            };
        }
        match tokio::time::timeout(STUCK_AFTER, self.tx.send(batch)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Refused::Stopped),
            Err(_) => {
                self.stuck.store(true, Ordering::Relaxed);
                error!(sink = %self.name, after_s = STUCK_AFTER.as_secs(),
                    "sink is stuck in a write; dropping its batches (counted) until it finishes");
                Err(Refused::Stuck)
            }
        }
    }
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
        let what = WhatToWrite {
            changes: (cfg.sockets == SocketLines::Changed)
                .then(|| ChangeFilter::new(cfg.heartbeat)),
            closes: cfg.closes,
            // A protobuf message holds a whole poll: its encoder gathers
            // the parts into one.
            part: NARROW_PART,
        };
        let name = sink::describe(cfg);
        SinkHandle::launch(cfg.clone(), sink, name, what, &cfg.tiers, health, tables)
    }
}

impl SinkHandle<NatsConfig> {
    /// Start a `[[nats]]` output: its sink thread spools, its publisher
    /// sends (see `output::stream::nats`).
    pub fn start_stream(
        cfg: &NatsConfig,
        health: &Arc<Health>,
        tables: &TablePool,
    ) -> Result<SinkHandle<NatsConfig>, SinkError> {
        let sink = Box::new(NatsSink::open(cfg, Arc::clone(&health.stream))?);
        let what = WhatToWrite {
            changes: (cfg.sockets == SocketLines::Changed)
                .then(|| ChangeFilter::new(cfg.heartbeat)),
            closes: true,
            // One message per poll, whatever the encoding: never in parts.
            part: usize::MAX,
        };
        let name = stream_name(cfg);
        SinkHandle::launch(cfg.clone(), sink, name, what, &cfg.tiers, health, tables)
    }
}

impl<C> SinkHandle<C> {
    fn launch(
        cfg: C,
        sink: Box<dyn Sink>,
        name: String,
        what: WhatToWrite,
        tiers: &[Tier],
        health: &Arc<Health>,
        tables: &TablePool,
    ) -> Result<SinkHandle<C>, SinkError> {
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let stats = Arc::new(SinkStats::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let stuck = Arc::new(AtomicBool::new(false));
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
                .spawn(move || {
                    sink_loop(sink, what, rx, &reopen, &stats, &health, &name, &tables)
                })?
        };
        let route = Route {
            tiers: tiers.to_vec(),
            name: name.clone(),
            tx,
            stats: Arc::clone(&stats),
            stuck,
        };
        Ok(SinkHandle {
            cfg,
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

    /// Drop our route and wait for the thread (see `start`). Blocking: a
    /// sink stuck in a write holds this until the write returns.
    pub fn join(mut self) {
        self.route = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                error!(sink = %self.name, "sink thread panicked; its queued records are lost");
            }
        }
    }
}

/// Which records of each batch an output writes.
struct WhatToWrite {
    /// `sockets = "changed"`; `None` writes every socket.
    changes: Option<ChangeFilter>,
    closes: bool,
    /// Socket lines written per part of a narrowed poll.
    part: usize,
}

/// `tables` takes back a fast batch's table from whichever sink writes it
/// last.
#[allow(clippy::too_many_arguments)]
fn sink_loop(
    mut sink: Box<dyn Sink>,
    mut what: WhatToWrite,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    reopen: &AtomicBool,
    stats: &SinkStats,
    health: &Health,
    name: &str,
    tables: &TablePool,
) {
    let mut fail_log = LogLimit::default();
    let mut stopping = false;
    while let Some(batch) = rx.blocking_recv() {
        if reopen.swap(false, Ordering::Relaxed) {
            match sink.reopen() {
                Ok(()) => info!(sink = %name, "files reopened"),
                Err(e) => {
                    error!(sink = %name, "reopen failed: {e}; still writing to the old files")
                }
            }
        }
        let mut w = sink::Written::default();
        let mut write = |piece: &Batch, which: Part| {
            let r = sink.write_part(piece, which);
            w.written += r.written;
            w.failed += r.failed;
            w.rotate_failures += r.rotate_failures;
        };
        match narrow_in_parts(
            &batch,
            what.changes.as_mut(),
            what.closes,
            what.part,
            &mut write,
        ) {
            Some(kept) => {
                let left_out = batch.record_count().saturating_sub(kept);
                stats.offered.fetch_sub(left_out as u64, Ordering::Relaxed);
            }
            None => write(&batch, Part::WHOLE),
        }
        Health::add(&stats.written, w.written);
        Health::add(&stats.rotate_failures, w.rotate_failures);
        // Logged by the compressor, once per outage.
        Health::add(&health.write_errors, w.compress_failures);
        if sink.reader_gone() {
            if !stopping {
                stopping = true;
                info!(sink = %name, "standard output was closed by its reader; stopping the agent");
                stop_agent();
            }
        } else if w.failed > 0 {
            Health::add(&stats.failed, w.failed);
            Health::add(&health.write_errors, w.failed);
            if let Some(more) = fail_log.allow() {
                warn!(sink = %name, failed = w.failed, written = w.written,
                    "records could not be written (disk full or I/O error; check the output directory); {more} more failing batches since last warning");
            }
        }
        tables.recycle(batch);
    }
    if sink.reader_gone() {
        // Nothing is left to flush to.
        return;
    }
    if let Err(e) = sink.flush_sync() {
        error!(sink = %name, "final flush/fsync failed: {e}; the last records may not be on disk");
    }
}

/// Ask the agent to drain and exit, through the same path as SIGTERM.
fn stop_agent() {
    use nix::sys::signal::{Signal, kill};
    if let Err(e) = kill(nix::unistd::getpid(), Signal::SIGTERM) {
        error!("cannot signal the agent to stop: {e}");
    }
}
