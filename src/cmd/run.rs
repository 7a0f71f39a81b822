//! `netpulse run [--config FILE]`: the agent in the foreground.
//!
//! Signals: SIGHUP re-reads the config (a bad one is logged and the running
//! one stays) and reopens every file; SIGTERM/SIGINT drain and exit 0
//! within `agent.shutdown_timeout`; a second one exits at once with 1.

use netpulse::fd_budget::{self, FdLimit};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use libc::{SIGHUP, SIGINT, SIGTERM};
use netpulse::agent::{Daemon, Summary};
use netpulse::config::{Config, DEFAULT_DATA_DIR, DEFAULT_PATH};
use signal_hook_tokio::Signals;
use tracing::{error, info, warn};

use super::logging::{self, LevelHandle};

pub fn main(args: crate::RunArgs) -> anyhow::Result<ExitCode> {
    let (cfg, path) = initial_config(args.config)?;
    let level = logging::init_reloadable(&cfg.agent.log_level);
    match &path {
        Some(p) => info!(config = %p.display(), "starting"),
        None => info!(
            "no config at {DEFAULT_PATH}; using built-in defaults: every tier, JSON Lines under {DEFAULT_DATA_DIR}/"
        ),
    }
    match fd_budget::ensure(&cfg).context("refusing to start")? {
        FdLimit::Raised { from, to } => {
            info!(
                from,
                to, "raised the soft RLIMIT_NOFILE to what this config can need"
            )
        }
        FdLimit::Enough { .. } => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let code = rt.block_on(serve(cfg, path, level))?;
    // Blocking polls still running (a scan the drain did not wait for)
    // must not hold the exit.
    rt.shutdown_background();
    Ok(code)
}

fn initial_config(arg: Option<PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = match arg {
        Some(p) => p,
        None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
        None => return Ok((Config::builtin(), None)),
    };
    let cfg = Config::load(&path).with_context(|| {
        format!(
            "refusing to start; run `netpulse check-config {}` after fixing it",
            path.display()
        )
    })?;
    Ok((cfg, Some(path)))
}

async fn serve(cfg: Config, path: Option<PathBuf>, level: LevelHandle) -> anyhow::Result<ExitCode> {
    let mut signals =
        Signals::new([SIGHUP, SIGTERM, SIGINT]).context("installing signal handlers")?;
    let mut daemon = Daemon::start(cfg).context("starting the agent")?;
    info!(
        pid = std::process::id(),
        "running; SIGHUP reloads, SIGTERM drains and exits"
    );
    let first = loop {
        let Some(sig) = signals.next().await else {
            break SIGTERM;
        };
        if sig != SIGHUP {
            break sig;
        }
        reload(&mut daemon, path.as_deref(), &level);
    };
    let deadline = daemon.config().agent.shutdown_timeout;
    info!(
        signal = first,
        timeout_ms = deadline.as_millis() as u64,
        "stopping: draining queued samples"
    );
    let drain = daemon.shutdown(deadline);
    tokio::pin!(drain);
    let result = loop {
        tokio::select! {
            r = &mut drain => break r,
            Some(sig) = signals.next() => {
                if sig == SIGHUP {
                    continue;
                }
                error!(signal = sig, "second signal: exiting at once; queued records are lost");
                return Ok(ExitCode::from(1));
            }
        }
    };
    match result {
        Ok(sum) => {
            log_summary("drained", &sum);
            Ok(ExitCode::SUCCESS)
        }
        Err(sum) => {
            log_summary("drain incomplete", &sum);
            error!(
                timeout_ms = deadline.as_millis() as u64,
                "drain did not finish within agent.shutdown_timeout; some records may be lost (raise the timeout or check the output disk)"
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn reload(daemon: &mut Daemon, path: Option<&Path>, level: &LevelHandle) {
    let Some(path) = path else {
        info!("SIGHUP: no config file (built-in defaults); reopening files");
        let cfg = daemon.config().clone();
        if let Err(e) = daemon.reload(cfg) {
            error!("reopen failed: {e}");
        }
        return;
    };
    match Config::load(path) {
        Ok(cfg) => {
            if let Err(e) = fd_budget::ensure(&cfg) {
                error!(config = %path.display(), "reload refused, still running the previous config: {e}");
                return;
            }
            let lvl = cfg.agent.log_level.clone();
            match daemon.reload(cfg) {
                Ok(()) => {
                    level.set(&lvl);
                    info!(config = %path.display(), "reloaded; files reopened");
                }
                Err(e) => {
                    error!(config = %path.display(), "reload refused, still running the previous config: {e}")
                }
            }
        }
        Err(e) => {
            for p in e.problems() {
                error!(config = %path.display(), "reload refused: {p}");
            }
            warn!(config = %path.display(), "still running the previous config; fix the file and send SIGHUP again");
        }
    }
}

/// The exit summary: the counts tests and operators compare files to.
fn log_summary(what: &str, s: &Summary) {
    info!(
        produced = s.produced,
        dropped = s.dropped,
        skipped_ticks = s.skipped_ticks,
        write_errors = s.write_errors,
        "{what}"
    );
    for k in &s.sinks {
        info!(
            sink = %k.name,
            offered = k.offered,
            written = k.written,
            failed = k.failed,
            dropped = k.dropped,
            rotate_failures = k.rotate_failures,
            "sink closed"
        );
    }
}
