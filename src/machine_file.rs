//! Whether a machine-wide file (the system `config.toml`) may be trusted: it and its folder are
//! owned by, and writable only by, the administrators. Any user may create folders under
//! `%ProgramData%` and then own them, so a file there can set `proxy` and `ca_file` for everyone;
//! such a file is ignored with a warning, not read.

use std::path::Path;

/// `Ok` when only administrators can have written `path`; otherwise why not, in words for a
/// warning that names the path. Unix: the file and its folder are owned by root and not group-
/// or world-writable, and the file is not a symbolic link to another folder. Windows: both are
/// owned by Administrators or SYSTEM and no entry of their DACLs lets anyone else change them.
pub fn trusted_machine_file(path: &Path) -> Result<(), String> {
    let link = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = std::fs::canonicalize(folder).map_err(|e| format!("its folder: {e}"))?;
    if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
        if target.parent() != Some(folder.as_path()) {
            return Err(format!(
                "a symbolic link to {}, outside its folder",
                target.display()
            ));
        }
    }
    platform::check(path, &folder)
}

/// Unix: who owns a file and who may write it, judged from its owner and mode. Pure.
pub fn unix_owner_and_mode(uid: u32, mode: u32) -> Result<(), String> {
    if uid != 0 {
        return Err(format!("owned by uid {uid}, not by root"));
    }
    if mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 {
            "every user"
        } else {
            "its group"
        };
        return Err(format!("writable by {who} (mode {:o})", mode & 0o7777));
    }
    Ok(())
}

#[cfg(unix)]
mod platform {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    pub fn check(file: &Path, folder: &Path) -> Result<(), String> {
        let f = std::fs::metadata(file).map_err(|e| e.to_string())?;
        if !f.is_file() {
            return Err("not a regular file".into());
        }
        super::unix_owner_and_mode(f.uid(), f.mode())?;
        let d = std::fs::metadata(folder).map_err(|e| format!("its folder: {e}"))?;
        super::unix_owner_and_mode(d.uid(), d.mode())
            .map_err(|why| format!("its folder {} is {why}", folder.display()))
    }
}

#[cfg(windows)]
mod platform {
    use std::path::Path;

    use crate::winsec::{dacl, sys};

    pub fn check(file: &Path, folder: &Path) -> Result<(), String> {
        let f = sys::path_descriptor(file).map_err(|e| e.to_string())?;
        dacl::admin_only_writable(&f)?;
        let d = sys::path_descriptor(folder).map_err(|e| format!("its folder: {e}"))?;
        dacl::admin_only_writable(&d)
            .map_err(|why| format!("its folder {} is {why}", folder.display()))
    }
}

#[cfg(not(any(unix, windows)))]
mod platform {
    pub fn check(_: &std::path::Path, _: &std::path::Path) -> Result<(), String> {
        Err("ownership cannot be checked on this platform".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owned_and_not_writable_by_others() {
        assert_eq!(unix_owner_and_mode(0, 0o100644), Ok(()));
        assert_eq!(unix_owner_and_mode(0, 0o40755), Ok(()));
        assert_eq!(unix_owner_and_mode(0, 0o100600), Ok(()));
        let e = unix_owner_and_mode(1000, 0o100644).unwrap_err();
        assert_eq!(e, "owned by uid 1000, not by root");
        for loose in [0o100664, 0o100646, 0o40775, 0o41777] {
            let e = unix_owner_and_mode(0, loose).unwrap_err();
            let who = if loose & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            };
            assert!(e.contains(&format!("writable by {who}")), "{loose:o}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_root_owned_system_file_is_trusted() {
        // /etc and /etc/passwd are root's and 0755/0644 on every Unix this builds for.
        assert_eq!(trusted_machine_file(Path::new("/etc/passwd")), Ok(()));
    }

    /// Holds whoever runs the tests: a user's file is not root's, and root's own temporary
    /// file is refused once others may write it.
    #[cfg(unix)]
    #[test]
    fn a_file_others_could_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("config.toml");
        std::fs::write(&f, "proxy = \"http://evil:8080\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = trusted_machine_file(&f).unwrap_err();
        assert!(
            e.contains("not by root") || e.contains("writable by every user"),
            "{e}"
        );
        // A loose folder around a tight file.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = trusted_machine_file(&f).unwrap_err();
        assert!(e.contains("not by root") || e.contains("its folder"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_its_folder_is_not_trusted() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("config.toml");
        std::os::unix::fs::symlink("/etc/passwd", &f).unwrap();
        let e = trusted_machine_file(&f).unwrap_err();
        assert!(e.contains("symbolic link to /etc/passwd"), "{e}");
        assert!(trusted_machine_file(&t.path().join("absent.toml")).is_err());
    }
}
