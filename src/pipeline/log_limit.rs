//! Rate-limited warnings: a full disk or a stuck tier must be visible in
//! the log without writing a line per record per second.

use std::time::{Duration, Instant};

/// Lets one message through per `period`; counts what it held back so the
/// next message can say how many were suppressed.
#[derive(Debug)]
pub struct LogLimit {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub fn new(period: Duration) -> LogLimit {
        LogLimit {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed_since_last)` when a message may be logged now.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.period => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit::new(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_period_and_counts_the_rest() {
        let mut l = LogLimit::new(Duration::from_secs(3600));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        l.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(l.allow(), Some(2));
    }
}
