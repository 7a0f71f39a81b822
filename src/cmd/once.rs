//! `netpulse once`: one sample of every tier to stdout.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use netpulse::config::{Config, ConfigError};
use netpulse::output::{Format, csv, json, proto};
use netpulse::pipeline::snapshot::collect_all;
use netpulse::platform;
use netpulse::record::Batch;

use super::once_filter::OnceFilter;
use crate::{OnceArgs, OnceFormat};

pub fn main(args: OnceArgs) -> anyhow::Result<ExitCode> {
    super::logging::init("warn");
    let format = args.format.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            OnceFormat::Table
        } else {
            OnceFormat::Json
        }
    });
    let filter = match filter_of(&args) {
        Ok(f) => f,
        Err(e) => {
            // A bad `[filter]` is a bad argument, like a bad option value.
            eprintln!("netpulse: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut source = platform::open(args.source).context("opening the socket source")?;
    let (mut batch, _) = collect_all(source.as_mut()).context("sampling sockets")?;
    batch.sockets.retain(|s| filter.keep(s));
    match format {
        OnceFormat::Json => write_batch(&batch, Format::Json)?,
        OnceFormat::Csv => write_batch(&batch, Format::Csv)?,
        OnceFormat::Proto => write_batch(&batch, Format::Proto)?,
        OnceFormat::Table => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            netpulse::output::encode::table::write_table(&batch.sockets, &mut stdout)
                .and_then(|()| stdout.flush())
                .context("writing to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The filter the options describe, with the config file's `[filter]`.
fn filter_of(args: &OnceArgs) -> Result<OnceFilter, ConfigError> {
    let filter = OnceFilter {
        states: args.state.clone(),
        ports: args.port.clone(),
        local_ports: args.sport.clone(),
        remote_ports: args.dport.clone(),
        local: args.local.clone(),
        remote: args.remote.clone(),
        pids: args.pid.clone(),
        commands: args.command.clone(),
        ipv4: args.ipv4,
        ipv6: args.ipv6,
        config: None,
    };
    Ok(match &args.config {
        Some(path) => filter.with_config(&Config::load(path)?.filter),
        None => filter,
    })
}

/// Write one batch to stdout in `format` (shared with `replay`).
/// Write one batch to stdout in `format` (shared with `replay`). JSON and
/// CSV are encoded and written a chunk at a time, so a large table is
/// never held twice (records and their text); a protobuf poll is one
/// message and is encoded whole.
pub fn write_batch(batch: &Batch, format: Format) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => json::write_batch_to(batch, &mut stdout),
        Format::Csv => csv::write_batch_to(batch, &mut stdout),
        Format::Proto => {
            let mut out = Vec::new();
            proto::write_batch(batch, &proto::Origin::this_host(), &mut out);
            stdout.write_all(&out)
        }
    }
    .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}
