//! Issue 12, finding 2: no lifetime a server states can panic what uses it. Every `expires_in`
//! a token answer can carry parses to at most the documented cap, and what `login` and
//! `token` print from it (expiry time, JSON, shell exports) is computed without overflow.

use finesse_sso::cli::OutputFormat;
use finesse_sso::commands::output;
use finesse_sso::finesse::token_response::{MAX_EXPIRES_IN, TokenResponse};
use proptest::prelude::*;

fn lifetime() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..100_000,
        any::<u64>(),
        (MAX_EXPIRES_IN - 3)..=(MAX_EXPIRES_IN + 3),
        (u64::MAX - 3)..=u64::MAX,
        Just(i64::MAX as u64 + 1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Parsed, capped, then printed at any wall-clock moment: never a panic, and a lifetime
    /// within the cap prints an RFC 3339 expiry for any realistic clock.
    #[test]
    fn any_expires_in_is_capped_and_printable(
        sent in lifetime(),
        quoted in any::<bool>(),
        now in prop_oneof![0i64..4_102_444_800, any::<i64>()],
    ) {
        let body = match quoted {
            true => format!(r#"{{"token":"a.b.c","expires_in":"{sent}"}}"#),
            false => format!(r#"{{"token":"a.b.c","expires_in":{sent}}}"#),
        };
        match TokenResponse::parse(body.as_bytes()) {
            Ok(t) => {
                prop_assert!(sent > 0);
                prop_assert_eq!(t.expires_in, sent.min(MAX_EXPIRES_IN));
                let at = output::expires_at(now, t.expires_in);
                prop_assert!(at >= now);
                let server = url::Url::parse("https://f.example:8445/").unwrap();
                for f in [OutputFormat::Json, OutputFormat::Env, OutputFormat::Token] {
                    let mut out = Vec::new();
                    output::write(&mut out, f, &t, &server, at).unwrap();
                    prop_assert!(!out.is_empty());
                }
                if (0..4_102_444_800).contains(&now) {
                    prop_assert!(!output::rfc3339(at).is_empty(), "{at}");
                }
            }
            Err(e) => prop_assert_eq!(sent, 0, "refused {}: {}", sent, e),
        }
    }
}
