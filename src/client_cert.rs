//! The client certificate (or smart card) offered to an IdP that asks for one: the
//! `[client_certificate]` config table, its checks, and the PIN held for the sign-ins of one
//! process (asked once, in memory only, forgotten when the card or file refuses it); and the
//! selection from a store that offers a list (Windows, macOS): which certificate the rules
//! pick, and what to tell the engine when none fits.

pub mod names;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::Secret;

pub use names::CertNames;

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

impl ClientCertificate {
    /// Whether an `issuer` or `subject` rule is set: without one, no certificate of a store is
    /// offered on the person's behalf (it would tell the IdP who they are).
    pub fn has_rules(&self) -> bool {
        self.issuer.is_some() || self.subject.is_some()
    }

    /// Whether a certificate with these names satisfies every rule given (an absent rule
    /// passes). A rule is satisfied when any of that side's names matches it.
    pub fn selects(&self, names: &CertNames) -> bool {
        let fits = |rule: &Option<String>, names: &[String]| {
            rule.as_deref()
                .is_none_or(|r| names.iter().any(|n| name_matches(r, n)))
        };
        fits(&self.subject, &names.subject) && fits(&self.issuer, &names.issuer)
    }
}

/// What to tell an engine whose store offers certificates (WebView2's list, the macOS
/// keychain) when a server asks for one.
#[derive(Debug, PartialEq, Eq)]
pub enum CertAnswer<C> {
    /// The first certificate the rules select.
    Offer(C, CertNames),
    /// The engine's own way (WebView2's picker; WKWebView continues without a certificate): the
    /// person may pick one or choose another sign-in method.
    EngineDefault,
    /// Non-interactive and nothing fits: the sign-in ends with this (`ErrorKind::Usage`).
    Refuse(String),
}

/// The one decision for both stores: the first offered certificate the rules select; else,
/// interactive, the engine's default; else a refusal naming the host and what to configure.
/// `store` names where certificates came from ("the Windows store").
pub fn answer_request<C>(
    config: Option<&ClientCertificate>,
    interactive: bool,
    hostport: &str,
    store: &str,
    offered: impl IntoIterator<Item = (C, CertNames)>,
) -> CertAnswer<C> {
    let rules = config.filter(|c| c.has_rules());
    if let Some(rules) = rules
        && let Some((cert, names)) = offered.into_iter().find(|(_, n)| rules.selects(n))
    {
        return CertAnswer::Offer(cert, names);
    }
    if interactive {
        return CertAnswer::EngineDefault;
    }
    CertAnswer::Refuse(none_fits(hostport, store, rules.is_some()))
}

/// "asks for a client certificate and none …": the words every platform uses for it.
pub fn none_fits(hostport: &str, store: &str, has_rules: bool) -> String {
    if has_rules {
        format!(
            "{hostport} asks for a client certificate and none in {store} matches \
             [client_certificate] (its issuer/subject rules; docs/administrators.md)"
        )
    } else {
        format!(
            "{hostport} asks for a client certificate and none is configured: set `issuer` or \
             `subject` in [client_certificate] to pick one from {store} (docs/administrators.md)"
        )
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

    fn names(subject: &[&str], issuer: &[&str]) -> CertNames {
        let v = |s: &[&str]| s.iter().map(|n| n.to_string()).collect();
        CertNames {
            subject: v(subject),
            issuer: v(issuer),
        }
    }

    #[test]
    fn every_rule_given_must_fit_some_name_of_its_side() {
        let agent = names(
            &["agent1", "CN=agent1, O=Contoso"],
            &["Contoso Issuing CA", "CN=Contoso Issuing CA, O=Contoso"],
        );
        let rules = |issuer: Option<&str>, subject: Option<&str>| ClientCertificate {
            issuer: issuer.map(Into::into),
            subject: subject.map(Into::into),
            ..Default::default()
        };
        assert!(rules(Some("Contoso Issuing CA"), Some("*agent1*")).selects(&agent));
        // A whole-name pattern fits the display name or the distinguished name.
        assert!(rules(None, Some("agent1")).selects(&agent));
        assert!(rules(None, Some("agent*")).selects(&agent));
        assert!(rules(None, Some("CN=agent1, O=*")).selects(&agent));
        assert!(rules(Some("*, O=Contoso"), None).selects(&agent));
        // Each rule on its own side: the subject's name does not satisfy the issuer rule.
        assert!(!rules(Some("agent1"), None).selects(&agent));
        assert!(!rules(Some("Contoso"), Some("agent2")).selects(&agent));
        assert!(!rules(Some("Fabrikam"), Some("agent1")).selects(&agent));
        assert!(rules(None, None).selects(&agent));
        assert!(!rules(None, None).has_rules());
        assert!(!rules(None, Some("x")).selects(&CertNames::default()));
    }

    #[test]
    fn the_answer_is_the_first_selected_else_the_engine_else_a_refusal() {
        let offered = || {
            vec![
                (1, names(&["agent2"], &["Fabrikam CA"])),
                (2, names(&["agent1"], &["Contoso CA"])),
                (3, names(&["agent1b"], &["Contoso CA"])),
            ]
        };
        let config = ClientCertificate {
            issuer: Some("contoso".into()),
            ..Default::default()
        };
        let host = "idp.example:443";
        match answer_request(Some(&config), false, host, "the keychain", offered()) {
            CertAnswer::Offer(2, n) => assert_eq!(n.describe(), "agent1 (issuer Contoso CA)"),
            other => panic!("{other:?}"),
        }
        let none = ClientCertificate {
            subject: Some("agent9".into()),
            ..Default::default()
        };
        assert_eq!(
            answer_request(Some(&none), true, host, "the keychain", offered()),
            CertAnswer::EngineDefault
        );
        let CertAnswer::Refuse(m) =
            answer_request(Some(&none), false, host, "the keychain", offered())
        else {
            panic!("not refused")
        };
        assert!(
            m.contains(
                "idp.example:443 asks for a client certificate and none in the keychain matches"
            ),
            "{m}"
        );
        // No rules (a `file` is not a rule): nothing of the store is offered, even when one
        // certificate would fit anything.
        let file_only = ClientCertificate {
            file: Some("a.p12".into()),
            ..Default::default()
        };
        for config in [Some(&file_only), None] {
            assert_eq!(
                answer_request(config, true, host, "the keychain", offered()),
                CertAnswer::EngineDefault
            );
            let CertAnswer::Refuse(m) =
                answer_request(config, false, host, "the keychain", offered())
            else {
                panic!("not refused")
            };
            assert!(
                m.contains("none is configured: set `issuer` or `subject`"),
                "{m}"
            );
        }
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
