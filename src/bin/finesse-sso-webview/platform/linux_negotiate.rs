//! Linux (WebKitGTK/libsoup): which hosts the engine may offer Kerberos (Negotiate) to, set in
//! the environment before WebKit starts, and the check that the web session keeps it possible.
//!
//! Set here, in the window process, rather than by the parent: this is the process whose
//! environment WebKit's network process inherits, and the request (with `kerberos_hosts`) is
//! read before GTK or any thread starts. A value the user already set in their environment
//! (inherited from `finesse-sso`) is used as it is and `kerberos_hosts` does nothing then.

use finesse_sso::window::negotiate::{SOUP_TRUSTED_URIS_ENV, soup_env_value};
use webkit2gtk::WebViewExt;
use wry::{WebView, WebViewExtUnix};

/// Before GTK starts, while this process is one thread: `SOUP_GSSAPI_TRUSTED_URIS` from
/// `kerberos_hosts` (no hosts: a list that trusts none, since an unset list trusts every https
/// host), unless the environment already has it.
pub fn trust_hosts(hosts: &[String]) {
    let existing = std::env::var_os(SOUP_TRUSTED_URIS_ENV);
    match soup_env_value(existing.as_deref(), hosts) {
        // SAFETY: called before GTK, WebKit or any other thread of this process starts.
        Some(v) => unsafe { std::env::set_var(SOUP_TRUSTED_URIS_ENV, v) },
        None => tracing::info!(
            "{SOUP_TRUSTED_URIS_ENV} is set in the environment: Kerberos follows it, \
             kerberos_hosts ({} host(s)) is not applied",
            hosts.len()
        ),
    }
    if !hosts.is_empty() {
        tracing::debug!("Kerberos (Negotiate) allowed for {}", hosts.join(", "));
    }
}

/// WebKit offers Negotiate only in a persistent (non-ephemeral) session (SoupNetworkSession
/// adds the Negotiate auth type only then): our context has its own data directory, so it is;
/// say so loudly if that ever changes.
pub fn check_persistent(webview: &WebView, hosts: &[String]) {
    if !hosts.is_empty() && webview.webview().is_ephemeral() {
        tracing::warn!(
            "the web session is ephemeral: WebKit will not use Kerberos for kerberos_hosts"
        );
    }
}
