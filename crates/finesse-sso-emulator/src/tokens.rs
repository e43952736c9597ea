//! IdS token issue and verification: RS256 JWTs shaped like Cisco's (reference §2.5).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};

use crate::state::random_id;

/// Cisco's header, byte for byte (`cty` first, no `typ`, no `kid`), so its base64 matches theirs.
const HEADER: &str = r#"{"cty":"JWT","alg":"RS256"}"#;

/// The JWT payload. `sub` is itself a JSON string (Cisco nests it).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: u64,
    iat: u64,
    jti: String,
}

/// The nested `sub` of an access or refresh token. Refresh tokens lack the user fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub ids_id: String,
    pub client_id: String,
    pub token: String,
    pub expiry: u64,
    pub usage: String,
    pub ver: String,
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub jti: String,
    pub sub: Subject,
}

/// Why a token was refused. Messages never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("{0} token is malformed")]
    Malformed(&'static str),
    #[error("{0} token signature is invalid")]
    Signature(&'static str),
    #[error("{0} token has expired")]
    Expired(&'static str),
    #[error("{0} token was not issued by this IdS for Finesse")]
    Foreign(&'static str),
    #[error("{0} token is a {1} token")]
    Usage(&'static str, String),
}

/// One freshly issued token.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub jwt: String,
    pub jti: String,
}

/// The per-run signing key and the issuing rules.
pub(crate) struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_pem: String,
    issuer: String,
    client_id: String,
    realm: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Generates a 2048-bit RSA key (slow: call it off the async threads).
pub(crate) fn generate_key() -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| format!("RSA keygen: {e}"))
}

impl TokenIssuer {
    pub fn new(
        key: &RsaPrivateKey,
        issuer: &str,
        client_id: &str,
        realm: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Self, String> {
        let private_pem = key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| format!("RSA private key PEM: {e}"))?;
        let public_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("RSA public key PEM: {e}"))?;
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|e| format!("signing key: {e}"))?;
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|e| format!("verifying key: {e}"))?;
        Ok(TokenIssuer {
            encoding,
            decoding,
            public_pem,
            issuer: issuer.into(),
            client_id: client_id.into(),
            realm: realm.into(),
            access_ttl,
            refresh_ttl,
        })
    }

    /// The SPKI PEM served at `/ids/v1/keys/token/public`.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn sign(&self, sub: &Subject) -> Result<String, String> {
        let iat_ms = now_ms();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: serde_json::to_string(sub).map_err(|e| e.to_string())?,
            // Round the seconds-`exp` down so it never outlives the millisecond `expiry`.
            exp: sub.expiry / 1000,
            iat: iat_ms / 1000,
            jti: sub.token.clone(),
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
        let input = format!("{}.{}", b64(HEADER.as_bytes()), b64(&payload));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256)
            .map_err(|e| format!("signing: {e}"))?;
        Ok(format!("{input}.{sig}"))
    }

    fn subject(&self, usage: &str, ttl: Duration) -> Subject {
        let jti = random_id(16);
        Subject {
            scope: None,
            rt: None,
            user_id: None,
            realm: None,
            upn: None,
            ids_id: self.issuer.clone(),
            client_id: self.client_id.clone(),
            token: jti,
            expiry: now_ms().saturating_add(ttl.as_millis() as u64),
            usage: usage.into(),
            ver: "1.0".into(),
        }
    }

    pub fn issue_refresh(&self) -> Result<Issued, String> {
        let sub = self.subject("refresh", self.refresh_ttl);
        let jwt = self.sign(&sub)?;
        Ok(Issued {
            jwt,
            jti: sub.token,
        })
    }

    /// An access token for `user` whose `sub.rt` names the refresh token `refresh_jti`.
    pub fn issue_access(&self, user: &str, refresh_jti: &str) -> Result<Issued, String> {
        let mut sub = self.subject("access", self.access_ttl);
        sub.scope = Some(vec!["ccc_onprem_apps".into()]);
        sub.rt = Some(refresh_jti.into());
        sub.user_id = Some(user.into());
        sub.realm = Some(self.realm.clone());
        sub.upn = Some(format!("{user}@{}", self.realm));
        let jwt = self.sign(&sub)?;
        Ok(Issued {
            jwt,
            jti: sub.token,
        })
    }

    /// `expires_in` for the JSON: whole seconds, at least 1 (sub-second test TTLs round up).
    pub fn expires_in(&self) -> u64 {
        self.access_ttl.as_millis().div_ceil(1000).max(1) as u64
    }

    /// Signature by this run's key, not expired (millisecond `expiry` too), issued by this IdS
    /// for Finesse's client id, and of the expected `usage`.
    pub fn verify(&self, jwt: &str, usage: &'static str) -> Result<Verified, TokenError> {
        let kind = usage;
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| TokenError::Malformed(kind))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Signature(kind));
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "iss"]);
        v.set_issuer(&[&self.issuer]);
        let data = jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidRsaKey(_) => {
                    TokenError::Signature(kind)
                }
                K::ExpiredSignature => TokenError::Expired(kind),
                K::InvalidIssuer => TokenError::Foreign(kind),
                _ => TokenError::Malformed(kind),
            }
        })?;
        let sub: Subject =
            serde_json::from_str(&data.claims.sub).map_err(|_| TokenError::Malformed(kind))?;
        if sub.token != data.claims.jti {
            return Err(TokenError::Malformed(kind));
        }
        if sub.ids_id != self.issuer || sub.client_id != self.client_id {
            return Err(TokenError::Foreign(kind));
        }
        if sub.usage != usage {
            return Err(TokenError::Usage(kind, sub.usage));
        }
        if now_ms() >= sub.expiry {
            return Err(TokenError::Expired(kind));
        }
        if usage == "access" && (sub.user_id.is_none() || sub.rt.is_none()) {
            return Err(TokenError::Malformed(kind));
        }
        Ok(Verified {
            jti: data.claims.jti,
            sub,
        })
    }
}
