//! The client certificate (or smart card) offered to an IdP that asks for one: the
//! `[client_certificate]` config table, its checks, and the PIN held for the sign-ins of one
//! process (asked once, in memory only, forgotten when the card or file refuses it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::Secret;

/// `[client_certificate]`: where the certificate is, and which one to pick where the engine
/// offers a list (WebView2, the macOS keychain). Paths and URIs only; never key bytes or a PIN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    /// A PEM file with the certificate and its private key, or PKCS#12 (`.p12`, `.pfx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A smart card or other PKCS#11 token: `pkcs11:token=…;object=…` (RFC 7512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_uri: Option<String>,
    /// Selection rule: the issuer's name contains this (case-insensitive), or matches it as a
    /// `*` wildcard pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Selection rule on the subject's name, as `issuer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl ClientCertificate {
    /// Relative `file`s are taken from the directory of the config file that names them.
    pub fn anchor(&mut self, base: &Path) {
        if let Some(f) = &self.file
            && f.is_relative()
        {
            self.file = Some(base.join(f));
        }
    }

    /// Refuses what cannot work or would leak: both sources at once, a URI that is not
    /// PKCS#11, a PIN written into the URI (it would sit in a config file).
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Usage(format!("config [client_certificate]: {m}")));
        if self.file.is_some() && self.pkcs11_uri.is_some() {
            return bad("give `file` or `pkcs11_uri`, not both".into());
        }
        if let Some(uri) = &self.pkcs11_uri {
            if !uri.starts_with("pkcs11:") {
                return bad("`pkcs11_uri` must start with `pkcs11:` (RFC 7512)".into());
            }
            if uri.to_ascii_lowercase().contains("pin-value") {
                return bad(
                    "`pkcs11_uri` must not carry `pin-value`: give the PIN with --pin-stdin or at \
                     the prompt"
                        .into(),
                );
            }
        }
        if self == &ClientCertificate::default() {
            return bad("set `file`, `pkcs11_uri`, or the `issuer`/`subject` rules".into());
        }
        Ok(())
    }

    /// Whether using it takes a PIN or password: a token or a PKCS#12 file (a PEM file's key
    /// is unencrypted).
    pub fn needs_secret(&self) -> bool {
        self.pkcs11_uri.is_some() || self.file.as_deref().is_some_and(is_pkcs12)
    }

    /// What to call it in messages and prompts (a path or a URI: no secret in either).
    pub fn describe(&self) -> String {
        match (&self.file, &self.pkcs11_uri) {
            (Some(f), _) => format!("certificate file {}", f.display()),
            (_, Some(u)) => format!("smart card {u}"),
            _ => "the certificate chosen by the issuer/subject rules".into(),
        }
    }
}

/// `.p12` / `.pfx`, by name (PKCS#12 has no text marker to look for).
pub fn is_pkcs12(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"))
}

/// Whether a certificate's name (`CN=…, O=…` or however the platform spells it) satisfies a
/// rule: a `*` pattern matched whole, else a substring; both case-insensitive.
pub fn name_matches(rule: &str, name: &str) -> bool {
    let (rule, name) = (rule.to_lowercase(), name.to_lowercase());
    if !rule.contains('*') {
        return name.contains(&rule);
    }
    let parts: Vec<&str> = rule.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut at = first.len();
    for mid in &parts[1..parts.len() - 1] {
        match name[at..].find(mid) {
            Some(i) => at += i + mid.len(),
            None => return false,
        }
    }
    name[at..].ends_with(last)
}

/// The configured certificate and the PIN held for it.
#[derive(Debug, Clone)]
pub struct CertChoice {
    pub cert: ClientCertificate,
    pub pin: PinHolder,
}

/// The PIN (or PKCS#12 password) for this process's sign-ins: given once, then reused by each
/// window until the card or file refuses it; a refused PIN is forgotten, never offered again
/// (a smart card locks after a few wrong PINs).
#[derive(Debug, Clone, Default)]
pub struct PinHolder(Arc<Mutex<Option<Secret<String>>>>);

impl PinHolder {
    pub fn new(pin: Option<Secret<String>>) -> Self {
        PinHolder(Arc::new(Mutex::new(pin)))
    }

    /// The PIN for the next window, if one is held.
    pub fn current(&self) -> Option<Secret<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After a refusal: nothing is offered again in this process.
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_substrings_and_patterns() {
        let n = "CN=agent1, O=Contoso Issuing CA 2";
        assert!(name_matches("contoso issuing", n));
        assert!(!name_matches("CN=agent1*CA ?", n));
        assert!(name_matches("CN=agent1*CA 2", n));
        assert!(name_matches("*contoso*", n));
        assert!(!name_matches("fabrikam", n));
        assert!(!name_matches("CN=agent2*", n));
        assert!(name_matches("*", n));
    }

    #[test]
    fn checks_refuse_both_sources_foreign_uris_and_pins_in_uris() {
        let both = ClientCertificate {
            file: Some("a.p12".into()),
            pkcs11_uri: Some("pkcs11:token=t".into()),
            ..Default::default()
        };
        assert!(both.check().unwrap_err().to_string().contains("not both"));
        let pin = ClientCertificate {
            pkcs11_uri: Some("pkcs11:token=t;object=o?pin-value=123456".into()),
            ..Default::default()
        };
        let m = pin.check().unwrap_err().to_string();
        assert!(m.contains("pin-value") && !m.contains("123456"), "{m}");
        let foreign = ClientCertificate {
            pkcs11_uri: Some("file:///k.pem".into()),
            ..Default::default()
        };
        assert!(foreign.check().is_err());
        assert!(ClientCertificate::default().check().is_err());
        let rules = ClientCertificate {
            issuer: Some("Contoso".into()),
            ..Default::default()
        };
        rules.check().unwrap();
        assert!(!rules.needs_secret());
        assert!(
            ClientCertificate {
                file: Some("x/agent.PFX".into()),
                ..Default::default()
            }
            .needs_secret()
        );
    }

    #[test]
    fn a_refused_pin_is_forgotten_by_every_copy() {
        let h = PinHolder::new(Some(Secret::new("1234".into())));
        let copy = h.clone();
        assert_eq!(copy.current().unwrap().expose(), "1234");
        h.forget();
        assert!(copy.current().is_none());
        assert!(!format!("{h:?}").contains("1234"));
    }
}
