//! The notification service over BOSH (`/http-bind/`, XEP-0124/0206), driven body by body:
//! session creation, the `rid` rule, the restart after SASL, a notification on a held poll,
//! terminate, the transport knob, and what a strict server refuses.

use super::xmpp::{get_user, put, token};
use super::*;

use base64::Engine as _;

const HTTPBIND: &str =
    "xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:xmpp=\"urn:xmpp:xbosh\"";

/// A raw BOSH client: one request at a time, nothing of our session logic.
struct Raw {
    http: reqwest::Client,
    url: Url,
    sid: String,
    rid: u64,
}

impl Raw {
    async fn post_raw(http: &reqwest::Client, url: &Url, body: String) -> String {
        let r = http
            .post(url.clone())
            .header("content-type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Creates a session; returns the client and the creation answer.
    async fn create(e: &Emulator, wait: u64) -> (Raw, String) {
        let http = client(e, None);
        let url = e.bosh_url();
        let a = Self::post_raw(
            &http,
            &url,
            format!(
                "<body {HTTPBIND} rid=\"1000\" to=\"127.0.0.1\" xmpp:version=\"1.0\" wait=\"{wait}\" hold=\"1\" xml:lang=\"en\"/>"
            ),
        )
        .await;
        let sid = a
            .split("sid=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("no sid in {a}"))
            .split('"')
            .next()
            .unwrap()
            .to_string();
        (
            Raw {
                http,
                url,
                sid,
                rid: 1001,
            },
            a,
        )
    }

    /// One request of the session with `attrs` and `stanzas`; `rid` is the next unless given.
    async fn post_rid(&mut self, rid: u64, attrs: &str, stanzas: &str) -> String {
        let body = format!(
            "<body {HTTPBIND} rid=\"{rid}\" sid=\"{}\"{attrs}>{stanzas}</body>",
            self.sid
        );
        Self::post_raw(&self.http, &self.url, body).await
    }

    async fn post(&mut self, attrs: &str, stanzas: &str) -> String {
        let rid = self.rid;
        self.rid += 1;
        self.post_rid(rid, attrs, stanzas).await
    }

    /// Posts `stanzas`, then polls until an answer holds `needle` (empty answers are the wait
    /// running out; server pings are answered).
    async fn expect(&mut self, stanzas: &str, needle: &str) -> String {
        let mut a = self.post("", stanzas).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !a.contains(needle) {
            assert!(!a.contains("type=\"terminate\""), "ended: {a}");
            assert!(std::time::Instant::now() < deadline, "no {needle:?}");
            a = self.post("", "").await;
        }
        a
    }

    async fn online(e: &Emulator, t: &str) -> Raw {
        let (mut r, a) = Raw::create(e, 60).await;
        assert!(a.contains("<mechanism>PLAIN</mechanism>"), "{a}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("\01001\0{t}"));
        let auth = format!(
            "<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">{b64}</auth>"
        );
        r.expect(&auth, "<success ").await;
        let restart = r
            .post(
                " to=\"127.0.0.1\" xmpp:version=\"1.0\" xmpp:restart=\"true\"",
                "",
            )
            .await;
        assert!(
            restart.contains("urn:ietf:params:xml:ns:xmpp-bind"),
            "{restart}"
        );
        r.expect(
            "<iq xmlns=\"jabber:client\" type=\"set\" id=\"b\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">\
             <resource>r1</resource></bind></iq>",
            "<jid>1001@127.0.0.1/r1</jid>",
        )
        .await;
        r.expect(
            "<presence xmlns=\"jabber:client\"><priority>0</priority></presence>",
            "from=\"finesse@127.0.0.1/finesse\"",
        )
        .await;
        r
    }
}

#[tokio::test]
async fn a_session_is_created_restarted_bound_and_hears_a_state_change_on_a_held_poll() {
    let e = start(&["--xmpp-bosh-wait", "1s"]).await;
    let t = token(&e).await;
    get_user(&e, &t).await;
    let (_, a) = Raw::create(&e, 60).await;
    for attr in [
        "wait=\"1\"",
        "requests=\"2\"",
        "hold=\"1\"",
        "xmpp:version=\"1.0\"",
    ] {
        assert!(a.contains(attr), "{attr} in {a}");
    }
    let mut r = Raw::online(&e, &t).await;
    assert_eq!(e.xmpp().present("1001"), 1);
    // The wait runs out: an empty answer, the session lives on.
    assert!(r.post("", "").await.ends_with("></body>"));
    // A poll is held; the state change arrives on it.
    let body = "<User><state>LOGIN</state><extension>1001001</extension></User>";
    let poll = async move {
        let mut a = r.post("", "").await;
        while !a.contains("<message") {
            a = r.post("", "").await;
        }
        (a, r)
    };
    let ((n, mut r), status) = tokio::join!(poll, put(&e, &t, body, "req-1"));
    assert_eq!(status, 202);
    assert!(n.contains("<items node=\"/finesse/api/User/1001\">"), "{n}");
    assert!(n.contains("&lt;state&gt;NOT_READY&lt;/state&gt;"), "{n}");
    // Terminate with unavailable presence: a clean end, presence gone.
    let end = r
        .post(
            " type=\"terminate\"",
            "<presence xmlns=\"jabber:client\" type=\"unavailable\"/>",
        )
        .await;
    assert!(
        end.contains("type=\"terminate\"") && !end.contains("condition="),
        "{end}"
    );
    assert_eq!(e.xmpp().present("1001"), 0);
    let s = &e.xmpp().sessions()[1];
    assert_eq!(
        (s.user.as_str(), s.auth, s.resource.as_str()),
        ("agent1", "token", "r1")
    );
    assert_eq!(s.ended.as_deref(), Some("BOSH terminate"));
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    // The ended sid is unknown now.
    assert!(
        r.post("", "")
            .await
            .contains("condition=\"item-not-found\"")
    );
    e.shutdown().await;
}

#[tokio::test]
async fn rid_and_the_body_are_strict() {
    let e = start(&["--xmpp-bosh-wait", "1s"]).await;
    let http = client(&e, None);
    // POST of text/xml only.
    let g = http.get(e.bosh_url()).send().await.unwrap();
    assert_eq!(g.status(), 405);
    let j = http
        .post(e.bosh_url())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(j.status(), 415);
    // Creation: the XMPP domain, hold=1, wait and hold present.
    for (attrs, condition) in [
        (
            "to=\"example.com\" xmpp:version=\"1.0\" wait=\"60\" hold=\"1\"",
            "host-unknown",
        ),
        (
            "to=\"127.0.0.1\" xmpp:version=\"1.0\" wait=\"60\" hold=\"2\"",
            "bad-request",
        ),
        (
            "to=\"127.0.0.1\" xmpp:version=\"1.0\" hold=\"1\"",
            "bad-request",
        ),
    ] {
        let a = Raw::post_raw(
            &http,
            &e.bosh_url(),
            format!("<body {HTTPBIND} rid=\"1\" {attrs}/>"),
        )
        .await;
        assert!(
            a.contains(&format!("condition=\"{condition}\"")),
            "{attrs}: {a}"
        );
    }
    assert_eq!(
        e.xmpp().violations().len(),
        5,
        "{:?}",
        e.xmpp().violations()
    );
    // A repeated rid ends the session.
    let (mut r, _) = Raw::create(&e, 60).await;
    let a = r.post_rid(1000, "", "").await;
    assert!(a.contains("condition=\"item-not-found\""), "{a}");
    assert!(
        e.xmpp()
            .violations()
            .last()
            .unwrap()
            .contains("rid 1000 where 1001")
    );
    // One rid early waits for the one due (two requests in flight race; whichever arrives
    // first, both are answered); two ahead ends the session.
    let (r, _) = Raw::create(&e, 60).await;
    let body = |rid: u64| format!("<body {HTTPBIND} rid=\"{rid}\" sid=\"{}\"/>", r.sid);
    let (early, due) = tokio::join!(
        Raw::post_raw(&r.http, &r.url, body(1002)),
        Raw::post_raw(&r.http, &r.url, body(1001))
    );
    assert!(
        !early.contains("terminate") && !due.contains("terminate"),
        "{early} {due}"
    );
    let (mut r, _) = Raw::create(&e, 60).await;
    assert!(
        r.post_rid(1003, "", "")
            .await
            .contains("condition=\"item-not-found\"")
    );
    // A stanza before SASL is a stream error, carried in a terminate.
    let (mut r, _) = Raw::create(&e, 60).await;
    let a = r.post("", "<presence xmlns=\"jabber:client\"/>").await;
    assert!(
        a.contains("condition=\"remote-stream-error\"") && a.contains("<not-authorized "),
        "{a}"
    );
    // A restart before SASL too.
    let (mut r, _) = Raw::create(&e, 60).await;
    let a = r
        .post(
            " to=\"127.0.0.1\" xmpp:version=\"1.0\" xmpp:restart=\"true\"",
            "",
        )
        .await;
    assert!(a.contains("condition=\"remote-stream-error\""), "{a}");
    e.shutdown().await;
}

#[tokio::test]
async fn a_drop_ends_the_session_and_the_transport_knob_hides_a_path() {
    let e = start(&["--xmpp-bosh-wait", "5s", "--xmpp-transport", "bosh"]).await;
    let t = token(&e).await;
    get_user(&e, &t).await;
    let mut r = Raw::online(&e, &t).await;
    // The drop reaches the session before or after the poll does: the poll is then answered
    // with the lost connection, or the sid is already unknown. Either way a terminate.
    e.xmpp().drop_all();
    let a = r.post("", "").await;
    assert!(
        a.contains("condition=\"remote-connection-failed\"")
            || a.contains("condition=\"item-not-found\""),
        "{a}"
    );
    assert!(
        r.post("", "")
            .await
            .contains("condition=\"item-not-found\"")
    );
    assert_eq!(
        e.xmpp().sessions()[0].ended.as_deref(),
        Some("dropped (fault knob)")
    );
    let ws = client(&e, None)
        .get(e.xmpp_url().as_str().replacen("ws", "http", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), 404);
    e.shutdown().await;

    let e = start(&["--xmpp-transport", "websocket"]).await;
    let b = client(&e, None)
        .post(e.bosh_url())
        .header("content-type", "text/xml")
        .body(format!("<body {HTTPBIND} rid=\"1\"/>"))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 404);
    e.shutdown().await;
}

/// Our own connection (`notify::connection`) over BOSH: the same session machine as over the
/// WebSocket, up to online, a state change on a held poll, and a clean terminate.
#[tokio::test]
async fn our_connection_runs_the_session_over_bosh() {
    use finesse_sso::notify::connection::{Connection, Happening};
    use finesse_sso::notify::session::{Credential, Login};
    use finesse_sso::notify::transport::Reach;
    let e = start(&["--xmpp-bosh-wait", "1s", "--xmpp-transport", "bosh"]).await;
    let t = token(&e).await;
    get_user(&e, &t).await;
    let reach = Reach {
        ca_pem: e.ca_pem().map(|p| p.as_bytes().to_vec()),
        proxy: Default::default(),
        transport: Default::default(),
    };
    let login = |credential| Login {
        login_id: "1001".into(),
        domain: "127.0.0.1".into(),
        resource: Login::fresh_resource(),
        credential,
    };
    let within = Duration::from_secs(10);
    let presence = Duration::from_secs(5);
    let bad = Credential::SsoToken("eyJhbGciOiJub25lIn0.e30.".to_string().into());
    let err = Connection::establish(&e.bosh_url(), &reach, login(bad), within, presence)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.exit_code(), 13, "{err}");
    let good = Credential::SsoToken(t.clone().into());
    let (mut conn, _) = Connection::establish(&e.bosh_url(), &reach, login(good), within, presence)
        .await
        .unwrap();
    assert!(
        conn.jid.starts_with("1001@127.0.0.1/finesse-sso-"),
        "{}",
        conn.jid
    );
    let body = "<User><state>LOGIN</state><extension>1001001</extension></User>";
    assert_eq!(put(&e, &t, body, "req-1").await, 202);
    let mut pings = tokio::time::interval(Duration::from_secs(60));
    pings.tick().await;
    let got = tokio::time::timeout(Duration::from_secs(10), conn.next(&mut pings, 3))
        .await
        .expect("an item in time");
    let Happening::Item((node, payload)) = got else {
        panic!("{got:?}");
    };
    assert_eq!(node, "/finesse/api/User/1001");
    assert!(payload.contains("<state>NOT_READY</state>"), "{payload}");
    conn.close(Duration::from_secs(5)).await;
    let s = e.xmpp().sessions();
    let last = s.last().unwrap();
    assert_eq!(last.ended.as_deref(), Some("BOSH terminate"), "{s:?}");
    assert_eq!(e.xmpp().present("1001"), 0);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    e.shutdown().await;
}
