//! JWT inspection: header, claims, Cisco's nested `sub` JSON, expiry; optional RS256 verification.

use serde::Serialize;
use serde_json::{Map, Value};

/// What `decode` learns about a token. Never holds the token itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decoded {
    /// `false` when the token is not a readable JWT (Cisco may encrypt identity data).
    pub jwt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Value>,
    /// Payload claims; a `sub` that is itself JSON (Cisco) is replaced by the parsed object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    /// `verified`, `unverified` or `invalid`.
    pub signature: &'static str,
    /// Seconds since the epoch: `exp`, else Cisco's `sub.expiry` (milliseconds) / 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<i64>,
    /// Why the token could not be read, for opaque tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("public key: {0}")]
    Key(String),
    #[error("signature does not verify with the given public key ({0})")]
    Signature(String),
}

/// Decodes without verifying. Any input is accepted: garbage yields `jwt: false` with a reason.
pub fn decode(token: &str) -> Decoded {
    let token = token.trim();
    let header = match jsonwebtoken::decode_header(token) {
        Ok(h) => h,
        Err(e) => return opaque(format!("not a JWS compact token: {}", reason(&e))),
    };
    let payload = match jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token) {
        Ok(d) => d.claims,
        Err(e) => return opaque(format!("payload is not a JSON object: {}", reason(&e))),
    };
    let header = serde_json::to_value(&header).ok().map(drop_nulls);
    let claims = expand_cisco_sub(payload);
    Decoded {
        jwt: true,
        expires_at: expiry(&claims),
        issued_at: claims.get("iat").and_then(Value::as_i64),
        header,
        claims: Some(Value::Object(claims)),
        signature: "unverified",
        reason: None,
    }
}

/// Decodes and verifies the signature with a PEM public key (RSA, or EC for ES256/384).
/// Expiry is reported, not enforced: an expired token still verifies, and `expires_at` says when.
pub fn decode_verified(token: &str, public_key_pem: &[u8]) -> Result<Decoded, VerifyError> {
    let mut d = decode(token);
    if !d.jwt {
        return Err(VerifyError::Signature(d.reason.unwrap_or_default()));
    }
    let header = jsonwebtoken::decode_header(token.trim())
        .map_err(|e| VerifyError::Signature(reason(&e)))?;
    use jsonwebtoken::Algorithm::*;
    let key = match header.alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem)
        }
        ES256 | ES384 => jsonwebtoken::DecodingKey::from_ec_pem(public_key_pem),
        EdDSA => jsonwebtoken::DecodingKey::from_ed_pem(public_key_pem),
        other => {
            return Err(VerifyError::Signature(format!(
                "algorithm {other:?} needs a shared secret"
            )));
        }
    }
    .map_err(|e| VerifyError::Key(reason(&e)))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(token.trim(), &key, &v)
        .map_err(|e| VerifyError::Signature(reason(&e)))?;
    d.signature = "verified";
    Ok(d)
}

fn opaque(reason: String) -> Decoded {
    Decoded {
        jwt: false,
        header: None,
        claims: None,
        signature: "unverified",
        expires_at: None,
        issued_at: None,
        reason: Some(reason),
    }
}

// jsonwebtoken's errors can quote input; keep only the kind.
fn reason(e: &jsonwebtoken::errors::Error) -> String {
    format!("{:?}", e.kind()).chars().take(120).collect()
}

fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        v => v,
    }
}

/// Cisco puts a JSON document in `sub` (reference §2.5); show it as an object.
fn expand_cisco_sub(mut claims: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::String(s)) = claims.get("sub")
        && s.trim_start().starts_with('{')
        && let Ok(obj @ Value::Object(_)) = serde_json::from_str::<Value>(s)
    {
        claims.insert("sub".into(), obj);
    }
    claims
}

fn expiry(claims: &Map<String, Value>) -> Option<i64> {
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        return Some(exp);
    }
    claims
        .get("sub")
        .and_then(|s| s.get("expiry"))
        .and_then(Value::as_i64)
        .map(|ms| ms / 1000)
}

/// "4m 10s left" / "expired 2h 3m ago" for humans.
/// `exp` is the token's own claim: any i64, so the difference is taken without overflow.
pub fn describe_expiry(expires_at: i64, now: i64) -> String {
    let d = i128::from(expires_at) - i128::from(now);
    let span = |s: u128| {
        let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
        match (h, m) {
            (0, 0) => format!("{s}s"),
            (0, _) => format!("{m}m {s}s"),
            _ => format!("{h}h {m}m"),
        }
    };
    if d >= 0 {
        format!("{} left", span(d.unsigned_abs()))
    } else {
        format!("expired {} ago", span(d.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    /// Cisco's documented access-token shape (reference §2.5), unsigned.
    fn cisco_like() -> String {
        let sub = r#"{"scope":["ccc_onprem_apps"],"rt":"e14d","user_id":"sjefferson","realm":"finesse.com","upn":"sjefferson@finesse.com","ids_id":"ids.autobot.cvp","client_id":"bedb","token":"d1b2","expiry":1671713561747,"usage":"access","ver":"1.0"}"#;
        let payload =
            serde_json::json!({"iss":"ids.autobot.cvp","sub":sub,"iat":1671713261,"jti":"d1b2"});
        format!(
            "{}.{}.c2ln",
            b64(r#"{"cty":"JWT","alg":"RS256"}"#),
            b64(&payload.to_string())
        )
    }

    #[test]
    fn decodes_cisco_nested_sub_and_millisecond_expiry() {
        let d = decode(&cisco_like());
        assert!(d.jwt);
        assert_eq!(d.signature, "unverified");
        let claims = d.claims.unwrap();
        assert_eq!(claims["sub"]["user_id"], "sjefferson");
        assert_eq!(claims["sub"]["usage"], "access");
        assert_eq!(
            d.expires_at,
            Some(1671713561),
            "falls back to sub.expiry in ms"
        );
        assert_eq!(d.header.unwrap()["cty"], "JWT");
    }

    #[test]
    fn garbage_is_opaque_not_a_crash() {
        for t in [
            "",
            "abc",
            "a.b",
            "a.b.c",
            "....",
            "eyJhbGciOiJub25lIn0.bm90IGpzb24.",
            "\u{0}\u{1}.x.y",
        ] {
            let d = decode(t);
            assert!(!d.jwt, "{t:?}");
            assert!(d.reason.is_some());
        }
    }

    #[test]
    fn verification_rejects_wrong_key_and_garbage_key() {
        let err = decode_verified(&cisco_like(), b"not a pem").unwrap_err();
        assert!(matches!(err, VerifyError::Key(_)));
    }

    #[test]
    fn expiry_text() {
        assert_eq!(describe_expiry(1300, 1000), "5m 0s left");
        assert_eq!(describe_expiry(1000, 1000 + 7380), "expired 2h 3m ago");
        assert_eq!(describe_expiry(1009, 1000), "9s left");
        // A token's `exp` is anything the issuer wrote: no overflow at the extremes.
        assert!(describe_expiry(i64::MIN, i64::MAX).starts_with("expired "));
        assert!(describe_expiry(i64::MAX, i64::MIN).ends_with(" left"));
    }
}
