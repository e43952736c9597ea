//! The navigation rule of pop-up windows: the main window's, plus one: Finesse's token URL is
//! never loaded in a pop-up (the token is captured only from the main window's own record).

use super::{Flow, Navigation};

/// What a pop-up may do with one navigation.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused; the pop-up stays (a frame probing a custom scheme, as in the main window).
    Refuse(String),
    /// Refused, and the pop-up closes: it went where no sign-in can follow it.
    Close(String),
}

/// Decides one navigation of a pop-up (its first URL, each redirect hop, its frames). Counts
/// toward the sign-in's navigation limit like the main window's.
pub fn judge(flow: &mut Flow, url: &str) -> Verdict {
    if flow.is_token_endpoint(url) {
        return Verdict::Close(
            "it went to Finesse's token URL: the token is taken only in the main window".into(),
        );
    }
    match flow.navigation(url) {
        Navigation::Allow => Verdict::Allow,
        Navigation::Deny(reason) if reason.is_fatal() => Verdict::Close(reason.to_string()),
        Navigation::Deny(reason) => Verdict::Refuse(reason.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_ups_follow_the_flow_and_never_load_the_token_url() {
        let mut f = Flow::new(&url::Url::parse("https://finesse.example:8445/").unwrap());
        assert_eq!(
            judge(&mut f, "https://idp.example/mfa?txn=1"),
            Verdict::Allow
        );
        for closing in [
            "https://finesse.example:8445/desktop/sso/token?code=1",
            "https://finesse.example:8445/desktop/sso/token?cc_username=a&return_refresh_token=true",
            "https://evil.example/?cc_username=a",
            "http://idp.example/",
        ] {
            assert!(
                matches!(judge(&mut f, closing), Verdict::Close(_)),
                "{closing}"
            );
        }
        assert!(matches!(judge(&mut f, "ciscosso://x"), Verdict::Refuse(_)));
        assert!(matches!(judge(&mut f, "about:blank"), Verdict::Refuse(_)));
        // Other Finesse pages are the flow's business, as in the main window.
        assert_eq!(
            judge(&mut f, "https://finesse.example:8445/desktop/sso/test"),
            Verdict::Allow
        );
        // The loop limit counts pop-up navigations too.
        while f.navigation("https://idp.example/a") == Navigation::Allow {}
        assert!(matches!(
            judge(&mut f, "https://idp.example/a"),
            Verdict::Close(_)
        ));
    }
}
