//! How long a stopping publisher may go on waiting for the server to
//! acknowledge what it sent. The agent's `shutdown_timeout` bounds it, as
//! it bounds every output's drain: an output removed by a reload gets at
//! most that long, and once the agent itself stops, every publisher lets
//! go early enough for the drain to end within the agent's deadline. What
//! is not acknowledged by then stays in the spool for the next run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::AgentConfig;

/// Part of the agent's stop deadline left to what follows a publisher
/// letting go (its thread ending, the final summary), at most
/// [`MAX_MARGIN`].
const MARGIN_DIVISOR: u32 = 5;
const MAX_MARGIN: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct StopGrace {
    inner: Mutex<Inner>,
}

#[derive(Debug, Clone, Copy)]
struct Inner {
    /// The agent's `shutdown_timeout`, as last configured.
    timeout: Duration,
    /// When the agent must have stopped, once it is stopping.
    agent_stops_by: Option<Instant>,
}

impl Default for StopGrace {
    fn default() -> Self {
        StopGrace {
            inner: Mutex::new(Inner {
                timeout: AgentConfig::default().shutdown_timeout,
                agent_stops_by: None,
            }),
        }
    }
}

impl StopGrace {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The agent's `shutdown_timeout` (at start and at each reload).
    pub fn set_timeout(&self, timeout: Duration) {
        self.lock().timeout = timeout;
    }

    /// The agent began to stop; it must be done by `deadline`.
    pub fn agent_stops_by(&self, deadline: Instant) {
        self.lock().agent_stops_by = Some(deadline);
    }

    /// When a publisher asked to stop at `now` gives up waiting.
    pub fn give_up_at(&self, now: Instant) -> Instant {
        let inner = *self.lock();
        let own = now + inner.timeout;
        match inner.agent_stops_by {
            Some(by) => {
                let margin = (inner.timeout / MARGIN_DIVISOR).min(MAX_MARGIN);
                by.checked_sub(margin).unwrap_or(now).clamp(now, own)
            }
            None => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_output_waits_the_configured_timeout() {
        let g = StopGrace::default();
        let now = Instant::now();
        assert_eq!(g.give_up_at(now), now + Duration::from_secs(5));
        g.set_timeout(Duration::from_secs(30));
        assert_eq!(g.give_up_at(now), now + Duration::from_secs(30));
    }

    #[test]
    fn a_stopping_agent_leaves_a_margin_before_its_deadline() {
        let g = StopGrace::default();
        g.set_timeout(Duration::from_secs(1));
        let t0 = Instant::now();
        g.agent_stops_by(t0 + Duration::from_secs(1));
        // A fifth of one second is left for the rest of the drain.
        assert_eq!(g.give_up_at(t0), t0 + Duration::from_millis(800));
        // Asked later, it still gives up at the same moment.
        let later = t0 + Duration::from_millis(300);
        assert_eq!(g.give_up_at(later), t0 + Duration::from_millis(800));
        // Past that moment: at once.
        let late = t0 + Duration::from_millis(900);
        assert_eq!(g.give_up_at(late), late);
        // A long timeout leaves at most MAX_MARGIN.
        g.set_timeout(Duration::from_secs(60));
        g.agent_stops_by(t0 + Duration::from_secs(60));
        assert_eq!(g.give_up_at(t0), t0 + Duration::from_secs(60) - MAX_MARGIN);
    }
}
