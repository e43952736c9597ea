//! Issue 11 through the agent's pipe and the CLI, against the emulator: `desktop_*` operations
//! and `user` events, Acqueon-style messages, `finesse-sso desktop` and its exit codes (with and
//! without a running agent, NON_SSO passwords), the Python and Node examples, and a real-window
//! sign-in whose token `desktop sign-in` reuses.
#![cfg(unix)]

use crate::support;

use std::time::Duration;

use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::desktop::{desktop_command, server_args};
use crate::support::{emulator, output};
use finesse_sso::error::{Error, ErrorKind};
use finesse_sso::ipc::desktop::{SignInRequest, StateRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use finesse_sso::redact::Secret;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn lines_of(
    ep: &finesse_sso::ipc::transport::Endpoint,
) -> (
    tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    tokio::net::unix::OwnedWriteHalf,
) {
    let s = tokio::net::UnixStream::connect(&ep.path).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"{\"op\":\"hello\",\"v\":1,\"client\":\"acqueon-test\"}\n")
        .await
        .unwrap();
    lines.next_line().await.unwrap().unwrap();
    (lines, w)
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, v: Value) {
    w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>) -> Value {
    let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("an answer in time")
        .unwrap()
        .unwrap();
    serde_json::from_str(&l).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipe_operations_and_user_events() {
    let e = emulator(&[
        "--stuck-extension",
        "1001009",
        "--extension",
        "agent1=1001001,1001009",
    ])
    .await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    for op in [
        "desktop_sign_in",
        "desktop_state",
        "desktop_sign_out",
        "desktop_user",
        "desktop_reasons",
        "acqueon",
    ] {
        assert!(c.hello.capabilities.iter().any(|x| x == op), "{op}");
    }
    let (mut sub, mut sub_w) = lines_of(&rig.ep).await;
    send(&mut sub_w, serde_json::json!({"op":"subscribe","id":"s"})).await;
    assert_eq!(next(&mut sub).await["result"]["ok"], true);
    let r: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            password: Some(Secret::new("ignored".into())),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(
        (r.user.state.as_str(), r.auth.as_str(), r.password_ignored),
        ("NOT_READY", "sso_token", true)
    );
    // The subscriber hears the token, then the User.
    let ev = loop {
        let v = next(&mut sub).await;
        if v["event"] == "user" {
            break v;
        }
        assert_eq!(v["event"], "token");
    };
    assert_eq!(ev["id"], "s");
    assert_eq!(ev["user"]["state"], "NOT_READY");
    assert_eq!(ev["user"]["loginId"], "1001");
    let r: UserResult = c
        .call(Request::DesktopState(StateRequest {
            state: "NOT_READY".into(),
            reason: Some("Lunch".into()),
            password: None,
        }))
        .await
        .unwrap();
    assert_eq!(r.user.reason_code_id, 18);
    let err = c
        .call::<UserResult>(Request::DesktopState(StateRequest {
            state: "NOT_READY".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::FromAgent { kind, .. } if *kind == ErrorKind::DesktopRefused),
        "{err}"
    );
    assert_eq!(err.exit_code(), 18);
    let err = c
        .call::<UserResult>(Request::DesktopSignIn(SignInRequest {
            extension: "1001009".into(),
            ..Default::default()
        }))
        .await;
    // Already signed in: the stuck device does not matter (LOGIN keeps the state)… except it
    // never confirms; the emulator leaves the agent as it was, which is signed in.
    assert!(err.is_ok(), "{err:?}");
    let reasons: finesse_sso::ipc::desktop::ReasonsResult = c
        .call(Request::DesktopReasons(
            finesse_sso::ipc::desktop::ReasonsRequest {
                category: Some("LOGOUT".into()),
                password: None,
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        reasons.reasons.iter().map(|r| r.id).collect::<Vec<_>>(),
        [55, 56]
    );
    let r: UserResult = c
        .call(Request::DesktopSignOut(
            finesse_sso::ipc::desktop::SignOutRequest {
                reason: Some("End of Shift".into()),
                password: None,
            },
        ))
        .await
        .unwrap();
    assert_eq!(r.user.state, "LOGOUT");
    let err = c
        .call::<UserResult>(Request::DesktopSignIn(SignInRequest {
            extension: "1001009".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 17, "{err}");
    // Garbage desktop requests get typed errors.
    let err = c
        .call::<UserResult>(Request::DesktopState(StateRequest {
            state: "DANCING".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::FromAgent { kind, .. } if *kind == ErrorKind::Usage),
        "{err}"
    );
    assert_eq!(rig.sign_ins(), 1, "one sign-in for all of it");
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acqueon_messages_sign_in_and_answer_in_their_vocabulary() {
    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let (mut lines, mut w) = lines_of(&rig.ep).await;
    send(&mut w, serde_json::json!({"channel":"Cisco","topic":"Agent","subtopic":"SetUserInfo","source":"crm","data":{"username":"agent1","password":"not-used","extension":"1001001"},"id":7})).await;
    let ack = next(&mut lines).await;
    assert_eq!(
        (ack["subtopic"].as_str(), ack["id"].as_i64()),
        (Some("SetUserInfo"), Some(7))
    );
    assert_eq!(ack["message"]["data"]["auth"], "sso_token");
    assert_eq!(ack["message"]["data"]["password_ignored"], true);
    let login = next(&mut lines).await;
    assert_eq!(
        (
            login["channel"].as_str(),
            login["topic"].as_str(),
            login["subtopic"].as_str()
        ),
        (Some("Finesse"), Some("Agent"), Some("Login"))
    );
    let d = &login["message"]["data"];
    assert_eq!(
        (
            d["loginID"].as_str(),
            d["loginName"].as_str(),
            d["extension"].as_str(),
            d["state"].as_str()
        ),
        (Some("1001"), Some("agent1"), Some("1001001"), Some("Login"))
    );
    assert_eq!(d["agentType"], "non_routable");
    send(
        &mut w,
        serde_json::json!({"channel":"Cisco","topic":"Agent","subtopic":"GetAgentState"}),
    )
    .await;
    let st = next(&mut lines).await;
    assert_eq!(st["subtopic"], "SetAgentState");
    assert_eq!(st["message"]["data"]["state"], "NOT_READY");
    assert_eq!(st["message"]["data"]["issupervisor"], false);
    send(
        &mut w,
        serde_json::json!({"channel":"Cisco","topic":"Agent","subtopic":"SetReadyState","data":{}}),
    )
    .await;
    assert_eq!(next(&mut lines).await["message"]["data"]["state"], "READY");
    // Logout needs Not Ready first (UCCE): Finesse's refusal comes back as an Error message.
    send(&mut w, serde_json::json!({"channel":"Cisco","topic":"Connection","subtopic":"Logout","data":{"ReasonCodeId":"55"}})).await;
    let err = next(&mut lines).await;
    assert_eq!(
        (
            err["subtopic"].as_str(),
            err["message"]["data"]["kind"].as_str()
        ),
        (Some("Error"), Some("desktop_refused"))
    );
    assert!(
        err["message"]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid State")
    );
    send(
        &mut w,
        serde_json::json!({"channel":"General","topic":"System","subtopic":"GetSystemInfo"}),
    )
    .await;
    let si = next(&mut lines).await;
    assert_eq!(si["message"]["data"]["systemInfo"]["systemAuthMode"], "SSO");
    send(&mut w, serde_json::json!({"channel":"Cisco","topic":"Agent","subtopic":"SetUserInfo","data":{"username":"agent9","extension":"1001001"}})).await;
    assert_eq!(next(&mut lines).await["message"]["data"]["kind"], "usage");
    send(
        &mut w,
        serde_json::json!({"channel":"Amazon","topic":"App","subtopic":"StateSync"}),
    )
    .await;
    assert_eq!(
        next(&mut lines).await["message"]["data"]["kind"],
        "unknown_op"
    );
    send(
        &mut w,
        serde_json::json!({"channel":"Cisco","topic":["x"],"subtopic":"SetUserInfo","id":3}),
    )
    .await;
    assert_eq!(next(&mut lines).await["error"]["kind"], "bad_request");
    // The password never reached the emulator: every PUT used the token.
    assert!(e.user_puts().iter().all(|p| p.scheme == "Bearer"));
    rig.stop();
    e.shutdown().await;
}

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_uses_the_running_agent_and_has_exit_codes() {
    let e = emulator(&[
        "--stuck-extension",
        "1001005",
        "--extension",
        "agent1=1001001,1001005",
    ])
    .await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let home = rig.home.path().to_path_buf();
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        output(desktop_command(&home, &a))
    };
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = run(v(&["sign-in", "--extension", "1001001"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let u = stdout_json(&out);
    assert_eq!(
        (
            u["state"].as_str(),
            u["loginId"].as_str(),
            u["extension"].as_str()
        ),
        (Some("NOT_READY"), Some("1001"), Some("1001001"))
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the agent's SSO token"), "{err}");
    let out = run(v(&["state", "ready", "--format", "state"])).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "READY\n");
    let out = run(v(&["state", "not-ready"])).await;
    assert_eq!(
        out.status.code(),
        Some(18),
        "no reason: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(v(&["state", "not-ready", "--reason", "Break"])).await;
    assert_eq!(stdout_json(&out)["reasonCodeId"], 17);
    let out = run(v(&["reasons", "--category", "logout", "--format", "state"])).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "55\tEnd of Shift\n56\tTraining\n"
    );
    let out = run(v(&["user"])).await;
    assert_eq!(stdout_json(&out)["ReasonCode"]["label"], "Break");
    let out = run(v(&["sign-out", "--reason", "55"])).await;
    assert_eq!(stdout_json(&out)["state"], "LOGOUT");
    let out = run(v(&["sign-in", "--extension", "1001005"])).await;
    assert_eq!(
        out.status.code(),
        Some(17),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(v(&["sign-in", "--extension", "77"])).await;
    assert_eq!(out.status.code(), Some(18));
    // Another user's agent is not used silently.
    let out = run(v(&["user", "--user", "agent2"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        rig.sign_ins(),
        1,
        "every command used the agent's one sign-in"
    );
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_without_an_agent_signs_non_sso_users_in_with_a_password() {
    let e = emulator(&["--no-tls", "--auth-mode", "NON_SSO", "--user", "n:pw-n"]).await;
    let home = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sign-in".to_string(),
        "--extension".into(),
        "1001001".into(),
    ];
    args.extend(server_args(&e, "n"));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    // No password source and no terminal: exit 20, nothing sent.
    let out = output(desktop_command(home.path(), &a)).await;
    assert_eq!(
        out.status.code(),
        Some(20),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.request_count("/finesse/api/User/n"), 0);
    // A wrong password: exit 13, tried once.
    let mut with_stdin: Vec<&str> = a.clone();
    with_stdin.push("--password-stdin");
    let mut c = desktop_command(home.path(), &with_stdin);
    let out = tokio::task::spawn_blocking(move || support::run_with_stdin(&mut c, "wrong\n"))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("wrong"),
        "the password is never printed"
    );
    assert_eq!(e.basic_failures("n"), 1);
    let mut c = desktop_command(home.path(), &with_stdin);
    let out = tokio::task::spawn_blocking(move || support::run_with_stdin(&mut c, "pw-n\n"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["state"], "NOT_READY");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Basic auth"));
    assert_eq!(e.basic_failures("n"), 0);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_node_tests, ignore = "FINESSE_SSO_SKIP_NODE_TESTS is set")]
async fn python_and_node_examples_sign_in() {
    support::need_node();
    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/clients");
    for (prog, script, extra) in [
        ("python3", "client.py", None),
        ("node", "client.mjs", None),
        ("python3", "client.py", Some("--acqueon")),
    ] {
        let mut c = tokio::process::Command::new(prog);
        c.arg(dir.join(script))
            .arg(&rig.ep.path)
            .args(["--sign-in", "1001001"]);
        if let Some(x) = extra {
            c.arg(x);
        }
        let out = c
            .output()
            .await
            .unwrap_or_else(|err| panic!("{prog}: {err}"));
        assert!(
            out.status.success(),
            "{prog} {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        if extra.is_some() {
            assert_eq!(v["message"]["data"]["loginID"], "1001");
        } else {
            assert_eq!(
                (v["loginId"].as_str(), v["state"].as_str()),
                (Some("1001"), Some("NOT_READY"))
            );
        }
    }
    // A typed error reaches the example as one.
    let out = tokio::process::Command::new("python3")
        .arg(dir.join("client.py"))
        .arg(&rig.ep.path)
        .args(["--sign-in", "5"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("desktop_refused"));
    rig.stop();
    e.shutdown().await;
}

/// The real window under Xvfb: `agent start` signs in once (the emulator's IdP logs in by
/// itself), then `desktop sign-in` uses that agent's token: one window, not two.
#[cfg(feature = "webview")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn real_window_sign_in_then_desktop_reuses_the_agents_token() {
    support::need_display();
    let e = emulator(&["--auto-login", "agent1"]).await;
    let home = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_finesse-sso");
    let mut start = std::process::Command::new(exe);
    start
        .env("FINESSE_SSO_HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .args(["agent", "start"])
        .args(server_args(&e, "agent1"));
    let out = output(start).await;
    assert!(
        out.status.success(),
        "agent start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    struct Stop<'a>(&'a std::path::Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new(env!("CARGO_BIN_EXE_finesse-sso"))
                .env("FINESSE_SSO_HOME", self.0)
                .args(["agent", "stop"])
                .output();
        }
    }
    let _stop = Stop(home.path());
    let mut args = vec![
        "sign-in".to_string(),
        "--extension".into(),
        "1001001".into(),
    ];
    args.extend(server_args(&e, "agent1"));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = output(desktop_command(home.path(), &a)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["state"], "NOT_READY");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the agent's SSO token"));
    assert_eq!(
        e.request_count("/ids/v1/oauth/authorize"),
        1,
        "one sign-in flow: one window"
    );
    assert_eq!(e.issued_access_tokens().len(), 1, "one token: the agent's");
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_signs_a_non_sso_user_in_with_the_password_of_the_request() {
    let e = emulator(&[
        "--auth-mode",
        "HYBRID",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n:NON_SSO",
    ])
    .await;
    let rig = AgentRig::start(
        &e,
        RigOptions {
            user: "n",
            password: "pw-n",
            ..Default::default()
        },
    )
    .await;
    let mut c = rig.client().await;
    let sign_in = |password: Option<&str>| {
        Request::DesktopSignIn(SignInRequest {
            extension: "1001002".into(),
            password: password.map(|p| Secret::new(p.into())),
            ..Default::default()
        })
    };
    let err = c.call::<UserResult>(sign_in(None)).await.unwrap_err();
    assert_eq!(err.exit_code(), 20, "{err}");
    let err = c
        .call::<UserResult>(sign_in(Some("wrong")))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 13, "{err}");
    assert!(!err.to_string().contains("wrong"));
    assert_eq!(e.basic_failures("n"), 1, "tried once");
    let r: UserResult = c.call(sign_in(Some("pw-n"))).await.unwrap();
    assert_eq!(
        (
            r.auth.as_str(),
            r.user.login_id.as_str(),
            r.user.state.as_str()
        ),
        ("basic", "1002", "NOT_READY")
    );
    // The CLI through this agent: the password from stdin, never from argv.
    let mut cmd = desktop_command(rig.home.path(), &["user", "--password-stdin"]);
    let out = tokio::task::spawn_blocking(move || support::run_with_stdin(&mut cmd, "pw-n\n"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["state"], "NOT_READY");
    let out = output(desktop_command(rig.home.path(), &["user"])).await;
    assert_eq!(out.status.code(), Some(20), "no password, no terminal");
    assert_eq!(rig.sign_ins(), 0, "no SSO sign-in for a NON_SSO user");
    rig.stop();
    e.shutdown().await;
}

/// `desktop sign-in --demo` without a display: the demo emulator, the window under its own
/// Xvfb with the IdP's auto-login, the demo agent signed in at 1001001.
#[cfg(feature = "webview")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn demo_signs_the_demo_agent_in() {
    support::need_xvfb();
    let home = tempfile::tempdir().unwrap();
    let mut c = desktop_command(home.path(), &["sign-in", "--demo"]);
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let out = output(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let u = stdout_json(&out);
    assert_eq!(
        (
            u["loginName"].as_str(),
            u["extension"].as_str(),
            u["state"].as_str()
        ),
        (Some("agent1"), Some("1001001"), Some("NOT_READY"))
    );
}
