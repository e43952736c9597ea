//! Test-only stand-in for the sign-in window where no engine can run (WebView2 under Wine,
//! `.ci/wine-e2e`, via `FINESSE_SSO_WEBVIEW`): the window's wire protocol exactly (the request
//! line on stdin, then `go`, then one outcome line on the answer channel), with the sign-in done by
//! the emulator-driving HTTP test driver as the emulator's demo user. Never shipped.

use std::io::BufRead;
use std::time::Duration;

use finesse_sso::error::ErrorKind;
use finesse_sso::flow::Flow;
use finesse_sso::http::HttpOptions;
use finesse_sso::testing::HttpDriver;
use finesse_sso::window::channel;
use finesse_sso::window::{GoFacts, WindowOutcome, WindowRequest};
use finesse_sso_emulator::DEMO_PASSWORD;

fn main() {
    // First, as the real window does: the channel is ours alone.
    let Some(mut answer) = channel::take_answer_channel() else {
        finesse_sso::stdio::note(format_args!(
            "window_stand_in: no answer channel: it is started by finesse-sso only"
        ));
        std::process::exit(1);
    };
    let outcome = sign_in();
    if channel::write_outcome(&mut answer, &outcome).is_err() {
        std::process::exit(1);
    }
}

fn sign_in() -> WindowOutcome {
    let fail = |m: String| WindowOutcome::error(ErrorKind::Internal, m);
    let mut lines = std::io::stdin().lock().lines();
    let req: WindowRequest = match lines.next() {
        Some(Ok(l)) => match serde_json::from_str(&l) {
            Ok(r) => r,
            Err(e) => return fail(format!("bad window request: {e}")),
        },
        _ => return fail("no window request on stdin".into()),
    };
    // Nothing is loaded before the parent's `go`; EOF first means it gave up.
    loop {
        match lines.next() {
            Some(Ok(l)) if GoFacts::parse(&l).is_some() => break,
            Some(Ok(_)) => {}
            _ => return fail("stdin closed before go".into()),
        }
    }
    let opts = HttpOptions {
        ca_pem: req.ca_pem.map(String::into_bytes),
        timeout: Some(Duration::from_secs(req.timeout_secs.max(1))),
        ..Default::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("runtime: {e}")),
    };
    let creds = Some((req.user.clone(), DEMO_PASSWORD.to_string()));
    let result = runtime.block_on(async {
        let driver = HttpDriver::new(&opts, creds).map_err(|e| e.to_string())?;
        driver
            .sign_in(&mut Flow::new(&req.finesse), &req.user)
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(token) => WindowOutcome::Ok {
            token,
            cookies: vec![],
        },
        Err(e) => WindowOutcome::error(ErrorKind::Webview, format!("stand-in sign-in: {e}")),
    }
}
