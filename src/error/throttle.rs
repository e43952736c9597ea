//! The VPN-less reverse proxy's refusals that mean "wait": HTTP 418 (this client is blocked
//! after repeated failures) and 429 (rate limited), with how long to wait before any new try
//! (reference §5, §7.1). One place decides the waits, for the agent's refresh timer, its
//! notification reconnects and one-shot commands alike.

use std::time::Duration;

use super::{Error, Step};

/// Which refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// 418: the proxy blocks this client's address after repeated failures
    /// (`NGX_CLIENT_BLOCK_DURATION`); every new failure may extend the block.
    Blocked,
    /// 429: over the proxy's request rate (`NGX_FIN_LIMIT_REQ_STATUS`).
    RateLimited,
}

/// The shortest wait after a 418, whatever `Retry-After` says: the block lasts minutes, and
/// trying sooner only fails again (and may extend it).
pub const BLOCKED_WAIT_MIN: Duration = Duration::from_secs(5 * 60);
/// After a 429 without a usable `Retry-After`.
pub const RATE_LIMITED_WAIT: Duration = Duration::from_secs(2 * 60);
/// The shortest wait after a 429, even when `Retry-After` says less.
pub const RATE_LIMITED_WAIT_MIN: Duration = Duration::from_secs(30);
/// The longest wait a `Retry-After` can impose (a hostile or broken value is capped).
pub const WAIT_MAX: Duration = Duration::from_secs(6 * 3600);

impl Throttle {
    /// 418 or 429; any other status is not a throttle.
    pub fn of_status(status: u16) -> Option<Throttle> {
        match status {
            418 => Some(Throttle::Blocked),
            429 => Some(Throttle::RateLimited),
            _ => None,
        }
    }

    /// How long to wait, from the answer's `Retry-After` (delta-seconds; an HTTP date or
    /// garbage counts as absent) and this refusal's floor.
    pub fn wait(self, retry_after: Option<&str>) -> Duration {
        let said = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let wait = match self {
            Throttle::Blocked => said.unwrap_or(BLOCKED_WAIT_MIN).max(BLOCKED_WAIT_MIN),
            Throttle::RateLimited => said.unwrap_or(RATE_LIMITED_WAIT).max(RATE_LIMITED_WAIT_MIN),
        };
        wait.min(WAIT_MAX)
    }

    /// The error for a throttled answer, or `None` for any other status.
    pub fn error(
        step: Step,
        host: String,
        status: u16,
        retry_after: Option<&str>,
    ) -> Option<Error> {
        let why = Throttle::of_status(status)?;
        Some(Error::Throttled {
            step,
            host,
            why,
            retry_after: why.wait(retry_after),
        })
    }
}

/// The message's middle part: what happened and how long the wait is.
pub(super) fn describe(why: Throttle, wait: Duration) -> String {
    let what = match why {
        Throttle::Blocked => {
            "the VPN-less proxy blocks this client after repeated failures (HTTP 418)"
        }
        Throttle::RateLimited => "the VPN-less proxy is rate-limiting this client (HTTP 429)",
    };
    format!(
        "{what}; not retried for {} (automatic retries wait as long)",
        human(wait)
    )
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 120 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_honour_retry_after_above_each_floor() {
        let b = Throttle::Blocked;
        let r = Throttle::RateLimited;
        assert_eq!(b.wait(None), BLOCKED_WAIT_MIN);
        assert_eq!(b.wait(Some("10")), BLOCKED_WAIT_MIN);
        assert_eq!(b.wait(Some("900")), Duration::from_secs(900));
        assert_eq!(r.wait(None), RATE_LIMITED_WAIT);
        assert_eq!(r.wait(Some(" 90 ")), Duration::from_secs(90));
        assert_eq!(r.wait(Some("1")), RATE_LIMITED_WAIT_MIN);
        assert_eq!(
            r.wait(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            RATE_LIMITED_WAIT
        );
        assert_eq!(r.wait(Some("99999999999")), WAIT_MAX);
        assert_eq!(r.wait(Some("-5")), RATE_LIMITED_WAIT);
    }

    #[test]
    fn only_418_and_429_throttle_and_they_are_distinct_kinds() {
        assert_eq!(Throttle::of_status(401), None);
        assert_eq!(Throttle::of_status(423), None);
        assert!(Throttle::error("s", "h".into(), 503, None).is_none());
        let blocked = Throttle::error("token refresh", "p:8445".into(), 418, None).unwrap();
        let limited = Throttle::error("User", "p:8445".into(), 429, Some("120")).unwrap();
        assert_ne!(blocked.kind(), limited.kind());
        assert_ne!(blocked.exit_code(), limited.exit_code());
        assert_eq!(blocked.retry_after(), Some(BLOCKED_WAIT_MIN));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(120)));
        let text = blocked.to_string();
        assert!(
            text.starts_with("token refresh on p:8445: the VPN-less proxy blocks this client")
                && text.contains("5 min"),
            "{text}"
        );
        assert!(limited.to_string().contains("2 min"), "{limited}");
    }
}
