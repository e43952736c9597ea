//! The saved web session of a profile: the webview's cookies (session cookies included), kept in
//! a private file so the next sign-in does not ask for the password while the IdP session lives.
//! Tokens are never stored here.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::dirs::write_private;
use crate::error::{Error, Result};
use crate::window::SavedCookie;

const FILE: &str = "web-session.json";
const LOCK: &str = "lock";

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    version: u32,
    cookies: Vec<SavedCookie>,
}

/// Holds the profile lock until dropped: one sign-in per profile at a time (WebKit's own cookie
/// jar in the data dir is rewritten whole and races between processes).
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

/// Takes the profile's lock, waiting for another sign-in of the same profile to finish.
pub fn lock(profile_dir: &Path) -> Result<ProfileLock> {
    let path = profile_dir.join(LOCK);
    let file = crate::dirs::open_lock_file(&path)?;
    file.lock()
        .map_err(|e| Error::state(&path, format!("cannot lock: {e}")))?;
    Ok(ProfileLock { _file: file })
}

pub fn path(profile_dir: &Path) -> PathBuf {
    profile_dir.join(FILE)
}

/// Loads the saved cookies. A missing file is an empty session; a damaged one is set aside
/// (renamed `*.damaged`) with a warning, never a failure; so is one another user owns
/// (`*.foreign-uid<N>`: cookies someone planted would sign us in as them).
pub fn load(profile_dir: &Path) -> Vec<SavedCookie> {
    let p = path(profile_dir);
    if let Err(e) = crate::dirs::set_aside_foreign(&p) {
        tracing::warn!("the saved web session is not used: {e}");
        return vec![];
    }
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
        Err(e) => {
            tracing::warn!("{}: cannot read the saved web session: {e}", p.display());
            return vec![];
        }
    };
    match decode(&bytes, time::OffsetDateTime::now_utc().unix_timestamp()) {
        Some(cookies) => cookies,
        None => {
            let aside = p.with_extension("json.damaged");
            tracing::warn!(
                "{}: saved web session is damaged; moved to {}",
                p.display(),
                aside.display()
            );
            let _ = std::fs::rename(&p, &aside);
            vec![]
        }
    }
}

/// The cookies of a stored web session that are still live at `now` (unix seconds), or `None`
/// when the bytes are not a store this version wrote. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8], now: i64) -> Option<Vec<SavedCookie>> {
    match serde_json::from_slice::<Stored>(bytes) {
        Ok(s) if s.version == 1 => Some(
            s.cookies
                .into_iter()
                .filter(|c| c.expires.is_none_or(|e| e > now))
                .collect(),
        ),
        _ => None,
    }
}

/// The bytes `save` writes for `cookies`.
pub fn encode(cookies: &[SavedCookie]) -> Result<Vec<u8>> {
    let stored = Stored {
        version: 1,
        cookies: cookies.to_vec(),
    };
    serde_json::to_vec(&stored).map_err(|e| Error::Internal(e.to_string()))
}

pub fn save(profile_dir: &Path, cookies: &[SavedCookie]) -> Result<()> {
    write_private(&path(profile_dir), &encode(cookies)?)
}

/// Forgets the web session: the saved cookies and WebKit's own data directory.
pub fn clear(profile_dir: &Path) -> Result<()> {
    let p = path(profile_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::state(&p, e)),
    }
    let wk = webview_dir(profile_dir);
    match std::fs::remove_dir_all(&wk) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::state(&wk, e)),
    }
}

/// WebKit's data directory for the profile.
pub fn webview_dir(profile_dir: &Path) -> PathBuf {
    profile_dir.join("webview")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(name: &str, expires: Option<i64>) -> SavedCookie {
        SavedCookie {
            name: name.into(),
            value: "v".to_string().into(),
            domain: "idp.example".into(),
            path: "/".into(),
            secure: true,
            http_only: true,
            expires,
            same_site: None,
        }
    }

    #[test]
    fn save_load_drops_expired_and_sets_aside_damage() {
        let t = tempfile::tempdir().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        save(
            t.path(),
            &[
                cookie("live", None),
                cookie("old", Some(now - 10)),
                cookie("later", Some(now + 999)),
            ],
        )
        .unwrap();
        let names: Vec<_> = load(t.path()).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["live", "later"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(path(t.path()))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
        }
        std::fs::write(path(t.path()), b"{half a fi").unwrap();
        assert!(load(t.path()).is_empty());
        assert!(t.path().join("web-session.json.damaged").exists());
        clear(t.path()).unwrap();
        assert!(!path(t.path()).exists());
    }
}
