//! Where the window program is: `$FINESSE_SSO_WEBVIEW`, else `finesse-sso-webview` beside the
//! running executable, and nowhere else in a release build (a directory above an install, such
//! as `/usr` or `C:\Program Files`, is not ours to run programs from).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Overrides where the window program is (tests, unusual installs).
pub const WEBVIEW_EXE_ENV: &str = "FINESSE_SSO_WEBVIEW";

/// The window program's file name on this platform.
fn program_name() -> String {
    format!("finesse-sso-webview{}", std::env::consts::EXE_SUFFIX)
}

/// The window program for the running executable.
pub fn webview_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(WEBVIEW_EXE_ENV).filter(|p| !p.is_empty()) {
        return Ok(p.into());
    }
    let me = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find own executable: {e}")))?;
    // Debug builds only: cargo runs test executables from `target/<profile>/deps/`, one below
    // the binaries they start.
    find_beside(&me, cfg!(debug_assertions)).ok_or_else(|| {
        Error::NoDisplay(format!(
            "the window program {} is not installed beside {} (set {WEBVIEW_EXE_ENV} to its path)",
            program_name(),
            me.display()
        ))
    })
}

/// The window program beside `me`; with `cargo_layout`, also one directory up when `me` sits in
/// cargo's `deps` directory.
fn find_beside(me: &Path, cargo_layout: bool) -> Option<PathBuf> {
    let dir = me.parent()?;
    let name = program_name();
    let beside = dir.join(&name);
    if beside.is_file() {
        return Some(beside);
    }
    let in_deps = dir.file_name().is_some_and(|n| n == "deps");
    if cargo_layout && in_deps {
        return dir.parent().map(|d| d.join(&name)).filter(|p| p.is_file());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(exe_dir: &str, program_dir: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(exe_dir)).unwrap();
        std::fs::create_dir_all(root.path().join(program_dir)).unwrap();
        let me = root.path().join(exe_dir).join("finesse-sso");
        std::fs::write(&me, b"").unwrap();
        std::fs::write(root.path().join(program_dir).join(program_name()), b"").unwrap();
        (root, me)
    }

    #[test]
    fn an_install_uses_only_the_program_beside_it() {
        let (root, me) = layout("usr/bin", "usr/bin");
        assert_eq!(
            find_beside(&me, false),
            Some(root.path().join("usr/bin").join(program_name()))
        );
        // A program planted in the directory above (`/usr`) is never run.
        let (_root, me) = layout("usr/bin", "usr");
        assert_eq!(find_beside(&me, false), None);
        assert_eq!(find_beside(&me, true), None, "not cargo's layout");
        // Not even in a release build that happens to live in a `deps` directory.
        let (_root, me) = layout("opt/deps", "opt");
        assert_eq!(find_beside(&me, false), None);
    }

    #[test]
    fn cargo_test_executables_find_the_program_one_up() {
        let (root, me) = layout("target/debug/deps", "target/debug");
        assert_eq!(
            find_beside(&me, true),
            Some(root.path().join("target/debug").join(program_name()))
        );
    }
}
