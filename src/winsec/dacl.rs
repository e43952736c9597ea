//! Judgements on a parsed security descriptor: is a state folder or file already private to the
//! user, may its owner be trusted, and can only administrators change a machine-wide file. Pure.

use super::sddl::{AceType, Descriptor, private_sddl};
use super::sid::Sid;

/// Rights that change what a file says or who may change it: write or append data (on a
/// folder: add a file or a subfolder), delete a child, delete, change the DACL or the owner, and
/// the generic write and all. Reading, executing and attributes do not change a TOML file.
pub const WRITE_RIGHTS: u32 = 0x0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0040 // FILE_DELETE_CHILD
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE

/// Whether only administrators (`BUILTIN\Administrators`, `SYSTEM`) own `sd` and can change
/// the object; otherwise why not, in words for a warning. Entries that apply only to what is
/// created inside (`IO`) and deny entries grant nothing here; a NULL DACL grants everything.
pub fn admin_only_writable(sd: &Descriptor) -> Result<(), String> {
    match &sd.owner {
        Some(o) if o.is_admin() => {}
        Some(o) => return Err(format!("owned by {o}, not by Administrators or SYSTEM")),
        None => return Err("its owner could not be read".into()),
    }
    let Some(Some(aces)) = sd.dacl.as_ref().map(|d| d.aces.as_ref()) else {
        return Err("it has no DACL, so everyone may change it".into());
    };
    for ace in aces {
        if ace.kind == AceType::Allow
            && !ace.inherit_only
            && ace.mask & WRITE_RIGHTS != 0
            && !ace.sid.is_admin()
        {
            return Err(format!(
                "{} may change it (access mask {:#x})",
                ace.sid, ace.mask
            ));
        }
    }
    Ok(())
}

/// Whether a state folder or file already has exactly the private DACL this program sets
/// ([`private_sddl`]): protected, and the same entries in any order. Anything else is replaced.
pub fn is_private(sd: &Descriptor, user: &Sid, folder: bool) -> bool {
    let Ok(want) = Descriptor::parse(&private_sddl(user, folder)) else {
        return false;
    };
    let (Some(have), Some(want)) = (&sd.dacl, &want.dacl) else {
        return false;
    };
    let (Some(have_aces), Some(want_aces)) = (&have.aces, &want.aces) else {
        return false;
    };
    have.protected
        && have_aces.len() == want_aces.len()
        && want_aces.iter().all(|w| have_aces.contains(w))
}

/// Whether an existing state folder's owner leaves it ours: the user, or the administrators
/// (an elevated process's files are owned by the Administrators group, and they can do anything
/// anyway). Another user would keep the right to change the DACL we set.
pub fn owner_is_acceptable(sd: &Descriptor, user: &Sid) -> Result<(), String> {
    match &sd.owner {
        Some(o) if o == user || o.is_admin() => Ok(()),
        Some(o) => Err(format!("owned by {o}, not by us ({user})")),
        None => Err("its owner could not be read".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "S-1-5-21-1-2-3-1001";

    fn sd(text: &str) -> Descriptor {
        Descriptor::parse(text).unwrap()
    }

    #[test]
    fn an_installer_made_folder_is_admin_only() {
        // Administrators and SYSTEM full; users read and execute; CREATOR OWNER inherit-only.
        let ok =
            "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)";
        assert_eq!(admin_only_writable(&sd(ok)), Ok(()));
        assert_eq!(admin_only_writable(&sd("O:SYD:P(A;;FR;;;WD)")), Ok(()));
        // A deny entry grants nothing.
        assert_eq!(admin_only_writable(&sd("O:SYD:(D;;FA;;;WD)")), Ok(()));
    }

    #[test]
    fn a_folder_users_may_write_is_not() {
        // %ProgramData%'s own inheritable grant: users may add files and folders.
        let e = admin_only_writable(&sd("O:BAD:AI(A;OICI;FA;;;BA)(A;CI;DCLC;;;BU)")).unwrap_err();
        assert!(e.contains("S-1-5-32-545") && e.contains("0x6"), "{e}");
        for (text, why) in [
            ("O:BAD:(A;;FW;;;AU)", "S-1-5-11 may change"),
            ("O:BAD:(A;;GA;;;WD)", "S-1-1-0 may change"),
            ("O:BAD:(A;;0x40000;;;BU)", "may change"),
            ("O:BAD:(A;;SD;;;BU)", "may change"),
            (&format!("O:BAD:(A;;GW;;;{USER})"), USER),
            (&format!("O:{USER}D:P(A;;FA;;;SY)"), "owned by S-1-5-21"),
            ("O:BUD:P(A;;FA;;;SY)", "owned by S-1-5-32-545"),
            ("D:P(A;;FA;;;SY)", "owner could not be read"),
            ("O:BAD:NO_ACCESS_CONTROL", "no DACL"),
            ("O:BA", "no DACL"),
        ] {
            let e = admin_only_writable(&sd(text)).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn reading_and_attributes_are_not_writing() {
        // Read, execute, read and write attributes and EAs: none changes what the file says.
        assert_eq!(
            admin_only_writable(&sd("O:BAD:(A;;0x1201b9;;;BU)(A;;0x120089;;;WD)")),
            Ok(())
        );
        // One bit of write data is enough to refuse.
        assert!(admin_only_writable(&sd("O:BAD:(A;;0x2;;;BU)")).is_err());
    }

    #[test]
    fn the_private_dacl_is_recognised_in_any_order_and_nothing_else_is() {
        let me = Sid::parse(USER).unwrap();
        let built = sd(&private_sddl(&me, true));
        assert!(is_private(&built, &me, true));
        assert!(!is_private(&built, &me, false));
        // As Windows reports it back: owner, auto-inherited flag, SYSTEM first.
        let back = sd(&format!(
            "O:{USER}D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;{USER})"
        ));
        assert!(is_private(&back, &me, true));
        for loose in [
            format!("D:AI(A;OICI;FA;;;SY)(A;OICI;FA;;;{USER})"), // not protected
            format!("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;{USER})(A;OICI;FR;;;BU)"), // users read
            format!("D:P(A;OICI;FA;;;{USER})"),                  // SYSTEM missing
            format!("D:P(A;OICI;FR;;;SY)(A;OICI;FA;;;{USER})"),  // SYSTEM read only
            "D:NO_ACCESS_CONTROL".to_string(),
            "O:SY".to_string(),
        ] {
            assert!(!is_private(&sd(&loose), &me, true), "{loose}");
        }
        let other = Sid::parse("S-1-5-21-1-2-3-1002").unwrap();
        assert!(!is_private(&built, &other, true));
    }

    #[test]
    fn a_state_folder_owned_by_another_user_is_not_ours() {
        let me = Sid::parse(USER).unwrap();
        assert_eq!(owner_is_acceptable(&sd(&format!("O:{USER}")), &me), Ok(()));
        assert_eq!(owner_is_acceptable(&sd("O:BA"), &me), Ok(()));
        assert_eq!(owner_is_acceptable(&sd("O:SY"), &me), Ok(()));
        let e = owner_is_acceptable(&sd("O:S-1-5-21-1-2-3-1002"), &me).unwrap_err();
        assert!(e.contains("S-1-5-21-1-2-3-1002") && e.contains(USER), "{e}");
        assert!(owner_is_acceptable(&sd("D:P"), &me).is_err());
    }
}
