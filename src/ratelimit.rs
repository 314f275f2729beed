//! Warnings about hostile or failing input, rate-limited: a flood of bad records must not be
//! able to flood the log.

use std::time::{Duration, Instant};

/// Logs at most one message per `every`, counting what it held back: hostile input must not be
/// able to flood the log.
pub struct RateLimited {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    pub fn new(every: Duration) -> Self {
        RateLimited {
            every,
            last: None,
            suppressed: 0,
        }
    }

    pub fn warn(&mut self, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.every)
        {
            self.suppressed += 1;
            return;
        }
        self.last = Some(now);
        if self.suppressed > 0 {
            tracing::warn!(
                "{} ({} similar messages suppressed)",
                msg(),
                std::mem::take(&mut self.suppressed)
            );
        } else {
            tracing::warn!("{}", msg());
        }
    }

    /// `warn` for a counted condition, naming its running total.
    pub fn hit(&mut self, what: &str, total: u64) {
        self.warn(|| format!("{what} (total {total})"));
    }
}
