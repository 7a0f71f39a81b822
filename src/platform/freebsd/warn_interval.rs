//! At most one warning per interval for a condition that can recur every
//! poll (a socket table that changed while it was read), with a count of
//! the occurrences it stood for, so a busy host does not flood the log.

use std::time::{Duration, Instant};

pub struct WarnInterval {
    every: Duration,
    last: Option<Instant>,
    unreported: u64,
}

impl WarnInterval {
    pub const fn new(every: Duration) -> WarnInterval {
        WarnInterval {
            every,
            last: None,
            unreported: 0,
        }
    }

    /// Count one occurrence at `now`. Returns how many occurrences the
    /// warning to log now stands for, or `None` when it is too soon.
    pub fn occurred(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_counting_the_rest() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut w = WarnInterval::new(Duration::from_secs(60));
        assert_eq!(w.occurred(t0), Some(1), "the first is reported at once");
        assert_eq!(w.occurred(t0 + s), None);
        assert_eq!(w.occurred(t0 + 59 * s), None);
        assert_eq!(
            w.occurred(t0 + 60 * s),
            Some(3),
            "itself and the two held back"
        );
        assert_eq!(w.occurred(t0 + 61 * s), None);
        assert_eq!(w.occurred(t0 + 200 * s), Some(2));
    }
}
