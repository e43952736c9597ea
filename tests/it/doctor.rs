//! `finesse-sso doctor` against the emulator and real state: every row's status, exit 22 on a
//! failed check, the JSON shape, no secret in what it prints, and the machine-wide config rule
//! (issue 13, finding 2) as the loader applies it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{self, output};

const SECRET: &str = "S3cretDoctorPw";

/// Every check `doctor` prints, in order, when no machine-wide file applies.
const NAMES: &[&str] = &[
    "config_machine",
    "config_user",
    "engine",
    "webauthn",
    "display",
    "window_program",
    "state_dirs",
    "agent",
    "ca_file",
    "proxy",
    "finesse",
    "tls",
    "auth_mode",
];

fn bin(home: &Path) -> Command {
    support::cli(home)
}

fn doctor(home: &Path, args: &[&str]) -> Command {
    let mut c = bin(home);
    c.args(["doctor", "--format", "json"]).args(args);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The rows by name (status, detail), after checking the document's shape and that the exit
/// code follows the rows: 22 exactly when one failed.
fn rows(o: &Output) -> BTreeMap<String, (String, String)> {
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["profile"].is_string(), "{v}");
    let checks = v["checks"].as_array().expect("checks");
    let mut out = BTreeMap::new();
    let mut failed = vec![];
    for c in checks {
        let obj = c.as_object().unwrap();
        assert_eq!(obj.len(), 3, "name, status, detail only: {c}");
        let name = c["name"].as_str().unwrap().to_string();
        let status = c["status"].as_str().unwrap().to_string();
        assert!(
            ["ok", "warn", "fail", "skip"].contains(&status.as_str()),
            "{c}"
        );
        if status == "fail" {
            failed.push(Value::from(name.clone()));
        }
        let detail = c["detail"].as_str().unwrap().to_string();
        assert!(!detail.contains('\n'), "{c}");
        assert!(out.insert(name, (status, detail)).is_none(), "a name twice");
    }
    assert_eq!(v["failed"], Value::from(failed.clone()));
    assert_eq!(v["ok"], failed.is_empty());
    let want = if failed.is_empty() { 0 } else { 22 };
    assert_eq!(o.status.code(), Some(want), "{}", text(&o.stderr));
    if want == 22 {
        assert!(
            text(&o.stderr).contains("check(s) failed"),
            "{}",
            text(&o.stderr)
        );
    }
    out
}

fn row<'a>(r: &'a BTreeMap<String, (String, String)>, name: &str) -> (&'a str, &'a str) {
    let (s, d) = r
        .get(name)
        .unwrap_or_else(|| panic!("no {name} row in {r:?}"));
    (s.as_str(), d.as_str())
}

#[tokio::test]
async fn two_sides_each_say_whether_they_serve() {
    let e = support::emulator(&["--sides", "2", "--out-of-service", "2"]).await;
    let home = tempfile::tempdir().unwrap();
    let ca = e.ca_file().unwrap().display().to_string();
    let both = format!("{},{}", e.side_urls()[0], e.side_urls()[1]);
    let r = rows(&output(doctor(home.path(), &["--server", &both, "--ca-file", &ca])).await);
    let (s, d) = row(&r, "sides");
    assert_eq!(s, "warn", "{d}");
    assert!(
        d.contains("IN_SERVICE") && d.contains("OUT_OF_SERVICE"),
        "{d}"
    );
    assert_eq!(row(&r, "finesse").0, "ok", "the first side is checked");
    e.set_in_service(1, false);
    let r = rows(&output(doctor(home.path(), &["--server", &both, "--ca-file", &ca])).await);
    assert_eq!(row(&r, "sides").0, "fail");
    e.shutdown().await;
}

#[tokio::test]
async fn a_reachable_server_its_trust_and_auth_mode() {
    let e = support::emulator(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let ca = e.ca_file().unwrap().display().to_string();
    let o = output(doctor(
        home.path(),
        &["--server", e.finesse_url().as_str(), "--ca-file", &ca],
    ))
    .await;
    let r = rows(&o);
    let names: Vec<&str> = NAMES.to_vec();
    let mut got: Vec<&str> = r.keys().map(String::as_str).collect();
    got.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(row(&r, "finesse").0, "ok");
    let (s, d) = row(&r, "tls");
    assert_eq!(s, "ok");
    assert!(d.contains(&ca) && d.contains("system store"), "{d}");
    assert_eq!(row(&r, "ca_file").0, "ok");
    assert_eq!(row(&r, "auth_mode"), ("ok", "SSO"));
    // No config file here: the user's is missing, and no machine-wide file applies.
    assert_eq!(row(&r, "config_user").0, "skip");
    assert!(row(&r, "config_user").1.contains("does not exist"));
    assert_eq!(row(&r, "config_machine").0, "skip");
    // The window program of this build answers with this version. On Windows the build
    // directory has no WebView2Loader.dll beside it (the MSI ships one): the row says so.
    if cfg!(windows) {
        let (s, d) = row(&r, "window_program");
        assert!(s == "fail" && d.contains("WebView2Loader.dll"), "{r:?}");
    } else {
        assert_eq!(row(&r, "window_program").0, "ok", "{r:?}");
    }

    // The table form: a header, then the same rows.
    let mut table = bin(home.path());
    table
        .arg("doctor")
        .args(["--server", e.finesse_url().as_str(), "--ca-file", &ca]);
    let t = output(table).await;
    let lines: Vec<String> = text(&t.stdout).lines().map(String::from).collect();
    assert!(
        lines[0].starts_with("CHECK") && lines[0].contains("STATUS"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("auth_mode") && l.contains(" ok ") && l.ends_with("SSO")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), NAMES.len() + 1);
}

/// Whether the engine can use security keys, per platform, naming what was checked.
#[tokio::test]
async fn webauthn_row_says_what_the_engine_can_do() {
    let home = tempfile::tempdir().unwrap();
    let r = rows(&output(doctor(home.path(), &[])).await);
    let (s, d) = row(&r, "webauthn");
    if cfg!(target_os = "linux") {
        // The version checked is the engine row's own.
        let (_, engine) = row(&r, "engine");
        let version = engine.split_whitespace().nth(1).expect("a version");
        assert_eq!(s, "warn", "{d}");
        assert!(
            d.starts_with("not supported by the engine")
                && d.contains(&format!("WebKitGTK {version} checked")),
            "{d} / {engine}"
        );
    } else if cfg!(windows) {
        assert_eq!((s, d.contains("WebView2")), ("ok", true), "{d}");
    } else {
        assert!(
            s == "warn" && d.contains("web-browser.public-key-credential"),
            "{d}"
        );
    }
}

#[tokio::test]
async fn hybrid_asks_about_the_user() {
    let e = support::emulator(&["--auth-mode", "HYBRID", "--user", "bob:pw:NON_SSO"]).await;
    let home = tempfile::tempdir().unwrap();
    let ca = e.ca_file().unwrap().display().to_string();
    let base = ["--server", e.finesse_url().as_str(), "--ca-file", &ca];
    let r = rows(
        &output(doctor(
            home.path(),
            &[&base[..], &["--user", "bob"]].concat(),
        ))
        .await,
    );
    let (s, d) = row(&r, "auth_mode");
    assert_eq!(s, "warn");
    assert!(d.contains("HYBRID") && d.contains("bob is NON_SSO"), "{d}");
    let r = rows(&output(doctor(home.path(), &base)).await);
    assert_eq!(row(&r, "auth_mode").0, "ok");
    assert!(row(&r, "auth_mode").1.starts_with("HYBRID"));
}

#[tokio::test]
async fn a_ca_that_does_not_verify_fails_with_exit_22() {
    let e = support::emulator(&[]).await;
    let other = support::emulator(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let wrong = other.ca_file().unwrap().display().to_string();
    let o = output(doctor(
        home.path(),
        &["--server", e.finesse_url().as_str(), "--ca-file", &wrong],
    ))
    .await;
    let r = rows(&o);
    assert_eq!(o.status.code(), Some(22));
    let (s, d) = row(&r, "tls");
    assert_eq!(s, "fail");
    assert!(d.contains("does not verify") && d.contains(&wrong), "{d}");
    assert_eq!(
        row(&r, "finesse").0,
        "ok",
        "the server answered the handshake"
    );
    assert_eq!(row(&r, "auth_mode").0, "skip");
    assert!(text(&o.stderr).contains("tls"), "{}", text(&o.stderr));
    // Without any CA file, the system store alone does not trust the emulator either.
    let o = output(doctor(home.path(), &["--server", e.finesse_url().as_str()])).await;
    assert_eq!(row(&rows(&o), "tls").0, "fail");
    // Nothing listening: the server row fails, the ones after it are skipped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = output(doctor(
        home.path(),
        &["--server", &format!("https://127.0.0.1:{port}")],
    ))
    .await;
    let r = rows(&o);
    assert_eq!(row(&r, "finesse").0, "fail");
    assert_eq!(row(&r, "tls").0, "skip");
}

/// Stops the profile's agent when the test ends, however it ends.
struct StopAgent(std::path::PathBuf);

impl Drop for StopAgent {
    fn drop(&mut self) {
        let _ = bin(&self.0).args(["agent", "stop"]).output();
    }
}

#[tokio::test]
async fn no_agent_then_our_agent() {
    let e = support::emulator(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let ca = e.ca_file().unwrap().display().to_string();
    let server = [
        "--server",
        e.finesse_url().as_str(),
        "--ca-file",
        &ca,
        "--user",
        "agent1",
    ];
    let r = rows(&output(doctor(home.path(), &server)).await);
    let (s, d) = row(&r, "agent");
    assert_eq!(s, "ok");
    assert!(d.contains("none running for profile default"), "{d}");

    let mut start = bin(home.path());
    start.args(["agent", "start", "--lazy"]).args(server);
    let o = output(start).await;
    let _stop = StopAgent(home.path().to_path_buf());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = rows(&output(doctor(home.path(), &server)).await);
    let (s, d) = row(&r, "agent");
    assert_eq!(s, "ok", "{d}");
    assert!(
        d.starts_with("ours: pid ") && d.contains("signs in agent1"),
        "{d}"
    );
    // Asked about another user, the same agent is worth a warning.
    let r = rows(
        &output(doctor(
            home.path(),
            &[&server[..4], &["--user", "someone"]].concat(),
        ))
        .await,
    );
    let (s, d) = row(&r, "agent");
    assert_eq!(s, "warn", "{d}");
    assert!(d.contains("not the configured user someone"), "{d}");
}

/// What doctor prints is pasted into support tickets: a proxy password (config file or
/// environment) or a secret in the server's URL must not be in it.
#[tokio::test]
async fn no_secret_reaches_the_report() {
    let home = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = format!("http://proxyuser:{SECRET}@127.0.0.1:{dead}");
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!("proxy = \"{proxy}\"\n"),
    )
    .unwrap();
    // Not loopback, so the request goes to the (dead) proxy; the URL carries a secret too.
    let server = format!("https://finesse.invalid:8445/?access_token={SECRET}");
    for format in ["json", "table"] {
        let mut c = bin(home.path());
        c.env("https_proxy", &proxy)
            .args(["doctor", "--format", format])
            .args(["--server", &server, "--user", "agent1"]);
        let o = output(c).await;
        let all = text(&o.stdout) + &text(&o.stderr);
        assert!(!all.contains(SECRET) && !all.contains("proxyuser"), "{all}");
        assert!(
            all.contains(&format!("127.0.0.1:{dead}")),
            "the proxy is named: {all}"
        );
        assert_eq!(o.status.code(), Some(22), "the proxy is dead: {all}");
    }
    let r = rows(
        &output({
            let mut c = doctor(home.path(), &["--server", &server]);
            c.env("https_proxy", &proxy);
            c
        })
        .await,
    );
    assert_eq!(row(&r, "config_user").0, "ok");
    assert_eq!(row(&r, "proxy").0, "ok");
    assert_eq!(row(&r, "finesse").0, "fail");
    // The proxy from the environment alone, shown without its credentials.
    std::fs::remove_file(home.path().join("config/config.toml")).unwrap();
    let mut c = doctor(home.path(), &[]);
    c.env("https_proxy", &proxy);
    let o = output(c).await;
    let r = rows(&o);
    let (s, d) = row(&r, "proxy");
    assert_eq!(s, "ok");
    assert!(d.starts_with("from https_proxy: http://127.0.0.1:"), "{d}");
    assert!(!text(&o.stdout).contains(SECRET));
}

#[tokio::test]
async fn an_invalid_config_file_fails_its_row_but_the_others_still_run() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!("proxy = \"http://u:{SECRET}@p:3128\" oops\n"),
    )
    .unwrap();
    let o = output(doctor(home.path(), &[])).await;
    let r = rows(&o);
    let (s, d) = row(&r, "config_user");
    assert_eq!(s, "fail");
    assert!(d.contains("line 1, column") && !d.contains(SECRET), "{d}");
    assert!(
        r.contains_key("auth_mode") && r.contains_key("agent"),
        "{r:?}"
    );
    // Every other verb refuses that file (exit 2), as before.
    let o = output({
        let mut c = bin(home.path());
        c.args(["token", "--no-start"]);
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[cfg(unix)]
#[tokio::test]
async fn a_loose_state_dir_fails_and_is_left_as_found() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let fresh = rows(&output(doctor(home.path(), &[])).await);
    assert_eq!(row(&fresh, "state_dirs").0, "skip", "not created by doctor");
    assert!(!state.exists(), "doctor created {}", state.display());
    std::fs::create_dir_all(state.join("profiles/default")).unwrap();
    for d in [
        &state,
        &state.join("profiles"),
        &state.join("profiles/default"),
    ] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let r = rows(&output(doctor(home.path(), &[])).await);
    assert_eq!(row(&r, "state_dirs").0, "ok", "{r:?}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(state.join("profiles/default/cookies.json"), b"{}").unwrap();
    std::fs::set_permissions(
        state.join("profiles/default/cookies.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let o = output(doctor(home.path(), &[])).await;
    let r = rows(&o);
    assert_eq!(o.status.code(), Some(22));
    let (s, d) = row(&r, "state_dirs");
    assert_eq!(s, "fail");
    assert!(
        d.contains(&format!("{} is mode 755", state.display())),
        "{d}"
    );
    assert!(d.contains("cookies.json is mode 644"), "{d}");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "doctor only looks");
}

#[cfg(all(unix, not(target_os = "macos")))]
#[tokio::test]
async fn the_display_row_connects_to_what_the_variables_name() {
    let home = tempfile::tempdir().unwrap();
    let sock = home.path().join("wayland-test");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut c = doctor(home.path(), &[]);
    c.env_remove("DISPLAY").env("WAYLAND_DISPLAY", &sock);
    let r = rows(&output(c).await);
    assert_eq!(row(&r, "display").0, "ok", "{r:?}");
    let mut c = doctor(home.path(), &[]);
    c.env_remove("DISPLAY")
        .env("WAYLAND_DISPLAY", home.path().join("nobody-here"));
    let o = output(c).await;
    let r = rows(&o);
    let (s, d) = row(&r, "display");
    assert_eq!(s, "fail");
    assert!(d.contains("nobody-here"), "{d}");
}

/// Finding 2: a machine-wide file that others could have written is ignored, with a warning,
/// by every verb; `doctor` says so and why.
#[cfg(unix)]
#[tokio::test]
async fn a_machine_file_others_can_write_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    let file = etc.path().join("config.toml");
    std::fs::write(&file, "server = \"planted.invalid\"\nuser = \"victim\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut c = doctor(home.path(), &[]);
    c.env("FINESSE_SSO_SYSTEM_CONFIG", &file);
    let r = rows(&output(c).await);
    let (s, d) = row(&r, "config_machine");
    assert_eq!(s, "warn");
    assert!(
        d.contains("ignored") && d.contains("writable by every user"),
        "{d}"
    );
    assert_eq!(row(&r, "finesse").0, "skip", "its server was not used");
    // `login` neither uses its server: no server at all, a usage error naming the file.
    let mut c = bin(home.path());
    c.env("FINESSE_SSO_SYSTEM_CONFIG", &file).args([
        "login",
        "--non-interactive",
        "--timeout",
        "5",
    ]);
    let o = output(c).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no Finesse server given"), "{err}");
    assert!(
        err.contains("ignored") && err.contains(&file.display().to_string()),
        "{err}"
    );
}

/// The rule's positive side needs root-owned files; and a root-owned file in a folder another
/// user owns is still ignored.
#[cfg(unix)]
#[tokio::test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
async fn a_root_owned_machine_file_is_read() {
    use std::os::unix::fs::PermissionsExt;
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    std::fs::set_permissions(etc.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = etc.path().join("config.toml");
    std::fs::write(&file, "user = \"from-the-admin\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |file: &Path| {
        let mut c = doctor(home.path(), &[]);
        c.env("FINESSE_SSO_SYSTEM_CONFIG", file);
        c
    };
    let r = rows(&output(run(&file)).await);
    assert_eq!(
        row(&r, "config_machine"),
        ("ok", &*format!("read {}", file.display()))
    );
    // Owned by another user (nobody): ignored.
    std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
    let r = rows(&output(run(&file)).await);
    let (s, d) = row(&r, "config_machine");
    assert_eq!(s, "warn");
    assert!(d.contains("owned by uid 65534, not by root"), "{d}");
    // Root's file in a folder another user owns (who could swap it): ignored.
    std::os::unix::fs::chown(&file, Some(0), None).unwrap();
    std::os::unix::fs::chown(etc.path(), Some(65534), None).unwrap();
    let r = rows(&output(run(&file)).await);
    let (s, d) = row(&r, "config_machine");
    assert_eq!(s, "warn");
    assert!(
        d.contains("its folder") && d.contains("owned by uid 65534"),
        "{d}"
    );
    std::os::unix::fs::chown(etc.path(), Some(0), None).unwrap();
}
