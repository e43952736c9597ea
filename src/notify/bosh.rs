//! XMPP over BOSH (XEP-0124 with XEP-0206), Finesse 12.0/12.5's transport at
//! `https://<FQDN>:7443/http-bind/`: the session machine's frames carried in `<body/>` POSTs
//! through the helper's own HTTP client (the trust and proxy route of every other request).
//! The machine's `<open/>` becomes the session creation and then the restart, its `<close/>`
//! the terminate; one request is held for the server's stanzas and one more carries ours.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use super::transport::{MAX_MESSAGE, Reach};
use crate::error::{Error, Result};
use crate::http::{HttpOptions, client};

const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const NS_XBOSH: &str = "urn:xmpp:xbosh";
const NS_STREAM: &str = "http://etherx.jabber.org/streams";
const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// How long we ask the server to hold a request; each request may take this plus a margin.
const WAIT: u64 = 30;
const MARGIN: Duration = Duration::from_secs(15);

/// A BOSH session seen as a stream of frames, like the WebSocket.
pub struct Bosh {
    frames: mpsc::UnboundedSender<String>,
    inbound: mpsc::UnboundedReceiver<std::result::Result<String, String>>,
    task: JoinHandle<()>,
}

impl Drop for Bosh {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Bosh {
    /// Prepares the session; the first frame (the machine's `<open/>`) creates it.
    pub fn new(url: &Url, reach: &Reach) -> Result<Bosh> {
        let opts = HttpOptions {
            ca_pem: reach.ca_pem.clone(),
            proxy: reach.proxy.clone(),
            follow_redirects: false,
            timeout: None,
        };
        let http = client(&opts, None).map_err(|e| Error::Usage(e.to_string()))?;
        let (frames, queued) = mpsc::unbounded_channel();
        let (deliver, inbound) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(http, url.clone(), queued, deliver));
        Ok(Bosh {
            frames,
            inbound,
            task,
        })
    }

    pub fn send(&mut self, frame: String) -> std::result::Result<(), String> {
        self.frames
            .send(frame)
            .map_err(|_| "the BOSH session ended".to_string())
    }

    /// The next frame from the server, or why the session ended.
    pub async fn recv(&mut self) -> std::result::Result<String, String> {
        self.inbound
            .recv()
            .await
            .unwrap_or_else(|| Err("the BOSH session ended".into()))
    }
}

/// What a request carries, which decides how its answer is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Restart,
    Terminate,
}

/// The server's `<body/>`: its attributes and its stanzas as text.
struct Answer {
    sid: Option<String>,
    terminate: Option<String>,
    stanzas: Vec<String>,
}

type Deliver = mpsc::UnboundedSender<std::result::Result<String, String>>;

async fn run(
    http: reqwest::Client,
    url: Url,
    mut queued: mpsc::UnboundedReceiver<String>,
    deliver: Deliver,
) {
    if let Err(e) = session(&http, &url, &mut queued, &deliver).await {
        let _ = deliver.send(Err(e));
    }
}

async fn session(
    http: &reqwest::Client,
    url: &Url,
    queued: &mut mpsc::UnboundedReceiver<String>,
    deliver: &Deliver,
) -> std::result::Result<(), String> {
    let Some(first) = queued.recv().await else {
        return Ok(());
    };
    let to = open_to(&first).ok_or("the session did not start with <open/>")?;
    // A random start (XEP-0124 §14.1), far below 2^53 so that it never wraps.
    let mut b = [0u8; 4];
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b);
    let mut rid = u64::from(u32::from_be_bytes(b)) + 1;
    let create = format!(
        "<body xmlns=\"{NS_HTTPBIND}\" xmlns:xmpp=\"{NS_XBOSH}\" rid=\"{rid}\" to=\"{}\" \
         xml:lang=\"en\" xmpp:version=\"1.0\" wait=\"{WAIT}\" hold=\"1\"/>",
        escape(&to)
    );
    let answer = post(http, url, create).await?;
    let sid = answer.sid.clone().ok_or("the BOSH answer has no sid")?;
    if let Some(c) = answer.terminate {
        return Err(format!("BOSH session refused: {c}"));
    }
    let send = |f: String| deliver.send(Ok(f)).map_err(|_| "closed".to_string());
    send(server_open(&sid))?;
    for s in answer.stanzas {
        send(s)?;
    }
    let mut frames: VecDeque<String> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut ending = false;
    loop {
        // Ours first (at most two requests in flight), then a poll when none is out.
        while in_flight.len() < 2 && !frames.is_empty() && !ending {
            let (kind, attrs, stanzas) = next_request(&mut frames, &to);
            ending = kind == Kind::Terminate;
            rid += 1;
            let body = format!(
                "<body xmlns=\"{NS_HTTPBIND}\" xmlns:xmpp=\"{NS_XBOSH}\" rid=\"{rid}\" sid=\"{}\"{attrs}>{stanzas}</body>",
                escape(&sid)
            );
            in_flight.push(request(kind, http, url, body));
        }
        if in_flight.is_empty() && !ending {
            rid += 1;
            let body = format!(
                "<body xmlns=\"{NS_HTTPBIND}\" rid=\"{rid}\" sid=\"{}\"/>",
                escape(&sid)
            );
            in_flight.push(request(Kind::Plain, http, url, body));
        }
        tokio::select! {
            f = queued.recv() => match f {
                Some(f) => frames.push_back(f),
                None => return Ok(()),
            },
            Some((kind, answer)) = in_flight.next() => {
                let answer = answer?;
                if kind == Kind::Restart {
                    send(server_open(&sid))?;
                }
                for s in answer.stanzas {
                    send(s)?;
                }
                match answer.terminate {
                    None => {}
                    Some(c) if c.is_empty() && ending => {
                        send(format!("<close xmlns=\"{NS_FRAMING}\"/>"))?;
                        return Ok(());
                    }
                    Some(c) => return Err(format!("the server ended the BOSH session ({c})")),
                }
            }
        }
    }
}

/// The next request from the queued frames: `<open/>` is the restart, `<close/>` the
/// terminate (each alone), any other run of frames travels as stanzas.
fn next_request(frames: &mut VecDeque<String>, to: &str) -> (Kind, String, String) {
    let is = |f: &String, name: &str| f.starts_with(&format!("<{name} "));
    if let Some(f) = frames.front() {
        if is(f, "open") {
            frames.pop_front();
            let attrs = format!(
                " to=\"{}\" xml:lang=\"en\" xmpp:version=\"1.0\" xmpp:restart=\"true\"",
                escape(to)
            );
            return (Kind::Restart, attrs, String::new());
        }
        if is(f, "close") {
            frames.pop_front();
            return (Kind::Terminate, " type=\"terminate\"".into(), String::new());
        }
    }
    let mut stanzas = String::new();
    while let Some(f) = frames.front() {
        if is(f, "open") || is(f, "close") {
            break;
        }
        stanzas.push_str(&frames.pop_front().unwrap_or_default());
    }
    (Kind::Plain, String::new(), stanzas)
}

/// The `<open/>` the machine expects from the server when the stream (re)starts.
fn server_open(sid: &str) -> String {
    format!(
        "<open xmlns=\"{NS_FRAMING}\" id=\"{}\" version=\"1.0\"/>",
        escape(sid)
    )
}

fn open_to(frame: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(frame).ok()?;
    let root = doc.root_element();
    root.has_tag_name((NS_FRAMING, "open"))
        .then(|| root.attribute("to").map(str::to_string))
        .flatten()
}

async fn request(
    kind: Kind,
    http: &reqwest::Client,
    url: &Url,
    body: String,
) -> (Kind, std::result::Result<Answer, String>) {
    (kind, post(http, url, body).await)
}

/// One request, its answer read up to `MAX_MESSAGE` bytes and parsed.
async fn post(
    http: &reqwest::Client,
    url: &Url,
    body: String,
) -> std::result::Result<Answer, String> {
    let request = async {
        let mut r = http
            .post(url.clone())
            .header("content-type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("BOSH request: {e}"))?;
        if r.status() != 200 {
            return Err(format!("BOSH: HTTP {}", r.status().as_u16()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| format!("BOSH answer: {e}"))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_MESSAGE {
                return Err(format!("a BOSH answer over {MAX_MESSAGE} bytes"));
            }
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(Duration::from_secs(WAIT) + MARGIN, request)
        .await
        .map_err(|_| "no BOSH answer in time".to_string())??;
    let text = String::from_utf8(bytes).map_err(|_| "a BOSH answer that is not UTF-8")?;
    parse(&text)
}

fn parse(text: &str) -> std::result::Result<Answer, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("a BOSH answer: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS_HTTPBIND, "body")) {
        return Err("a BOSH answer that is no <body/>".into());
    }
    let terminate = (root.attribute("type") == Some("terminate"))
        .then(|| root.attribute("condition").unwrap_or("").to_string());
    Ok(Answer {
        sid: root.attribute("sid").map(str::to_string),
        terminate,
        stanzas: root
            .children()
            .filter(|c| c.is_element())
            .map(|c| with_stream_prefix(&text[c.range()]))
            .collect(),
    })
}

/// A `<stream:…>` child may rely on the body's declaration of the prefix; standing alone it
/// needs its own.
fn with_stream_prefix(stanza: &str) -> String {
    match stanza.strip_prefix("<stream:") {
        Some(rest) if !stanza.contains("xmlns:stream=") => {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            let (name, tail) = rest.split_at(end);
            format!("<stream:{name} xmlns:stream=\"{NS_STREAM}\"{tail}")
        }
        _ => stanza.to_string(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_requests_open_restart_close_terminate() {
        let mut q: VecDeque<String> = [
            "<iq xmlns=\"jabber:client\"/>",
            "<presence xmlns=\"jabber:client\"/>",
            "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" to=\"d\" version=\"1.0\"/>",
            "<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>",
        ]
        .map(String::from)
        .into();
        let (k, _, s) = next_request(&mut q, "d");
        assert!(k == Kind::Plain && s.contains("<iq") && s.contains("<presence"));
        let (k, a, s) = next_request(&mut q, "d");
        assert!(k == Kind::Restart && a.contains("xmpp:restart=\"true\"") && s.is_empty());
        let (k, a, _) = next_request(&mut q, "d");
        assert!(k == Kind::Terminate && a.contains("terminate") && q.is_empty());
    }

    #[test]
    fn an_answer_gives_its_stanzas_standing_alone() {
        let a = parse(
            "<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:stream=\"http://etherx.jabber.org/streams\" sid=\"s1\">\
             <stream:features><mechanisms/></stream:features></body>",
        )
        .unwrap();
        assert_eq!(a.sid.as_deref(), Some("s1"));
        assert!(a.terminate.is_none());
        assert!(
            roxmltree::Document::parse(&a.stanzas[0]).is_ok(),
            "{}",
            a.stanzas[0]
        );
        let t = parse("<body xmlns=\"http://jabber.org/protocol/httpbind\" type=\"terminate\" condition=\"item-not-found\"/>").unwrap();
        assert_eq!(t.terminate.as_deref(), Some("item-not-found"));
        assert!(parse("<html/>").is_err());
    }
}
