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
