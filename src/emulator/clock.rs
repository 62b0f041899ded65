//! Time as the emulated service shows it: wire timestamps like `2020-08-17T03:51:24.678916`
//! (UTC, microseconds, no zone) and simulated durations added to instants.

use chrono::{DateTime, TimeDelta, Utc};

/// Formats `at` the way CBR does: UTC, microseconds, no zone suffix.
pub(crate) fn wire_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// `at` plus `seconds` of simulated time (negative or non-finite values count as zero).
pub(crate) fn after(at: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let micros = if seconds.is_finite() && seconds > 0.0 {
        // Clamp to a century so the cast cannot overflow.
        (seconds.min(3.2e9) * 1e6) as i64
    } else {
        0
    };
    at + TimeDelta::microseconds(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_time_has_microseconds_and_no_zone() {
        let at = DateTime::parse_from_rfc3339("2020-08-17T03:51:24.678916Z")
            .unwrap()
            .to_utc();
        assert_eq!(wire_time(at), "2020-08-17T03:51:24.678916");
        let whole = DateTime::parse_from_rfc3339("2020-08-17T03:51:24Z")
            .unwrap()
            .to_utc();
        assert_eq!(wire_time(whole), "2020-08-17T03:51:24.000000");
    }

    #[test]
    fn after_adds_fractional_seconds_and_ignores_nonsense() {
        let at = DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(after(at, 0.25) - at, TimeDelta::milliseconds(250));
        assert_eq!(after(at, -3.0), at);
        assert_eq!(after(at, f64::NAN), at);
    }
}
