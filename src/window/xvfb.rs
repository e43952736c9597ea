//! A private virtual display for a window with no desktop (demos, CI): our own Xvfb, started
//! with `-displayfd` and a fresh cookie, instead of `xvfb-run -a`.
//!
//! Why not `xvfb-run`: it picks the display number from lock files before Xvfb takes it (two
//! sign-ins at once can pick the same one), and it waits for Xvfb's readiness signal with a
//! `trap`/`wait` pair that hangs for ever when the signal arrives before `wait` starts (seen on a
//! loaded machine). Xvfb itself takes a free number atomically and writes it to the
//! `-displayfd` descriptor once it accepts connections, so both races are gone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::error::{Error, Result};

/// How long Xvfb may take to accept connections (it takes ≈ 50 ms; a loaded CI machine more).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Xvfb and the authority file that admits only holders of its cookie. Dropping it
/// ends the server and removes the file.
pub struct Xvfb {
    child: Child,
    display: String,
    auth: PathBuf,
}

/// Whether `Xvfb` is on PATH.
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("Xvfb").is_file()))
}

impl Xvfb {
    /// Starts a server on a free display, its authority file a private file in `dir`.
    pub async fn start(dir: &Path) -> Result<Xvfb> {
        let cookie = random_cookie()?;
        let auth = dir.join(format!("xvfb-{}.auth", hex(&random_cookie()?[..6])));
        crate::dirs::write_private(&auth, &authority(&cookie))?;
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-auth"])
            .arg(&auth)
            // -noreset: the server would reset whenever its last client leaves, refusing
            // connections meanwhile (a WebKit helper connecting then would fail).
            .args([
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
                "1280x1024x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_file(&auth);
                Error::NoDisplay(format!("cannot run Xvfb: {e}"))
            })?;
        let stdout = child.stdout.take();
        let read = async move {
            let mut line = String::new();
            let mut r = tokio::io::BufReader::new(stdout?);
            r.read_line(&mut line).await.ok()?;
            let n: u32 = line.trim().parse().ok()?;
            Some(n)
        };
        let mut x = Xvfb {
            child,
            display: String::new(),
            auth,
        };
        match tokio::time::timeout(START_TIMEOUT, read).await {
            Ok(Some(n)) => {
                x.display = format!(":{n}");
                tracing::debug!("Xvfb is up on display {}", x.display);
                Ok(x)
            }
            Ok(None) => Err(Error::NoDisplay(
                "Xvfb ended without opening a display".into(),
            )),
            Err(_) => Err(Error::NoDisplay(format!(
                "Xvfb opened no display within {} s",
                START_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Points a window process at this display, and only this one.
    pub fn configure(&self, cmd: &mut Command) {
        cmd.env("DISPLAY", &self.display)
            .env("XAUTHORITY", &self.auth)
            .env_remove("WAYLAND_DISPLAY");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.auth);
    }
}

fn random_cookie() -> Result<[u8; 16]> {
    let mut c = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut c))
        .map_err(|e| Error::NoDisplay(format!("no randomness for the display cookie: {e}")))?;
    Ok(c)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One Xauthority entry (libXau's format: big-endian lengths) for any host and any display
/// number, so the same file serves the server (which loads every cookie in it) and the window
/// (whose libXau matches an empty number to any display).
fn authority(cookie: &[u8; 16]) -> Vec<u8> {
    const FAMILY_WILD: u16 = 0xffff;
    let mut out = FAMILY_WILD.to_be_bytes().to_vec();
    // address, display number, auth name, auth data: each a u16 length and its bytes.
    for f in [&b""[..], b"", b"MIT-MAGIC-COOKIE-1", &cookie[..]] {
        let len = u16::try_from(f.len()).expect("short fields");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_entry_is_libxau_format() {
        let e = authority(&[7; 16]);
        assert_eq!(&e[..2], &[0xff, 0xff], "FamilyWild");
        assert_eq!(&e[2..6], &[0, 0, 0, 0], "no address, no display number");
        assert_eq!(&e[6..8], &[0, 18]);
        assert_eq!(&e[8..26], b"MIT-MAGIC-COOKIE-1");
        assert_eq!(&e[26..28], &[0, 16]);
        assert_eq!(&e[28..], &[7; 16]);
    }
}
