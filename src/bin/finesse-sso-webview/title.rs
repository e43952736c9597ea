//! The window title for a page: it names the host that asks, so the user knows who gets the
//! password (main window and pop-ups alike).

use url::Url;

/// `Sign in — host:port`, marked when the page is not encrypted; `None` for a page without a
/// host (`about:blank`), which keeps the title it had.
pub fn for_page(url: &str) -> Option<String> {
    let u = Url::parse(url).ok().filter(Url::has_host)?;
    let secure = if u.scheme() == "https" {
        ""
    } else {
        " (not encrypted)"
    };
    Some(format!(
        "Sign in — {}{secure}",
        finesse_sso::error::host_of(&u)
    ))
}
