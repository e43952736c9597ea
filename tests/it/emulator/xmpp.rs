//! The notification service (XMPP over WebSocket at `/ws/`), driven frame by frame: RFC 7395
//! framing, SASL PLAIN with a token or a password, `desktop` refused, presence, pings both
//! ways, User notifications on every change, and the fault knobs. The emulator is strict:
//! what a client gets wrong is a stream error and a recorded violation.

use super::*;

use base64::Engine as _;
use finesse_sso::notify::transport::{self, Reach, Ws};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

const FRAMING: &str = "xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"";

/// A raw client: frames in, frames out, nothing of our session logic.
pub(crate) struct Raw(Ws);

impl Raw {
    async fn connect(e: &Emulator) -> Raw {
        let reach = Reach {
            ca_pem: e.ca_pem().map(|p| p.as_bytes().to_vec()),
            proxy: Default::default(),
            transport: Default::default(),
        };
        Raw(transport::connect(&e.xmpp_url(), &reach)
            .await
            .expect("WebSocket"))
    }

    async fn send(&mut self, frame: &str) {
        self.0.send(Message::text(frame.to_string())).await.unwrap();
    }

    /// The next text frame, or `None` when the connection ended. A server ping is answered
    /// and returned too (`recv` skips them).
    async fn frame(&mut self) -> Option<String> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.0.next())
                .await
                .expect("a frame in time")
            {
                Some(Ok(Message::Text(t))) => {
                    let t = t.to_string();
                    if t.contains("urn:xmpp:ping") && t.contains("type=\"get\"") {
                        let id = t.split("id=\"").nth(1).unwrap().split('"').next().unwrap();
                        self.send(&format!(
                            "<iq xmlns=\"jabber:client\" type=\"result\" id=\"{id}\" to=\"127.0.0.1\"/>"
                        ))
                        .await;
                    }
                    return Some(t);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame that is not a server ping (answered on the way).
    pub(crate) async fn recv(&mut self) -> Option<String> {
        loop {
            let f = self.frame().await?;
            if !f.contains("urn:xmpp:ping") {
                return Some(f);
            }
        }
    }

    async fn expect(&mut self, needle: &str) -> String {
        let f = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("closed, waiting for {needle}"));
        assert!(f.contains(needle), "wanted {needle:?} in {f}");
        f
    }

    async fn open(&mut self) {
        self.send(&format!(
            "<open {FRAMING} to=\"127.0.0.1\" version=\"1.0\"/>"
        ))
        .await;
        self.expect("<open ").await;
    }

    async fn auth(&mut self, authcid: &str, secret: &str) -> String {
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{authcid}\0{secret}"));
        self.send(&format!(
            "<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">{b64}</auth>"
        ))
        .await;
        self.recv().await.expect("a SASL answer")
    }

    async fn bind(&mut self, resource: &str) -> String {
        self.send(&format!(
            "<iq xmlns=\"jabber:client\" type=\"set\" id=\"b\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">\
             <resource>{resource}</resource></bind></iq>"
        ))
        .await;
        self.recv().await.expect("a bind answer")
    }

    /// Open, authenticate, bind `r1`, send presence: the session is online.
    pub(crate) async fn online(e: &Emulator, authcid: &str, secret: &str) -> Raw {
        let mut r = Raw::connect(e).await;
        r.open().await;
        r.expect("<mechanism>PLAIN</mechanism>").await;
        let a = r.auth(authcid, secret).await;
        assert!(a.contains("<success"), "{a}");
        r.open().await;
        r.expect("urn:ietf:params:xml:ns:xmpp-bind").await;
        assert!(r.bind("r1").await.contains("/r1</jid>"));
        r.send("<presence xmlns=\"jabber:client\"><priority>0</priority></presence>")
            .await;
        r.expect("from=\"finesse@127.0.0.1/finesse\"").await;
        r
    }
}

pub(super) async fn token(e: &Emulator) -> String {
    driver(e, demo())
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap()
        .token
        .expose()
        .clone()
}

pub(super) async fn put(e: &Emulator, token: &str, body: &str, request_id: &str) -> u16 {
    client(e, None)
        .put(at(e.finesse_url(), "/finesse/api/User/1001"))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .header("requestId", request_id)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(super) async fn get_user(e: &Emulator, token: &str) {
    let r = client(e, None)
        .get(at(e.finesse_url(), "/finesse/api/User/1001"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_session_binds_pings_and_hears_every_state_change() {
    // This raw client answers the server's pings only while it reads; between reads (the PUTs)
    // an interval of 300 ms was too short under Wine and the server dropped it. 2 s leaves the
    // test its pings (waited for at the end) without racing the PUTs.
    let e = start(&["--xmpp-server-ping", "2s"]).await;
    let t = token(&e).await;
    get_user(&e, &t).await;
    let mut r = Raw::connect(&e).await;
    r.open().await;
    r.expect("<mechanism>PLAIN</mechanism>").await;
    assert!(r.auth("1001", &t).await.contains("<success"));
    r.open().await;
    r.expect("<bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\"/>")
        .await;
    // `desktop` is the Finesse desktop's resource.
    let c = r.bind("desktop").await;
    assert!(
        c.contains("type=\"error\"") && c.contains("<conflict "),
        "{c}"
    );
    assert!(
        r.bind("finesse-sso-x")
            .await
            .contains("<jid>1001@127.0.0.1/finesse-sso-x</jid>")
    );
    r.send("<presence xmlns=\"jabber:client\"><priority>0</priority></presence>")
        .await;
    r.expect("finesse@127.0.0.1").await;
    assert_eq!(e.xmpp().present("1001"), 1);
    r.send("<iq xmlns=\"jabber:client\" type=\"get\" id=\"c1\" to=\"127.0.0.1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>")
        .await;
    r.expect("type=\"result\" id=\"c1\"").await;

    let body = "<User><state>LOGIN</state><extension>1001001</extension></User>";
    assert_eq!(put(&e, &t, body, "req-1").await, 202);
    let mut states = Vec::new();
    for (want, body, rid) in [
        ("NOT_READY", None, "req-1"),
        ("READY", Some("<User><state>READY</state></User>"), "req-2"),
        (
            "NOT_READY",
            Some("<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>"),
            "req-3",
        ),
        (
            "LOGOUT",
            Some("<User><state>LOGOUT</state><reasonCodeId>55</reasonCodeId></User>"),
            "req-4",
        ),
    ] {
        if let Some(b) = body {
            assert_eq!(put(&e, &t, b, rid).await, 202);
        }
        let n = r.recv().await.expect("a notification");
        // The reference's shape: an XML-escaped <Update> inside the PubSub item.
        assert!(n.contains("<items node=\"/finesse/api/User/1001\">"), "{n}");
        assert!(n.contains("<notification xmlns=\"http://jabber.org/protocol/pubsub\">&lt;Update&gt;&lt;event&gt;put&lt;/event&gt;"), "{n}");
        assert!(
            n.contains(&format!("&lt;requestId&gt;{rid}&lt;/requestId&gt;")),
            "{n}"
        );
        assert!(
            n.contains(&format!("&lt;state&gt;{want}&lt;/state&gt;")),
            "{n}"
        );
        assert!(n.contains("&lt;user&gt;&lt;dialogs&gt;"), "{n}");
        states.push(want);
    }
    assert_eq!(states, ["NOT_READY", "READY", "NOT_READY", "LOGOUT"]);
    // A refused PUT changes nothing and notifies nothing; the next frame is our ping's answer.
    assert_eq!(
        put(&e, &t, "<User><state>READY</state></User>", "req-5").await,
        400
    );
    r.send("<iq xmlns=\"jabber:client\" type=\"get\" id=\"c2\" to=\"127.0.0.1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>")
        .await;
    loop {
        let f = r.recv().await.unwrap();
        assert!(!f.contains("<message"), "{f}");
        if f.contains("id=\"c2\"") {
            break;
        }
    }
    // The server pings too (every 2 s here); answered by `frame`.
    while e.xmpp().sessions()[0].pongs == 0 {
        r.frame().await.expect("a server ping");
    }
    r.send(&format!("<close {FRAMING}/>")).await;
    r.expect("<close ").await;
    let s = &e.xmpp().sessions()[0];
    assert_eq!(
        (s.user.as_str(), s.auth, s.resource.as_str()),
        ("agent1", "token", "finesse-sso-x")
    );
    assert!(s.rest_before && s.pings >= 1 && s.ended.is_some(), "{s:?}");
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    e.shutdown().await;
}

#[tokio::test]
async fn sasl_and_framing_are_strict() {
    let e = start(&[
        "--auth-mode",
        "HYBRID",
        "--user",
        "agent1:pw1",
        "--user",
        "bob:pw2:NON_SSO",
    ])
    .await;
    let t = driver(&e, Some(("agent1".into(), "pw1".into())))
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap()
        .token
        .expose()
        .clone();
    // A wrong token, a password for an SSO user, another user's token: not-authorized, and
    // the answer never repeats what was sent.
    for (authcid, secret) in [
        ("1001", "not.a.token"),
        ("1001", "pw1"),
        ("1002", t.as_str()),
    ] {
        let mut r = Raw::connect(&e).await;
        r.open().await;
        r.recv().await.unwrap();
        let a = r.auth(authcid, secret).await;
        assert!(
            a.contains("<failure") && a.contains("<not-authorized/>"),
            "{a}"
        );
        assert!(!a.contains(secret), "{a}");
        r.expect("<close ").await;
    }
    // NON_SSO: the password.
    let mut b = Raw::online(&e, "bob", "pw2").await;
    b.send(&format!("<close {FRAMING}/>")).await;
    assert_eq!(e.xmpp().sessions().last().unwrap().auth, "password");
    assert!(e.xmpp().violations().is_empty());

    // Stanzas before authentication, a wrong domain, a stanza without its namespace.
    for (frames, condition) in [
        (
            vec!["<presence xmlns=\"jabber:client\"/>"],
            "not-authorized",
        ),
        (
            vec![
                "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" to=\"evil.example\" version=\"1.0\"/>",
            ],
            "host-unknown",
        ),
        (
            vec!["<open to=\"127.0.0.1\" version=\"1.0\"/>"],
            "not-well-formed",
        ),
    ] {
        let mut r = Raw::connect(&e).await;
        for f in frames {
            r.send(f).await;
        }
        r.expect(&format!("<{condition} ")).await;
        r.expect("<close ").await;
    }
    assert_eq!(
        e.xmpp().violations().len(),
        3,
        "{:?}",
        e.xmpp().violations()
    );
    // No `xmpp` subprotocol: refused at the upgrade.
    let r = client(&e, None)
        .get(at(e.finesse_url(), "/ws/"))
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("subprotocol `xmpp`"));
    e.shutdown().await;
}

#[tokio::test]
async fn faults_pings_busy_device_drops_and_forced_logout() {
    let e = start(&[
        "--xmpp-forced-logout",
        "300ms",
        "--xmpp-device-busy",
        "--xmpp-no-pong",
    ])
    .await;
    let t = token(&e).await;
    let mut r = Raw::online(&e, "1001", &t).await;
    // --xmpp-no-pong: a ping goes unanswered; the next frame is the Device Busy error.
    r.send("<iq xmlns=\"jabber:client\" type=\"get\" id=\"c1\" to=\"127.0.0.1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>")
        .await;
    let body = "<User><state>LOGIN</state><extension>1001001</extension></User>";
    assert_eq!(put(&e, &t, body, "busy-1").await, 202);
    let n = r.expect("&lt;apiErrors&gt;").await;
    assert!(
        n.contains("&lt;errorType&gt;Device Busy&lt;/errorType&gt;") && n.contains("busy-1"),
        "{n}"
    );
    assert_eq!(e.agent_state("1001"), "LOGOUT");

    e.xmpp().set_device_busy(false);
    e.xmpp().set_no_pong(false);
    assert_eq!(put(&e, &t, body, "ok-1").await, 202);
    r.expect("&lt;state&gt;NOT_READY&lt;/state&gt;").await;
    // Malformed and hostile frames come before the real notification.
    e.xmpp().set_malformed(true);
    assert_eq!(
        put(&e, &t, "<User><state>READY</state></User>", "r").await,
        202
    );
    let mut hostile = 0;
    loop {
        let f = r.recv().await.unwrap();
        if f.contains("&lt;state&gt;READY&lt;/state&gt;") && f.contains("id=\"item-") {
            break;
        }
        hostile += 1;
    }
    assert_eq!(hostile, 8);
    e.xmpp().set_malformed(false);

    // A call: the Dialogs update on the user's Dialogs node, then the User's new state; the
    // answer's PUT carries the one <Dialog> with its own URI as the source.
    let id = e.ring("1001", "5551234", "6000").unwrap();
    let d = r.expect("&lt;dialogs&gt;&lt;Dialog&gt;").await;
    assert!(
        d.contains("node=\"/finesse/api/User/1001/Dialogs\"")
            && d.contains("&lt;event&gt;POST&lt;/event&gt;")
            && d.contains(&format!("&lt;id&gt;{id}&lt;/id&gt;"))
            && d.contains("&lt;fromAddress&gt;5551234&lt;/fromAddress&gt;")
            && d.contains("&lt;callType&gt;ACD_IN&lt;/callType&gt;"),
        "{d}"
    );
    r.expect("&lt;state&gt;RESERVED&lt;/state&gt;").await;
    assert_eq!(e.agent_state("1001"), "RESERVED");
    e.answer("1001").unwrap();
    let a = r
        .expect(&format!(
            "&lt;source&gt;/finesse/api/Dialog/{id}&lt;/source&gt;"
        ))
        .await;
    assert!(a.contains("&lt;event&gt;PUT&lt;/event&gt;"), "{a}");
    r.expect("&lt;state&gt;TALKING&lt;/state&gt;").await;
    e.hang_up("1001").unwrap();
    r.expect("&lt;event&gt;DELETE&lt;/event&gt;").await;
    r.expect("&lt;state&gt;READY&lt;/state&gt;").await;

    // Dropped: the connection ends without a word; the agent stays signed in while the
    // forced-logout delay runs, and presence coming back cancels it.
    // The delay must outlast a reconnect on a slow machine (under Wine one took over 300 ms).
    let delay = Duration::from_secs(3);
    e.xmpp().set_forced_logout(delay);
    let dropped = tokio::time::Instant::now();
    e.xmpp().drop_all();
    assert_eq!(r.recv().await, None);
    let _back = Raw::online(&e, "1001", &t).await;
    assert!(
        dropped.elapsed() < delay,
        "the reconnect took {:?}, longer than the delay it must beat",
        dropped.elapsed()
    );
    // Proving an absence takes waiting past the delay: no condition to wait for.
    tokio::time::sleep_until(dropped + delay + Duration::from_millis(300)).await;
    assert_eq!(e.agent_state("1001"), "READY");
    e.xmpp().set_forced_logout(Duration::from_millis(300));
    drop(_back);
    // Presence gone for good: signed out with reason 255 after the (shortened) delay.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.agent_state("1001") != "LOGOUT" {
        assert!(std::time::Instant::now() < deadline, "no forced logout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = client(&e, None)
        .get(at(e.finesse_url(), "/finesse/api/User/1001"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<reasonCodeId>255</reasonCodeId>")
    );

    // --xmpp-drop-after: every connection ends after the delay.
    e.xmpp().set_drop_after(Some(Duration::from_millis(200)));
    let mut d = Raw::online(&e, "1001", &t).await;
    assert_eq!(d.recv().await, None);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    e.shutdown().await;
}
