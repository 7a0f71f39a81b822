//! The running agent, assembled from the parts below it: tier tasks → delta store → sink threads, and the two
//! things an operator does to it: reload (SIGHUP) and drain (SIGTERM).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, NatsConfig};
use crate::endpoint::Endpoint;
use crate::output::sink::SinkError;
use crate::pipeline::filter::SocketFilter;
use crate::pipeline::health::Health;
use crate::pipeline::sample::Sample;
use crate::pipeline::scheduler::{TierSettings, run_tier};
use crate::pipeline::sink_task::{Route, SinkHandle};
use crate::pipeline::start_gate::StartGate;
use crate::pipeline::store::{Control, Store};
use crate::pipeline::table_pool::TablePool;
use crate::platform::{self, SourceError};
use crate::record::Tier;

/// Samples queued between the tiers and the delta store: one per tier.
pub const SAMPLE_QUEUE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("opening the socket source for the {tier} tier: {cause}")]
    Source { tier: Tier, cause: SourceError },
    #[error("starting the live endpoint: {0}")]
    Endpoint(crate::endpoint::EndpointError),
    #[error("opening output {name}: {cause}")]
    Sink { name: String, cause: SinkError },
}

pub struct Daemon {
    cfg: Config,
    health: Arc<Health>,
    settings: Vec<watch::Sender<TierSettings>>,
    tiers: Vec<JoinHandle<()>>,
    store: JoinHandle<()>,
    ctl: mpsc::UnboundedSender<Control>,
    sinks: Vec<SinkHandle>,
    /// `[[nats]]` outputs, routed like the files.
    streams: Vec<SinkHandle<NatsConfig>>,
    retired: Vec<JoinHandle<()>>,
    stop: CancellationToken,
    endpoint: Endpoint,
    /// The fast tier's socket table, reused from tick to tick.
    tables: TablePool,
}

/// Counts at exit, for the log and for tests that compare files to them.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub produced: u64,
    pub dropped: u64,
    pub skipped_ticks: u64,
    pub write_errors: u64,
    pub sinks: Vec<SinkSummary>,
}

/// One sink's totals at exit, in records.
#[derive(Clone, Debug)]
pub struct SinkSummary {
    pub name: String,
    pub offered: u64,
    pub written: u64,
    pub failed: u64,
    pub dropped: u64,
    pub rotate_failures: u64,
}

fn tier_settings(cfg: &Config, tier: Tier, filter: &Arc<SocketFilter>) -> TierSettings {
    let t = cfg.tiers.get(tier);
    TierSettings {
        enabled: t.enabled,
        interval: t.interval,
        filter: Arc::clone(filter),
    }
}

fn open_sinks(
    cfg: &Config,
    health: &Arc<Health>,
    tables: &TablePool,
) -> Result<Vec<SinkHandle>, DaemonError> {
    let mut handles = Vec::new();
    for o in &cfg.outputs {
        match SinkHandle::start(o, health, tables) {
            Ok(h) => handles.push(h),
            Err(source) => {
                handles.into_iter().for_each(SinkHandle::join);
                return Err(DaemonError::Sink {
                    name: crate::output::sink::describe(o),
                    cause: source,
                });
            }
        }
    }
    Ok(handles)
}

fn routes(sinks: &[SinkHandle], streams: &[SinkHandle<NatsConfig>]) -> Vec<Route> {
    let files = sinks.iter().filter_map(SinkHandle::route);
    files
        .chain(streams.iter().filter_map(SinkHandle::route))
        .collect()
}

fn open_streams(
    cfg: &Config,
    health: &Arc<Health>,
    tables: &TablePool,
) -> Result<Vec<SinkHandle<NatsConfig>>, DaemonError> {
    let mut handles = Vec::new();
    for n in &cfg.nats {
        match SinkHandle::start_stream(n, health, tables) {
            Ok(h) => handles.push(h),
            Err(cause) => {
                handles.into_iter().for_each(SinkHandle::join);
                return Err(DaemonError::Sink {
                    name: crate::output::stream::nats::describe(n),
                    cause,
                });
            }
        }
    }
    Ok(handles)
}

impl Daemon {
    /// Open a source per tier (each tier polls on its own, so a slow
    /// process scan never delays the socket table) and every output, then
    /// start. Must be called inside a tokio runtime.
    pub fn start(cfg: Config) -> Result<Daemon, DaemonError> {
        let health = Arc::new(Health::default());
        health.memory.set_limit(cfg.agent.memory_limit);
        health.stream.stop.set_timeout(cfg.agent.shutdown_timeout);
        let mut sources = Vec::new();
        for tier in Tier::ALL {
            let src = platform::open(cfg.agent.source).map_err(|source| DaemonError::Source {
                tier,
                cause: source,
            })?;
            sources.push(src);
        }
        let tables = TablePool::new();
        tables.set_budget(table_budget(&cfg.endpoint));
        let sinks = open_sinks(&cfg, &health, &tables)?;
        let streams = match open_streams(&cfg, &health, &tables) {
            Ok(s) => s,
            Err(e) => {
                sinks.into_iter().for_each(SinkHandle::join);
                return Err(e);
            }
        };
        let endpoint = match Endpoint::spawn(&cfg.endpoint) {
            Ok(e) => e,
            Err(e) => {
                sinks.into_iter().for_each(SinkHandle::join);
                streams.into_iter().for_each(SinkHandle::join);
                return Err(DaemonError::Endpoint(e));
            }
        };
        if let Some(src) = sources.first() {
            endpoint.hub().set_source_name(src.name());
        }
        let (tx, rx) = mpsc::channel::<Sample>(SAMPLE_QUEUE);
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let store = Store::new(routes(&sinks, &streams), Arc::clone(&health))
            .with_endpoint(Box::new(endpoint.hub()), tables.clone());
        let store = tokio::spawn(store.run(rx, ctl_rx));
        let stop = CancellationToken::new();
        let filter = Arc::new(SocketFilter::new(&cfg.filter));
        let mut settings = Vec::new();
        let mut tiers = Vec::new();
        let gate = StartGate::new();
        for (tier, src) in Tier::ALL.into_iter().zip(sources) {
            let (stx, srx) = watch::channel(tier_settings(&cfg, tier, &filter));
            settings.push(stx);
            tiers.push(tokio::spawn(run_tier(
                tier,
                src,
                srx,
                tx.clone(),
                Arc::clone(&health),
                stop.clone(),
                tables.clone(),
                gate.clone(),
            )));
        }
        for o in &sinks {
            info!(sink = %o.name, tiers = %tier_names(&o.cfg.tiers), "writing");
        }
        for o in &streams {
            info!(sink = %o.name, tiers = %tier_names(&o.cfg.tiers), "streaming");
        }
        Ok(Daemon {
            cfg,
            health,
            settings,
            tiers,
            store,
            ctl,
            sinks,
            streams,
            retired: Vec::new(),
            stop,
            endpoint,
            tables,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Apply a validated config without restarting: intervals, enabled
    /// tiers, filters, outputs; every file is reopened (newsyslog). When a
    /// new output cannot be opened, nothing changes.
    pub fn reload(&mut self, cfg: Config) -> Result<(), DaemonError> {
        if cfg.agent.source != self.cfg.agent.source {
            warn!("agent.source changes take effect at the next restart");
        }
        // Check every new output before creating anything, so a refused
        // reload leaves no directory or file behind.
        for o in &cfg.outputs {
            if self.sinks.iter().any(|h| &h.cfg == o) {
                continue;
            }
            let problems = crate::config::preflight::check(o);
            if !problems.is_empty() {
                return Err(DaemonError::Sink {
                    name: crate::output::sink::describe(o),
                    cause: crate::output::OutputError::Config(problems.join("; ")).into(),
                });
            }
        }
        // Keep outputs whose config is unchanged; open the new ones first so
        // a failure leaves the running set alone.
        let mut fresh = std::collections::HashMap::new();
        for (i, o) in cfg.outputs.iter().enumerate() {
            if self.sinks.iter().any(|h| &h.cfg == o) {
                continue;
            }
            match SinkHandle::start(o, &self.health, &self.tables) {
                Ok(h) => {
                    fresh.insert(i, h);
                }
                Err(source) => {
                    for (_, h) in fresh {
                        self.retire(h);
                    }
                    return Err(DaemonError::Sink {
                        name: crate::output::sink::describe(o),
                        cause: source,
                    });
                }
            }
        }
        let mut old: Vec<Option<SinkHandle>> = std::mem::take(&mut self.sinks)
            .into_iter()
            .map(Some)
            .collect();
        let mut next = Vec::new();
        for (i, o) in cfg.outputs.iter().enumerate() {
            let kept = old
                .iter_mut()
                .find(|h| h.as_ref().is_some_and(|h| &h.cfg == o))
                .and_then(Option::take);
            if let Some(h) = kept {
                h.request_reopen();
                next.push(h);
            } else if let Some(h) = fresh.remove(&i) {
                info!(sink = %h.name, tiers = %tier_names(&o.tiers), "output added");
                next.push(h);
            }
        }
        let streams = self.next_streams(&cfg);
        let _ = self.ctl.send(Control::SetRoutes(routes(&next, &streams)));
        for h in old.into_iter().flatten() {
            info!(sink = %h.name, "output removed; draining it");
            self.retire(h);
        }
        for h in std::mem::replace(&mut self.streams, streams) {
            info!(sink = %h.name, "stream output removed or changed; its spool passes to the new one");
            self.retire(h);
        }
        self.sinks = next;
        let filter = Arc::new(SocketFilter::new(&cfg.filter));
        for (tier, s) in Tier::ALL.into_iter().zip(&self.settings) {
            s.send_replace(tier_settings(&cfg, tier, &filter));
        }
        // The config is already validated; only binding can fail here, and
        // then the endpoint keeps its running listeners: a busy port must
        // not cost the files their reload.
        let serving = match self.endpoint.reconfigure(&cfg.endpoint) {
            Ok(()) => &cfg.endpoint,
            Err(e) => {
                warn!("endpoint kept its previous listeners: {e}");
                &self.cfg.endpoint
            }
        };
        self.tables.set_budget(table_budget(serving));
        self.health.memory.set_limit(cfg.agent.memory_limit);
        self.health
            .stream
            .stop
            .set_timeout(cfg.agent.shutdown_timeout);
        self.cfg = cfg;
        Ok(())
    }

    /// The `[[nats]]` outputs of `cfg`: the unchanged ones kept (taken
    /// out of `self.streams`, which is left with those to retire), the
    /// others started. A changed output's spool (same subject and dir)
    /// passes to its successor once the old one let go of it, in order.
    fn next_streams(&mut self, cfg: &Config) -> Vec<SinkHandle<NatsConfig>> {
        let mut next = Vec::new();
        for n in &cfg.nats {
            if let Some(i) = self.streams.iter().position(|h| &h.cfg == n) {
                next.push(self.streams.remove(i));
                continue;
            }
            match SinkHandle::start_stream(n, &self.health, &self.tables) {
                Ok(h) => {
                    info!(sink = %h.name, tiers = %tier_names(&n.tiers), "stream output added");
                    next.push(h);
                }
                // Only a thread that could not start: the config is valid.
                Err(e) => warn!(
                    sink = %crate::output::stream::nats::describe(n),
                    "cannot start the stream output: {e}"
                ),
            }
        }
        next
    }

    /// Close a sink in the background once the delta store let go of it.
    fn retire<C: Send + 'static>(&mut self, h: SinkHandle<C>) {
        self.retired
            .push(tokio::task::spawn_blocking(move || h.join()));
    }

    /// Stop the tiers, drain every queued sample through the delta store
    /// and sinks, fsync. `Err` when `deadline` passed first.
    pub async fn shutdown(self, deadline: Duration) -> Result<Summary, Summary> {
        let Daemon {
            health,
            tiers,
            store,
            ctl,
            sinks,
            streams,
            retired,
            stop,
            settings,
            endpoint,
            ..
        } = self;
        // Publishers waiting for acknowledgements let go in time.
        health
            .stream
            .stop
            .agent_stops_by(std::time::Instant::now() + deadline);
        let work = async move {
            stop.cancel();
            for t in tiers {
                let _ = t.await;
            }
            drop(settings);
            drop(ctl);
            let _ = store.await;
            // Every drained batch has been published: close the endpoint.
            endpoint.shutdown().await;
            // The store dropped its routes; `join` drops ours, and each sink
            // writes what is queued, fsyncs and ends.
            let names: Vec<_> = sinks
                .iter()
                .map(|h| (h.name.clone(), Arc::clone(&h.stats)))
                .chain(
                    streams
                        .iter()
                        .map(|h| (h.name.clone(), Arc::clone(&h.stats))),
                )
                .collect();
            // All at once: a sink stuck in a write must not keep the
            // others from writing their queues and fsyncing.
            let mut joins: Vec<_> = sinks
                .into_iter()
                .map(|h| tokio::task::spawn_blocking(move || h.join()))
                .collect();
            joins.extend(
                streams
                    .into_iter()
                    .map(|h| tokio::task::spawn_blocking(move || h.join())),
            );
            for j in joins {
                let _ = j.await;
            }
            for r in retired {
                let _ = r.await;
            }
            names
        };
        let result = tokio::time::timeout(deadline, work).await;
        let mut sum = Summary {
            produced: Health::get(&health.produced),
            dropped: Health::get(&health.dropped),
            skipped_ticks: Health::get(&health.skipped_ticks),
            write_errors: Health::get(&health.write_errors),
            sinks: Vec::new(),
        };
        match result {
            Ok(names) => {
                for (n, s) in names {
                    sum.sinks.push(SinkSummary {
                        name: n,
                        offered: Health::get(&s.offered),
                        written: Health::get(&s.written),
                        failed: Health::get(&s.failed),
                        dropped: Health::get(&s.dropped),
                        rotate_failures: Health::get(&s.rotate_failures),
                    });
                }
                Ok(sum)
            }
            Err(_) => Err(sum),
        }
    }
}

fn tier_names(tiers: &[Tier]) -> String {
    tiers.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
}

/// Socket tables the fast tier may hold at once: the HTTP endpoint keeps
/// the latest batch for its clients while the next poll fills another.
fn table_budget(endpoint: &crate::config::EndpointConfig) -> usize {
    if endpoint.http_listen.is_empty() {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::output::OutputError;
    use crate::output::encode::proto::DecodeError;

    /// Every error prints its cause in its own message, so none may also
    /// hand it out as `source()`: a chain printer (`{:#}`) would then say
    /// it twice.
    #[test]
    fn each_cause_is_printed_once() {
        let io = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let errors: Vec<Box<dyn Error>> = vec![
            Box::new(SourceError::io("reading the dump", io())),
            Box::new(SourceError::File {
                path: "/x".into(),
                cause: Box::new(SourceError::io("reading", io())),
            }),
            Box::new(OutputError::Open {
                path: "/x".into(),
                cause: io(),
            }),
            Box::new(DaemonError::Sink {
                name: "json".into(),
                cause: SinkError::Io(io()),
            }),
            Box::new(DaemonError::Source {
                tier: Tier::Fast,
                cause: SourceError::io("opening", io()),
            }),
            Box::new(DecodeError::Io {
                offset: 7,
                cause: io(),
            }),
        ];
        for e in errors {
            let mut text = format!("{e}");
            let mut next = e.source();
            while let Some(cause) = next {
                let said = cause.to_string();
                assert!(!text.contains(&said), "`{text}` repeats its cause `{said}`");
                text = said;
                next = cause.source();
            }
            let disk_full = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
            assert_eq!(format!("{e}").matches(&disk_full).count(), 1, "{e}");
        }
    }
}
