//! Linux (WebKitGTK): the proxy route on the web context, and the answer to the proxy's
//! challenge. The route is the one the helper's client uses (`finesse_sso::proxy`): resolved
//! ones are set as WebKit's custom settings, with the same bypass list; `System` keeps WebKit's
//! default (GLib's resolver: GNOME's settings, or libproxy, PAC included). Proxy challenges
//! (`authenticate` with `is_for_proxy`) get the request's credential once per sign-in; another
//! one means the proxy refused it, and the sign-in ends with a clear error. Every other
//! challenge is left to the next handler (returns false).

use std::cell::Cell;

use finesse_sso::error::ErrorKind;
use finesse_sso::proxy::{ProxyCredential, ProxyRoute};
use finesse_sso::window::WindowRequest;
use tao::event_loop::EventLoopProxy;
use webkit2gtk::glib::translate::ToGlibPtr;
use webkit2gtk::{
    AuthenticationRequest, AuthenticationRequestExt, Credential, CredentialPersistence,
    NetworkProxyMode, NetworkProxySettings, WebContextExt, WebViewExt, WebsiteDataManagerExt,
};
use wry::{WebView, WebViewBuilder};

use crate::event::Ev;

/// WebKitGTK takes the route on its web context, after the view exists ([`attach`]), before
/// anything loads; the builder is left as it is.
pub fn with_proxy<'a>(builder: WebViewBuilder<'a>, _req: &WindowRequest) -> WebViewBuilder<'a> {
    builder
}

/// Sets the route and answers proxy challenges (see the module doc).
pub fn attach(webview: &WebView, req: &WindowRequest, proxy: EventLoopProxy<Ev>) {
    use wry::WebViewExtUnix;
    let wk = webview.webview();
    set_route(&wk, &req.proxy);
    let credential = req.proxy_credential.clone();
    let answered = Cell::new(false);
    wk.connect_authenticate(move |_wv, request| {
        if !request.is_for_proxy() {
            return false;
        }
        let at = format!(
            "{}:{}",
            request.host().map(|h| h.to_string()).unwrap_or_default(),
            request.port()
        );
        match (&credential, answered.replace(true)) {
            (Some(c), false) => {
                tracing::info!("answering the proxy {at} with the proxy URL's user and password");
                answer(request, c);
            }
            (Some(_), true) => {
                request.cancel();
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::ProxyAuth,
                    message: format!(
                        "the proxy {at} rejected the proxy password (for the user in the proxy \
                         URL; it asked again); not tried again"
                    ),
                });
            }
            (None, _) => {
                request.cancel();
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::ProxyAuth,
                    message: format!(
                        "the proxy {at} asks for a user name and password: put the user in the \
                         proxy URL (http://user@{at}); the password is then asked for"
                    ),
                });
            }
        }
        true
    });
}

/// Hands the credential to WebKit for this session only (kept in memory, never saved).
fn answer(request: &AuthenticationRequest, c: &ProxyCredential) {
    let cred = Credential::new(
        &c.user,
        c.password.expose(),
        CredentialPersistence::ForSession,
    );
    // webkit2gtk 2.0.2 has no safe binding for this call.
    // SAFETY: both pointers come from live GObject/boxed wrappers held across the call; WebKit
    // copies the credential and does not keep our pointer.
    unsafe {
        webkit2gtk::ffi::webkit_authentication_request_authenticate(
            request.to_glib_none().0,
            webkit2gtk::glib::translate::mut_override(cred.to_glib_none().0),
        );
    }
}

fn set_route(wk: &webkit2gtk::WebView, route: &ProxyRoute) {
    let Some(manager) = wk.context().and_then(|c| c.website_data_manager()) else {
        tracing::warn!("no website data manager: the window uses the system's proxy settings");
        return;
    };
    match route {
        ProxyRoute::System => {}
        ProxyRoute::Direct => manager.set_network_proxy_settings(NetworkProxyMode::NoProxy, None),
        ProxyRoute::Via(s) => {
            let ignore: Vec<&str> = s.bypass.iter().map(String::as_str).collect();
            // One default for every scheme when both are the same (a `proxy` setting); else
            // one per scheme (the environment's https_proxy / http_proxy).
            let same = s.https == s.http;
            let default = if same { s.https.as_ref() } else { None };
            let mut settings = NetworkProxySettings::new(default.map(|u| u.as_str()), &ignore);
            if !same {
                for (scheme, url) in [("https", &s.https), ("http", &s.http)] {
                    if let Some(u) = url {
                        settings.add_proxy_for_scheme(scheme, u.as_str());
                    }
                }
            }
            manager.set_network_proxy_settings(NetworkProxyMode::Custom, Some(&mut settings));
        }
    }
}
