//! Property tests (proptest) of the round trips that carry state: the pipe protocol's
//! encode/decode, and the saved cookie store's save/load.

use finesse_sso::ipc::protocol::{self, Envelope, Request, ResultBody, TokenInfo};
use finesse_sso::redact::Secret;
use finesse_sso::websession;
use finesse_sso::window::SavedCookie;
use proptest::prelude::*;
use serde_json::Value;

fn id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        any::<i64>().prop_map(|n| Some(Value::from(n))),
        any::<u64>().prop_map(|n| Some(Value::from(n))),
        ".*".prop_map(|s| Some(Value::from(s))),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u32>(), proptest::option::of(".*"))
            .prop_map(|(v, client)| Request::Hello { v, client }),
        (
            any::<u64>(),
            proptest::option::of(1u64..),
            proptest::option::of("[A-Za-z0-9_-]{1,40}")
        )
            .prop_map(|(min_valid, parent, activation_token)| Request::Token {
                min_valid,
                parent_window: parent.map(finesse_sso::window::WindowHandle),
                activation_token,
            }),
        Just(Request::Status {}),
        Just(Request::Refresh {}),
        Just(Request::Logout {}),
        Just(Request::Subscribe(Default::default())),
        Just(Request::Stop {}),
    ]
}

fn token_info() -> impl Strategy<Value = TokenInfo> {
    (
        "[!-~]{1,64}",
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(".*"),
        ".*",
        any::<u64>(),
    )
        .prop_map(
            |(token, expires_in, lifetime, user_id, server, serial)| TokenInfo {
                token: Secret::new(token),
                expires_in,
                expires_at: "2030-01-01T00:00:00Z".into(),
                lifetime,
                user_id,
                realm: None,
                user_principal: None,
                server,
                serial,
            },
        )
}

fn cookie(live_from: i64) -> impl Strategy<Value = SavedCookie> {
    (
        ".*",
        ".*",
        ".*",
        ".*",
        any::<bool>(),
        any::<bool>(),
        proptest::option::of((live_from + 1)..i64::MAX),
        proptest::option::of(prop_oneof![
            Just("None".to_string()),
            Just("Lax".into()),
            ".*"
        ]),
    )
        .prop_map(
            |(name, value, domain, path, secure, http_only, expires, same_site)| SavedCookie {
                name,
                value: Secret::new(value),
                domain,
                path,
                secure,
                http_only,
                expires,
                same_site,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every request a client can build is one line that decodes to the same request and id.
    #[test]
    fn protocol_requests_round_trip(id in id(), request in request()) {
        let env = Envelope { id, request };
        let line = protocol::line(&env);
        prop_assert!(line.ends_with('\n'));
        prop_assert!(!line[..line.len() - 1].contains('\n'), "one line: {line}");
        let back = protocol::parse_request(line.as_bytes()).map_err(|(_, e)| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, env);
    }

    /// Token replies decode to the same token info (what clients rely on).
    #[test]
    fn protocol_token_replies_round_trip(id in id(), info in token_info()) {
        let line = protocol::ok_line(id.clone(), ResultBody::Token(info.clone()));
        prop_assert!(!line[..line.len() - 1].contains('\n'));
        let reply: protocol::Reply<TokenInfo> = serde_json::from_str(&line).unwrap();
        prop_assert_eq!(reply.id, id);
        prop_assert_eq!(reply.outcome, protocol::Outcome::Result(info));
    }

    /// Whatever the cookies hold, the store loads back exactly the live ones, in order.
    #[test]
    fn cookie_store_save_load_round_trips(
        live in proptest::collection::vec(cookie(4_000_000_000), 0..8),
        expired_at in proptest::collection::vec(0i64..1_000_000_000, 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut all = live.clone();
        for (i, at) in expired_at.iter().enumerate() {
            let mut c = live.first().cloned().unwrap_or(SavedCookie {
                name: "old".into(),
                value: Secret::new("v".into()),
                domain: "d".into(),
                path: "/".into(),
                secure: true,
                http_only: true,
                expires: None,
                same_site: None,
            });
            c.expires = Some(*at);
            all.insert(i.min(all.len()), c);
        }
        websession::save(dir.path(), &all).unwrap();
        prop_assert_eq!(websession::load(dir.path()), live);
        // Nothing set aside, no temp file left.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        prop_assert_eq!(names, vec!["web-session.json".to_string()]);
    }
}
