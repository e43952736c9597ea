//! The silent re-login (issue 16, goals 2–3): with a saved web session and the IdP session
//! alive, `finesse-sso login` walks the flow with its own HTTP client and starts no window; where
//! the walk meets anything else (a password form, a hostile page) it stops and the window takes
//! over, ending exactly as the window alone would. The window program is wrapped so every start
//! of it leaves a mark: "no window" is checked, never assumed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support;
use crate::support::driver::http_options;
use crate::support::output;
use finesse_sso::flow::Flow;
use finesse_sso::silent::{self, Silent};
use finesse_sso::testing::HttpDriver;
use finesse_sso_emulator::{Emulator, ForgeMode, SignInSession};

/// A home, and a window program that marks each start before it runs the real one.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("webview-wrapper.sh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
                dir.path().join("window-started").display(),
                env!("CARGO_BIN_EXE_finesse-sso-webview")
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `finesse-sso login -v` with the marking window program.
    fn login(&self, emu: &Emulator, extra: &[&str]) -> Command {
        let mut args = vec!["-v", "--timeout", "30"];
        args.extend_from_slice(extra);
        let mut c = support::login_command(self.path(), emu, "agent1", &args);
        c.env(
            "FINESSE_SSO_WEBVIEW",
            self.path().join("webview-wrapper.sh"),
        );
        c
    }

    /// How many times the window program started since the last call.
    fn windows_started(&self) -> usize {
        let marks = self.path().join("window-started");
        let n = std::fs::read_to_string(&marks)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        let _ = std::fs::remove_file(&marks);
        n
    }

    fn profile(&self) -> PathBuf {
        let dir = self.path().join("state/profiles/default");
        for d in [
            self.path().join("state"),
            self.path().join("state/profiles"),
            dir.clone(),
        ] {
            finesse_sso::dirs::ensure_private_dir(&d).unwrap();
        }
        dir
    }

    fn saved_session(&self) -> String {
        std::fs::read_to_string(finesse_sso::websession::path(&self.profile())).unwrap()
    }

    /// Writes the web session a sign-in through the emulator leaves (Finesse, IdS and IdP
    /// session cookies), signed in by the HTTP test driver with the password.
    async fn seed_session(&self, emu: &Emulator) {
        self.seed_session_of(emu, "agent1", "demo-password").await
    }

    async fn seed_session_of(&self, emu: &Emulator, user: &str, password: &str) {
        let d = HttpDriver::new(&http_options(emu), Some((user.into(), password.into()))).unwrap();
        d.sign_in(&mut Flow::new(emu.finesse_url()), user)
            .await
            .unwrap();
        let cookies = silent::cookies::saved_from(&d.jar());
        assert!(cookies.len() >= 3, "{} cookies", cookies.len());
        finesse_sso::websession::save(&self.profile(), &cookies).unwrap();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The values of every secret of this kind the emulator handed out.
fn issued(emu: &Emulator, what: &str) -> Vec<String> {
    emu.issued_secrets()
        .into_iter()
        .filter(|(w, _)| *w == what)
        .map(|(_, v)| v)
        .collect()
}

/// After a window sign-in, Finesse's and IdS's sessions end and the IdP's lives: the second
/// `login` walks the SAML POST bindings itself, starts no window, and saves the new cookies.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_second_login_walks_the_live_idp_session_without_a_window() {
    support::need_display();
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let home = Home::new();
    let o = output(home.login(&emu, &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        home.windows_started(),
        1,
        "the first sign-in is the window's"
    );
    let logins = emu.request_count("/idp/login");

    emu.end_sessions(&[SignInSession::Finesse, SignInSession::Ids]);
    let (idp_sso, acs) = (
        emu.request_count("/idp/sso"),
        emu.request_count("/ids/saml/response"),
    );
    let o = output(home.login(&emu, &[])).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens().last().map(String::as_str),
        v["token"].as_str()
    );
    assert_eq!(home.windows_started(), 0, "no window started: {err}");
    assert!(err.contains("signed in silently, no window"), "{err}");
    assert_eq!(emu.request_count("/idp/login"), logins, "no password asked");
    assert_eq!(emu.request_count("/idp/sso"), idp_sso + 1, "{err}");
    assert_eq!(emu.request_count("/ids/saml/response"), acs + 1, "{err}");
    // The sessions the walk was given are saved back with the ones it gathered.
    let saved = home.saved_session();
    for what in ["IdS session cookie", "IdP session cookie"] {
        let newest = issued(&emu, what).pop().unwrap();
        assert!(saved.contains(&newest), "{what} not saved");
    }
    assert!(!saved.contains(v["token"].as_str().unwrap()));

    // `--show` asks for the window: no walk first.
    let o = output(home.login(&emu, &["--show"])).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(home.windows_started(), 1, "{err}");
    assert!(!err.contains("silent"), "{err}");
    emu.shutdown().await;
}

/// The silent path needs no display at all: with a saved session and neither DISPLAY nor
/// WAYLAND_DISPLAY, `login` signs in; the window program never starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_login_needs_no_display() {
    let emu = support::emulator(&[]).await;
    let home = Home::new();
    home.seed_session(&emu).await;
    let before = home.saved_session();
    emu.end_sessions(&[SignInSession::Finesse]);
    let mut c = home.login(&emu, &[]);
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let o = output(c).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(home.windows_started(), 0, "{err}");
    assert!(err.contains("signed in silently, no window"), "{err}");
    let newest = issued(&emu, "Finesse session cookie").pop().unwrap();
    assert!(!before.contains(&newest));
    assert!(
        home.saved_session().contains(&newest),
        "cookies written back"
    );
    emu.shutdown().await;
}

/// A cold `finesse-sso token` (no agent running, a saved session, no display): it starts the
/// agent, whose sign-in is the same silent walk, and prints the token; no window starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_cold_token_starts_the_agent_which_signs_in_silently() {
    let emu = support::emulator(&[]).await;
    let home = Home::new();
    home.seed_session(&emu).await;
    emu.end_sessions(&[SignInSession::Finesse, SignInSession::Ids]);
    let agent = |args: &[&str]| {
        let mut c = support::cli(home.path());
        c.args(args)
            .args(["--server", emu.finesse_url().as_str(), "--user", "agent1"])
            .arg("--ca-file")
            .arg(emu.ca_file().unwrap())
            .env(
                "FINESSE_SSO_WEBVIEW",
                home.path().join("webview-wrapper.sh"),
            )
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let o = output(agent(&["-v", "token"])).await;
    let stopped = output({
        let mut c = support::cli(home.path());
        c.args(["agent", "stop"]);
        c
    })
    .await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens().last().map(String::as_str),
        v["token"].as_str()
    );
    assert_eq!(home.windows_started(), 0, "{err}");
    let log = support::files_under(home.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("signed in silently, no window"), "{log}");
    assert_eq!(stopped.status.code(), Some(0), "{}", text(&stopped.stderr));
    emu.shutdown().await;
}

/// The IdP session ended: the walk meets the IdP's password form (its `--auto-login` script
/// would post it: the walk never does), stops, and the window signs in from the token URL.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn an_ended_idp_session_hands_over_to_the_window() {
    support::need_display();
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let home = Home::new();
    home.seed_session(&emu).await;
    emu.end_sessions(&[
        SignInSession::Finesse,
        SignInSession::Ids,
        SignInSession::Idp,
    ]);
    let logins = emu.request_count("/idp/login");
    let o = output(home.login(&emu, &[])).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens().last().map(String::as_str),
        v["token"].as_str()
    );
    assert_eq!(home.windows_started(), 1, "{err}");
    assert!(
        err.contains("silent sign-in stopped at https://127.0.0.1:")
            && err.contains("/idp/login?txn=%3Credacted%3E")
            && err.contains("opening the window"),
        "{err}"
    );
    // The walk's GET of the form, then the window's GET and its script's POST.
    assert_eq!(emu.request_count("/idp/login"), logins + 3, "{err}");
    for t in issued(&emu, "IdP transaction id") {
        assert!(!err.contains(&t), "a transaction id in the log");
    }
    emu.shutdown().await;
}

/// What the walk met, for each page it must not get past.
struct Stop {
    forge: Option<ForgeMode>,
    /// Sessions ended first, so the walk reaches the page under test.
    end: &'static [SignInSession],
    /// Words the stop reason holds.
    why: &'static str,
}

const PAST_IDS: &[SignInSession] = &[SignInSession::Finesse, SignInSession::Ids];
const ALL: &[SignInSession] = &[
    SignInSession::Finesse,
    SignInSession::Ids,
    SignInSession::Idp,
];

/// The walk itself (no window) against each page it must stop at: the flow's own refusal,
/// nothing forged captured, no form with a password posted.
#[tokio::test(flavor = "multi_thread")]
async fn the_walk_stops_where_the_window_would_refuse_or_ask() {
    let stops = [
        Stop {
            forge: None,
            end: ALL,
            why: "not only a form posted on load",
        },
        Stop {
            forge: Some(ForgeMode::LookAlike),
            end: PAST_IDS,
            why: "not the finesse token endpoint",
        },
        Stop {
            forge: Some(ForgeMode::IdpJson),
            end: PAST_IDS,
            why: "not the finesse token endpoint",
        },
        Stop {
            forge: Some(ForgeMode::IdsJson),
            end: PAST_IDS,
            why: "not the finesse token endpoint",
        },
        Stop {
            forge: Some(ForgeMode::PlainHttp),
            end: &[],
            why: "plain http to non-loopback host",
        },
        Stop {
            forge: Some(ForgeMode::SchemeRedirect),
            end: &[],
            why: "scheme `ciscosso` is not http(s)",
        },
        Stop {
            forge: Some(ForgeMode::FileRedirect),
            end: &[],
            why: "scheme `file` is not http(s)",
        },
        Stop {
            forge: Some(ForgeMode::HugeToken),
            end: &[],
            why: "over the 65536-byte limit",
        },
        Stop {
            forge: Some(ForgeMode::AlgNone),
            end: &[],
            why: "unsigned",
        },
        Stop {
            forge: Some(ForgeMode::Iframe),
            end: &[],
            why: "not only a form posted on load",
        },
    ];
    for s in stops {
        let emu = support::emulator(&["--auto-login", "agent1"]).await;
        let home = Home::new();
        home.seed_session(&emu).await;
        let cookies = finesse_sso::websession::load(&home.profile());
        emu.end_sessions(s.end);
        emu.faults().set_forge(s.forge);
        let (issued_before, logins) = (
            emu.issued_access_tokens().len(),
            emu.request_count("/idp/login"),
        );
        let got = silent::sign_in(
            &http_options(&emu),
            emu.finesse_url(),
            "agent1",
            &cookies,
            Duration::from_secs(20),
        )
        .await;
        let label = format!("{:?}", s.forge);
        match got {
            Silent::Stopped { at, why, cookies } => {
                assert!(why.to_lowercase().contains(s.why), "{label}: {why} at {at}");
                assert!(!why.contains("FORGED") && !at.contains("FORGED"), "{label}");
                assert!(!cookies.is_empty(), "{label}: the session is handed back");
            }
            Silent::Signed { .. } => panic!("{label}: signed in"),
        }
        assert!(
            emu.request_count("/idp/login") <= logins + 1,
            "{label}: the password form was posted"
        );
        if s.forge.is_none() {
            assert_eq!(emu.issued_access_tokens().len(), issued_before, "{label}");
        }
        assert!(emu.leak_hits().is_empty(), "{label}");
        emu.shutdown().await;
    }
}

/// Another user's saved session is never this user's token: Finesse refuses a `cc_username`
/// that is not its session's user, and the walk stops there (the window then decides).
#[tokio::test(flavor = "multi_thread")]
async fn another_users_session_signs_nobody_in() {
    let emu = support::emulator(&["--user", "alice:pw-a", "--user", "bob:pw-b"]).await;
    let home = Home::new();
    home.seed_session_of(&emu, "alice", "pw-a").await;
    let cookies = finesse_sso::websession::load(&home.profile());
    let issued_before = emu.issued_access_tokens().len();
    let got = silent::sign_in(
        &http_options(&emu),
        emu.finesse_url(),
        "bob",
        &cookies,
        Duration::from_secs(20),
    )
    .await;
    match got {
        Silent::Stopped { why, .. } => assert!(why.contains("HTTP 401"), "{why}"),
        Silent::Signed { .. } => panic!("bob signed in with alice's session"),
    }
    assert_eq!(emu.issued_access_tokens().len(), issued_before);
    emu.shutdown().await;
}

/// Hostile pages met on the walk end exactly as in the window alone: the walk hands over, and
/// the window refuses them under the same rules (the outcomes of `hostile.rs`).
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn hostile_pages_on_the_walk_end_as_they_do_in_the_window() {
    support::need_display();
    for (forge, end, code, needle) in [
        (ForgeMode::PlainHttp, &[][..], 6, "plain http"),
        (
            ForgeMode::SchemeRedirect,
            &[][..],
            6,
            "scheme `ciscosso` is not http(s)",
        ),
        (
            ForgeMode::HugeToken,
            &[][..],
            6,
            "over the 65536-byte limit",
        ),
        (ForgeMode::AlgNone, &[][..], 6, "unsigned"),
        // A token-shaped JSON on a look-alike origin: never captured; the page stays, so a
        // non-interactive sign-in ends as "needs the user" (or, on a slow machine, the timeout).
        (ForgeMode::LookAlike, PAST_IDS, 14, ""),
    ] {
        let emu = support::emulator(&["--auto-login", "agent1"]).await;
        let home = Home::new();
        home.seed_session(&emu).await;
        emu.end_sessions(end);
        emu.faults().set_forge(Some(forge));
        let o = output(home.login(&emu, &["--non-interactive"])).await;
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        let got = o.status.code();
        assert!(
            got == Some(code) || (code == 14 && got == Some(5)),
            "{forge:?}: exit {got:?}: {err}"
        );
        assert!(err.to_lowercase().contains(needle), "{forge:?}: {err}");
        assert!(
            err.contains("silent sign-in stopped at"),
            "{forge:?}: {err}"
        );
        assert_eq!(home.windows_started(), 1, "{forge:?}: the window decided");
        assert!(out.is_empty() && !err.contains("FORGED"), "{forge:?}");
        emu.shutdown().await;
    }
}
