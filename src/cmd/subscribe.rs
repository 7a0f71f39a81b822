//! `netpulse subscribe`: read a fleet's batches back from JetStream and
//! print them as JSON lines, whichever host sent them and whichever
//! encoding (`proto` or `json`) its `[[nats]]` output used.
//!
//! Without `--durable`, an ephemeral consumer prints everything the stream
//! holds for the subject, then follows it. With `--durable NAME`, a durable
//! consumer of that name remembers what was printed (acknowledged), so a
//! restarted `subscribe` continues where it stopped.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use netpulse::output::json;
use netpulse::output::proto::StreamDecoder;

pub fn main(args: crate::SubscribeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run(args))
}

async fn run(args: crate::SubscribeArgs) -> anyhow::Result<ExitCode> {
    let mut opts = match &args.credentials {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .with_context(|| format!("reading credentials {}", path.display()))?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some(ca) = &args.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let urls: Vec<&str> = args.url.split(',').map(str::trim).collect();
    let client = opts
        .connection_timeout(Duration::from_secs(10))
        .name("netpulse-subscribe")
        .connect(urls)
        .await
        .with_context(|| format!("connecting to {}", args.url))?;
    let js = jetstream::new(client);
    let stream_name = js.stream_by_subject(&args.subject).await.map_err(|e| {
        anyhow!(
            "no JetStream stream holds `{}`: {e}; create one (see docs/FLEET.md)",
            args.subject
        )
    })?;
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| anyhow!("opening stream {stream_name}: {e}"))?;
    let config = consumer::pull::Config {
        durable_name: args.durable.clone(),
        filter_subject: args.subject.clone(),
        deliver_policy: consumer::DeliverPolicy::All,
        ack_policy: if args.durable.is_some() {
            consumer::AckPolicy::Explicit
        } else {
            consumer::AckPolicy::None
        },
        ..Default::default()
    };
    let consumer = match &args.durable {
        Some(name) => stream.get_or_create_consumer(name, config).await,
        None => stream.create_consumer(config).await,
    }
    .map_err(|e| anyhow!("creating a consumer on {stream_name}: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow!("reading from {stream_name}: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    let mut out = Vec::new();
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(|e| anyhow!("reading from {stream_name}: {e}"))?;
        out.clear();
        if let Err(e) = to_json_lines(&msg.payload, &mut out) {
            eprintln!("netpulse: skipping a message on {}: {e}", msg.subject);
        }
        match stdout.write_all(&out).and_then(|()| stdout.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): done.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e).context("writing to standard output"),
        }
        if args.durable.is_some() {
            msg.ack()
                .await
                .map_err(|e| anyhow!("acknowledging a message: {e}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A message's batch as JSON lines: JSON payloads as they are, protobuf
/// ones decoded (a JSON payload starts with `{`, which no `Batch` does).
fn to_json_lines(payload: &[u8], out: &mut Vec<u8>) -> anyhow::Result<()> {
    if payload.first() == Some(&b'{') {
        out.extend_from_slice(payload);
        return Ok(());
    }
    let mut framed = Vec::with_capacity(payload.len() + 10);
    prost::encoding::encode_varint(payload.len() as u64, &mut framed);
    framed.extend_from_slice(payload);
    let decoded = StreamDecoder::new(&framed[..])
        .next()
        .ok_or_else(|| anyhow!("empty message"))??;
    json::write_batch(&decoded.batch, out);
    Ok(())
}
