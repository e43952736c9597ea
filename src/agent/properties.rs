//! Property tests of the keeper's clock maths: whatever the lifetimes, the network latency and
//! the moments clients ask, a token the agent reports valid is valid at the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::clock::{Clock, ManualClock};
use super::held::Held;
use super::keeper::{Keeper, KeeperOptions, Refresher};
use crate::error::Result;
use crate::finesse::client::Refreshed;
use crate::finesse::token_response::{MAX_EXPIRES_IN, TokenResponse};
use crate::redact::Secret;
use crate::signin::{BoxFuture, SignInBrowser, SignInOptions, Target};

/// The server's side of the model: each token's real expiry, and the latency of the next call.
/// A call takes `latency`; the server issues the token halfway through it.
struct Server {
    clock: Arc<ManualClock>,
    lifetime: u64,
    latencies: Mutex<Vec<u64>>,
    expiry: Mutex<HashMap<String, Instant>>,
}

impl Server {
    fn answer(&self, slow: bool) -> TokenResponse {
        let latency = match slow {
            true => Duration::from_millis(self.latencies.lock().unwrap().pop().unwrap_or(0)),
            false => Duration::ZERO,
        };
        self.clock.advance(latency / 2);
        let mut exp = self.expiry.lock().unwrap();
        let token = format!("t{}", exp.len() + 1);
        // The server's own expiry (far beyond any `Instant` for a hostile lifetime: then
        // "never", modelled as the latest moment this test can reach).
        let real = self
            .clock
            .now()
            .checked_add(Duration::from_secs(self.lifetime))
            .unwrap_or_else(|| self.clock.now() + Duration::from_secs(1 << 40));
        exp.insert(token.clone(), real);
        drop(exp);
        self.clock.advance(latency - latency / 2);
        TokenResponse {
            token: Secret::new(token),
            refresh_token: Some(Secret::new("r".into())),
            expires_in: self.lifetime,
            user_id: None,
            realm: None,
            user_principal: None,
        }
    }
}

struct Auth(Arc<Server>);
impl SignInBrowser for Auth {
    fn authenticate<'a>(
        &'a self,
        _: &'a Target,
        _: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>> {
        // A sign-in's lifetime counts from the outcome's arrival (the window cannot say when
        // the last hop left); its final hop is modelled as instant.
        Box::pin(async move { Ok(self.0.answer(false)) })
    }
}

struct Refresh(Arc<Server>);
impl Refresher for Refresh {
    fn refresh<'a>(
        &'a self,
        _: &'a url::Url,
        _: &'a str,
        _: &'a Secret<String>,
        _: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<Refreshed>> {
        Box::pin(async move { Ok(Refreshed::Token(self.0.answer(true))) })
    }
}

/// A keeper whose sign-ins and refreshes are answered by a modelled `Server` on a manual clock.
fn model(
    dir: &std::path::Path,
    lifetime: u64,
    latencies: Vec<u64>,
) -> (Arc<ManualClock>, Arc<Server>, Arc<Keeper>) {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let server = Arc::new(Server {
        clock: clock.clone(),
        lifetime,
        latencies: Mutex::new(latencies),
        expiry: Mutex::default(),
    });
    let keeper = Keeper::new(
        Target {
            server: url::Url::parse("https://f.example:8445/").unwrap(),
            other_sides: Vec::new(),
            user: "agent1".into(),
            ca_pem: None,
            proxy: Default::default(),
            profile: "p".into(),
            kerberos_hosts: Vec::new(),
            client_cert: None,
        },
        dir.to_path_buf(),
        Arc::new(Refresh(server.clone())),
        Arc::new(Auth(server.clone())),
        clock.clone(),
        KeeperOptions {
            sign_in: SignInOptions::default(),
            prompts_per_hour: 3,
            sign_in_at_start: false,
        },
    );
    (clock, server, keeper)
}

#[derive(Debug, Clone)]
enum Step {
    /// Time passes (milliseconds).
    Wait(u64),
    /// A client asks for a token valid at least this many seconds.
    Token(u64),
    /// The refresh timer fires.
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..200_000).prop_map(Step::Wait),
        (0u64..400).prop_map(Step::Token),
        Just(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Refresh calls that take up to 20 s (a stalled server) never make the agent report a
    /// token valid after the server's own expiry.
    #[test]
    fn a_token_reported_valid_is_never_past_its_expiry(
        lifetime in 1u64..900,
        latencies in proptest::collection::vec(0u64..20_000, 0..40),
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (clock, server, keeper) = model(dir.path(), lifetime, latencies);
            for s in steps {
                match s {
                    Step::Wait(ms) => clock.advance(Duration::from_millis(ms)),
                    Step::Tick => {
                        keeper.tick().await;
                    }
                    Step::Token(min) => {
                        let Ok(info) = keeper.token(Duration::from_secs(min)).await else {
                            continue;
                        };
                        let now = clock.now();
                        let real = server.expiry.lock().unwrap()[info.token.expose()];
                        prop_assert!(real > now, "served an expired token");
                        let left = real - now;
                        prop_assert!(
                            left > Duration::from_secs(min),
                            "asked for {min} s, the token has {left:?} left"
                        );
                        prop_assert!(
                            Duration::from_secs(info.expires_in) <= left,
                            "reported {} s, the token has {left:?} left", info.expires_in
                        );
                        prop_assert!(info.expires_in <= info.lifetime);
                    }
                }
            }
            Ok(())
        })?;
    }

    /// The pure maths of one held token: valid implies not expired, remaining never exceeds the
    /// lifetime, and the refresh point lies inside the lifetime. Any `expires_in` a server can
    /// send (every u64, as a number or a decimal string) parses to at most the cap.
    #[test]
    fn held_token_maths(
        sent in prop_oneof![1u64..1_000_000, any::<u64>().prop_map(|n| n.max(1)), (MAX_EXPIRES_IN - 5)..=u64::MAX],
        quoted in any::<bool>(),
        at in 0u64..2_000_000,
        min in 0u64..1_000_000,
        wall in any::<i64>(),
    ) {
        let clock = ManualClock::new(wall);
        let body = match quoted {
            true => format!(r#"{{"token":"a","expires_in":"{sent}"}}"#),
            false => format!(r#"{{"token":"a","expires_in":{sent}}}"#),
        };
        let resp = TokenResponse::parse(body.as_bytes()).unwrap();
        let lifetime = resp.expires_in;
        prop_assert_eq!(lifetime, sent.min(MAX_EXPIRES_IN));
        let h = Held::from_response(resp, None, clock.now(), clock.wall(), 1);
        clock.advance(Duration::from_secs(at));
        let now = clock.now();
        let min = Duration::from_secs(min);
        if h.valid_for(now, min) {
            prop_assert!(!h.is_expired(now));
            prop_assert!(h.expires_at() > now + min);
        }
        prop_assert_eq!(h.is_expired(now), at >= lifetime);
        prop_assert!(h.remaining(now) <= h.lifetime);
        prop_assert!(h.refresh_due() <= h.expires_at() && h.refresh_due() >= h.received);
        let info = h.info(now, clock.wall(), "https://f");
        prop_assert!(info.expires_in <= lifetime);
        prop_assert_eq!(info.expires_in, lifetime.saturating_sub(at));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever lifetime a sign-in or refresh answer states (here straight from the
    /// authenticator, bypassing `parse`, as a forged window answer would), the keeper's token,
    /// status and scheduler paths keep answering: none of them panics (the agent's tasks died
    /// on `u64::MAX` before), and nothing reported exceeds the cap.
    #[test]
    fn any_lifetime_keeps_the_keeper_answering(
        lifetime in prop_oneof![Just(u64::MAX), any::<u64>(), (MAX_EXPIRES_IN - 5)..=u64::MAX, 1u64..900],
        steps in proptest::collection::vec(step(), 1..20),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (clock, _server, keeper) = model(dir.path(), lifetime.max(1), vec![]);
            let first = keeper.token(Duration::ZERO).await;
            prop_assert!(first.is_ok(), "{first:?}");
            for s in steps {
                match s {
                    Step::Wait(ms) => clock.advance(Duration::from_millis(ms)),
                    Step::Tick => {
                        keeper.tick().await;
                    }
                    Step::Token(min) => {
                        if let Ok(info) = keeper.token(Duration::from_secs(min)).await {
                            prop_assert!(info.lifetime <= MAX_EXPIRES_IN);
                            prop_assert!(info.expires_in <= info.lifetime);
                            prop_assert!(!info.expires_at.is_empty(), "expiry not representable");
                        }
                    }
                }
                let st = keeper.status("p");
                prop_assert!(st.expires_in.is_none_or(|e| e <= MAX_EXPIRES_IN));
                let _ = keeper.next_wake();
            }
            Ok(())
        })?;
    }
}

/// Found by the property above: a refresh answer that took 20 s to arrive was credited with
/// 20 s the token did not have (its lifetime was counted from the arrival, not the request).
#[tokio::test]
async fn a_slow_refresh_does_not_stretch_the_token_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, server, keeper) = model(dir.path(), 300, vec![20_000]);
    assert_eq!(keeper.token(Duration::ZERO).await.unwrap().serial, 1);
    clock.advance(Duration::from_secs(250));
    let t = keeper.token(Duration::from_secs(60)).await.unwrap();
    assert_eq!(t.serial, 2, "refreshed");
    let real = server.expiry.lock().unwrap()[t.token.expose()] - clock.now();
    assert_eq!(
        real,
        Duration::from_secs(290),
        "issued 10 s before it arrived"
    );
    assert!(t.expires_in <= 290, "reported {} s", t.expires_in);
}
