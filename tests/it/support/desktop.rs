//! Helpers of the desktop tests: `finesse-sso desktop` commands against the emulator.

use std::path::Path;
use std::process::{Command, Stdio};

use finesse_sso_emulator::Emulator;

/// `finesse-sso desktop ARGS` with private state under `home` (stdin closed unless given).
pub fn desktop_command(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    c.env("FINESSE_SSO_HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("FINESSE_SSO_SERVER")
        .env_remove("FINESSE_SSO_USER")
        .arg("desktop")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// `--server URL --user U --ca-file CA` for `emu`.
pub fn server_args(emu: &Emulator, user: &str) -> Vec<String> {
    let mut v = vec![
        "--server".to_string(),
        emu.finesse_url().to_string(),
        "--user".into(),
        user.into(),
    ];
    if let Some(ca) = emu.ca_file() {
        v.push("--ca-file".into());
        v.push(ca.display().to_string());
    }
    v
}
