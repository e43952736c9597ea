//! Finesse's token JSON (`/desktop/sso/token`): strict parsing into typed, redacted fields.

use serde::{Deserialize, Serialize};

use crate::redact::Secret;

/// Largest token response we accept. Cisco's is well under 4 KiB; this bounds hostile servers.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// Longest lifetime (`expires_in`, seconds) taken as given: 30 days. Cisco's access tokens live
/// minutes to hours and its refresh tokens days, so only a broken or hostile server says more.
/// A larger value is clamped to this, not refused: the sign-in still works and the token is
/// only refreshed sooner than needed (never later than the server said), while no clock
/// arithmetic downstream can overflow.
pub const MAX_EXPIRES_IN: u64 = 30 * 24 * 60 * 60;

/// The documented success body of Fetch Access Token and Refresh Existing Access Token.
/// `refresh_token` is absent on refresh (Cisco's example) unless IdS rotates it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub token: Secret<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret<String>>,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal: Option<String>,
}

/// Why a body is not a usable token response. The messages never quote the body.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenResponseError {
    #[error("token response is {0} bytes, over the {MAX_TOKEN_RESPONSE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("token response is not JSON ({0})")]
    NotJson(String),
    #[error("token response lacks a usable field: {0}")]
    Field(String),
}

impl TokenResponse {
    /// Parses Finesse's JSON. Unknown fields are ignored (Cisco may add some); known fields must
    /// have the documented types; `token` must be a non-empty string without whitespace.
    pub fn parse(body: &[u8]) -> Result<Self, TokenResponseError> {
        if body.len() > MAX_TOKEN_RESPONSE_BYTES {
            return Err(TokenResponseError::TooLarge(body.len()));
        }
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            TokenResponseError::NotJson(format!("line {} column {}", e.line(), e.column()))
        })?;
        let obj = value
            .as_object()
            .ok_or_else(|| TokenResponseError::NotJson("top level is not an object".into()))?;
        let string = |name: &str| -> Result<Option<String>, TokenResponseError> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(TokenResponseError::Field(format!(
                    "`{name}` is not a string"
                ))),
            }
        };
        let token = string("token")?
            .ok_or_else(|| TokenResponseError::Field("`token` is missing".into()))?;
        check_token_text("token", &token)?;
        if is_unsigned_jwt(&token) {
            return Err(TokenResponseError::Field(
                "`token` is an unsigned JWT (`alg: none`); Finesse signs its tokens".into(),
            ));
        }
        let refresh_token = string("refresh_token")?;
        if let Some(rt) = &refresh_token {
            check_token_text("refresh_token", rt)?;
        }
        let expires_in = match obj.get("expires_in") {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                    TokenResponseError::Field("`expires_in` is not a positive integer".into())
                })?
            }
            // Some proxies stringify numbers; accept a decimal string, nothing looser.
            Some(serde_json::Value::String(s)) => {
                s.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    TokenResponseError::Field("`expires_in` is not a positive integer".into())
                })?
            }
            None => return Err(TokenResponseError::Field("`expires_in` is missing".into())),
            Some(_) => {
                return Err(TokenResponseError::Field(
                    "`expires_in` is not a positive integer".into(),
                ));
            }
        };
        if expires_in > MAX_EXPIRES_IN {
            tracing::warn!(
                "the token's `expires_in` ({expires_in} s) is beyond the {MAX_EXPIRES_IN}-s cap; taken as {MAX_EXPIRES_IN} s"
            );
        }
        Ok(TokenResponse {
            token: Secret::new(token),
            refresh_token: refresh_token.map(Secret::new),
            expires_in: expires_in.min(MAX_EXPIRES_IN),
            user_id: string("user_id")?,
            realm: string("realm")?,
            user_principal: string("user_principal")?,
        })
    }
}

/// A compact JWS whose header names `alg: none` (any case): a token nobody signed. Opaque
/// (encrypted or non-JWT) tokens are not affected.
fn is_unsigned_jwt(t: &str) -> bool {
    use base64::Engine as _;
    let Some((header, _)) = t.split_once('.') else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|h| {
            h.get("alg")?
                .as_str()
                .map(|a| a.eq_ignore_ascii_case("none"))
        })
        .unwrap_or(false)
}

fn check_token_text(name: &str, t: &str) -> Result<(), TokenResponseError> {
    if t.is_empty() || t.len() > 16 * 1024 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenResponseError::Field(format!(
            "`{name}` is empty, too long or has characters a bearer token cannot have"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CISCO: &str = r#"{"token":"eyJjdHkiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpc3Mi.sig",
 "refresh_token":"eyJjdHkiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpc3Mi.sig2",
 "expires_in":300, "user_id":"sjefferson", "realm":"finesse.com",
 "user_principal":"sjefferson@finesse.com"}"#;

    #[test]
    fn parses_cisco_documented_body() {
        let t = TokenResponse::parse(CISCO.as_bytes()).unwrap();
        assert_eq!(t.expires_in, 300);
        assert_eq!(t.user_id.as_deref(), Some("sjefferson"));
        assert!(t.refresh_token.is_some());
        assert!(!format!("{t:?}").contains("eyJ"));
    }

    #[test]
    fn refresh_body_without_refresh_token_parses() {
        let t =
            TokenResponse::parse(br#"{"token":"a.b.c","expires_in":300,"user_id":"u"}"#).unwrap();
        assert!(t.refresh_token.is_none());
    }

    #[test]
    fn rejects_wrong_shapes() {
        use TokenResponseError::*;
        type Case<'a> = (&'a [u8], fn(&TokenResponseError) -> bool);
        let cases: &[Case<'_>] = &[
            (b"<html>", |e| matches!(e, NotJson(_))),
            (b"[1]", |e| matches!(e, NotJson(_))),
            (br#"{"expires_in":300}"#, |e| matches!(e, Field(_))),
            (br#"{"token":5,"expires_in":300}"#, |e| {
                matches!(e, Field(_))
            }),
            (br#"{"token":"","expires_in":300}"#, |e| {
                matches!(e, Field(_))
            }),
            (br#"{"token":"a b","expires_in":300}"#, |e| {
                matches!(e, Field(_))
            }),
            (br#"{"token":"t","expires_in":-1}"#, |e| {
                matches!(e, Field(_))
            }),
            (br#"{"token":"t","expires_in":0}"#, |e| {
                matches!(e, Field(_))
            }),
            (br#"{"token":"t"}"#, |e| matches!(e, Field(_))),
            // {"alg":"none"}.{"sub":"x"}. : unsigned.
            (
                br#"{"token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.","expires_in":300}"#,
                |e| matches!(e, Field(m) if m.contains("unsigned")),
            ),
            (br#"{"token":"t","expires_in":300,"user_id":7}"#, |e| {
                matches!(e, Field(_))
            }),
        ];
        for (body, want) in cases {
            let e = TokenResponse::parse(body).unwrap_err();
            assert!(want(&e), "{} -> {e:?}", String::from_utf8_lossy(body));
        }
        let big = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
        assert!(matches!(TokenResponse::parse(&big), Err(TooLarge(_))));
    }

    /// A lifetime no clock can add (u64::MAX seconds) panicked the agent's token, status and
    /// scheduler tasks; it is now clamped at parse time, number or decimal string alike.
    #[test]
    fn lifetimes_beyond_the_cap_are_clamped() {
        for n in [
            MAX_EXPIRES_IN + 1,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
            i64::MAX as u64 + 1,
        ] {
            for body in [
                format!(r#"{{"token":"t","expires_in":{n}}}"#),
                format!(r#"{{"token":"t","expires_in":"{n}"}}"#),
            ] {
                let t = TokenResponse::parse(body.as_bytes()).unwrap();
                assert_eq!(t.expires_in, MAX_EXPIRES_IN, "{body}");
            }
        }
        let t = TokenResponse::parse(br#"{"token":"t","expires_in":2592000}"#).unwrap();
        assert_eq!(t.expires_in, MAX_EXPIRES_IN);
        let t = TokenResponse::parse(br#"{"token":"t","expires_in":7200}"#).unwrap();
        assert_eq!(t.expires_in, 7200);
        // Beyond u64 is not an integer we can hold: refused, as before.
        assert!(TokenResponse::parse(br#"{"token":"t","expires_in":1e30}"#).is_err());
    }

    #[test]
    fn error_messages_do_not_quote_the_body() {
        let e = TokenResponse::parse(br#"{"token":"secret value","expires_in":3}"#).unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }
}
