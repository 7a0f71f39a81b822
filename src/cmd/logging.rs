//! Logs go to stderr through `tracing`; `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

/// Install the stderr subscriber with `default_level` unless `RUST_LOG` is set.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal())
        .try_init();
}

/// Colour codes would garble log files, pipes and syslog: only a terminal
/// gets them.
fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Changes the level of a running subscriber (SIGHUP).
pub struct LevelHandle {
    handle: Option<tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>>,
}

impl LevelHandle {
    /// Apply the config's level, unless `RUST_LOG` rules.
    pub fn set(&self, level: &str) {
        if let Some(h) = &self.handle {
            if let Err(e) = h.reload(EnvFilter::new(level)) {
                tracing::warn!("cannot change the log level: {e}");
            }
        }
    }
}

/// Like `init`, with a level that can change later. `RUST_LOG`, when set,
/// wins over the config both now and at every reload.
pub fn init_reloadable(level: &str) -> LevelHandle {
    use tracing_subscriber::prelude::*;
    let from_env = EnvFilter::try_from_default_env().ok();
    let env_rules = from_env.is_some();
    let (layer, handle) =
        tracing_subscriber::reload::Layer::new(from_env.unwrap_or_else(|| EnvFilter::new(level)));
    let ok = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(stderr_is_terminal()),
        )
        .try_init()
        .is_ok();
    LevelHandle {
        handle: (ok && !env_rules).then_some(handle),
    }
}
