//! Issue 15 for NON_SSO users: the agent's notification session signed in with the password a
//! subscriber sends (Basic auth for the REST call, then SASL PLAIN), its events for changes made
//! outside the agent, the one-password rule between subscribers, a wrong password tried exactly
//! once (at REST or at SASL) and never again, an SSO user's password refused, the session
//! dropped with its last subscriber, a failover to the other side with the password, and `desktop watch --password-stdin` against a real agent
//! process with the password in no argv, environment, log or file.
#![cfg(unix)]

use std::time::Duration;

use base64::Engine as _;
use finesse_sso::ipc::desktop::{SignInRequest, StateRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use finesse_sso::notify::runner::Options;
use finesse_sso::redact::Secret;
use finesse_sso_emulator::Emulator;
use serde_json::{Value, json};

use crate::notify::fast;
use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::subscriber::Sub;
use crate::support::{emulator, logs};

/// The NON_SSO user's login id at the emulator (`n` is the second user; extension 1001002).
const LOGIN_ID: &str = "1002";

/// Backoffs of a few milliseconds: an agent that did retry a refused password would do so
/// long before the round trips these tests wait for.
fn eager() -> Options {
    Options {
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        refused_backoff: Duration::from_millis(1),
        ..fast()
    }
}

async fn rig(e: &Emulator, notify: Options) -> AgentRig {
    AgentRig::start(
        e,
        RigOptions {
            user: "n",
            password: "pw-n",
            notify,
            ..RigOptions::default()
        },
    )
    .await
}

fn with_password(password: &str) -> Value {
    json!({"notifications": true, "tokens": false, "password": password})
}

/// A change made outside the agent (another desktop, a supervisor): a PUT with Basic auth.
async fn put_basic(rig: &AgentRig, body: &str) {
    let url = rig
        .target
        .server
        .join(&format!("/finesse/api/User/{LOGIN_ID}"))
        .unwrap();
    let r = rig
        .target
        .http()
        .unwrap()
        .put(url)
        .basic_auth("n", Some("pw-n"))
        .header("content-type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{body}");
}

/// Waits until the emulator saw the notification stream of session `index` close.
async fn stream_closed(e: &Emulator, index: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(why) = e.xmpp().sessions().get(index).and_then(|s| s.ended.clone()) {
            return why;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {index} still open: {:?}",
            e.xmpp().sessions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_sso_user_holds_the_session_with_the_password() {
    let e = emulator(&[
        "--auth-mode",
        "HYBRID",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n:NON_SSO",
    ])
    .await;
    let rig = rig(&e, fast()).await;
    // Without the password: `password_required`, and Finesse was not asked.
    let ack = Sub::open(&rig.ep, json!({"notifications": true}))
        .await
        .err()
        .expect("refused");
    assert_eq!(ack["error"]["kind"], "password_required", "{ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .unwrap()
            .contains("n is a NON_SSO user"),
        "{ack}"
    );
    assert!(e.xmpp().sessions().is_empty());

    let mut sub = Sub::new(&rig.ep, with_password("pw-n")).await;
    let (up, _) = sub.until("notifications").await;
    assert_eq!(up["state"], "connected", "{up}");
    assert!(
        up["jid"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{LOGIN_ID}@")),
        "{up}"
    );
    assert_eq!(sub.state().await, "LOGOUT");
    let s = &e.xmpp().sessions()[0];
    assert_eq!(
        (s.user.as_str(), s.auth, s.rest_before),
        ("n", "password", true),
        "signed in with the password after an authenticated REST call"
    );

    // Changes made outside the agent arrive as notifications.
    put_basic(
        &rig,
        "<User><state>LOGIN</state><extension>1001002</extension></User>",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    put_basic(&rig, "<User><state>READY</state></User>").await;
    assert_eq!(sub.state().await, "READY");

    // A second subscriber with the same password joins the one session (Acqueon's envelopes).
    let mut acq = Sub::new(
        &rig.ep,
        json!({"notifications": true, "tokens": false, "format": "acqueon", "password": "pw-n"}),
    )
    .await;
    // It starts from the User as last told: signed in, so Acqueon's Login event.
    let now = acq.next_but_connection().await;
    assert_eq!(
        (
            now["subtopic"].as_str(),
            now["message"]["data"]["loginID"].as_str()
        ),
        (Some("Login"), Some(LOGIN_ID)),
        "{now}"
    );
    put_basic(
        &rig,
        "<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    let changed = acq.next_but_connection().await;
    assert_eq!(
        (
            changed["subtopic"].as_str(),
            changed["message"]["data"]["state"].as_str()
        ),
        (Some("SetAgentState"), Some("NOT_READY")),
        "{changed}"
    );

    // Another password is refused without touching Finesse.
    let ack = Sub::open(&rig.ep, with_password("pw-other"))
        .await
        .err()
        .expect("refused");
    assert_eq!(ack["error"]["kind"], "auth_rejected", "{ack}");
    let message = ack["error"]["message"].as_str().unwrap();
    assert!(message.contains("not sent to Finesse"), "{message}");
    assert!(!message.contains("pw-other"), "{message}");
    assert_eq!(e.basic_failures_total("n"), 0);
    assert_eq!(e.xmpp().sasl_failures("n"), 0);
    assert_eq!(e.xmpp().sessions().len(), 1, "one session for both");
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );

    // The last subscriber leaving ends the session: the emulator sees the stream close.
    drop(sub);
    drop(acq);
    let why = stream_closed(&e, 0).await;
    assert_eq!(e.xmpp().present(LOGIN_ID), 0, "{why}");
    rig.stop();
    e.shutdown().await;
}

/// The next `notifications` event with `state`, skipping the others.
async fn session_state(sub: &mut Sub, state: &str) -> Value {
    loop {
        let (v, _) = sub.until("notifications").await;
        if v["state"] == state {
            return v;
        }
        assert_ne!(v["state"], "ended", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_sso_session_fails_over_with_the_password() {
    let e = emulator(&[
        "--sides",
        "2",
        "--auth-mode",
        "NON_SSO",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n",
    ])
    .await;
    let rig = rig(&e, fast()).await;
    let mut sub = Sub::new(&rig.ep, with_password("pw-n")).await;
    session_state(&mut sub, "connected").await;
    assert_eq!(e.xmpp().sessions()[0].side, 1);
    e.set_in_service(1, false);
    let moved = loop {
        let (v, _) = sub.until("system").await;
        if !v["system"]["failover_from"].is_null() {
            break v;
        }
    };
    assert_eq!(
        moved["system"]["side"].as_str(),
        Some(e.side_urls()[1].as_str().trim_end_matches('/')),
        "{moved}"
    );
    session_state(&mut sub, "connected").await;
    let last = e.xmpp().sessions().last().unwrap().clone();
    assert_eq!(
        (last.side, last.user.as_str(), last.auth, last.rest_before),
        (2, "n", "password", true),
        "{last:?}"
    );
    assert_eq!(e.basic_failures_total("n"), 0);
    assert_eq!(rig.sign_ins(), 0, "no SSO sign-in for a NON_SSO user");
    drop(sub);
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_tried_once_and_never_again() {
    let log = logs();
    let e = emulator(&[
        "--auth-mode",
        "NON_SSO",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n",
    ])
    .await;
    let rig = rig(&e, eager()).await;
    let mut c = rig.client().await;

    // Refused by the REST call: one 401, the session ends, the subscriber is told.
    let mut wrong = Sub::new(&rig.ep, with_password("wrong-pw")).await;
    let (ended, skipped) = wrong.until("notifications").await;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        (ended["state"].as_str(), ended["kind"].as_str()),
        (Some("ended"), Some("auth_rejected")),
        "{ended}"
    );
    let reason = ended["reason"].as_str().unwrap();
    assert!(
        reason.contains("User on")
            && reason.contains("HTTP 401")
            && reason.contains("not tried again"),
        "{reason}"
    );
    assert!(!reason.contains("wrong-pw"));
    assert_eq!(e.basic_failures_total("n"), 1);
    assert!(e.xmpp().sessions().is_empty(), "no login after the 401");
    // No retry: a change made with the right password reaches the subscriber (the agent's
    // own answer), by which time an agent that retried would have tried again many times.
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001002".into(),
            password: Some(Secret::new("pw-n".into())),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(wrong.state().await, "NOT_READY");
    assert_eq!(
        e.basic_failures_total("n"),
        1,
        "the refused password was sent once"
    );
    assert!(e.xmpp().sessions().is_empty());

    // Refused by the notification service (REST accepts it, SASL does not): one login.
    e.xmpp().set_refuse_sasl(true);
    let mut second = Sub::new(&rig.ep, with_password("pw-n")).await;
    let (ended, _) = second.until("notifications").await;
    assert_eq!(
        (ended["state"].as_str(), ended["kind"].as_str()),
        (Some("ended"), Some("auth_rejected")),
        "{ended}"
    );
    assert!(
        ended["reason"]
            .as_str()
            .unwrap()
            .contains("the notification service refused the password"),
        "{ended}"
    );
    let (told, _) = wrong.until("notifications").await;
    assert_eq!(told["state"], "ended", "every holder is told: {told}");
    assert_eq!(e.xmpp().sasl_failures("n"), 1);
    let _: UserResult = c
        .call(Request::DesktopState(StateRequest {
            state: "READY".into(),
            reason: None,
            password: Some(Secret::new("pw-n".into())),
        }))
        .await
        .unwrap();
    assert_eq!(second.state().await, "READY");
    assert_eq!(
        e.xmpp().sasl_failures("n"),
        1,
        "the refused login was made once"
    );
    assert_eq!(e.xmpp().sessions().len(), 1);

    // A later subscriber may try again, once: now accepted.
    e.xmpp().set_refuse_sasl(false);
    let mut third = Sub::new(&rig.ep, with_password("pw-n")).await;
    let (up, _) = third.until("notifications").await;
    assert_eq!(up["state"], "connected", "{up}");
    assert_eq!(e.xmpp().sessions().len(), 2);
    assert_eq!(e.basic_failures_total("n"), 1);
    drop(third);
    stream_closed(&e, 1).await;
    drop((wrong, second));
    // Nothing logged in this process (agent and emulator, at trace) holds either password.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let text = log
        .wait_for("the session ends (never retried)", Duration::from_secs(5))
        .await;
    assert!(
        text.contains("SASL PLAIN as 1002 with the password"),
        "trace logs seen"
    );
    for s in [
        "wrong-pw".to_string(),
        "pw-n".to_string(),
        b64("n:wrong-pw"),
        b64("n:pw-n"),
        b64(&format!("\0{LOGIN_ID}\0pw-n")),
    ] {
        assert!(!text.contains(&s), "the log holds {s:?}");
    }
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_user_sending_a_password_is_refused() {
    let e = emulator(&[]).await;
    let rig = AgentRig::start(
        &e,
        RigOptions {
            notify: fast(),
            ..RigOptions::default()
        },
    )
    .await;
    let ack = Sub::open(&rig.ep, with_password("s3cret"))
        .await
        .err()
        .expect("refused");
    assert_eq!(ack["error"]["kind"], "usage", "{ack}");
    let message = ack["error"]["message"].as_str().unwrap();
    assert!(message.contains("agent1 is an SSO user"), "{message}");
    assert!(!message.contains("s3cret"));
    let ack = Sub::open(&rig.ep, json!({"password": "s3cret"}))
        .await
        .err()
        .expect("refused");
    assert_eq!(ack["error"]["kind"], "usage", "{ack}");
    assert!(e.xmpp().sessions().is_empty());
    assert_eq!(rig.sign_ins(), 0, "nothing started");
    rig.stop();
    e.shutdown().await;
}

/// `desktop watch` with a real agent process (`/proc` for its argv and environment).
#[cfg(target_os = "linux")]
mod watch {
    use std::time::Duration;

    use base64::Engine as _;
    use finesse_sso::dirs::Dirs;
    use finesse_sso::ipc::client::Client;
    use finesse_sso::ipc::transport::Endpoint;
    use serde_json::Value;
    use tokio::io::AsyncWriteExt;

    use super::LOGIN_ID;
    use crate::support::desktop::{desktop_command, server_args};
    use crate::support::subscriber::JsonLines;
    use crate::support::{emulator, files_under};

    /// Whether `haystack` holds `needle` anywhere.
    fn holds(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// A process's argv and environment, as the kernel shows them.
    fn argv_and_environ(pid: u32) -> Vec<(String, Vec<u8>)> {
        ["cmdline", "environ"]
            .iter()
            .map(|f| {
                let path = format!("/proc/{pid}/{f}");
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                assert!(!bytes.is_empty(), "{path} is empty");
                (path, bytes)
            })
            .collect()
    }

    /// `desktop watch --password-stdin` for a NON_SSO user, starting a real agent: a wrong
    /// password ends the watch with exit 13 and its `ended` line, the right one prints the
    /// session's state and `user` lines; neither password is in either process's argv or
    /// environment, the watch's stderr at `-vvv`, the agent's `-vvv` log, or any file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_takes_the_password_from_stdin_and_keeps_it_out_of_everything() {
        const PASSWORD: &str = "Pw-6f1d-never-logged";
        const WRONG: &str = "Wr-93ab-never-logged";
        let n = format!("n:{PASSWORD}");
        let e = emulator(&["--auth-mode", "NON_SSO", "--user", "a:pw-a", "--user", &n]).await;
        let home = tempfile::tempdir().unwrap();
        let mut args = vec![
            "watch".to_string(),
            "--password-stdin".into(),
            "-vvv".into(),
        ];
        args.extend(server_args(&e, "n"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let watch = |password: &str| {
            let mut cmd = tokio::process::Command::from(desktop_command(home.path(), &args));
            cmd.stdin(std::process::Stdio::piped()).kill_on_drop(true);
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let line = format!("{password}\n");
            (child, async move {
                stdin.write_all(line.as_bytes()).await.unwrap();
            })
        };

        // A wrong password: the agent starts, Finesse refuses it once, the watch ends (exit 13).
        let (child, feed) = watch(WRONG);
        feed.await;
        let refused = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the watch ends")
            .unwrap();
        let refused_err = String::from_utf8_lossy(&refused.stderr).to_string();
        assert_eq!(refused.status.code(), Some(13), "{refused_err}");
        let last: Value = serde_json::from_str(
            String::from_utf8_lossy(&refused.stdout)
                .lines()
                .last()
                .expect("the ended line"),
        )
        .unwrap();
        assert_eq!(
            (last["state"].as_str(), last["kind"].as_str()),
            (Some("ended"), Some("auth_rejected")),
            "{last}"
        );
        assert_eq!(e.basic_failures_total("n"), 1);

        // No password and no terminal to ask at: `password_required` (exit 20), nothing sent.
        let mut bare: Vec<&str> = args.clone();
        bare.retain(|a| *a != "--password-stdin");
        let asked = crate::support::output(desktop_command(home.path(), &bare)).await;
        let asked_err = String::from_utf8_lossy(&asked.stderr).to_string();
        assert_eq!(asked.status.code(), Some(20), "{asked_err}");
        assert!(asked_err.contains("--password-stdin"), "{asked_err}");
        assert_eq!(e.basic_failures_total("n"), 1);

        // The right password: the session's state, the User, then each change.
        let (mut child, feed) = watch(PASSWORD);
        feed.await;
        let mut out = JsonLines::new(child.stdout.take().unwrap());
        let up = out.next().await;
        assert_eq!(
            (up["event"].as_str(), up["state"].as_str()),
            (Some("notifications"), Some("connected")),
            "{up}"
        );
        assert_eq!(out.next().await["user"]["state"], "LOGOUT");
        // The sign-in through the same agent, its password from stdin too.
        let mut sign_in = desktop_command(home.path(), &["sign-in", "--extension", "1001002"]);
        sign_in.arg("--password-stdin").args(server_args(&e, "n"));
        let line = format!("{PASSWORD}\n");
        let signed = tokio::task::spawn_blocking(move || {
            crate::support::run_with_stdin(&mut sign_in, &line)
        })
        .await
        .unwrap();
        assert!(
            signed.status.success(),
            "{}",
            String::from_utf8_lossy(&signed.stderr)
        );
        let ev = out.next().await;
        assert_eq!(
            (ev["event"].as_str(), ev["user"]["state"].as_str()),
            (Some("user"), Some("NOT_READY")),
            "{ev}"
        );

        let ep = Endpoint::of(&Dirs::under(home.path()), "default").unwrap();
        let mut agent = Client::connect(&ep, "default", "test").await.unwrap();
        let agent_pid = agent.hello.pid;
        for pid in [agent_pid, child.id().unwrap()] {
            for (what, bytes) in argv_and_environ(pid) {
                for secret in [PASSWORD, WRONG] {
                    assert!(!holds(&bytes, secret), "{what} holds a password");
                }
            }
        }
        let watch_pid = child.id().unwrap() as i32;
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold it).
        let rc = unsafe { libc::kill(watch_pid, libc::SIGINT) };
        assert_eq!(rc, 0);
        let done = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("watch ends on SIGINT")
            .unwrap();
        assert!(done.status.success(), "{:?}", done.status);
        agent.stop().await.unwrap();
        // Gone (or a zombie): its log is complete.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(format!("/proc/{agent_pid}/stat"))
            .is_ok_and(|s| !s.contains(") Z "))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let log = std::fs::read_to_string(finesse_sso::agent::runner::log_file(
            &Dirs::under(home.path()),
            "default",
        ))
        .unwrap();
        assert!(
            log.contains(&format!("SASL PLAIN as {LOGIN_ID} with the password")),
            "the agent logged at -vvv: {log}"
        );
        let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
        let mut secrets = Vec::new();
        for pw in [PASSWORD, WRONG] {
            secrets.push(pw.to_string());
            secrets.push(b64(format!("\0{LOGIN_ID}\0{pw}"))); // the SASL PLAIN payload
            secrets.push(b64(format!("n:{pw}"))); // the Basic credentials
        }
        let mut texts = vec![
            (
                "the refused watch's stderr".to_string(),
                refused.stderr.clone(),
            ),
            ("the watch's stderr".to_string(), done.stderr.clone()),
            ("the sign-in's stderr".to_string(), signed.stderr.clone()),
        ];
        for f in files_under(home.path()) {
            texts.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
        for (what, bytes) in &texts {
            for s in &secrets {
                assert!(!holds(bytes, s), "{what} holds a password or its encoding");
            }
        }
        e.shutdown().await;
    }
}
