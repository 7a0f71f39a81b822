//! `netpulse once`: one sample of every tier to stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use netpulse::output::{Format, csv, json, proto};
use netpulse::pipeline::snapshot::collect_all;
use netpulse::platform;
use netpulse::record::Batch;

use crate::OnceArgs;

pub fn main(args: OnceArgs) -> anyhow::Result<ExitCode> {
    super::logging::init("warn");
    let format = args.format;
    let mut source = platform::open(args.source).context("opening the socket source")?;
    let (batch, _) = collect_all(source.as_mut()).context("sampling sockets")?;
    write_batch(&batch, format)?;
    Ok(ExitCode::SUCCESS)
}

/// Write one batch to stdout in `format` (shared with `replay`).
pub fn write_batch(batch: &Batch, format: Format) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(batch.sockets.len() * 512 + 512);
    match format {
        Format::Json => json::write_batch(batch, &mut out),
        Format::Csv => csv::write_batch(batch, &mut out),
        Format::Proto => proto::write_batch(batch, &proto::Origin::this_host(), &mut out),
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}
