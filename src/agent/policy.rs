//! Pure decisions of the refresh scheduler: retry backoff, the cap on unattended sign-in
//! prompts, and which failures are worth retrying on a timer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Error;

/// First retry after a failed refresh, doubled per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Delay before retry number `failures` (1 = after the first failure).
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1u32 << shift).min(BACKOFF_MAX)
}

/// Whether the scheduler should retry this failure on its own (the server may come back), or
/// wait for a client to ask (the user must act: a window was closed, the IdP wants a password
/// beyond the prompt cap, the user is not in SSO mode, no display).
pub fn retry_unattended(e: &Error) -> bool {
    matches!(
        e,
        Error::Network { .. }
            | Error::Server { .. }
            | Error::Tls { .. }
            | Error::TimedOut(..)
            | Error::Throttled { .. }
    )
}

/// At most `per_hour` interactive sign-ins that no client asked for, in any sliding hour.
#[derive(Debug, Clone)]
pub struct PromptBudget {
    per_hour: u32,
    used: VecDeque<Instant>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl PromptBudget {
    pub fn new(per_hour: u32) -> Self {
        PromptBudget {
            per_hour,
            used: VecDeque::new(),
        }
    }

    /// Takes one prompt if the budget allows it at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        while self
            .used
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
        {
            self.used.pop_front();
        }
        if self.used.len() as u32 >= self.per_hour {
            return false;
        }
        self.used.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let got: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn prompt_budget_slides_over_an_hour() {
        let t0 = Instant::now();
        let mut b = PromptBudget::new(2);
        assert!(b.take(t0));
        assert!(b.take(t0 + Duration::from_secs(10)));
        assert!(!b.take(t0 + Duration::from_secs(20)));
        assert!(!b.take(t0 + Duration::from_secs(3599)));
        assert!(b.take(t0 + Duration::from_secs(3600)));
        assert!(!b.take(t0 + Duration::from_secs(3605)));
        assert!(!PromptBudget::new(0).take(t0));
    }

    #[test]
    fn only_server_trouble_is_retried_on_a_timer() {
        let net = Error::Network {
            step: "s",
            host: "h".into(),
            cause: "c".into(),
        };
        assert!(retry_unattended(&net));
        assert!(!retry_unattended(&Error::Cancelled));
        assert!(!retry_unattended(&Error::InteractionRequired("x".into())));
        assert!(!retry_unattended(&Error::NoDisplay("x".into())));
    }
}
