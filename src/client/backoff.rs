//! Retry delays for everything that waits out an outage (the console's
//! login, queue poll and outbox delivery, `submit --wait`): doubling from a
//! base to a cap, each delay drawn at random from its upper half, so many
//! clients that lost the same server do not come back in lock-step.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            current: base,
        }
    }

    /// The next delay: between half and all of the current step; the step
    /// doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = step / 2;
        half + rand::rng().random_range(Duration::ZERO..=step - half)
    }

    /// After a success: start again from the base.
    pub fn reset(&mut self) {
        self.current = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let steps = [100, 200, 400, 800, 800, 800];
        for step in steps {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                (step / 2..=step).contains(&d),
                "{d} not within [{}, {step}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        // Not all the same: the jitter is real.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let draws: std::collections::BTreeSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(draws.len() > 1);
    }
}
