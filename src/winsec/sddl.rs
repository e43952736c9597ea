//! Security descriptors as SDDL text: the ones this program sets (private state, the pipe) are
//! built here, and what Windows reports (`O:…D:…`) is parsed here into owner and DACL. Pure.

use super::sid::Sid;

/// `FILE_ALL_ACCESS`.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// `GENERIC_ALL`.
pub const GENERIC_ALL: u32 = 0x1000_0000;

/// The DACL of a private state folder or file: the user and SYSTEM, full control, nothing
/// inherited from above (`P`). A folder's entries are inherited by what is created in it (`OICI`);
/// a file has nothing to pass on.
pub fn private_sddl(user: &Sid, folder: bool) -> String {
    let inherit = if folder { "OICI" } else { "" };
    format!("D:P(A;{inherit};FA;;;{user})(A;{inherit};FA;;;SY)")
}

/// The DACL of the agent's pipe: the user alone.
pub fn pipe_sddl(user: &Sid) -> String {
    format!("D:P(A;;GA;;;{user})")
}

/// An ACE's type, as far as a DACL's judgement needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceType {
    /// Grants (`A`, and the object and callback forms `OA`, `XA`, `ZA`).
    Allow,
    /// Refuses (`D`, `OD`, `XD`).
    Deny,
}

/// One access control entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceType,
    /// Applies to what is created inside only (`IO`), not to the object itself.
    pub inherit_only: bool,
    /// Passed on to files (`OI`) and folders (`CI`) created inside.
    pub object_inherit: bool,
    pub container_inherit: bool,
    /// The access mask (codes such as `FA` or `GW` resolved to bits).
    pub mask: u32,
    pub sid: Sid,
}

/// A DACL: absent or `NO_ACCESS_CONTROL` means everyone may do everything (a NULL DACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dacl {
    /// `P`: nothing is inherited from the parent.
    pub protected: bool,
    /// `None`: a NULL DACL.
    pub aces: Option<Vec<Ace>>,
}

/// The parts of a security descriptor that decide who controls an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub owner: Option<Sid>,
    pub dacl: Option<Dacl>,
}

/// SDDL's access-right codes.
const RIGHTS: &[(&str, u32)] = &[
    ("GA", GENERIC_ALL),
    ("GR", 0x8000_0000),
    ("GW", 0x4000_0000),
    ("GX", 0x2000_0000),
    ("RC", 0x0002_0000),
    ("SD", 0x0001_0000),
    ("WD", 0x0004_0000),
    ("WO", 0x0008_0000),
    ("CC", 0x0001),
    ("DC", 0x0002),
    ("LC", 0x0004),
    ("SW", 0x0008),
    ("RP", 0x0010),
    ("WP", 0x0020),
    ("DT", 0x0040),
    ("LO", 0x0080),
    ("CR", 0x0100),
    ("FA", FILE_ALL_ACCESS),
    ("FR", 0x0012_0089),
    ("FW", 0x0012_0116),
    ("FX", 0x0012_00A0),
    ("KA", 0x000F_003F),
    ("KR", 0x0002_0019),
    ("KW", 0x0002_0006),
    ("KX", 0x0002_0019),
];

/// An access mask: `0x…` hex, decimal, or concatenated two-letter codes (`FA`, `CCDCLC…`).
pub fn parse_rights(text: &str) -> Result<u32, String> {
    if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).map_err(|_| format!("bad access mask {text:?}"));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("bad access mask {text:?}"));
    }
    if text.is_empty() || !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("bad access mask {text:?}"));
    }
    let mut mask = 0;
    for i in (0..text.len()).step_by(2) {
        let code = &text[i..i + 2];
        let (_, bits) = RIGHTS
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .ok_or_else(|| format!("unknown access right {code:?}"))?;
        mask |= bits;
    }
    Ok(mask)
}

fn parse_ace(text: &str) -> Result<Ace, String> {
    // type;flags;rights;object;inherited object;account[;condition]
    let fields: Vec<&str> = text.splitn(7, ';').collect();
    let [kind, flags, rights, _, _, account, ..] = fields[..] else {
        return Err(format!("ACE ({text}) has fewer than six fields"));
    };
    let kind = match kind.to_ascii_uppercase().as_str() {
        "A" | "OA" | "XA" | "ZA" => AceType::Allow,
        "D" | "OD" | "XD" => AceType::Deny,
        other => return Err(format!("ACE type {other:?} in a DACL")),
    };
    if !flags.len().is_multiple_of(2) || !flags.is_ascii() {
        return Err(format!("bad ACE flags {flags:?}"));
    }
    let flag_list: Vec<String> = (0..flags.len())
        .step_by(2)
        .map(|i| flags[i..i + 2].to_ascii_uppercase())
        .collect();
    for f in &flag_list {
        if !["OI", "CI", "NP", "IO", "ID", "SA", "FA", "TP", "CR"].contains(&f.as_str()) {
            return Err(format!("unknown ACE flag {f:?}"));
        }
    }
    let has = |f: &str| flag_list.iter().any(|x| x == f);
    Ok(Ace {
        kind,
        inherit_only: has("IO"),
        object_inherit: has("OI"),
        container_inherit: has("CI"),
        mask: parse_rights(rights)?,
        sid: Sid::parse(account)?,
    })
}

/// `PAI(…)(…)` after `D:`.
fn parse_dacl(text: &str) -> Result<Dacl, String> {
    let start = text.find('(').unwrap_or(text.len());
    let flags = text[..start].to_ascii_uppercase();
    if flags.contains("NO_ACCESS_CONTROL") {
        return Ok(Dacl {
            protected: flags.starts_with('P'),
            aces: None,
        });
    }
    let protected = flags.starts_with('P');
    let rest_flags = flags.strip_prefix('P').unwrap_or(&flags);
    let known = ["", "AI", "AR", "AIAR", "ARAI"];
    if !known.contains(&rest_flags) {
        return Err(format!("unknown DACL flags {flags:?}"));
    }
    let mut aces = Vec::new();
    let mut depth = 0usize;
    let mut open = 0;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < start) {
        match c {
            '(' => {
                if depth == 0 {
                    open = i + 1;
                }
                depth += 1;
            }
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in DACL {text:?}"))?;
                if depth == 0 {
                    aces.push(parse_ace(&text[open..i])?);
                }
            }
            _ if depth == 0 => return Err(format!("text between ACEs in DACL {text:?}")),
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in DACL {text:?}"));
    }
    Ok(Dacl {
        protected,
        aces: Some(aces),
    })
}

impl Descriptor {
    /// Parses the owner (`O:`) and DACL (`D:`) of an SDDL string; the group (`G:`) and SACL (`S:`)
    /// are skipped. What does not parse is an error: a descriptor this code cannot read is
    /// never judged safe.
    pub fn parse(text: &str) -> Result<Descriptor, String> {
        // Split into components at a top-level `X:` (X one of O, G, D, S).
        let bytes = text.as_bytes();
        let mut parts: Vec<(u8, &str)> = Vec::new();
        let mut depth = 0usize;
        let mut start: Option<(u8, usize)> = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if depth == 0
                && matches!(b.to_ascii_uppercase(), b'O' | b'G' | b'D' | b'S')
                && bytes.get(i + 1) == Some(&b':')
            {
                if let Some((k, s)) = start {
                    parts.push((k, &text[s..i]));
                }
                start = Some((b.to_ascii_uppercase(), i + 2));
                i += 2;
                continue;
            }
            match b {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if start.is_none() && !b.is_ascii_whitespace() {
                return Err(format!("SDDL does not start with a component: {text:?}"));
            }
            i += 1;
        }
        if let Some((k, s)) = start {
            parts.push((k, &text[s..]));
        }
        let mut out = Descriptor {
            owner: None,
            dacl: None,
        };
        for (kind, body) in parts {
            match kind {
                b'O' => out.owner = Some(Sid::parse(body)?),
                b'D' => out.dacl = Some(parse_dacl(body.trim())?),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "S-1-5-21-1-2-3-1001";

    fn me() -> Sid {
        Sid::parse(USER).unwrap()
    }

    #[test]
    fn private_descriptors_name_the_user_and_system_only() {
        assert_eq!(
            private_sddl(&me(), true),
            format!("D:P(A;OICI;FA;;;{USER})(A;OICI;FA;;;SY)")
        );
        assert_eq!(
            private_sddl(&me(), false),
            format!("D:P(A;;FA;;;{USER})(A;;FA;;;SY)")
        );
        assert_eq!(pipe_sddl(&me()), format!("D:P(A;;GA;;;{USER})"));
    }

    #[test]
    fn what_is_built_parses_back() {
        let d = Descriptor::parse(&private_sddl(&me(), true)).unwrap();
        assert_eq!(d.owner, None);
        let dacl = d.dacl.unwrap();
        assert!(dacl.protected);
        let aces = dacl.aces.unwrap();
        assert_eq!(aces.len(), 2);
        assert_eq!(aces[0].sid, me());
        assert_eq!(aces[1].sid, Sid::system());
        for a in &aces {
            assert_eq!(a.kind, AceType::Allow);
            assert_eq!(a.mask, FILE_ALL_ACCESS);
            assert!(a.object_inherit && a.container_inherit && !a.inherit_only);
        }
    }

    /// What `ConvertSecurityDescriptorToStringSecurityDescriptorW` writes for a folder under
    /// `%ProgramData%` (owner, inherited entries, hex masks, `IO` entries for CREATOR OWNER).
    #[test]
    fn windows_output_parses() {
        let text = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;GA;;;CO)\
                    (A;OICI;0x1200a9;;;BU)(A;CI;DCLC;;;BU)";
        let d = Descriptor::parse(text).unwrap();
        assert_eq!(d.owner, Some(Sid::administrators()));
        let dacl = d.dacl.unwrap();
        assert!(dacl.protected);
        let aces = dacl.aces.unwrap();
        assert_eq!(aces.len(), 5);
        assert!(aces[2].inherit_only);
        assert_eq!(aces[2].mask, GENERIC_ALL);
        assert_eq!(aces[3].mask, 0x0012_00A9);
        assert_eq!(aces[4].mask, 0x6);
        assert_eq!(aces[4].sid, Sid::parse("S-1-5-32-545").unwrap());
        // A conditional ACE with its own parentheses, and the SACL after the DACL.
        let d = Descriptor::parse(&format!(
            "O:{USER}D:(XA;;FR;;;WD;(@User.Title==\"PM\"))(D;;FA;;;AN)S:(AU;SA;FA;;;WD)"
        ))
        .unwrap();
        assert_eq!(d.owner, Some(me()));
        let dacl = d.dacl.unwrap();
        assert!(!dacl.protected);
        let aces = dacl.aces.unwrap();
        assert_eq!(aces[0].kind, AceType::Allow);
        assert_eq!(aces[1].kind, AceType::Deny);
    }

    #[test]
    fn a_null_dacl_is_told_apart_from_an_empty_one() {
        let null = Descriptor::parse("O:SYD:NO_ACCESS_CONTROL").unwrap();
        assert_eq!(null.dacl.unwrap().aces, None);
        let empty = Descriptor::parse("O:SYD:P").unwrap();
        assert_eq!(empty.dacl.unwrap().aces, Some(vec![]));
        assert_eq!(Descriptor::parse("O:SY").unwrap().dacl, None);
    }

    #[test]
    fn rights_codes_and_numbers() {
        assert_eq!(parse_rights("FA").unwrap(), FILE_ALL_ACCESS);
        assert_eq!(parse_rights("0x1f01ff").unwrap(), FILE_ALL_ACCESS);
        assert_eq!(parse_rights("2032127").unwrap(), FILE_ALL_ACCESS);
        assert_eq!(
            parse_rights("CCDCLCSWRPWPDTLOCRSDRCWDWO").unwrap(),
            0x000F_01FF
        );
        for bad in ["", "F", "ZZ", "0xZZ", "FAX"] {
            assert!(parse_rights(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn what_cannot_be_read_is_an_error() {
        for bad in [
            "garbage",
            "D:(A;;FA;;;SY",
            "D:(A;;FA;;;SY))",
            "D:(A;;FA;;)",
            "D:(ML;;NW;;;LW)",
            "D:(A;XX;FA;;;SY)",
            "D:(A;;FA;;;DA)",
            "D:QQ(A;;FA;;;SY)",
            "D:(A;;FA;;;SY)x(A;;FA;;;SY)",
            "O:nobody",
        ] {
            assert!(Descriptor::parse(bad).is_err(), "{bad:?}");
        }
    }
}
