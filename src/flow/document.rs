//! Which engine record is the token answer: ties the response an engine reports, and the body it
//! hands over, to the top-level navigation they belong to, and gates the answer's size before a
//! byte of it is read. Facts in, decisions out: the platform files only gather the facts (where
//! the engine records responses itself, as WebView2 does; WebKitGTK's main resource is tied to
//! the view already).

use url::Url;

use super::{DenyReason, Flow};
use crate::finesse::token_response::{MAX_TOKEN_RESPONSE_BYTES, TokenResponseError};

/// The engine's record of a finished top-level document, for [`Flow::capture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub url: String,
    pub status: u16,
    pub mime: String,
    pub body: Vec<u8>,
}

/// What the engine reports about one response it received (from the network, not the page).
#[derive(Debug, Clone, Copy, Default)]
pub struct Response<'a> {
    /// The request's URL as sent.
    pub url: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub content_length: Option<&'a str>,
    /// `Sec-Fetch-Dest` and `Sec-Fetch-Mode` of the request as sent, when the engine reports
    /// them: page script cannot set these, and they tell a top-level load from a fetch or frame.
    pub fetch_dest: Option<&'a str>,
    pub fetch_mode: Option<&'a str>,
}

/// What to do with a response the engine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Not the current top-level navigation's token answer: a sub-resource, a fetch, a frame,
    /// a redirect hop or an earlier navigation.
    Ignore,
    /// The token answer: read its body and hand it back with this navigation id.
    Read(u64),
    /// Refused before a byte is read: stop the load.
    Refuse(RecordRefusal),
}

/// Why the engine's record of the token answer was not handed to the capture rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRefusal {
    #[error(transparent)]
    Size(#[from] TokenResponseError),
    #[error("the engine reported no response for the token page it loaded")]
    NoRecord,
    #[error("the token answer's record says HTTP {record}, its navigation HTTP {navigation}")]
    StatusMismatch { record: u16, navigation: u16 },
    #[error("the engine handed over no body for the token answer")]
    NoBody,
}

/// How a top-level navigation ended, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Loaded,
    /// Given up: superseded by a newer navigation, or dropped by the engine itself.
    Cancelled,
    /// Any other failure (network, TLS, an error page).
    Failed,
}

/// What follows from a navigation's end or a body's arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The token answer's record is whole: hand it to [`Flow::capture`].
    Document(Document),
    Refused(RecordRefusal),
    /// An allowed load of this URL was given up: the stranded-load check decides whether a
    /// newer navigation follows.
    Cancelled(String),
    /// The load of this URL failed before any server answered (the platform names the error).
    Failed(String),
}

/// The size gate: an answer declared or stored over the token limit is refused unread.
pub fn size_gate(bytes: u64) -> Result<(), TokenResponseError> {
    if bytes > MAX_TOKEN_RESPONSE_BYTES as u64 {
        return Err(TokenResponseError::TooLarge(
            usize::try_from(bytes).unwrap_or(usize::MAX),
        ));
    }
    Ok(())
}

/// Whether a navigation the flow refused ends the sign-in: a fatal reason always; any other
/// refusal of a redirect hop too, because the load stops there and nothing else follows (a page
/// that jumps somewhere refused just stays as it is).
pub fn denial_ends_signin(reason: &DenyReason, redirected: bool) -> bool {
    reason.is_fatal() || redirected
}

/// The current top-level navigation and what the engine reported for it.
#[derive(Debug)]
struct Nav {
    id: u64,
    url: String,
    /// Refused by the flow: its end was decided when it started.
    denied: bool,
    /// Status and MIME type of its token answer, once reported.
    record: Option<(u16, String)>,
    body: Option<Vec<u8>>,
    /// Ended loaded, waiting for the body.
    ended: bool,
}

/// Tracks the top-level navigation (engine navigation ids) so that only its own token answer is
/// read, and hands the record over once both its end and its body are in, in either order.
#[derive(Debug)]
pub struct MainDocument {
    flow: Flow,
    nav: Option<Nav>,
}

impl MainDocument {
    pub fn new(finesse: &Url) -> Self {
        MainDocument {
            flow: Flow::new(finesse),
            nav: None,
        }
    }

    /// A top-level navigation step started: a new navigation, or a redirect hop of the current
    /// one (same id). `denied` is the flow's decision on it.
    pub fn started(&mut self, id: u64, url: &str, denied: bool) {
        match &mut self.nav {
            Some(nav) if nav.id == id => {
                // A redirect hop: what was reported for the previous hop is not this document.
                nav.url = url.to_string();
                nav.denied = denied;
                nav.record = None;
                nav.body = None;
                nav.ended = false;
            }
            // A refused new navigation never loads: the current one stays current.
            _ if denied => {}
            _ => {
                self.nav = Some(Nav {
                    id,
                    url: url.to_string(),
                    denied,
                    record: None,
                    body: None,
                    ended: false,
                })
            }
        }
    }

    /// Decides on a response the engine received.
    pub fn response(&mut self, r: &Response<'_>) -> ResponseVerdict {
        let Some(nav) = self.nav.as_mut() else {
            return ResponseVerdict::Ignore;
        };
        let top_level = r
            .fetch_dest
            .is_none_or(|d| d.eq_ignore_ascii_case("document"))
            && r.fetch_mode
                .is_none_or(|m| m.eq_ignore_ascii_case("navigate"));
        if nav.denied
            || nav.record.is_some()
            || !top_level
            || (300..400).contains(&r.status)
            || !same_document(&nav.url, r.url)
            || !self.flow.is_token_endpoint(r.url)
        {
            return ResponseVerdict::Ignore;
        }
        if let Some(declared) = r.content_length {
            // An unparsable length is no declaration; the stored size is gated before reading.
            if let Ok(n) = declared.trim().parse::<u64>()
                && let Err(e) = size_gate(n)
            {
                nav.denied = true;
                return ResponseVerdict::Refuse(e.into());
            }
        }
        nav.record = Some((r.status, r.content_type.unwrap_or("").to_string()));
        ResponseVerdict::Read(nav.id)
    }

    /// The body read for navigation `id` (`None`: the engine had none to give).
    pub fn body(&mut self, id: u64, body: Option<Vec<u8>>) -> Option<Step> {
        let nav = self.nav.as_mut().filter(|n| n.id == id && !n.denied)?;
        nav.record.as_ref()?;
        let Some(body) = body else {
            nav.denied = true;
            return Some(Step::Refused(RecordRefusal::NoBody));
        };
        nav.body = Some(body);
        if nav.ended { self.document() } else { None }
    }

    /// Navigation `id` ended. `http_status` is the engine's status for the navigation itself,
    /// where it reports one (0: no server answered).
    pub fn ended(&mut self, id: u64, ending: Ending, http_status: Option<u16>) -> Option<Step> {
        let nav = self.nav.as_mut().filter(|n| n.id == id && !n.denied)?;
        let answered = http_status.is_some_and(|s| s > 0) || nav.record.is_some();
        match ending {
            Ending::Cancelled => return Some(Step::Cancelled(nav.url.clone())),
            // An HTTP error page is an answer: the capture rule names its status.
            Ending::Failed if !answered => return Some(Step::Failed(nav.url.clone())),
            Ending::Loaded | Ending::Failed => {}
        }
        if !self.flow.is_token_endpoint(&nav.url) {
            return None;
        }
        let Some((record, _)) = &nav.record else {
            nav.denied = true;
            return Some(Step::Refused(RecordRefusal::NoRecord));
        };
        if let Some(navigation) = http_status.filter(|s| *s > 0 && s != record) {
            let record = *record;
            nav.denied = true;
            return Some(Step::Refused(RecordRefusal::StatusMismatch {
                record,
                navigation,
            }));
        }
        nav.ended = true;
        if nav.body.is_some() {
            self.document()
        } else {
            None
        }
    }

    /// Hands the whole record over, once.
    fn document(&mut self) -> Option<Step> {
        let nav = self.nav.as_mut()?;
        let (status, mime) = nav.record.clone()?;
        let body = nav.body.take()?;
        nav.denied = true;
        Some(Step::Document(Document {
            url: nav.url.clone(),
            status,
            mime,
            body,
        }))
    }
}

/// The same document: equal URLs but for a fragment (engines differ in keeping it).
fn same_document(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(mut a), Ok(mut b)) => {
            a.set_fragment(None);
            b.set_fragment(None);
            a == b
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "https://finesse.example:8445/desktop/sso/token?code=1";
    const BODY: &[u8] = br#"{"token":"a.b.c","expires_in":300}"#;

    fn doc() -> MainDocument {
        MainDocument::new(&Url::parse("https://finesse.example:8445/").unwrap())
    }

    fn answer(url: &str) -> Response<'_> {
        Response {
            url,
            status: 200,
            content_type: Some("application/json;charset=UTF-8"),
            content_length: Some("35"),
            ..Default::default()
        }
    }

    fn expected() -> Step {
        Step::Document(Document {
            url: TOKEN.into(),
            status: 200,
            mime: "application/json;charset=UTF-8".into(),
            body: BODY.to_vec(),
        })
    }

    /// The real flow: the token URL redirects away, the IdP posts back, Finesse answers.
    fn at_token_answer() -> MainDocument {
        let mut d = doc();
        d.started(
            7,
            "https://finesse.example:8445/desktop/sso/token?cc_username=a",
            false,
        );
        let hop = Response {
            status: 302,
            ..answer("https://finesse.example:8445/desktop/sso/token?cc_username=a")
        };
        assert_eq!(d.response(&hop), ResponseVerdict::Ignore, "a redirect hop");
        d.started(7, "https://ids.example/authorize", false);
        assert_eq!(
            d.ended(7, Ending::Loaded, Some(200)),
            None,
            "not the token page"
        );
        d.started(8, "https://ids.example/acs", false);
        d.started(8, TOKEN, false);
        d
    }

    #[test]
    fn the_token_answer_is_read_and_handed_over_in_either_order() {
        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(d.body(8, Some(BODY.to_vec())), None, "not ended yet");
        assert_eq!(d.ended(8, Ending::Loaded, Some(200)), Some(expected()));
        assert_eq!(
            d.ended(8, Ending::Loaded, Some(200)),
            None,
            "handed over once"
        );

        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(d.ended(8, Ending::Loaded, None), None, "body not in yet");
        assert_eq!(d.body(8, Some(BODY.to_vec())), Some(expected()));
        assert_eq!(d.body(8, Some(BODY.to_vec())), None, "handed over once");
    }

    #[test]
    fn only_the_current_top_level_navigations_own_answer_is_read() {
        let mut d = at_token_answer();
        // A fetch or a frame of the same URL, as the engine reports its request.
        let fetch = Response {
            fetch_mode: Some("cors"),
            fetch_dest: Some("empty"),
            ..answer(TOKEN)
        };
        let frame = Response {
            fetch_mode: Some("navigate"),
            fetch_dest: Some("iframe"),
            ..answer(TOKEN)
        };
        assert_eq!(d.response(&fetch), ResponseVerdict::Ignore);
        assert_eq!(d.response(&frame), ResponseVerdict::Ignore);
        // Another URL (a sub-resource), another origin, not the token path.
        for url in [
            "https://finesse.example:8445/desktop/sso/token?code=2",
            "https://evil.example/desktop/sso/token?code=1",
            "https://finesse.example:8445/favicon.ico",
        ] {
            assert_eq!(d.response(&answer(url)), ResponseVerdict::Ignore, "{url}");
        }
        // The top-level load itself, with or without the engine's Sec-Fetch facts; a fragment
        // the engine drops from the request does not matter. The first record wins.
        let top = Response {
            fetch_mode: Some("navigate"),
            fetch_dest: Some("document"),
            ..answer(TOKEN)
        };
        assert_eq!(d.response(&top), ResponseVerdict::Read(8));
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Ignore);
        let mut d = doc();
        d.started(3, &format!("{TOKEN}#x"), false);
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(3));

        // A body or an end for an earlier navigation is not this document's.
        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(d.body(7, Some(b"{}".to_vec())), None);
        assert_eq!(d.ended(7, Ending::Loaded, Some(200)), None);
        // A newer navigation replaces it: its own answer is not read for it.
        d.started(9, "https://ids.example/again", false);
        assert_eq!(d.body(8, Some(BODY.to_vec())), None);
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Ignore);
    }

    #[test]
    fn a_redirect_hop_drops_what_was_reported_before_it() {
        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        d.started(
            8,
            "https://finesse.example:8445/desktop/sso/token?code=2",
            false,
        );
        assert_eq!(
            d.body(8, Some(BODY.to_vec())),
            None,
            "record dropped with the hop"
        );
        assert_eq!(
            d.ended(8, Ending::Loaded, Some(200)),
            Some(Step::Refused(RecordRefusal::NoRecord))
        );
    }

    #[test]
    fn an_oversized_answer_is_refused_before_reading() {
        let limit = MAX_TOKEN_RESPONSE_BYTES as u64;
        assert!(size_gate(limit).is_ok());
        assert_eq!(
            size_gate(50 << 20),
            Err(TokenResponseError::TooLarge(50 << 20))
        );
        let mut d = at_token_answer();
        let declared = (50u64 << 20).to_string();
        let huge = Response {
            content_length: Some(&declared),
            ..answer(TOKEN)
        };
        assert_eq!(
            d.response(&huge),
            ResponseVerdict::Refuse(RecordRefusal::Size(TokenResponseError::TooLarge(50 << 20)))
        );
        assert_eq!(d.body(8, Some(BODY.to_vec())), None, "never read after");
        assert_eq!(d.ended(8, Ending::Loaded, Some(200)), None);
        // A length that is no number declares nothing: the stored size is gated instead.
        let mut d = at_token_answer();
        let odd = Response {
            content_length: Some("lots"),
            ..answer(TOKEN)
        };
        assert_eq!(d.response(&odd), ResponseVerdict::Read(8));
    }

    #[test]
    fn the_record_must_agree_with_its_navigation() {
        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(
            d.ended(8, Ending::Loaded, Some(500)),
            Some(Step::Refused(RecordRefusal::StatusMismatch {
                record: 200,
                navigation: 500
            }))
        );
        assert_eq!(d.body(8, Some(BODY.to_vec())), None);
        // No response reported for a loaded token page; no body handed over.
        let mut d = at_token_answer();
        assert_eq!(
            d.ended(8, Ending::Loaded, Some(200)),
            Some(Step::Refused(RecordRefusal::NoRecord))
        );
        let mut d = at_token_answer();
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(d.body(8, None), Some(Step::Refused(RecordRefusal::NoBody)));
    }

    #[test]
    fn endings_cancelled_failed_and_error_pages() {
        let mut d = at_token_answer();
        assert_eq!(
            d.ended(8, Ending::Cancelled, None),
            Some(Step::Cancelled(TOKEN.into()))
        );
        let mut d = at_token_answer();
        assert_eq!(
            d.ended(8, Ending::Failed, Some(0)),
            Some(Step::Failed(TOKEN.into()))
        );
        // An HTTP error answer is an answer: its record goes to the capture rule, which names
        // the status.
        let mut d = at_token_answer();
        let error = Response {
            status: 500,
            ..answer(TOKEN)
        };
        assert_eq!(d.response(&error), ResponseVerdict::Read(8));
        assert_eq!(d.ended(8, Ending::Failed, Some(500)), None);
        let Some(Step::Document(answered)) = d.body(8, Some(b"oops".to_vec())) else {
            panic!("the error answer is handed over")
        };
        assert_eq!(answered.status, 500);
        // An error page elsewhere is not the sign-in's business.
        let mut d = doc();
        d.started(1, "https://idp.example/login", false);
        assert_eq!(d.ended(1, Ending::Failed, Some(404)), None);
    }

    #[test]
    fn refused_navigations_never_become_the_document() {
        // A refused new navigation leaves the current one current.
        let mut d = at_token_answer();
        d.started(9, "ciscosso://x", true);
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Read(8));
        assert_eq!(d.ended(9, Ending::Cancelled, None), None);
        // A refused redirect hop: its end was decided when it was refused.
        let mut d = at_token_answer();
        d.started(8, "ciscosso://x", true);
        assert_eq!(d.response(&answer(TOKEN)), ResponseVerdict::Ignore);
        assert_eq!(d.ended(8, Ending::Cancelled, None), None);

        assert!(denial_ends_signin(&DenyReason::Loop, false));
        assert!(denial_ends_signin(
            &DenyReason::PlainHttp("x".into()),
            false
        ));
        assert!(denial_ends_signin(
            &DenyReason::Scheme("ciscosso".into()),
            true
        ));
        assert!(!denial_ends_signin(
            &DenyReason::Scheme("ciscosso".into()),
            false
        ));
    }
}
