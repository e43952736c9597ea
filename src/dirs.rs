//! Every path the helper uses (config, state, runtime), one override for tests, private creation.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Points every path below one directory (tests, portable installs).
pub const HOME_ENV: &str = "FINESSE_SSO_HOME";

/// Where the helper keeps things. Built once from the environment and passed down.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub config: PathBuf,
    pub state: PathBuf,
    pub runtime: PathBuf,
}

impl Dirs {
    /// From the environment: `FINESSE_SSO_HOME`, else the platform's conventions
    /// (XDG on Linux, `%LOCALAPPDATA%` on Windows, `~/Library` on macOS).
    pub fn from_env() -> Result<Self> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Dirs::under(Path::new(&home)));
        }
        platform()
    }

    /// Everything under one root (what `FINESSE_SSO_HOME` selects).
    pub fn under(root: &Path) -> Self {
        Dirs {
            config: root.join("config"),
            state: root.join("state"),
            runtime: root.join("run"),
        }
    }

    /// The per-profile state directory (webview data, saved web session), created private.
    pub fn profile(&self, profile: &str) -> Result<PathBuf> {
        check_profile_name(profile)?;
        // Every level we own is private, not just the leaf (a 0755 parent lists profile names).
        let profiles = self.state.join("profiles");
        ensure_private_dir(&self.state)?;
        ensure_private_dir(&profiles)?;
        let dir = profiles.join(profile);
        ensure_private_dir(&dir)?;
        Ok(dir)
    }

    /// Where `profile`'s state directory is, creating nothing (`doctor` looks without touching).
    pub fn profile_path(&self, profile: &str) -> Result<PathBuf> {
        check_profile_name(profile)?;
        Ok(self.state.join("profiles").join(profile))
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }
}

/// A profile name is one safe path component.
fn check_profile_name(profile: &str) -> Result<()> {
    if profile.is_empty()
        || profile.len() > 64
        || !profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || profile.starts_with('.')
    {
        return Err(Error::Usage(format!(
            "profile name {profile:?}: use 1-64 letters, digits, '-', '_' or '.' (not leading)"
        )));
    }
    Ok(())
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform() -> Result<Dirs> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = |var: &str, fallback: &str| -> Result<PathBuf> {
        match std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            Some(p) => Ok(p.join("finesse-sso")),
            None => home
                .as_ref()
                .map(|h| h.join(fallback).join("finesse-sso"))
                .ok_or_else(|| Error::Usage(format!("neither {var} nor HOME is set"))),
        }
    };
    let state = xdg("XDG_STATE_HOME", ".local/state")?;
    // XDG_RUNTIME_DIR is per-user, private and tmpfs; without it, a private dir inside our state.
    let runtime = match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(p) => p.join("finesse-sso"),
        None => state.join("run"),
    };
    Ok(Dirs {
        config: xdg("XDG_CONFIG_HOME", ".config")?,
        state,
        runtime,
    })
}

#[cfg(target_os = "macos")]
fn platform() -> Result<Dirs> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage("HOME is not set".into()))?;
    let app = home.join("Library/Application Support/finesse-sso");
    Ok(Dirs {
        config: app.clone(),
        state: app.clone(),
        runtime: app.join("run"),
    })
}

#[cfg(windows)]
fn platform() -> Result<Dirs> {
    let local = std::env::var_os("LOCALAPPDATA")
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage("LOCALAPPDATA is not set".into()))?;
    let app = local.join("finesse-sso");
    Ok(Dirs {
        config: app.clone(),
        state: app.clone(),
        runtime: app.join("run"),
    })
}

/// Creates `dir` (and parents) so that `dir` itself is 0700 and owned by us; an existing
/// directory that others can enter or that someone else owns is refused, not silently used.
/// Windows: the same with a protected DACL granting the user and SYSTEM only (set on a new
/// folder at creation; an existing one with any other DACL gets it, and passes it on inside).
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::state(parent, e))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::state(dir, e)),
        }
        let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::state(dir, e))?;
        if !meta.is_dir() {
            return Err(Error::state(dir, "exists and is not a directory"));
        }
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        if meta.uid() != uid {
            return Err(Error::state(
                dir,
                format!("owned by uid {}, not by us ({uid})", meta.uid()),
            ));
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::state(dir, e))?;
            // Others could write here until now: what they left is not ours to use.
            for entry in std::fs::read_dir(dir).map_err(|e| Error::state(dir, e))? {
                let entry = entry.map_err(|e| Error::state(dir, e))?;
                set_aside_foreign(&entry.path())?;
            }
        }
    }
    #[cfg(windows)]
    {
        use crate::winsec::{dacl, sys};
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::state(parent, e))?;
        }
        let me = sys::current_user().map_err(|e| Error::state(dir, e))?;
        // Born with the private DACL when new, so it is never open to others.
        let created = sys::create_private_dir(dir, &me).map_err(|e| Error::state(dir, e))?;
        let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::state(dir, e))?;
        if !meta.is_dir() {
            return Err(Error::state(dir, "exists and is not a directory"));
        }
        if !created {
            let sd = sys::path_descriptor(dir).map_err(|e| Error::state(dir, e))?;
            dacl::owner_is_acceptable(&sd, &me).map_err(|why| Error::state(dir, why))?;
            // Set only when it differs: setting it passes it on to everything inside.
            if !dacl::is_private(&sd, &me, true) {
                sys::set_private(dir, &me, true)
                    .map_err(|e| Error::state(dir, format!("making it private: {e}")))?;
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    std::fs::create_dir_all(dir).map_err(|e| Error::state(dir, e))?;
    Ok(())
}

/// Creates `tmp` (never an existing file) for writing, private from its first moment: 0600 on
/// Unix, the user-and-SYSTEM DACL on Windows (set at creation, before any byte or rename).
fn create_private_new(tmp: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(windows)]
    {
        let me = crate::winsec::sys::current_user()?;
        crate::winsec::sys::create_private_file(tmp, &me)
    }
    #[cfg(not(windows))]
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(tmp)
    }
}

/// Moves `path` aside (to `<name>.foreign-uid<owner>` in the same directory) when it is not
/// ours to use: owned by another user (planted while its directory was open to others: a
/// lock file that would block us, a web session that would be loaded) or a symbolic link
/// (which would redirect our writes). Says so with the path and the owner. Absent or ours:
/// nothing happens. What cannot be moved aside is refused with the same words.
pub fn set_aside_foreign(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::state(path, e)),
        };
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let why = if meta.uid() != me {
            format!("owned by uid {}, not by us (uid {me})", meta.uid())
        } else if meta.file_type().is_symlink() {
            "a symbolic link, which this program never makes".to_string()
        } else {
            return Ok(());
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = path.with_file_name(format!("{name}.foreign-uid{}", meta.uid()));
        std::fs::rename(path, &aside).map_err(|e| {
            Error::state(
                path,
                format!("{why}; refusing to use it, and it cannot be moved aside: {e}"),
            )
        })?;
        tracing::warn!(
            "{}: {why}; not used, moved aside to {}",
            path.display(),
            aside.display()
        );
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens (creating, 0600, never truncating) a file used only for its advisory lock. An
/// existing one opens read-only when it cannot be written (a read-only or full state
/// directory): the lock needs no write access, and what it guards can go on from memory.
/// A lock file someone else planted (or holds) is moved aside first ([`set_aside_foreign`]).
pub fn open_lock_file(path: &Path) -> Result<std::fs::File> {
    set_aside_foreign(path)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
        .or_else(|e| std::fs::File::open(path).map_err(|_| e))
        .map_err(|e| Error::state(path, e))
}

/// Writes `bytes` to `path` atomically (temp file in the same dir, fsync, rename), mode 0600
/// (Windows: the private DACL, which the rename keeps).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| Error::state(path, "no parent directory"))?;
    ensure_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = create_private_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::state(path, e));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn profile_dirs_are_private_and_names_checked() {
        let t = tempfile::tempdir().unwrap();
        let d = Dirs::under(t.path());
        let p = d.profile("default").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for bad in ["", "../x", ".hidden", "a/b", &"x".repeat(65)] {
            assert!(matches!(d.profile(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn loose_existing_dir_is_tightened() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s");
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    /// Found by the security review: tightening a loose directory left what others had put
    /// in it; a planted lock file then blocked the agent. (Ownership by another user needs
    /// root to set up: tests/security_state.rs. A symbolic link shows the same mechanism.)
    #[test]
    fn a_loose_dir_is_emptied_of_what_is_not_ours() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(t.path().join("elsewhere"), b"x").unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), p.join("planted")).unwrap();
        std::fs::write(p.join("mine"), b"m").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        ensure_private_dir(&p).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(
            names,
            ["mine".to_string(), format!("planted.foreign-uid{me}")]
        );
    }

    #[test]
    fn a_planted_link_at_a_lock_path_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        let lock = t.path().join("lock");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let f = open_lock_file(&lock).unwrap();
        drop(f);
        assert!(!std::fs::symlink_metadata(&lock).unwrap().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn atomic_private_write() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("sub").join("file");
        write_private(&f, b"one").unwrap();
        write_private(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(f.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }
}

/// The real calls. Wine runs them but keeps no DACL of its own (it maps one to Unix mode bits
/// and back, dropping the protected flag) and enforces none, so the first test checks what Wine
/// can show (the entries a new folder and file are born with) and the second, the exact
/// protected DACL and the replacement of a loose one, needs Windows itself.
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;
    use crate::winsec::sddl::{Ace, Descriptor, private_sddl};
    use crate::winsec::{dacl, sys};

    fn entries(sd: &Descriptor) -> Vec<Ace> {
        let mut v = sd.dacl.clone().and_then(|d| d.aces).unwrap_or_default();
        v.sort_by_key(|a| a.sid.to_string());
        v
    }

    fn wanted(folder: bool) -> Vec<Ace> {
        let me = sys::current_user().unwrap();
        entries(&Descriptor::parse(&private_sddl(&me, folder)).unwrap())
    }

    #[test]
    fn new_folders_and_files_are_born_with_the_user_and_system_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("state");
        ensure_private_dir(&d).unwrap();
        assert_eq!(entries(&sys::path_descriptor(&d).unwrap()), wanted(true));
        ensure_private_dir(&d).unwrap();
        let f = d.join("web-session.json");
        write_private(&f, b"one").unwrap();
        write_private(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(entries(&sys::path_descriptor(&f).unwrap()), wanted(false));
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "temp file left behind");
    }

    #[test]
    #[cfg_attr(
        skip_windows_security_tests,
        ignore = "Windows only: Wine keeps no DACL (it maps them to Unix mode bits)"
    )]
    fn state_carries_exactly_the_protected_private_dacl() {
        let me = sys::current_user().unwrap();
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("state");
        ensure_private_dir(&d).unwrap();
        let sd = sys::path_descriptor(&d).unwrap();
        assert!(dacl::is_private(&sd, &me, true), "{sd:?}");
        // A folder that exists with another DACL (inherited from the temp folder) gets ours.
        let loose = t.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        ensure_private_dir(&loose).unwrap();
        let sd = sys::path_descriptor(&loose).unwrap();
        assert!(dacl::is_private(&sd, &me, true), "{sd:?}");
        let f = d.join("web-session.json");
        write_private(&f, b"x").unwrap();
        let sd = sys::path_descriptor(&f).unwrap();
        assert!(dacl::is_private(&sd, &me, false), "{sd:?}");
    }
}
