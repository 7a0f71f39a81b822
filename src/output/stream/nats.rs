//! A `[[nats]]` output: each batch is encoded, appended to the spool
//! (fsynced) by the sink thread, and published from there by a publisher
//! thread of its own with JetStream acknowledgements. The sink thread
//! never waits for the network, so a dead or slow server costs the tiers
//! and the file outputs nothing; the spool is what absorbs it.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::Publish};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::StreamCounters;
use super::spool::{Spool, SpoolError};
use crate::config::nats_credentials::{self as credentials, CredentialsError};
use crate::config::{NatsConfig, NatsEncoding};
use crate::output::Part;
use crate::output::encode::proto::{MessageWriter, Origin};
use crate::output::json::write_batch as json_batch;
use crate::output::sink::{Sink, SinkError, Written};
use crate::record::Batch;

/// Messages published and not yet acknowledged, at most.
pub const WINDOW: usize = 64;
/// Payload bytes published and not yet acknowledged: no new message is
/// read from the spool past this (one larger message still goes alone), so
/// a slow server cannot make the client buffer many large batches.
pub const WINDOW_BYTES: usize = 4 << 20;
/// First and longest wait between connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bytes of a message besides payload, id and subject (protocol line and
/// header framing), with room to spare.
const HEADER_ROOM: usize = 128;
/// Most bytes held in memory while the spool is not free (a replaced
/// output still letting go of it, or another agent holding it by mistake).
const MAX_WAITING_BYTES: u64 = 16 << 20;
/// How often a stopping publisher looks again at when it must give up.
const RECHECK_GRACE: Duration = Duration::from_millis(100);
/// Encoder buffers larger than this are let go after their batch, and the
/// allocator asked to return freed memory: the steady `changed` batches
/// (under 1 MiB at 40,000 sockets) stay well below, a first every-socket
/// batch (about 12 MB) far above.
const KEEP_BUFFER: usize = 4 << 20;
/// One warning per kind of trouble per this period.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// This run of the agent, in every message id: the per-tier `seq` starts
/// again at 0 when the agent restarts, so the id must tell runs apart or
/// the server's duplicate window would swallow a new run's first batches.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| crate::record::now_ns().to_string())
}

/// `host` as one subject token: dots and anything but letters, digits,
/// `-` and `_` become `_`.
pub fn subject_token(host: &str) -> String {
    if host.is_empty() {
        return "unknown".into();
    }
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What the sink thread and the publisher share.
struct Shared {
    state: Mutex<State>,
    /// Woken when a message is appended.
    appended: Notify,
    counters: Arc<StreamCounters>,
    /// This output's share of `counters.spooled`.
    reported: AtomicU64,
}

/// The spool once this output holds its lock; until then (a reloaded
/// output waiting for the one it replaces), messages wait in memory,
/// bounded by `spool_max` like the spool.
struct State {
    spool: Option<Spool>,
    waiting: VecDeque<(String, String, Vec<u8>)>,
    waiting_bytes: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bring the `stream_spooled` gauge up to date with `st`.
    fn report(&self, st: &State) {
        let now = (st.spool.as_ref().map_or(0, Spool::len) + st.waiting.len()) as u64;
        let before = self.reported.swap(now, Ordering::Relaxed);
        self.counters
            .spooled
            .fetch_add(now.wrapping_sub(before), Ordering::Relaxed);
    }
}

pub struct NatsSink {
    cfg: NatsConfig,
    name: String,
    origin: Origin,
    host_token: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
    publisher: Option<JoinHandle<()>>,
    /// The encoders' buffers, kept between batches up to [`KEEP_BUFFER`].
    proto: MessageWriter,
    json: Vec<u8>,
    /// A large batch was written: return freed memory at the next one.
    give_back_due: bool,
    last_warning: Option<Instant>,
    /// Batches this output dropped from its full spool.
    dropped: u64,
}

/// A short name for logs: `nats:netpulse@nats://host:4222`, passwords
/// in the URLs left out.
pub fn describe(cfg: &NatsConfig) -> String {
    let urls: Vec<String> = cfg.urls().iter().map(|u| without_password(u)).collect();
    format!("nats:{}@{}", cfg.subject, urls.join(","))
}

/// `tls://user:secret@host:4222` as `tls://user@host:4222`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// The user and password written in the first URL that has them (the
/// client does not take them from the URL itself).
fn url_user_password(cfg: &NatsConfig) -> Option<(String, String)> {
    cfg.urls().iter().find_map(|u| {
        let addr: async_nats::ServerAddr = u.parse().ok()?;
        let user = addr.username()?.to_string();
        let password = addr.password().unwrap_or_default().to_string();
        Some((user, password))
    })
}

impl NatsSink {
    /// Start the publisher; the spool is taken at the first batch (or at
    /// once when free), so a replaced output can still be draining it.
    pub fn open(cfg: &NatsConfig, counters: Arc<StreamCounters>) -> Result<NatsSink, SinkError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                spool: None,
                waiting: VecDeque::new(),
                waiting_bytes: 0,
            }),
            appended: Notify::new(),
            counters,
            reported: AtomicU64::new(0),
        });
        shared.counters.outputs.fetch_add(1, Ordering::Relaxed);
        let name = describe(cfg);
        let stop = CancellationToken::new();
        let publisher = {
            let (cfg, shared, stop, name) =
                (cfg.clone(), Arc::clone(&shared), stop.clone(), name.clone());
            std::thread::Builder::new()
                .name(format!("publish {}", cfg.subject))
                .spawn(move || publisher_thread(cfg, shared, stop, name))?
        };
        let origin = Origin::this_host();
        let mut sink = NatsSink {
            host_token: subject_token(&origin.host),
            cfg: cfg.clone(),
            name,
            origin,
            shared,
            stop,
            publisher: Some(publisher),
            proto: MessageWriter::default(),
            json: Vec::new(),
            give_back_due: false,
            last_warning: None,
            dropped: 0,
        };
        let shared = Arc::clone(&sink.shared);
        let mut st = shared.lock();
        sink.take_spool(&mut st);
        drop(st);
        Ok(sink)
    }

    fn warn_limited(&mut self, msg: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last_warning = Some(now);
            warn!(sink = %self.name, "{msg}");
        }
    }

    /// Take the spool if free, moving what waited in memory into it.
    fn take_spool(&mut self, st: &mut State) {
        if st.spool.is_none() {
            match Spool::open(&self.cfg.spool_file(), self.cfg.spool_max) {
                Ok(s) => {
                    if !s.is_empty() {
                        info!(sink = %self.name, batches = s.len(), "spooled batches found; sending them first");
                    }
                    st.spool = Some(s);
                }
                Err(SpoolError::Locked { .. }) => return,
                Err(e) => {
                    self.warn_limited(format_args!(
                        "cannot open the spool: {e}; batches wait in memory"
                    ));
                    return;
                }
            }
        }
        let Some(spool) = st.spool.as_mut() else {
            return;
        };
        while let Some((subject, id, payload)) = st.waiting.pop_front() {
            st.waiting_bytes -= payload.len() as u64;
            match spool.append(&subject, &id, &payload) {
                Ok(dropped) => self.count_dropped(dropped),
                Err(e) => {
                    warn!(sink = %self.name, "a batch waiting in memory could not be spooled: {e}; dropped");
                    self.count_dropped(1);
                }
            }
        }
    }

    fn count_dropped(&mut self, n: u64) {
        if n > 0 {
            self.dropped += n;
            self.shared.counters.dropped.fetch_add(n, Ordering::Relaxed);
            let max = self.cfg.spool_max;
            self.warn_limited(format_args!(
                "the spool is full (spool_max {max} bytes): dropped the oldest batches; see stream_dropped"
            ));
        }
    }

    /// Encode `batch` into this output's buffers; the message is
    /// [`NatsSink::message`].
    fn encode(&mut self, batch: &Batch) {
        match self.cfg.encoding {
            NatsEncoding::Json => {
                self.json.clear();
                json_batch(batch, &mut self.json);
            }
            NatsEncoding::Proto => {
                self.proto.message(batch, &self.origin);
            }
        }
    }

    /// The message `encode` made last.
    fn message(&self) -> &[u8] {
        match self.cfg.encoding {
            NatsEncoding::Json => &self.json,
            NatsEncoding::Proto => self.proto.last(),
        }
    }

    /// After a large batch (a first every-socket poll), let go of the
    /// encoder's buffer instead of keeping it for the small `changed`
    /// batches after; the allocator is asked to return the memory at the
    /// next batch, once the caller has freed its copy of the large poll too.
    fn release_large(&mut self, len: usize) {
        if len > KEEP_BUFFER {
            self.proto.release_above(KEEP_BUFFER);
            if self.json.capacity() > KEEP_BUFFER {
                self.json = Vec::new();
            }
            self.give_back_due = true;
        }
    }
}

impl Sink for NatsSink {
    /// One message a poll: this output is always handed whole polls.
    fn write_part(&mut self, batch: &Batch, _which: Part) -> Written {
        let records = batch.record_count() as u64;
        let tier = batch.tier.map_or("once", |t| t.name());
        let subject = format!("{}.{}.{tier}", self.cfg.subject, self.host_token);
        let id = format!("{}.{tier}.{}.{}", self.origin.host, run_id(), batch.seq);
        if std::mem::take(&mut self.give_back_due) {
            crate::platform::give_back_freed_memory();
        }
        let shared = Arc::clone(&self.shared);
        // Taken before encoding: the lock is not held while encoding.
        self.take_spool(&mut shared.lock());
        self.encode(batch);
        let payload = self.message();
        let len = payload.len();
        let mut st = shared.lock();
        let result = match st.spool.as_mut() {
            Some(spool) => spool.append(&subject, &id, payload),
            None => {
                // Bounded: drop the oldest beyond the smaller of spool_max
                // and MAX_WAITING_BYTES.
                st.waiting_bytes += len as u64;
                st.waiting.push_back((subject, id, payload.to_vec()));
                let mut dropped = 0;
                while st.waiting_bytes > self.cfg.spool_max.min(MAX_WAITING_BYTES) {
                    let Some((_, _, p)) = st.waiting.pop_front() else {
                        break;
                    };
                    st.waiting_bytes -= p.len() as u64;
                    dropped += 1;
                }
                Ok(dropped)
            }
        };
        shared.report(&st);
        drop(st);
        self.release_large(len);
        match result {
            Ok(dropped) => {
                self.count_dropped(dropped);
                shared.appended.notify_one();
                Written {
                    written: records,
                    failed: 0,
                    rotate_failures: 0,
                    compress_failures: 0,
                }
            }
            Err(e) => {
                self.warn_limited(format_args!("cannot spool a batch: {e}"));
                Written {
                    written: 0,
                    failed: records,
                    rotate_failures: 0,
                    compress_failures: 0,
                }
            }
        }
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        // Nothing to reopen: the spool is not rotated.
        Ok(())
    }

    fn flush_sync(&mut self) -> Result<(), SinkError> {
        // Every append is already fsynced.
        Ok(())
    }
}

impl Drop for NatsSink {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.publisher.take() {
            let _ = t.join();
        }
        let mut st = self.shared.lock();
        let waiting = st.waiting.len();
        if waiting > 0 {
            warn!(sink = %self.name, batches = waiting, "stopping before the spool was free; batches held in memory are lost");
            st.waiting.clear();
        }
        let spooled = st.spool.as_ref().map_or(0, Spool::len);
        st.spool = None;
        info!(sink = %self.name, spooled, dropped = self.dropped, "stream output stopped");
        let mine = self.shared.reported.swap(0, Ordering::Relaxed);
        let counters = &self.shared.counters;
        counters.spooled.fetch_sub(mine, Ordering::Relaxed);
        counters.outputs.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The publisher's own runtime: nothing it waits for can hold up the
/// agent's tasks.
fn publisher_thread(cfg: NatsConfig, shared: Arc<Shared>, stop: CancellationToken, name: String) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warn!(sink = %name, "cannot start the publisher: {e}; batches stay in the spool");
            return;
        }
    };
    rt.block_on(publish_loop(&cfg, &shared, &stop, &name));
}

/// The server's answer to one publish, on its way.
type AckFuture = futures::future::BoxFuture<
    'static,
    Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
>;

/// Why publishing over one connection ended.
enum End {
    Stopped,
    Failed(String),
}

async fn publish_loop(cfg: &NatsConfig, shared: &Shared, stop: &CancellationToken, name: &str) {
    let mut backoff = BACKOFF_MIN;
    let mut last_warning: Option<Instant> = None;
    let mut warn = |msg: String| {
        let now = Instant::now();
        if last_warning.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
            last_warning = Some(now);
            warn!(sink = %name, "{msg}");
        }
    };
    loop {
        let attempt = tokio::select! {
            _ = stop.cancelled() => return,
            r = connect(cfg) => r,
        };
        match attempt {
            Ok(client) => {
                info!(sink = %name, "connected");
                match pump(&client, shared, stop, &mut backoff).await {
                    End::Stopped => return,
                    End::Failed(e) => warn(format!(
                        "publishing failed: {e}; reconnecting and resending what was not acknowledged (kept in the spool)"
                    )),
                }
                // A fresh client next time: the old one may hold messages
                // buffered for a server that is gone.
                drop(client);
            }
            Err(e) => warn(format!(
                "cannot connect: {e}; retrying with backoff (batches are kept in the spool)"
            )),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect(cfg: &NatsConfig) -> Result<async_nats::Client, String> {
    let mut opts = match &cfg.credentials {
        // Read again at each attempt (a rotated file is picked up), with
        // the same ceiling and checks as when the config was read.
        Some(path) => credentials::load(path)
            .and_then(|text| {
                async_nats::ConnectOptions::with_credentials(&text)
                    .map_err(CredentialsError::Rejected)
            })
            .map_err(|e| format!("credentials {}: {e}", path.display()))?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some((user, password)) = url_user_password(cfg) {
        opts = opts.user_and_password(user, password);
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if cfg.wants_tls() {
        opts = opts.require_tls(true);
    }
    opts = opts
        .connection_timeout(Duration::from_secs(5))
        .name("netpulse");
    opts.connect(cfg.urls()).await.map_err(|e| e.to_string())
}

/// Publish from the oldest unacknowledged message on, keeping at most
/// [`WINDOW`] unacknowledged; remove each from the spool once acknowledged.
/// Asked to stop, it goes on while the server takes what is spooled, until
/// the agent's stop deadline allows (see `stop_grace`), so a clean stop
/// leaves nothing behind when the server is there, and a restart resends
/// nothing.
async fn pump(
    client: &async_nats::Client,
    shared: &Shared,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> End {
    let js = jetstream::new(client.clone());
    let mut cursor: Option<u64> = None;
    // Spool index, payload bytes, acknowledgement.
    let mut in_flight: VecDeque<(u64, usize, AckFuture)> = VecDeque::new();
    let mut in_flight_bytes = 0usize;
    // When this publisher was asked to stop.
    let mut stopping: Option<Instant> = None;
    let mut too_large_warned: Option<Instant> = None;
    // Resolves when the agent asks to stop, then when the grace ends. The
    // end is looked at again now and then: a publisher retired by a reload
    // must still let go in time once the agent itself stops.
    let give_up = |stopping: Option<Instant>| async move {
        let Some(asked) = stopping else {
            return stop.cancelled().await;
        };
        loop {
            let ends = shared.counters.stop.give_up_at(asked);
            let now = Instant::now();
            if now >= ends {
                return;
            }
            tokio::time::sleep((ends - now).min(RECHECK_GRACE)).await;
        }
    };
    loop {
        while in_flight.len() < WINDOW && in_flight_bytes < WINDOW_BYTES {
            let next = {
                let st = shared.lock();
                match st.spool.as_ref() {
                    Some(s) => s.read_after(cursor),
                    None => Ok(None),
                }
            };
            let msg = match next {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return End::Failed(e.to_string()),
            };
            if client.connection_state() != async_nats::connection::State::Connected {
                return End::Failed("the connection to the server was lost".into());
            }
            // A message over the server's max_payload can never be sent:
            // waiting for it would block every batch behind it.
            let max = client.server_info().max_payload;
            if max > 0 && msg.payload.len() + msg.id.len() + msg.subject.len() + HEADER_ROOM > max {
                let now = Instant::now();
                if too_large_warned.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
                    too_large_warned = Some(now);
                    warn!(
                        bytes = msg.payload.len(),
                        max_payload = max,
                        "a batch is larger than the server's max_payload; dropped (see stream_dropped; raise max_payload in the server config)"
                    );
                }
                let mut st = shared.lock();
                if let Some(s) = st.spool.as_mut() {
                    if let Err(e) = s.forget(msg.index) {
                        return End::Failed(e.to_string());
                    }
                }
                shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
                shared.report(&st);
                cursor = Some(msg.index);
                continue;
            }
            let len = msg.payload.len();
            // Handed over as it is: the client writes it out without a copy.
            let publish = Publish::build()
                .payload(msg.payload.into())
                .message_id(&msg.id);
            let sent = tokio::select! {
                _ = give_up(stopping) => {
                    if stopping.is_some() { return End::Stopped; }
                    stopping = Some(Instant::now());
                    continue;
                }
                r = js.send_publish(msg.subject, publish) => r,
            };
            match sent {
                Ok(ack) => {
                    in_flight.push_back((msg.index, len, Box::pin(ack.into_future())));
                    in_flight_bytes += len;
                }
                Err(e) => return End::Failed(e.to_string()),
            }
            cursor = Some(msg.index);
        }
        let Some((index, len, mut ack)) = in_flight.pop_front() else {
            if stopping.is_some() {
                // Stopping and everything is acknowledged.
                return End::Stopped;
            }
            tokio::select! {
                _ = stop.cancelled() => {
                    stopping = Some(Instant::now());
                }
                _ = shared.appended.notified() => {}
            }
            continue;
        };
        let acked = loop {
            tokio::select! {
                _ = give_up(stopping) => {
                    if stopping.is_some() { return End::Stopped; }
                    stopping = Some(Instant::now());
                }
                r = &mut ack => break r,
            }
        };
        match acked {
            Ok(_) => {
                let mut st = shared.lock();
                if let Some(s) = st.spool.as_mut() {
                    if let Err(e) = s.ack(index) {
                        return End::Failed(e.to_string());
                    }
                }
                shared.report(&st);
                drop(st);
                *backoff = BACKOFF_MIN;
                in_flight_bytes -= len;
                if len > KEEP_BUFFER {
                    // Written out and acknowledged: its buffer is free.
                    crate::platform::give_back_freed_memory();
                }
            }
            Err(e) => return End::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_become_one_subject_token() {
        assert_eq!(subject_token("web1.example.com"), "web1_example_com");
        assert_eq!(subject_token("a b*c>d"), "a_b_c_d");
        assert_eq!(subject_token(""), "unknown");
        assert_eq!(subject_token("db-2_x"), "db-2_x");
    }

    #[test]
    fn passwords_stay_out_of_names_but_reach_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[output]]\ndir = \"-\"\n[[nats]]\nspool_dir = \"{}\"\nurl = \"tls://agent:s3cret@h1:4222,nats://h2:4222\"\n",
            dir.path().display()
        );
        let cfg = crate::config::Config::parse(&text).unwrap().nats.remove(0);
        let name = describe(&cfg);
        assert_eq!(name, "nats:netpulse@tls://agent@h1:4222,nats://h2:4222");
        assert_eq!(
            url_user_password(&cfg),
            Some(("agent".to_string(), "s3cret".to_string()))
        );
    }

    fn fast_batch(seq: u64) -> Batch {
        Batch {
            tier: Some(crate::record::Tier::Fast),
            ts: 1,
            seq,
            interval_ms: 1000,
            system: Some(Default::default()),
            sockets: Vec::new(),
            closes: Vec::new(),
        }
    }

    /// A reloaded output starts while the one it replaces still holds the
    /// spool: its batches wait in memory and follow the old ones, in order.
    #[test]
    fn a_successor_waits_for_the_spool_and_keeps_the_order() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on port 1: both publishers only retry.
        let text = format!(
            "[[output]]\ndir = \"-\"\n[[nats]]\nspool_dir = \"{}\"\nurl = \"nats://127.0.0.1:1\"\nencoding = \"json\"\n",
            dir.path().display()
        );
        let cfg = crate::config::Config::parse(&text).unwrap().nats.remove(0);
        let counters = Arc::new(StreamCounters::default());
        let mut old = NatsSink::open(&cfg, Arc::clone(&counters)).unwrap();
        assert_eq!(old.write_batch(&fast_batch(0)).written, 1);
        old.write_batch(&fast_batch(1));
        let mut new = NatsSink::open(&cfg, Arc::clone(&counters)).unwrap();
        assert_eq!(new.write_batch(&fast_batch(2)).written, 1);
        assert_eq!(counters.spooled.load(Ordering::Relaxed), 3);
        assert_eq!(counters.outputs.load(Ordering::Relaxed), 2);
        drop(old);
        new.write_batch(&fast_batch(3));
        drop(new);
        assert_eq!(counters.spooled.load(Ordering::Relaxed), 0);
        assert_eq!(counters.outputs.load(Ordering::Relaxed), 0);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
        let spool = Spool::open(&cfg.spool_file(), cfg.spool_max).unwrap();
        let mut seqs = Vec::new();
        let mut after = None;
        while let Some(m) = spool.read_after(after).unwrap() {
            after = Some(m.index);
            assert!(m.subject.starts_with("netpulse.") && m.subject.ends_with(".fast"));
            assert!(m.payload.starts_with(b"{\"type\":\"system\""));
            seqs.push(m.id.rsplit('.').next().unwrap().parse::<u64>().unwrap());
        }
        assert_eq!(seqs, [0, 1, 2, 3]);
    }

    #[test]
    fn the_run_id_is_fixed_for_the_process() {
        assert_eq!(run_id(), run_id());
        assert!(run_id().parse::<u64>().unwrap() > 0);
    }
}
