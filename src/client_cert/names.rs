//! A certificate's subject and issuer names read from its DER encoding, for the selection rules
//! where the platform hands over only the certificate (the macOS keychain). A small reader of
//! the few DER elements on the way to the names; anything it does not understand is `None`.

use std::fmt::Write as _;

/// The names a rule is matched against, for each side: the display name (common name, else
/// organization, else organizational unit: what WebView2 reports on Windows) and the whole
/// distinguished name, most specific first as RFC 4514 writes it (`CN=agent1, O=Contoso`;
/// values are not escaped: rules match text, not syntax).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    pub subject: Vec<String>,
    pub issuer: Vec<String>,
}

impl CertNames {
    /// Both names of both sides, from an X.509 certificate's DER.
    pub fn from_der(der: &[u8]) -> Option<CertNames> {
        let (0x30, cert) = Der(der).next()? else {
            return None;
        };
        let (0x30, tbs) = Der(cert).next()? else {
            return None;
        };
        let mut tbs = Der(tbs);
        let mut el = tbs.next()?;
        if el.0 == 0xa0 {
            // [0] EXPLICIT version
            el = tbs.next()?;
        }
        // serial number, then the signature algorithm
        if el.0 != 0x02 || tbs.next()?.0 != 0x30 {
            return None;
        }
        let issuer = name(tbs.next()?)?;
        tbs.next()?; // validity
        let subject = name(tbs.next()?)?;
        Some(CertNames { subject, issuer })
    }

    /// The first name of each side, for messages.
    pub fn describe(&self) -> String {
        let first = |v: &[String]| v.first().cloned().unwrap_or_else(|| "(no name)".into());
        format!("{} (issuer {})", first(&self.subject), first(&self.issuer))
    }
}

/// DER elements one after another: (tag, contents).
struct Der<'a>(&'a [u8]);

impl<'a> Iterator for Der<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |l, &b| (l << 8) | usize::from(b));
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            self.0 = &[];
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.0 = after;
        Some((tag, contents))
    }
}

/// A `Name` (SEQUENCE OF RelativeDistinguishedName): its display name and its whole text;
/// an empty name gives no entries.
fn name((tag, contents): (u8, &[u8])) -> Option<Vec<String>> {
    if tag != 0x30 {
        return None;
    }
    let mut rdns = Vec::new();
    for (set_tag, set) in Der(contents) {
        if set_tag != 0x31 {
            return None;
        }
        let mut parts = Vec::new();
        for (seq_tag, atv) in Der(set) {
            let mut atv = Der(atv);
            let (0x30, (0x06, oid), Some((vtag, value))) = (seq_tag, atv.next()?, atv.next())
            else {
                return None;
            };
            parts.push((oid.to_vec(), text(vtag, value)));
        }
        rdns.push(parts);
    }
    let find = |want: &[u8]| {
        rdns.iter()
            .flatten()
            .find(|(oid, _)| oid == want)
            .map(|(_, v)| v.clone())
    };
    let display = find(CN).or_else(|| find(O)).or_else(|| find(OU));
    let full = rdns
        .iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|(oid, v)| format!("{}={v}", label(oid)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(
        display
            .into_iter()
            .chain((!full.is_empty()).then_some(full))
            .collect(),
    )
}

const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0a];
const OU: &[u8] = &[0x55, 0x04, 0x0b];

/// RFC 4514's short names (and `E`, as Windows writes the e-mail attribute); other
/// attributes by their dotted OID.
fn label(oid: &[u8]) -> String {
    let short = match oid {
        CN => "CN",
        O => "O",
        OU => "OU",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "E",
        _ => return dotted(oid),
    };
    short.into()
}

fn dotted(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut arc = 0u64;
    for &b in oid {
        arc = (arc << 7) | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            continue;
        }
        // The first subidentifier holds the first two arcs.
        if out.is_empty() {
            let (a, b) = if arc < 80 {
                (arc / 40, arc % 40)
            } else {
                (2, arc - 80)
            };
            let _ = write!(out, "{a}.{b}");
        } else {
            let _ = write!(out, ".{arc}");
        }
        arc = 0;
    }
    out
}

/// A directory string as text: UTF-8, printable, IA5 and T.61 (read as Latin-1) strings,
/// BMP (UTF-16) and universal (UTF-32) strings; anything else as RFC 4514's `#` and hex.
fn text(tag: u8, value: &[u8]) -> String {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8_lossy(value).into_owned(),
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        0x1e => char::decode_utf16(
            value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        0x1c => value
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => value.iter().fold(String::from("#"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn dn(parts: &[(DnType, DnValue)]) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (t, v) in parts {
            dn.push(t.clone(), v.clone());
        }
        dn
    }

    /// A CA-issued certificate, so subject and issuer differ.
    fn issued(subject: DistinguishedName, issuer: DistinguishedName) -> Vec<u8> {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name = issuer;
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = subject;
        let key = KeyPair::generate().unwrap();
        leaf.signed_by(&key, &ca).unwrap().der().to_vec()
    }

    #[test]
    fn reads_both_names_most_specific_first() {
        let der = issued(
            dn(&[
                (
                    DnType::CountryName,
                    DnValue::PrintableString("US".try_into().unwrap()),
                ),
                (DnType::OrganizationName, "Contoso".into()),
                (DnType::CommonName, "agent1".into()),
            ]),
            dn(&[
                (DnType::OrganizationName, "Contoso".into()),
                (DnType::CommonName, "Contoso Issuing CA 2".into()),
            ]),
        );
        let names = CertNames::from_der(&der).unwrap();
        assert_eq!(names.subject, ["agent1", "CN=agent1, O=Contoso, C=US"]);
        assert_eq!(
            names.issuer,
            ["Contoso Issuing CA 2", "CN=Contoso Issuing CA 2, O=Contoso"]
        );
        assert_eq!(names.describe(), "agent1 (issuer Contoso Issuing CA 2)");
    }

    #[test]
    fn without_a_common_name_the_organization_is_the_display_name() {
        let der = issued(
            dn(&[
                (DnType::OrganizationalUnitName, "Agents".into()),
                (
                    DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                    DnValue::BmpString("ag\u{e9}nt".try_into().unwrap()),
                ),
            ]),
            dn(&[(DnType::OrganizationName, "Fabrikam".into())]),
        );
        let names = CertNames::from_der(&der).unwrap();
        assert_eq!(names.subject, ["Agents", "UID=ag\u{e9}nt, OU=Agents"]);
        assert_eq!(names.issuer, ["Fabrikam", "O=Fabrikam"]);
    }

    #[test]
    fn unknown_attributes_are_dotted_and_garbage_is_none() {
        assert_eq!(
            dotted(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
            "1.3.6.1.4.1.311"
        );
        assert_eq!(text(0x04, &[0xde, 0xad]), "#dead");
        let der = issued(
            dn(&[(DnType::CommonName, "x".into())]),
            DistinguishedName::new(),
        );
        for cut in [0, 1, 4, der.len() / 2, der.len() - 1] {
            let _ = CertNames::from_der(&der[..cut]); // never panics
        }
        assert!(CertNames::from_der(&der[..der.len() / 2]).is_none());
        assert!(CertNames::from_der(b"not a certificate").is_none());
        assert_eq!(
            CertNames::from_der(&der).unwrap().issuer,
            Vec::<String>::new()
        );
    }
}
