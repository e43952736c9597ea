//! Time as a value: a monotonic `now()` for expiry and scheduling, and the wall clock only for
//! display. Tests pass a [`ManualClock`] and move it by hand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Monotonic: expiry and refresh times are computed from this, never from the wall clock.
    fn now(&self) -> Instant;
    /// Unix seconds, for RFC 3339 fields shown to people.
    fn wall(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    wall_start: i64,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new(wall_start: i64) -> Self {
        ManualClock {
            start: Instant::now(),
            wall_start,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut e = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *e += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn wall(&self) -> i64 {
        crate::wallclock::expires_at(self.wall_start, self.elapsed().as_secs())
    }
}

/// RFC 3339 (UTC) of unix seconds.
pub fn rfc3339(unix: i64) -> String {
    crate::wallclock::rfc3339(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_700_000_000);
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now() - t0, Duration::from_secs(90));
        assert_eq!(c.wall(), 1_700_000_090);
        assert_eq!(rfc3339(c.wall()), "2023-11-14T22:14:50Z");
    }
}
