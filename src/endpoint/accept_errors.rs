//! Accept failures (EMFILE above all) repeat every retry while the cause
//! lasts: log each kind at most once per 10 s, saying how many were held
//! back.

use std::collections::HashMap;

use tracing::warn;

use crate::pipeline::log_limit::LogLimit;

/// Pause before accepting again, so a lasting failure does not spin.
pub(super) const RETRY: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Default)]
pub(super) struct AcceptErrors {
    by_kind: HashMap<i32, LogLimit>,
}

impl AcceptErrors {
    /// Count `e`; log it unless its kind was logged in the last 10 s.
    /// Returns whether it was logged.
    pub fn report(&mut self, listener: &str, e: &std::io::Error) -> bool {
        let kind = e.raw_os_error().unwrap_or(-1);
        let Some(held_back) = self.by_kind.entry(kind).or_default().allow() else {
            return false;
        };
        if held_back > 0 {
            warn!(
                "endpoint: {listener} accept failed: {e} ({held_back} more like it not logged); retrying"
            );
        } else {
            warn!("endpoint: {listener} accept failed: {e}; retrying");
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_log_per_kind_per_period() {
        let mut log = AcceptErrors::default();
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let enfile = std::io::Error::from_raw_os_error(libc::ENFILE);
        assert!(log.report("HTTP", &emfile));
        for _ in 0..80 {
            assert!(!log.report("HTTP", &emfile));
        }
        // Another kind is its own story.
        assert!(log.report("HTTP", &enfile));
        assert!(!log.report("HTTP", &enfile));
    }
}
