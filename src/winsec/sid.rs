//! Security identifiers as values: parsed from their string form (`S-1-5-21-…`) or an SDDL
//! alias (`SY`, `BA`), compared structurally. Pure, so every platform tests it.

use std::fmt;

/// A SID (`S-<revision>-<authority>-<sub>-…`). Two SIDs are equal when their parts are, however
/// they were spelled (`s-1-5-18`, `S-1-5-18`, `SY`, `S-1-0x5-18`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    revision: u8,
    authority: u64,
    subs: Vec<u32>,
}

/// `NT AUTHORITY\SYSTEM`.
pub const SYSTEM: &str = "S-1-5-18";
/// `BUILTIN\Administrators`.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";

/// SDDL's two-letter names for well-known SIDs (the ones Windows writes for ACLs on files, pipes
/// and folders). A domain-relative alias (`DA`, `DU`…) has no fixed SID and is not listed: it
/// parses as unknown and so is never taken for a trusted one.
const ALIASES: &[(&str, &str)] = &[
    ("SY", SYSTEM),
    ("BA", ADMINISTRATORS),
    ("BU", "S-1-5-32-545"),
    ("BG", "S-1-5-32-546"),
    ("PU", "S-1-5-32-547"),
    ("BO", "S-1-5-32-551"),
    ("WD", "S-1-1-0"),
    ("CO", "S-1-3-0"),
    ("CG", "S-1-3-1"),
    ("OW", "S-1-3-4"),
    ("AN", "S-1-5-7"),
    ("AU", "S-1-5-11"),
    ("IU", "S-1-5-4"),
    ("NU", "S-1-5-2"),
    ("SU", "S-1-5-6"),
    ("LS", "S-1-5-19"),
    ("NS", "S-1-5-20"),
    ("PS", "S-1-5-10"),
    ("RC", "S-1-5-12"),
    ("AC", "S-1-15-2-1"),
];

impl Sid {
    /// Parses `S-1-5-21-…` (any case; the authority in decimal or `0x` hex, as
    /// `ConvertSidToStringSidW` writes large ones) or a two-letter SDDL alias.
    pub fn parse(text: &str) -> Result<Sid, String> {
        let text = text.trim();
        if let Some((_, sid)) = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(text))
        {
            return Sid::parse(sid);
        }
        let bad = || format!("{text:?} is not a SID");
        let mut parts = text.split('-');
        if !parts.next().is_some_and(|s| s.eq_ignore_ascii_case("S")) {
            return Err(bad());
        }
        let revision: u8 = parts
            .next()
            .and_then(|r| r.parse().ok())
            .filter(|r| *r == 1)
            .ok_or_else(bad)?;
        let authority = parts
            .next()
            .and_then(|a| match a.strip_prefix("0x").or(a.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => a.parse().ok(),
            })
            .filter(|a| *a < 1 << 48)
            .ok_or_else(bad)?;
        let subs = parts
            .map(|s| s.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        // Windows allows at most 15 sub-authorities.
        if subs.len() > 15 {
            return Err(bad());
        }
        Ok(Sid {
            revision,
            authority,
            subs,
        })
    }

    /// `SYSTEM`.
    pub fn system() -> Sid {
        Sid::parse(SYSTEM).unwrap_or_else(|_| unreachable!("a constant SID parses"))
    }

    /// `BUILTIN\Administrators`.
    pub fn administrators() -> Sid {
        Sid::parse(ADMINISTRATORS).unwrap_or_else(|_| unreachable!("a constant SID parses"))
    }

    /// Whether only the machine's administrators (the group, or SYSTEM) stand behind this SID.
    pub fn is_admin(&self) -> bool {
        *self == Sid::system() || *self == Sid::administrators()
    }
}

/// The canonical string form (`S-1-5-21-…`), as Windows writes it.
impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}-", self.revision)?;
        if self.authority < 1 << 32 {
            write!(f, "{}", self.authority)?;
        } else {
            write!(f, "0x{:012X}", self.authority)?;
        }
        for s in &self.subs {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "S-1-5-21-3623811015-3361044348-30300820-1013";

    #[test]
    fn spellings_of_one_sid_are_equal() {
        let a = Sid::parse(USER).unwrap();
        assert_eq!(a, Sid::parse(&USER.to_lowercase()).unwrap());
        assert_eq!(a.to_string(), USER);
        assert_eq!(Sid::parse("SY").unwrap(), Sid::parse("s-1-5-18").unwrap());
        assert_eq!(Sid::parse("ba").unwrap(), Sid::administrators());
        assert_eq!(Sid::parse("S-1-0x5-18").unwrap(), Sid::system());
        assert_eq!(
            Sid::parse("S-1-0x1000000000-1").unwrap().to_string(),
            "S-1-0x001000000000-1"
        );
    }

    #[test]
    fn different_sids_differ() {
        let me = Sid::parse(USER).unwrap();
        // Same domain, another RID: another user.
        let other = Sid::parse("S-1-5-21-3623811015-3361044348-30300820-1014").unwrap();
        assert_ne!(me, other);
        // A prefix is not the SID.
        assert_ne!(
            me,
            Sid::parse("S-1-5-21-3623811015-3361044348-30300820").unwrap()
        );
        assert_ne!(Sid::system(), Sid::administrators());
    }

    #[test]
    fn only_administrators_and_system_are_admin() {
        assert!(Sid::system().is_admin());
        assert!(Sid::parse("BA").unwrap().is_admin());
        for not in ["BU", "WD", "AU", "CO", "OW", USER, "S-1-5-32-545"] {
            assert!(!Sid::parse(not).unwrap().is_admin(), "{not}");
        }
    }

    #[test]
    fn garbage_is_not_a_sid() {
        for bad in [
            "",
            "S",
            "S-1",
            "X-1-5-18",
            "S-2-5-18",
            "S-1--18",
            "S-1-5-x",
            "S-1-5-4294967296",
            "S-1-281474976710656",
            "DA",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        ] {
            assert!(Sid::parse(bad).is_err(), "{bad:?}");
        }
    }
}
