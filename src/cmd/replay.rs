//! `netpulse replay`: parse dumps captured on a FreeBSD host or a Mac and
//! print the same lines as `netpulse once` would have printed there.

use std::process::ExitCode;

use anyhow::{Context, bail};
use netpulse::config::Format;
use netpulse::pipeline::snapshot::collect_all;
use netpulse::platform::Source;
use netpulse::platform::freebsd::{ReplayInputs, ReplaySource, SocketsDump};
use netpulse::platform::macos::{MacReplayInputs, MacReplaySource};

use crate::ReplayArgs;

pub fn main(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    super::logging::init("warn");
    let format = args.format;
    if let Some(pcblist_n) = args.pcblist_n.clone() {
        return replay_macos(pcblist_n, args, format);
    }
    let sockets = match (args.pcblist, args.tcpstats_dev) {
        (Some(p), None) => SocketsDump::Pcblist(p),
        (None, Some(p)) => SocketsDump::TcpstatsDev(p),
        _ => bail!(
            "give the socket table with exactly one of --pcblist FILE \
             (`sysctl -b net.inet.tcp.pcblist > FILE`) or --tcpstats-dev FILE \
             (`cat /dev/tcpstats > FILE`)"
        ),
    };
    if args.kern_proc.is_some() && args.kern_file.is_none() {
        bail!(
            "--kern-proc names processes but only --kern-file says which process holds which \
             socket; capture `sysctl -b kern.file` as well and pass it with --kern-file"
        );
    }
    let inputs = ReplayInputs {
        sockets,
        kern_file: args.kern_file,
        kern_proc: args.kern_proc,
        tcp_stats: args.tcp_stats,
        tcp_states: args.tcp_states,
    };
    let mut source = ReplaySource::open(&inputs).context("reading the dumps")?;
    // A dump the user named must parse: fail here rather than print a
    // batch with its part silently missing (collect_all only logs these).
    source
        .processes()
        .context("parsing the process dumps (--kern-file, --kern-proc)")?;
    source.counters().context("parsing --tcp-stats")?;
    let (mut batch, _) = collect_all(&mut source).context("parsing the socket table")?;
    // The kernel's own per-state count, as the slow tier reports it on a
    // live host (it also counts sockets this reader could not see).
    if let Some(counts) = source.state_counts().context("parsing the state counts")?
        && let Some(system) = batch.system.as_mut()
    {
        system.state_counts = counts;
    }
    super::once::write_batch(&batch, format)?;
    Ok(ExitCode::SUCCESS)
}

/// A macOS dump: the socket table (`--pcblist-n`) and optionally the
/// counters (`--tcp-stats`); the FreeBSD-only dumps do not apply.
fn replay_macos(
    pcblist_n: std::path::PathBuf,
    args: ReplayArgs,
    format: Format,
) -> anyhow::Result<ExitCode> {
    if args.pcblist.is_some()
        || args.tcpstats_dev.is_some()
        || args.kern_file.is_some()
        || args.kern_proc.is_some()
        || args.tcp_states.is_some()
    {
        bail!(
            "--pcblist-n is a macOS dump; it combines only with --tcp-stats from the same Mac \
             (--pcblist, --tcpstats-dev, --kern-file, --kern-proc and --tcp-states are FreeBSD's)"
        );
    }
    let inputs = MacReplayInputs {
        pcblist_n,
        tcp_stats: args.tcp_stats,
    };
    let mut source = MacReplaySource::open(&inputs).context("reading the dumps")?;
    source.counters().context("parsing --tcp-stats")?;
    let (batch, _) = collect_all(&mut source).context("parsing the socket table")?;
    super::once::write_batch(&batch, format)?;
    Ok(ExitCode::SUCCESS)
}
