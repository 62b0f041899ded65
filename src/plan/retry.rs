//! `RetryPolicy`: how often and how patiently a step retries a retryable failure.

use std::time::Duration;

/// Jitter applied to backoff delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exact exponential delays.
    None,
    /// Uniformly random in `[0, computed delay]` ("full jitter").
    Full,
}

/// A validated retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (≥ 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
    /// Growth factor between delays (≥ 1.0).
    pub multiplier: f64,
    /// Jitter mode.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// The un-jittered delay after failed attempt `attempt` (1-based):
    /// `initial_delay * multiplier^(attempt-1)`, capped at `max_delay`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = secs.min(self.max_delay.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_delay)
    }

    /// The delay after failed attempt `attempt`, with jitter drawn from `unit` (a number in
    /// `[0, 1)`), and never shorter than a server's `Retry-After`.
    pub fn delay(&self, attempt: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let base = self.base_delay(attempt);
        let jittered = match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(unit.clamp(0.0, 1.0)),
        };
        match retry_after {
            Some(after) => jittered.max(after),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn exponential_schedule_is_capped() {
        let p = policy(Jitter::None);
        let secs: Vec<u64> = (1..=6).map(|a| p.delay(a, 0.5, None).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn full_jitter_scales_within_bounds() {
        let p = policy(Jitter::Full);
        assert_eq!(p.delay(3, 0.0, None), Duration::ZERO);
        assert_eq!(p.delay(3, 0.5, None), Duration::from_secs(2));
        assert!(p.delay(3, 0.999, None) <= Duration::from_secs(4));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = policy(Jitter::Full);
        assert_eq!(
            p.delay(1, 0.1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(5, 1.0, Some(Duration::from_secs(2))),
            Duration::from_secs(10)
        );
    }
}
