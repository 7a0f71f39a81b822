//! Logs go to stderr through `tracing`; `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

/// Install the stderr subscriber with `default_level` unless `RUST_LOG` is set.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
