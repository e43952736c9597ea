//! SAML 2.0 messages between IdS (SP) and the IdP: the AuthnRequest, and the Response whose
//! Assertion is signed with a per-run HMAC-SHA256 key over the assertion's exact bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::pages::escape;
use crate::state::random_id;

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// How long an assertion is good for after issue (IdS refuses older ones).
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::minutes(5);

type HmacSha256 = Hmac<Sha256>;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An AuthnRequest from IdS, base64 for the `SAMLRequest` field. Returns (ID, base64).
pub(crate) fn authn_request(ids_entity: &str, acs: &str, idp_sso: &str) -> (String, String) {
    let id = format!("_{}", random_id(16));
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{id}\" \
         Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" \
         AssertionConsumerServiceURL=\"{}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
         <saml:Issuer>{}</saml:Issuer>\
         <samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\" \
         AllowCreate=\"true\"/></samlp:AuthnRequest>",
        fmt(now()),
        escape(idp_sso),
        escape(acs),
        escape(ids_entity)
    );
    (id, B64.encode(xml))
}

/// The fields the IdP needs from an AuthnRequest.
#[derive(Debug)]
pub(crate) struct ParsedAuthn {
    pub id: String,
    pub issuer: String,
    pub acs: String,
}

/// Decodes and parses `SAMLRequest`. Errors name the missing part, never the content.
pub(crate) fn parse_authn_request(b64: &str) -> Result<ParsedAuthn, String> {
    let xml = B64
        .decode(b64.trim())
        .map_err(|_| "SAMLRequest is not base64".to_string())?;
    let xml = String::from_utf8(xml).map_err(|_| "SAMLRequest is not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(&xml).map_err(|_| "SAMLRequest is not XML".to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "AuthnRequest" || root.tag_name().namespace() != Some(SAMLP) {
        return Err("SAMLRequest is not a samlp:AuthnRequest".into());
    }
    let attr = |n: &str| {
        root.attribute(n)
            .map(str::to_string)
            .ok_or_else(|| format!("AuthnRequest lacks {n}"))
    };
    let issuer = root
        .children()
        .find(|c| c.has_tag_name((SAML, "Issuer")))
        .and_then(|c| c.text())
        .ok_or_else(|| "AuthnRequest lacks Issuer".to_string())?
        .trim()
        .to_string();
    Ok(ParsedAuthn {
        id: attr("ID")?,
        issuer,
        acs: attr("AssertionConsumerServiceURL")?,
    })
}

/// What the IdP asserts about a signed-in user.
pub(crate) struct AssertionInput<'a> {
    pub idp_entity: &'a str,
    pub audience: &'a str,
    pub acs: &'a str,
    pub in_response_to: &'a str,
    pub uid: &'a str,
    pub user_principal: &'a str,
}

/// A signed `samlp:Response`, base64 for the `SAMLResponse` field.
pub(crate) fn response(key: &[u8], a: &AssertionInput<'_>) -> String {
    let t = now();
    let assertion_id = format!("_{}", random_id(16));
    let assertion = format!(
        "<saml:Assertion xmlns:saml=\"{SAML}\" ID=\"{assertion_id}\" Version=\"2.0\" \
         IssueInstant=\"{issued}\"><saml:Issuer>{idp}</saml:Issuer>\
         <saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\">\
         _{nameid}</saml:NameID><saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
         <saml:SubjectConfirmationData InResponseTo=\"{irt}\" NotOnOrAfter=\"{until}\" \
         Recipient=\"{acs}\"/></saml:SubjectConfirmation></saml:Subject>\
         <saml:Conditions NotBefore=\"{issued}\" NotOnOrAfter=\"{until}\"><saml:AudienceRestriction>\
         <saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
         <saml:AuthnStatement AuthnInstant=\"{issued}\" SessionIndex=\"_{session}\">\
         <saml:AuthnContext><saml:AuthnContextClassRef>\
         urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport\
         </saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
         <saml:AttributeStatement><saml:Attribute Name=\"uid\"><saml:AttributeValue>{uid}\
         </saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"user_principal\">\
         <saml:AttributeValue>{upn}</saml:AttributeValue></saml:Attribute>\
         </saml:AttributeStatement></saml:Assertion>",
        issued = fmt(t),
        until = fmt(t + ASSERTION_LIFETIME),
        idp = escape(a.idp_entity),
        nameid = random_id(12),
        irt = escape(a.in_response_to),
        acs = escape(a.acs),
        aud = escape(a.audience),
        session = random_id(8),
        uid = escape(a.uid),
        upn = escape(a.user_principal),
    );
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(assertion.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    let xml = format!(
        "<samlp:Response xmlns:samlp=\"{SAMLP}\" ID=\"_{rid}\" Version=\"2.0\" \
         IssueInstant=\"{issued}\" Destination=\"{acs}\" InResponseTo=\"{irt}\">\
         <saml:Issuer xmlns:saml=\"{SAML}\">{idp}</saml:Issuer>\
         <samlp:Status><samlp:StatusCode Value=\"{SUCCESS}\"/></samlp:Status>{assertion}\
         <ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\"/>\
         <ds:Reference URI=\"#{assertion_id}\"/></ds:SignedInfo>\
         <ds:SignatureValue>{sig}</ds:SignatureValue></ds:Signature></samlp:Response>",
        rid = random_id(16),
        issued = fmt(t),
        acs = escape(a.acs),
        irt = escape(a.in_response_to),
        idp = escape(a.idp_entity),
    );
    B64.encode(xml)
}

/// A verified assertion: who, and the IDs IdS needs for one-use and request matching.
#[derive(Debug)]
pub(crate) struct Asserted {
    pub assertion_id: String,
    pub in_response_to: String,
    pub uid: String,
    pub not_on_or_after: OffsetDateTime,
}

/// Why IdS refused a SAMLResponse (HTTP 400 for shape, 403 for trust).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SamlError {
    Malformed(String),
    Untrusted(String),
}

fn malformed(s: &str) -> SamlError {
    SamlError::Malformed(s.into())
}

fn untrusted(s: &str) -> SamlError {
    SamlError::Untrusted(s.into())
}

/// Checks signature, issuer, audience, recipient, status and freshness. One-use and
/// `InResponseTo` matching are IdS state and are checked by the caller.
pub(crate) fn verify_response(
    key: &[u8],
    b64: &str,
    idp_entity: &str,
    audience: &str,
) -> Result<Asserted, SamlError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| malformed("SAMLResponse is not base64"))?;
    let xml = String::from_utf8(bytes).map_err(|_| malformed("SAMLResponse is not UTF-8"))?;
    let doc = roxmltree::Document::parse(&xml).map_err(|_| malformed("SAMLResponse is not XML"))?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "Response")) {
        return Err(malformed("SAMLResponse is not a samlp:Response"));
    }
    let find = |ns: &str, name: &str| doc.descendants().find(|n| n.has_tag_name((ns, name)));
    let status = find(SAMLP, "StatusCode")
        .and_then(|n| n.attribute("Value"))
        .ok_or_else(|| malformed("Response lacks StatusCode"))?;
    if status != SUCCESS {
        return Err(untrusted("Response status is not Success"));
    }
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(malformed("Response must hold exactly one Assertion"));
    };
    let assertion_id = assertion
        .attribute("ID")
        .ok_or_else(|| malformed("Assertion lacks ID"))?;
    let sig_value = find(DS, "SignatureValue")
        .and_then(|n| n.text())
        .ok_or_else(|| untrusted("Response is not signed"))?;
    let reference = find(DS, "Reference")
        .and_then(|n| n.attribute("URI"))
        .ok_or_else(|| untrusted("Signature lacks a Reference"))?;
    if reference != format!("#{assertion_id}") {
        return Err(untrusted("Signature does not reference the Assertion"));
    }
    let sig = B64
        .decode(sig_value.trim())
        .map_err(|_| untrusted("SignatureValue is not base64"))?;
    // The signed bytes are the assertion exactly as sent, so any edit breaks the signature.
    let signed = &xml[assertion.range()];
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| untrusted("assertion signature is invalid"))?;

    let within =
        |ns: &str, name: &str| assertion.descendants().find(|n| n.has_tag_name((ns, name)));
    let text = |ns: &str, name: &str| {
        within(ns, name)
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    if text(SAML, "Issuer").as_deref() != Some(idp_entity) {
        return Err(untrusted("assertion Issuer is not the trusted IdP"));
    }
    if text(SAML, "Audience").as_deref() != Some(audience) {
        return Err(untrusted("assertion Audience is not this IdS"));
    }
    let parse_time = |s: Option<&str>, what: &str| {
        s.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .ok_or_else(|| malformed(&format!("assertion lacks a valid {what}")))
    };
    let issued = parse_time(assertion.attribute("IssueInstant"), "IssueInstant")?;
    let conditions =
        within(SAML, "Conditions").ok_or_else(|| malformed("assertion lacks Conditions"))?;
    let not_before = parse_time(conditions.attribute("NotBefore"), "NotBefore")?;
    let not_after = parse_time(conditions.attribute("NotOnOrAfter"), "NotOnOrAfter")?;
    let t = now();
    let skew = Duration::seconds(30);
    if t + skew < not_before || t + skew < issued {
        return Err(untrusted("assertion is not yet valid"));
    }
    if t >= not_after || t - issued > ASSERTION_LIFETIME {
        return Err(untrusted("assertion has expired"));
    }
    let confirmation = within(SAML, "SubjectConfirmationData")
        .ok_or_else(|| malformed("assertion lacks SubjectConfirmationData"))?;
    let in_response_to = confirmation
        .attribute("InResponseTo")
        .ok_or_else(|| malformed("assertion lacks InResponseTo"))?;
    let uid = assertion
        .descendants()
        .find(|n| n.has_tag_name((SAML, "Attribute")) && n.attribute("Name") == Some("uid"))
        .and_then(|a| {
            a.descendants()
                .find(|n| n.has_tag_name((SAML, "AttributeValue")))
        })
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("assertion lacks the uid attribute"))?;
    Ok(Asserted {
        assertion_id: assertion_id.to_string(),
        in_response_to: in_response_to.to_string(),
        uid,
        not_on_or_after: not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AssertionInput<'static> {
        AssertionInput {
            idp_entity: "idp",
            audience: "ids",
            acs: "https://127.0.0.1:1/ids/saml/response?metaAlias=/sp",
            in_response_to: "_req",
            uid: "agent1",
            user_principal: "agent1@finesse.com",
        }
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = b"k".repeat(32);
        let r = response(&key, &input());
        let a = verify_response(&key, &r, "idp", "ids").unwrap();
        assert_eq!(
            (a.uid.as_str(), a.in_response_to.as_str()),
            ("agent1", "_req")
        );
        assert!(matches!(
            verify_response(b"other", &r, "idp", "ids"),
            Err(SamlError::Untrusted(_))
        ));
        assert!(matches!(
            verify_response(&key, &r, "idp", "other-sp"),
            Err(SamlError::Untrusted(_))
        ));
        let xml = String::from_utf8(B64.decode(&r).unwrap()).unwrap();
        let tampered = B64.encode(xml.replace(">agent1", ">admin"));
        assert_eq!(
            verify_response(&key, &tampered, "idp", "ids").unwrap_err(),
            untrusted("assertion signature is invalid")
        );
        assert!(matches!(
            verify_response(&key, "!!", "idp", "ids"),
            Err(SamlError::Malformed(_))
        ));
    }

    #[test]
    fn authn_request_round_trip() {
        let (id, b64) = authn_request(
            "ids",
            "https://x/ids/saml/response?metaAlias=/sp&a=b",
            "https://y/idp/sso",
        );
        let p = parse_authn_request(&b64).unwrap();
        assert_eq!(p.id, id);
        assert_eq!(p.issuer, "ids");
        assert!(p.acs.ends_with("&a=b"));
        assert!(parse_authn_request("bm90IHhtbA==").is_err());
    }
}
