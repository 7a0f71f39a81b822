//! A real `nats-server -js` for the `[[nats]]` tests, on a free loopback
//! port with its store in a temp dir, and an independent reader of what
//! the stream holds (the async-nats client directly, not `netpulse
//! subscribe`).
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;

/// Name of the stream the tests create over `netpulse.>`.
pub const STREAM: &str = "NETPULSE";

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// Extra lines for the server's config file (TLS, users).
    extra: String,
    pub rt: tokio::runtime::Runtime,
    /// The URL scheme clients use (`nats` or `tls`).
    pub scheme: &'static str,
    /// Client options for the test's own connections.
    pub client_opts: ClientOpts,
}

/// How the test's own clients connect.
pub type ClientOpts = std::sync::Arc<dyn Fn() -> async_nats::ConnectOptions + Send + Sync>;

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().unwrap().port()
}

impl NatsServer {
    /// Start a JetStream server storing under `dir/store`.
    pub fn start(dir: &Path) -> NatsServer {
        NatsServer::start_with(
            dir,
            String::new(),
            "nats",
            std::sync::Arc::new(async_nats::ConnectOptions::new),
        )
    }

    /// Start with `extra` config lines; the test's clients use `opts`.
    pub fn start_with(
        dir: &Path,
        extra: String,
        scheme: &'static str,
        opts: ClientOpts,
    ) -> NatsServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            extra,
            rt,
            scheme,
            client_opts: opts,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Start (again) on the same port and store; wait until JetStream
    /// answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let conf = self.dir.join("nats-server.conf");
        let store = self.dir.join("store");
        std::fs::write(
            &conf,
            format!(
                "listen: \"127.0.0.1:{}\"\njetstream {{\n  store_dir: \"{}\"\n}}\n{}\n",
                self.port,
                store.display(),
                self.extra
            ),
        )
        .unwrap();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("nats-server.log"))
            .unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting nats-server (installed by .ci/setup.d/45-nats.sh)");
        self.child = Some(child);
        let t0 = Instant::now();
        loop {
            let why = match self.rt.block_on(self.jetstream_ready()) {
                Ok(()) => return,
                Err(e) => e,
            };
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "nats-server did not answer within 30 s ({why}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn jetstream_ready(&self) -> Result<(), String> {
        let c = tokio::time::timeout(
            Duration::from_secs(2),
            (self.client_opts)().connect(self.url()),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
        // Any answer from the JetStream API will do (the client's account
        // info type does not parse every server version's reply).
        c.request("$JS.API.INFO", "".into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
    }

    /// SIGKILL: the server is gone at once, its store left as it was.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: connections stay open but nothing is answered, the way a
    /// hung server looks to its clients.
    pub fn pause(&self) {
        self.send(nix::sys::signal::Signal::SIGSTOP);
    }

    /// SIGCONT after [`NatsServer::pause`].
    pub fn resume(&self) {
        self.send(nix::sys::signal::Signal::SIGCONT);
    }

    fn send(&self, sig: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("the server is running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    }

    pub fn client(&self) -> async_nats::Client {
        self.rt
            .block_on((self.client_opts)().connect(self.url()))
            .expect("the test's client connects")
    }

    /// The stream over `netpulse.>` with a duplicate window long enough
    /// for any test.
    pub fn create_stream(&self) {
        let js = jetstream::new(self.client());
        self.rt
            .block_on(js.create_stream(jetstream::stream::Config {
                name: STREAM.into(),
                subjects: vec!["netpulse.>".into()],
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            }))
            .expect("creating the stream");
    }

    /// Every message the stream holds, in stream order.
    pub fn messages(&self) -> Vec<Stored> {
        let js = jetstream::new(self.client());
        self.rt.block_on(async {
            let mut stream = js.get_stream(STREAM).await.expect("the stream exists");
            let info = stream.info().await.expect("stream info").state.clone();
            let mut out = Vec::new();
            if info.messages == 0 {
                return out;
            }
            for seq in info.first_sequence..=info.last_sequence {
                let m = stream
                    .get_raw_message(seq)
                    .await
                    .expect("reading a message");
                let id = m
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                out.push(Stored {
                    subject: m.subject.to_string(),
                    id,
                    payload: m.payload.to_vec(),
                });
            }
            out
        })
    }

    /// Wait until `done(messages)` holds; panics after `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Stored]) -> bool,
    ) -> Vec<Stored> {
        let t0 = Instant::now();
        loop {
            let m = self.messages();
            if done(&m) {
                return m;
            }
            assert!(
                t0.elapsed() < timeout,
                "{what}: not within {timeout:?} ({} messages; the first: {:?})",
                m.len(),
                m.first().map(|s| (&s.subject, &s.id))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One message as the stream stored it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub subject: String,
    pub id: String,
    pub payload: Vec<u8>,
}

impl Stored {
    /// `(tier, run, seq)` from the `host.tier.run.seq` id (the host may
    /// itself hold dots).
    pub fn id_parts(&self) -> (String, String, u64) {
        let mut parts = self.id.rsplitn(4, '.');
        let seq = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        let run = parts.next().unwrap_or_default().to_string();
        let tier = parts.next().unwrap_or_default().to_string();
        (tier, run, seq)
    }
}

/// Per tier, the seqs of the stored messages, in stream order; asserts
/// each tier's run is one agent run, contiguous from its first seq, with
/// no duplicates.
pub fn assert_contiguous(messages: &[Stored]) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut by_tier: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
    for m in messages {
        let (tier, run, seq) = m.id_parts();
        by_tier.entry(tier).or_default().push((run, seq));
    }
    let mut out = std::collections::BTreeMap::new();
    for (tier, runs) in by_tier {
        let mut seqs = Vec::new();
        let mut last: Option<(String, u64)> = None;
        for (run, seq) in runs {
            if let Some((prev_run, prev)) = &last {
                if *prev_run == run {
                    assert_eq!(
                        seq,
                        prev + 1,
                        "tier {tier}: seq {seq} follows {prev} (gap, duplicate or disorder)"
                    );
                }
            }
            seqs.push(seq);
            last = Some((run, seq));
        }
        out.insert(tier, seqs);
    }
    out
}
