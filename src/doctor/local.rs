//! The doctor's checks of this machine's own pieces: the config files the loader considered,
//! the window program beside the CLI, the state directories' privacy, and the profile's agent.

#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::report::Check;
use crate::cli::ServerArgs;
use crate::config::{ConfigFileStatus, ConsideredFile, FileConfig};
use crate::dirs::Dirs;
use crate::error::Error;
use crate::ipc::client::Client;
use crate::ipc::transport::Endpoint;

/// One row per file the loader considered: read, missing, invalid (every command refuses to
/// run) or ignored (with the reason). `parsed` is the loaded file, for its unknown keys.
pub fn config_file(file: &ConsideredFile, parsed: Option<&FileConfig>) -> Check {
    let name = match file.role {
        crate::config::ConfigRole::Machine => "config_machine",
        crate::config::ConfigRole::User => "config_user",
    };
    let path = file.path.display();
    match &file.status {
        ConfigFileStatus::Read => {
            let unknown: Vec<&str> = parsed
                .map(|f| f.unknown.keys().map(String::as_str).collect())
                .unwrap_or_default();
            if unknown.is_empty() {
                Check::ok(name, format!("read {path}"))
            } else {
                Check::warn(
                    name,
                    format!("read {path}; unknown keys ignored: {}", unknown.join(", ")),
                )
            }
        }
        ConfigFileStatus::Missing => Check::skip(name, format!("{path} does not exist")),
        // The loader's message names the place (line, column) but never quotes a value.
        ConfigFileStatus::Invalid(why) => Check::fail(name, why.clone()),
        ConfigFileStatus::Ignored(why) => Check::warn(name, format!("ignored {path}: {why}")),
    }
}

/// The window program `login` would start (the same lookup) and whether it starts: it prints
/// its version before it needs anything else, so a missing shared library shows here.
pub async fn window_program() -> Check {
    const NAME: &str = "window_program";
    let exe = match crate::window::program::webview_exe() {
        Ok(p) => p,
        Err(e) => return Check::fail(NAME, e.to_string()),
    };
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(20), cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Check::fail(NAME, format!("{} does not start: {e}", exe.display())),
        Err(_) => {
            return Check::fail(
                NAME,
                format!("{} --version did not finish within 20 s", exe.display()),
            );
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // STATUS_DLL_NOT_FOUND: Windows could not load the program at all.
    if cfg!(windows) && out.status.code().map(|c| c as u32) == Some(0xC000_0135) {
        return Check::fail(
            NAME,
            format!(
                "{} cannot start: a DLL it needs is missing (WebView2Loader.dll belongs beside it)",
                exe.display()
            ),
        );
    }
    if !out.status.success() {
        let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Check::fail(
            NAME,
            format!("{} --version failed ({}): {why}", exe.display(), out.status),
        );
    }
    let want = format!("finesse-sso-webview {}", env!("CARGO_PKG_VERSION"));
    if stdout.trim() == want {
        Check::ok(NAME, format!("{} ({want})", exe.display()))
    } else {
        Check::warn(
            NAME,
            format!(
                "{} answers {:?}, not {want:?}: install both programs from one package",
                exe.display(),
                stdout.trim()
            ),
        )
    }
}

/// Whether the state directories that exist are ours and private (0700); nothing is created or
/// changed here. What is missing is made private at first use.
#[cfg(unix)]
pub fn state_dirs(dirs: &Dirs, profile: &str) -> Check {
    use std::os::unix::fs::MetadataExt;
    const NAME: &str = "state_dirs";
    let profile_dir = match dirs.profile_path(profile) {
        Ok(p) => p,
        Err(e) => return Check::fail(NAME, e.to_string()),
    };
    let mut wanted: Vec<PathBuf> = vec![
        dirs.state.clone(),
        dirs.state.join("profiles"),
        profile_dir.clone(),
        dirs.runtime.clone(),
    ];
    wanted.dedup();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut problems = Vec::new();
    let mut seen = 0;
    for dir in &wanted {
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        seen += 1;
        if !meta.is_dir() {
            problems.push(format!("{} is not a directory", dir.display()));
        } else if meta.uid() != me {
            problems.push(format!(
                "{} is owned by uid {}, not by us (uid {me})",
                dir.display(),
                meta.uid()
            ));
        } else if meta.mode() & 0o077 != 0 {
            problems.push(format!(
                "{} is mode {:o}: others can enter it (chmod 700)",
                dir.display(),
                meta.mode() & 0o777
            ));
        }
    }
    problems.extend(loose_files(&profile_dir, me));
    if !problems.is_empty() {
        Check::fail(NAME, problems.join("; "))
    } else if seen == 0 {
        Check::skip(
            NAME,
            format!(
                "{} does not exist yet (created 0700 at first use)",
                dirs.state.display()
            ),
        )
    } else {
        Check::ok(
            NAME,
            format!(
                "{seen} directories under {} are 0700 and ours",
                dirs.state.display()
            ),
        )
    }
}

/// Files directly in the profile directory (the saved web session, its lock) that others
/// could read or that are not ours.
#[cfg(unix)]
fn loose_files(dir: &Path, me: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            let p = e.path();
            if m.uid() != me {
                Some(format!("{} is owned by uid {}", p.display(), m.uid()))
            } else if m.mode() & 0o077 != 0 {
                Some(format!(
                    "{} is mode {:o} (chmod 600)",
                    p.display(),
                    m.mode() & 0o777
                ))
            } else {
                None
            }
        })
        .collect()
}

/// Windows: the folders' ACLs are set by the state code and not read back here.
#[cfg(not(unix))]
pub fn state_dirs(dirs: &Dirs, _profile: &str) -> Check {
    Check::skip(
        "state_dirs",
        format!(
            "{}: ACLs are not inspected by doctor on Windows",
            dirs.state.display()
        ),
    )
}

/// Whether an agent answers for the profile, and that its pipe is ours: the client's own
/// connect refuses a socket (pipe) served by another user.
pub async fn agent(dirs: &Dirs, server: &ServerArgs) -> Check {
    const NAME: &str = "agent";
    let profile = server.profile();
    let ep = match Endpoint::locate(dirs, profile) {
        Ok(ep) => ep,
        Err(e) => return Check::fail(NAME, e.to_string()),
    };
    let connect = Client::connect(&ep, profile, "finesse-sso doctor");
    let client = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(Error::AgentNotRunning(_))) => {
            return Check::ok(
                NAME,
                format!("none running for profile {profile} (`finesse-sso token` starts one)"),
            );
        }
        Ok(Err(e)) => return Check::fail(NAME, e.to_string()),
        Err(_) => {
            return Check::fail(
                NAME,
                format!(
                    "{} accepted but did not answer hello within 10 s",
                    ep.display()
                ),
            );
        }
    };
    let h = &client.hello;
    let about = format!(
        "ours: pid {} on {}, signs in {} at {}",
        h.pid,
        ep.display(),
        h.user,
        crate::redact::url_str(&h.server)
    );
    let wanted = server
        .server
        .as_deref()
        .and_then(|s| crate::finesse::address::parse_sides(s).ok())
        .and_then(|sides| sides.into_iter().next())
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    match (wanted, &server.user) {
        (Some(w), _) if w != h.server => Check::warn(
            NAME,
            format!("{about}; not the configured {}", crate::redact::url_str(&w)),
        ),
        (_, Some(u)) if u != &h.user => {
            Check::warn(NAME, format!("{about}; not the configured user {u}"))
        }
        _ => Check::ok(NAME, about),
    }
}
