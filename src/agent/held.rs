//! The token pair our background agent holds in memory, and the pure lifecycle maths around it: expiry
//! from the monotonic moment the answer arrived plus `expires_in`, refresh due at 75 %.
//! No arithmetic here can panic, whatever a server said (lifetimes are capped, sums checked).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::answer::AnswerCache;

use crate::finesse::token_response::{MAX_EXPIRES_IN, TokenResponse};
use crate::ipc::protocol::TokenInfo;
use crate::redact::Secret;
use crate::wallclock::expires_at as wall_expiry;

/// Cisco: "refresh the access token after 75% of the token expiry time is elapsed".
pub const REFRESH_AT: f64 = 0.75;

/// A token pair in memory only (never written anywhere).
#[derive(Debug, Clone)]
pub struct Held {
    pub token: Secret<String>,
    pub refresh: Option<Secret<String>>,
    /// `expires_in` as Finesse gave it.
    pub lifetime: Duration,
    /// Monotonic moment the answer arrived.
    pub received: Instant,
    /// Wall clock at that moment (display only).
    pub received_wall: i64,
    pub user_id: Option<String>,
    pub realm: Option<String>,
    pub user_principal: Option<String>,
    pub serial: u64,
    /// This token's `token` answer, serialised, for the current second.
    pub answer: AnswerCache,
}

impl Held {
    /// Takes a fresh answer. A refresh answer without `refresh_token` keeps the previous one
    /// (Cisco's documented refresh body has none); a rotated one replaces it.
    pub fn from_response(
        resp: TokenResponse,
        previous: Option<&Held>,
        received: Instant,
        received_wall: i64,
        serial: u64,
    ) -> Held {
        let refresh = resp
            .refresh_token
            .or_else(|| previous.and_then(|p| p.refresh.clone()));
        Held {
            token: resp.token,
            refresh,
            // Capped here too: a `TokenResponse` can be built without `parse` (the window's
            // outcome line is deserialised, test doubles construct it).
            lifetime: Duration::from_secs(resp.expires_in.min(MAX_EXPIRES_IN)),
            received,
            received_wall,
            user_id: resp.user_id,
            realm: resp.realm,
            user_principal: resp.user_principal,
            serial,
            answer: AnswerCache::default(),
        }
    }

    pub fn expires_at(&self) -> Instant {
        after(self.received, self.lifetime)
    }

    /// Time left at `now` (zero once expired).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at().saturating_duration_since(now)
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.remaining(now).is_zero()
    }

    /// Valid for more than `min` from `now` (and not expired).
    pub fn valid_for(&self, now: Instant, min: Duration) -> bool {
        let left = self.remaining(now);
        !left.is_zero() && left > min
    }

    /// When the 75 % mark is reached.
    pub fn refresh_due(&self) -> Instant {
        after(self.received, self.lifetime.mul_f64(REFRESH_AT))
    }

    /// What the pipe hands out at `now`.
    pub fn info(&self, now: Instant, wall_now: i64, server: &str) -> TokenInfo {
        let left = self.remaining(now).as_secs();
        TokenInfo {
            token: self.token.clone(),
            expires_in: left,
            expires_at: super::clock::rfc3339(wall_expiry(wall_now, left)),
            lifetime: self.lifetime.as_secs(),
            user_id: self.user_id.clone(),
            realm: self.realm.clone(),
            user_principal: self.user_principal.clone(),
            server: server.to_string(),
            serial: self.serial,
        }
    }

    /// `info` serialised (the `result` of a `token` answer), made at most once per second.
    pub fn info_json(&self, now: Instant, wall_now: i64, server: &str) -> Arc<str> {
        let left = self.remaining(now).as_secs();
        self.answer
            .get_or_make(left, wall_expiry(wall_now, left), || {
                serde_json::to_string(&self.info(now, wall_now, server)).unwrap_or_default()
            })
    }
}

/// `at + d`; `at` itself when the sum does not fit an `Instant` (unreachable with the capped
/// lifetime; "expired now" is the answer that errs on the safe side).
fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::clock::{Clock, ManualClock};

    fn resp(body: &str) -> TokenResponse {
        TokenResponse::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn expiry_and_refresh_follow_the_monotonic_clock() {
        let clock = ManualClock::new(1_700_000_000);
        let h = Held::from_response(
            resp(r#"{"token":"a","refresh_token":"r","expires_in":300}"#),
            None,
            clock.now(),
            clock.wall(),
            1,
        );
        assert_eq!(h.refresh_due() - clock.now(), Duration::from_secs(225));
        assert!(h.valid_for(clock.now(), Duration::from_secs(299)));
        assert!(!h.valid_for(clock.now(), Duration::from_secs(300)));
        clock.advance(Duration::from_secs(240));
        assert_eq!(h.remaining(clock.now()), Duration::from_secs(60));
        assert!(h.valid_for(clock.now(), Duration::from_secs(30)));
        assert!(!h.valid_for(clock.now(), Duration::from_secs(60)));
        let info = h.info(clock.now(), clock.wall(), "https://f");
        assert_eq!((info.expires_in, info.lifetime), (60, 300));
        assert_eq!(info.expires_at, "2023-11-14T22:18:20Z");
        clock.advance(Duration::from_secs(60));
        assert!(h.is_expired(clock.now()));
        assert!(!h.valid_for(clock.now(), Duration::ZERO));
    }

    #[test]
    fn the_cached_answer_is_the_info_of_its_second() {
        let clock = ManualClock::new(1_700_000_000);
        let h = Held::from_response(
            resp(r#"{"token":"a.b-c_d","expires_in":300,"user_id":"u"}"#),
            None,
            clock.now(),
            clock.wall(),
            7,
        );
        let json = |h: &Held| h.info_json(clock.now(), clock.wall(), "https://f");
        let info = |h: &Held| h.info(clock.now(), clock.wall(), "https://f");
        assert_eq!(*json(&h), serde_json::to_string(&info(&h)).unwrap());
        clock.advance(Duration::from_millis(400));
        assert_eq!(*json(&h), serde_json::to_string(&info(&h)).unwrap());
        clock.advance(Duration::from_secs(2));
        let later: TokenInfo = serde_json::from_str(&json(&h)).unwrap();
        assert_eq!((later.expires_in, later.serial), (297, 7));
        assert_eq!(later, info(&h));
    }

    #[test]
    fn a_wall_clock_far_off_changes_nothing() {
        // The wall clock says 1970; the token (whatever its JWT `exp`) is still judged by
        // the monotonic clock from the moment it arrived.
        let clock = ManualClock::new(0);
        let h = Held::from_response(
            resp(r#"{"token":"a","expires_in":60}"#),
            None,
            clock.now(),
            clock.wall(),
            1,
        );
        assert!(h.valid_for(clock.now(), Duration::from_secs(59)));
        clock.advance(Duration::from_secs(61));
        assert!(h.is_expired(clock.now()));
    }

    /// Found by the security review: `expires_in` of u64::MAX (a hostile server, or a
    /// forged window answer that bypasses `parse`) made `received + lifetime` panic in the
    /// token, status and scheduler tasks.
    #[test]
    fn any_lifetime_is_held_without_panicking() {
        let clock = ManualClock::new(i64::MAX - 5);
        for expires_in in [1, MAX_EXPIRES_IN, MAX_EXPIRES_IN + 1, u64::MAX] {
            let t = TokenResponse {
                expires_in,
                ..resp(r#"{"token":"a","expires_in":1}"#)
            };
            let h = Held::from_response(t, None, clock.now(), clock.wall(), 1);
            assert!(h.lifetime <= Duration::from_secs(MAX_EXPIRES_IN));
            assert!(h.refresh_due() <= h.expires_at());
            let info = h.info(clock.now(), clock.wall(), "https://f");
            assert_eq!(info.expires_in, expires_in.min(MAX_EXPIRES_IN));
            assert!(h.valid_for(clock.now(), Duration::ZERO));
        }
        assert_eq!(wall_expiry(i64::MAX - 1, u64::MAX), i64::MAX);
        assert_eq!(wall_expiry(-5, 10), 5);
    }

    #[test]
    fn refresh_token_is_kept_unless_rotated() {
        let clock = ManualClock::new(0);
        let first = Held::from_response(
            resp(r#"{"token":"a","refresh_token":"r1","expires_in":60}"#),
            None,
            clock.now(),
            0,
            1,
        );
        let kept = Held::from_response(
            resp(r#"{"token":"b","expires_in":60}"#),
            Some(&first),
            clock.now(),
            0,
            2,
        );
        assert_eq!(kept.refresh.as_ref().unwrap().expose(), "r1");
        let rotated = Held::from_response(
            resp(r#"{"token":"c","refresh_token":"r2","expires_in":60}"#),
            Some(&kept),
            clock.now(),
            0,
            3,
        );
        assert_eq!(rotated.refresh.as_ref().unwrap().expose(), "r2");
        assert!(!format!("{rotated:?}").contains("r2"));
    }
}
