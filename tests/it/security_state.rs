//! Issue 12, finding 5: files another user planted in our state directories (while one was
//! open to others) are never used: a foreign lock file cannot block the agent, a foreign web
//! session is not loaded, and tightening a loose directory moves out what is not ours. Each
//! case is set aside as `<name>.foreign-uid<N>` with a warning naming the path and the owner.
//! Needs root (to make files owned by `nobody`, uid 65534); CI runs as root.
#![cfg(unix)]

use std::fs::File;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;

use crate::support;

const NOBODY: u32 = 65534;

fn plant(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn bin(home: &Path) -> Command {
    let mut c = support::cli(home);
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c
}

/// Found by the security review: a lock file another user planted in the runtime directory
/// (and holds locked) made every `agent start` fail as "already running".
#[test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
fn a_foreign_lock_file_does_not_block_the_agent() {
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let lock = run.join("default.lock");
    plant(&lock, b"");
    // "Another user" holds it, as their process would.
    let held = File::open(&lock).unwrap();
    held.try_lock().unwrap();

    let o = bin(home.path())
        .args([
            "agent",
            "start",
            "--lazy",
            "--server",
            "finesse.invalid",
            "--user",
            "a",
        ])
        .output()
        .unwrap();
    let stop = || bin(home.path()).args(["agent", "stop"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if !o.status.success() {
        stop();
    }
    assert!(o.status.success(), "{err}");
    let log = std::fs::read_to_string(home.path().join("state/agent-default.log")).unwrap();
    assert!(
        log.contains(&lock.display().to_string()) && log.contains(&format!("uid {NOBODY}")),
        "no warning naming the lock and its owner: {log}"
    );
    assert!(
        run.join(format!("default.lock.foreign-uid{NOBODY}"))
            .exists()
    );
    assert!(stop().status.success());
}

/// Found by the security review: a `web-session.json` another user planted was loaded, and
/// its cookies restored into our sign-in window.
#[test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
fn a_foreign_web_session_is_not_loaded() {
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let dirs = finesse_sso::dirs::Dirs::under(home.path());
    let profile = dirs.profile("default").unwrap();
    let cookie = finesse_sso::window::SavedCookie {
        name: "idp_session".into(),
        value: finesse_sso::redact::Secret::new("attackers-session".into()),
        domain: "idp.example".into(),
        path: "/".into(),
        secure: true,
        http_only: true,
        expires: None,
        same_site: None,
    };
    // Ours loads; the same bytes owned by someone else do not.
    finesse_sso::websession::save(&profile, std::slice::from_ref(&cookie)).unwrap();
    assert_eq!(
        finesse_sso::websession::load(&profile),
        vec![cookie.clone()]
    );
    let file = finesse_sso::websession::path(&profile);
    chown(&file, Some(NOBODY), Some(NOBODY)).unwrap();
    assert_eq!(finesse_sso::websession::load(&profile), vec![]);
    assert_eq!(
        names(&profile),
        [format!("web-session.json.foreign-uid{NOBODY}")]
    );
}

/// Found by the security review: a directory open to others was tightened to 0700 but kept
/// what others had put in it.
#[test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
fn tightening_a_loose_directory_moves_out_what_is_not_ours() {
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let dirs = finesse_sso::dirs::Dirs::under(home.path());
    let profile = dirs.profile("default").unwrap();
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o777)).unwrap();
    plant(&profile.join("lock"), b"");
    plant(&profile.join("anything"), b"x");
    std::fs::write(profile.join("ours"), b"y").unwrap();
    let again = dirs.profile("default").unwrap();
    assert_eq!(
        std::fs::metadata(&again).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        names(&again),
        [
            format!("anything.foreign-uid{NOBODY}"),
            format!("lock.foreign-uid{NOBODY}"),
            "ours".to_string(),
        ]
    );
    // The profile lock is ours again.
    let _lock = finesse_sso::websession::lock(&again).unwrap();
}
