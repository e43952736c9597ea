//! macOS (WKWebView): an IdP's request for a TLS client certificate, answered with the first
//! identity of the keychain or of a smart card (CryptoTokenKit) that `[client_certificate]`'s
//! `issuer`/`subject` rules select, decided as on Windows (`client_cert::answer_request`). A
//! card's PIN is asked by macOS itself when its key is first used, never by us; `file` and
//! `pkcs11_uri` are Linux's. Compile-checked only: no macOS runs here (docs/administrators.md).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr::{self, NonNull};

use objc2::rc::Retained;
use objc2::{ClassType, msg_send};
use objc2_core_foundation::{CFArray, CFDictionary, CFRetained, CFString, CFType, kCFBooleanTrue};
use objc2_foundation::{
    NSArray, NSURLAuthenticationChallenge, NSURLAuthenticationMethodClientCertificate,
    NSURLCredential, NSURLCredentialPersistence, NSURLSessionAuthChallengeDisposition,
};
use objc2_security::{
    SecIdentity, SecItemCopyMatching, errSecItemNotFound, kSecAttrAccessGroup,
    kSecAttrAccessGroupToken, kSecClass, kSecClassIdentity, kSecMatchLimit, kSecMatchLimitAll,
    kSecReturnRef,
};

use finesse_sso::client_cert::{CertAnswer, CertNames, ClientCertificate, answer_request};
use finesse_sso::error::ErrorKind;

/// Where the identities come from, in messages.
const STORE: &str = "the keychain or a smart card";

/// What this window told a host that asked for a certificate, to name a later TLS failure.
enum Asked {
    Offered(String),
    NoneFits(String),
}

/// The window's answers to client-certificate challenges.
pub struct CertPicker {
    config: Option<ClientCertificate>,
    interactive: bool,
    asked: RefCell<HashMap<String, Asked>>,
    warned: Cell<bool>,
}

/// How to complete one challenge, and the sign-in failure to report with it.
pub struct Reply {
    pub disposition: NSURLSessionAuthChallengeDisposition,
    pub credential: Option<Retained<NSURLCredential>>,
    pub refusal: Option<String>,
}

impl CertPicker {
    pub fn new(config: Option<ClientCertificate>, interactive: bool) -> Self {
        CertPicker {
            config,
            interactive,
            asked: RefCell::new(HashMap::new()),
            warned: Cell::new(false),
        }
    }

    /// Whether the server asks for a client certificate (every other challenge keeps WebKit's
    /// own handling).
    pub fn asks_for_certificate(challenge: &NSURLAuthenticationChallenge) -> bool {
        // SAFETY: an immutable `NSString` constant of Foundation.
        let wanted = unsafe { NSURLAuthenticationMethodClientCertificate };
        &*challenge.protectionSpace().authenticationMethod() == wanted
    }

    /// The answer to a client-certificate challenge: the selected identity for this session
    /// only (never `Permanent`: nothing is written to the keychain); else WebKit's default
    /// handling (it continues without a certificate) when interactive; else a cancellation and
    /// the refusal to end the sign-in with.
    pub fn answer(&self, challenge: &NSURLAuthenticationChallenge) -> Reply {
        let space = challenge.protectionSpace();
        let hostport = format!("{}:{}", space.host(), space.port());
        if let Some(c) = &self.config
            && (c.file.is_some() || c.pkcs11_uri.is_some())
            && !self.warned.replace(true)
        {
            tracing::warn!(
                "[client_certificate] `file` and `pkcs11_uri` are not used on macOS: import the \
                 certificate into the keychain (smart cards appear there by themselves) and \
                 select it with `issuer`/`subject`"
            );
        }
        // The keychain is read only when rules can select from it.
        let offered = match &self.config {
            Some(rules) if rules.has_rules() => identities(),
            _ => Vec::new(),
        };
        let reply = |disposition, credential, refusal| Reply {
            disposition,
            credential,
            refusal,
        };
        let mut asked = self.asked.borrow_mut();
        match answer_request(
            self.config.as_ref(),
            self.interactive,
            &hostport,
            STORE,
            offered,
        ) {
            CertAnswer::Offer(identity, names) => {
                tracing::info!(
                    "{hostport} asks for a client certificate: offering {}",
                    names.describe()
                );
                asked.insert(hostport, Asked::Offered(names.describe()));
                reply(
                    NSURLSessionAuthChallengeDisposition::UseCredential,
                    Some(credential(&identity)),
                    None,
                )
            }
            CertAnswer::EngineDefault => {
                tracing::info!("{hostport} asks for a client certificate; none matches the config");
                let message = finesse_sso::client_cert::none_fits(
                    &hostport,
                    STORE,
                    self.config
                        .as_ref()
                        .is_some_and(ClientCertificate::has_rules),
                );
                asked.insert(hostport, Asked::NoneFits(message));
                reply(
                    NSURLSessionAuthChallengeDisposition::PerformDefaultHandling,
                    None,
                    None,
                )
            }
            CertAnswer::Refuse(message) => reply(
                NSURLSessionAuthChallengeDisposition::CancelAuthenticationChallenge,
                None,
                Some(message),
            ),
        }
    }

    /// A TLS failure of `hostport` after this window answered its certificate request: a
    /// refused certificate, or none offered; `None` when it never asked.
    pub fn failure(&self, hostport: &str, detail: &str) -> Option<(ErrorKind, String)> {
        match self.asked.borrow().get(hostport)? {
            Asked::Offered(what) => Some((
                ErrorKind::AuthRejected,
                format!("{hostport}: the client certificate was refused ({what}): {detail}"),
            )),
            Asked::NoneFits(message) => Some((ErrorKind::Usage, message.clone())),
        }
    }
}

/// Every identity (certificate with its private key) of the keychain search list, then those
/// of smart cards, which CryptoTokenKit keeps in the token access group; each once, with its
/// names. A failed search is logged and gives none.
fn identities() -> Vec<(CFRetained<SecIdentity>, CertNames)> {
    let mut seen = Vec::new();
    let mut all = Vec::new();
    for token in [false, true] {
        for (identity, der) in search(token) {
            if seen.contains(&der) {
                continue;
            }
            if let Some(names) = CertNames::from_der(&der) {
                all.push((identity, names));
            }
            seen.push(der);
        }
    }
    all
}

/// `SecItemCopyMatching` for identities (all of them, as references), in the token access
/// group when `token`; each with its certificate's DER.
fn search(token: bool) -> Vec<(CFRetained<SecIdentity>, Vec<u8>)> {
    // SAFETY: immutable CF constants of the Security and CoreFoundation frameworks.
    let (class, identity, limit, all, return_ref, group, token_group, yes) = unsafe {
        (
            kSecClass,
            kSecClassIdentity,
            kSecMatchLimit,
            kSecMatchLimitAll,
            kSecReturnRef,
            kSecAttrAccessGroup,
            kSecAttrAccessGroupToken,
            kCFBooleanTrue,
        )
    };
    let Some(yes) = yes else {
        return Vec::new();
    };
    let mut keys: Vec<&CFString> = vec![class, limit, return_ref];
    let mut values: Vec<&CFType> = vec![&**identity, &**all, &**yes];
    if token {
        keys.push(group);
        values.push(&**token_group);
    }
    let query = CFDictionary::<CFString, CFType>::from_slices(&keys, &values);
    let mut result: *const CFType = ptr::null();
    // SAFETY: a dictionary of CFString keys as the API takes; `result` is a valid out-pointer
    // that receives a +1 reference (or stays null).
    let status = unsafe { SecItemCopyMatching(query.as_opaque(), &mut result) };
    let Some(result) = NonNull::new(result.cast_mut()) else {
        if status != 0 && status != errSecItemNotFound {
            tracing::warn!(
                "searching the {} for client certificates failed (OSStatus {status})",
                if token { "smart cards" } else { "keychain" }
            );
        }
        return Vec::new();
    };
    // SAFETY: a Copy-rule result: ours to release.
    let result = unsafe { CFRetained::from_raw(result) };
    let Ok(array) = result.downcast::<CFArray>() else {
        return Vec::new();
    };
    // SAFETY: every CFArray holds CF objects.
    let array = unsafe { CFRetained::cast_unchecked::<CFArray<CFType>>(array) };
    array
        .iter()
        .filter_map(|item| item.downcast::<SecIdentity>().ok())
        .filter_map(|identity| {
            let der = certificate_der(&identity)?;
            Some((identity, der))
        })
        .collect()
}

fn certificate_der(identity: &SecIdentity) -> Option<Vec<u8>> {
    let mut cert = ptr::null_mut();
    // SAFETY: a valid out-pointer that receives a +1 reference on success.
    let status = unsafe { identity.copy_certificate(NonNull::from(&mut cert)) };
    let cert = NonNull::new(cert).filter(|_| status == 0)?;
    // SAFETY: a Copy-rule result: ours to release.
    let cert = unsafe { CFRetained::from_raw(cert) };
    // SAFETY: a valid certificate; the data is a copy.
    Some(unsafe { cert.data() }.to_vec())
}

/// The identity as a credential for this session (the chain is the server's to know).
fn credential(identity: &SecIdentity) -> Retained<NSURLCredential> {
    // SAFETY: `+[NSURLCredential credentialWithIdentity:certificates:persistence:]` takes a
    // `SecIdentityRef`, an optional array of certificates and the persistence; it returns an
    // autoreleased credential that `msg_send!` retains.
    unsafe {
        msg_send![
            NSURLCredential::class(),
            credentialWithIdentity: identity,
            certificates: None::<&NSArray>,
            persistence: NSURLCredentialPersistence::ForSession
        ]
    }
}
