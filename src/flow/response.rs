//! The engine's record of a top-level response, judged before it renders, and the read of its
//! body tied to that one navigation. Platform-neutral: a window gathers the facts from its
//! engine's response callback and navigation events; these rules decide.

use url::Url;

use super::{CaptureRefusal, Flow};

/// What the engine itself says about a response, never what the page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFacts {
    pub url: String,
    pub status: u16,
    pub mime: String,
    /// The declared length (`Content-Length`), when the server gave one.
    pub declared_len: Option<u64>,
}

/// What to do with a response before the engine renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Not a capture candidate: let the engine go on.
    Pass,
    /// The token answer, as it must be: let it render, then read its body for this navigation.
    Read,
    /// The token endpoint answered wrongly: stop it unrendered and end the sign-in with this.
    Refuse(CaptureRefusal),
}

impl Flow {
    /// Judges a response by its engine facts: only a main-frame answer of the token endpoint is
    /// read, and only when it is HTTP 200, `application/json` and not declared over the limit.
    /// A frame loading the token URL is never a candidate (the capture rule is top-level only).
    pub fn judge_response(&self, main_frame: bool, facts: &ResponseFacts) -> ResponseVerdict {
        if !main_frame || !self.is_token_endpoint(&facts.url) {
            return ResponseVerdict::Pass;
        }
        if let Some(len) = facts.declared_len
            && let Err(too_large) = super::document::size_gate(len)
        {
            return ResponseVerdict::Refuse(CaptureRefusal::Body(too_large));
        }
        match super::status_mime_refusal(facts.status, &facts.mime) {
            Some(refusal) => ResponseVerdict::Refuse(refusal),
            None => ResponseVerdict::Read,
        }
    }
}

impl ResponseFacts {
    /// Whether a document read afterwards (its `location.href` and `contentType`) is the one
    /// these facts describe: the same URL but for a fragment, the same MIME essence.
    pub fn describes(&self, href: &str, content_type: &str) -> bool {
        let unfragmented = |s: &str| {
            Url::parse(s).ok().map(|mut u| {
                u.set_fragment(None);
                u
            })
        };
        let same_url = matches!(
            (unfragmented(&self.url), unfragmented(href)),
            (Some(a), Some(b)) if a == b
        );
        same_url && super::mime_essence(&self.mime) == super::mime_essence(content_type)
    }
}

/// Ties a body read to the one main-frame navigation whose response was judged [`Read`]:
/// started → judged → committed → finished, each step for the same navigation `N` (the
/// engine's navigation object, compared by identity). Anything out of order voids it, so a
/// document that replaced the judged one is never read as the token.
///
/// [`Read`]: ResponseVerdict::Read
#[derive(Debug)]
pub struct DocumentBinding<N> {
    stage: Stage<N>,
}

#[derive(Debug)]
enum Stage<N> {
    Idle,
    /// A main-frame navigation started; its response is not judged yet.
    Started(N),
    /// Its response was judged `Read`; these are the facts.
    Judged(N, ResponseFacts),
    /// That response became the committed document.
    Committed(N, ResponseFacts),
}

impl<N> Default for DocumentBinding<N> {
    fn default() -> Self {
        DocumentBinding { stage: Stage::Idle }
    }
}

impl<N: PartialEq> DocumentBinding<N> {
    /// A main-frame navigation started: whatever came before is void.
    pub fn started(&mut self, nav: N) {
        self.stage = Stage::Started(nav);
    }

    /// The engine judged the started navigation's main-frame response. `Some` facts: the
    /// verdict was `Read`. A response with no started navigation binds nothing.
    pub fn responded(&mut self, facts: Option<ResponseFacts>) {
        self.stage = match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Started(n) | Stage::Judged(n, _) => match facts {
                Some(f) => Stage::Judged(n, f),
                None => Stage::Started(n),
            },
            Stage::Idle | Stage::Committed(..) => Stage::Idle,
        };
    }

    /// `nav` committed. Only the judged navigation carries its facts on.
    pub fn committed(&mut self, nav: &N) {
        self.stage = match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Judged(n, f) if n == *nav => Stage::Committed(n, f),
            _ => Stage::Idle,
        };
    }

    /// `nav` finished loading: the facts to read its body with, once, when it is the judged
    /// and committed navigation.
    pub fn finished(&mut self, nav: &N) -> Option<ResponseFacts> {
        match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Committed(n, f) if n == *nav => Some(f),
            _ => None,
        }
    }

    /// A main-frame navigation failed (before or after commit): nothing is read.
    pub fn failed(&mut self) {
        self.stage = Stage::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finesse::token_response::{MAX_TOKEN_RESPONSE_BYTES, TokenResponseError};

    const TOKEN: &str = "https://finesse.example:8445/desktop/sso/token?code=1";

    fn flow() -> Flow {
        Flow::new(&Url::parse("https://finesse.example:8445/").unwrap())
    }

    fn facts(url: &str, status: u16, mime: &str, len: Option<u64>) -> ResponseFacts {
        ResponseFacts {
            url: url.into(),
            status,
            mime: mime.into(),
            declared_len: len,
        }
    }

    #[test]
    fn only_the_main_frame_token_answer_is_read() {
        let f = flow();
        let good = facts(TOKEN, 200, "application/json", Some(120));
        assert_eq!(f.judge_response(true, &good), ResponseVerdict::Read);
        assert_eq!(
            f.judge_response(
                true,
                &facts(TOKEN, 200, "Application/JSON; charset=utf-8", None)
            ),
            ResponseVerdict::Read
        );
        // A frame at the token URL, and other pages, pass untouched, whatever they answer.
        assert_eq!(f.judge_response(false, &good), ResponseVerdict::Pass);
        for url in [
            "https://idp.example/desktop/sso/token",
            "https://finesse.example:8445/desktop/sso/tokens",
            "http://finesse.example:8445/desktop/sso/token",
        ] {
            assert_eq!(
                f.judge_response(true, &facts(url, 500, "text/html", Some(1 << 40))),
                ResponseVerdict::Pass,
                "{url}"
            );
        }
    }

    #[test]
    fn a_wrong_token_answer_is_refused_before_it_renders() {
        let f = flow();
        let limit = MAX_TOKEN_RESPONSE_BYTES as u64;
        assert_eq!(
            f.judge_response(true, &facts(TOKEN, 200, "application/json", Some(limit))),
            ResponseVerdict::Read
        );
        assert_eq!(
            f.judge_response(
                true,
                &facts(TOKEN, 200, "application/json", Some(limit + 1))
            ),
            ResponseVerdict::Refuse(CaptureRefusal::Body(TokenResponseError::TooLarge(
                MAX_TOKEN_RESPONSE_BYTES + 1
            )))
        );
        // The size gate comes first: a huge error page is not rendered either.
        assert_eq!(
            f.judge_response(true, &facts(TOKEN, 500, "text/html", Some(50 << 20))),
            ResponseVerdict::Refuse(CaptureRefusal::Body(TokenResponseError::TooLarge(50 << 20)))
        );
        assert_eq!(
            f.judge_response(true, &facts(TOKEN, 302, "application/json", None)),
            ResponseVerdict::Refuse(CaptureRefusal::Status(302))
        );
        assert_eq!(
            f.judge_response(true, &facts(TOKEN, 200, "text/html", None)),
            ResponseVerdict::Refuse(CaptureRefusal::Mime("text/html".into()))
        );
        assert_eq!(
            f.judge_response(true, &facts(TOKEN, 200, "", None)),
            ResponseVerdict::Refuse(CaptureRefusal::Mime(String::new()))
        );
    }

    #[test]
    fn the_read_document_must_be_the_judged_one() {
        let judged = facts(TOKEN, 200, "application/json", None);
        assert!(judged.describes(TOKEN, "application/json"));
        assert!(judged.describes(&format!("{TOKEN}#x"), "application/json; charset=utf-8"));
        assert!(!judged.describes(
            "https://finesse.example:8445/desktop/sso/token?code=2",
            "application/json"
        ));
        assert!(!judged.describes(
            "https://evil.example/desktop/sso/token?code=1",
            "application/json"
        ));
        assert!(!judged.describes(TOKEN, "text/html"));
        assert!(!judged.describes("not a url", "application/json"));
    }

    fn read() -> Option<ResponseFacts> {
        Some(facts(TOKEN, 200, "application/json", None))
    }

    #[test]
    fn binding_reads_once_for_the_judged_navigation() {
        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.committed(&1);
        assert_eq!(b.finished(&1), read());
        // Once only.
        assert_eq!(b.finished(&1), None);
    }

    #[test]
    fn binding_refuses_every_other_order() {
        // A different navigation commits or finishes.
        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.committed(&2);
        assert_eq!(b.finished(&2), None);

        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.committed(&1);
        assert_eq!(b.finished(&2), None);
        assert_eq!(b.finished(&1), None, "a wrong finish voids it");

        // A newer navigation starts after the judgement (the judged one is cancelled).
        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.started(2);
        b.committed(&2);
        assert_eq!(b.finished(&2), None);

        // A later response of the same navigation that is not the token answer.
        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.responded(None);
        b.committed(&1);
        assert_eq!(b.finished(&1), None);

        // A response with no started navigation, or after a commit, binds nothing.
        let mut b = DocumentBinding::default();
        b.responded(read());
        b.committed(&1);
        assert_eq!(b.finished(&1), None);
        let mut b = DocumentBinding::default();
        b.started(1);
        b.responded(read());
        b.committed(&1);
        b.responded(read());
        assert_eq!(b.finished(&1), None);

        // A failure anywhere.
        for fail_at in 0..3 {
            let mut b = DocumentBinding::default();
            b.started(1);
            if fail_at == 0 {
                b.failed();
            }
            b.responded(read());
            if fail_at == 1 {
                b.failed();
            }
            b.committed(&1);
            if fail_at == 2 {
                b.failed();
            }
            assert_eq!(b.finished(&1), None, "failed at step {fail_at}");
        }

        // Committed without a judgement (a page restored from the back-forward cache).
        let mut b: DocumentBinding<i32> = DocumentBinding::default();
        b.started(1);
        b.committed(&1);
        assert_eq!(b.finished(&1), None);
    }
}
