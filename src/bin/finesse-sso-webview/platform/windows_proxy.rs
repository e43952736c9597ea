//! Windows (WebView2): the proxy route as browser arguments, and the answer to the proxy's
//! challenge. `System` adds nothing: WebView2 follows the WinINET settings (PAC and WPAD
//! included) and answers NTLM/Negotiate proxies with the user's logon by itself. A resolved
//! route becomes `--proxy-server` and `--proxy-bypass-list` (the same hosts the helper's client
//! bypasses; `<-loopback>` turns off Chromium's own loopback exception, which the helper's
//! client does not have). A Basic challenge whose URI is the proxy (runtime 111 and later name
//! the proxy there) gets the request's credential once; another one means the proxy refused it
//! and the sign-in ends with a clear error. Other challenges are left to WebView2.
//! Compile-checked only: no WebView2 runtime runs here.

use std::cell::Cell;

use finesse_sso::error::ErrorKind;
use finesse_sso::proxy::{ProxyRoute, ProxyServers};
use finesse_sso::window::WindowRequest;
use tao::event_loop::EventLoopProxy;
use url::Url;
use webview2_com::Microsoft::Web::WebView2::Win32::ICoreWebView2_10;
use webview2_com::{BasicAuthenticationRequestedEventHandler, take_pwstr};
use windows::core::{HSTRING, Interface, PWSTR};
use wry::{WebView, WebViewBuilder, WebViewBuilderExtWindows, WebViewExtWindows};

use crate::event::Ev;

/// The whole browser argument string, the proxy route and the Kerberos allow-list together
/// (`window::negotiate::webview2_browser_args`: wry drops its own arguments once any are given).
pub fn with_proxy<'a>(builder: WebViewBuilder<'a>, req: &WindowRequest) -> WebViewBuilder<'a> {
    match finesse_sso::window::negotiate::webview2_browser_args(&req.proxy, &req.kerberos_hosts) {
        Some(args) => builder.with_additional_browser_args(args),
        None => builder,
    }
}

/// Answers proxy challenges (see the module doc).
pub fn attach(webview: &WebView, req: &WindowRequest, proxy: EventLoopProxy<Ev>) {
    let ProxyRoute::Via(servers) = &req.proxy else {
        return;
    };
    let core = webview.webview();
    // BasicAuthenticationRequested is WebView2 1.0.1245 and later.
    let Ok(core10) = core.cast::<ICoreWebView2_10>() else {
        tracing::warn!("this WebView2 runtime cannot answer a proxy's password challenge");
        return;
    };
    let servers = servers.clone();
    let credential = req.proxy_credential.clone();
    let answered = Cell::new(false);
    let fail = move |message: String| {
        let _ = proxy.send_event(Ev::Fail {
            kind: ErrorKind::ProxyAuth,
            message,
        });
    };
    let handler = BasicAuthenticationRequestedEventHandler::create(Box::new(move |_, args| {
        let Some(args) = args else { return Ok(()) };
        let mut uri = PWSTR::null();
        // SAFETY: a valid out-pointer; the string is ours to free (take_pwstr).
        unsafe { args.Uri(&mut uri)? };
        let Some(at) = proxy_named(&servers, &take_pwstr(uri)) else {
            return Ok(()); // a site's challenge: WebView2's own
        };
        match (&credential, answered.replace(true)) {
            (Some(c), false) => {
                tracing::info!("answering the proxy {at} with the proxy URL's user and password");
                // SAFETY: the event's own args and response, inside its handler.
                unsafe {
                    let response = args.Response()?;
                    response.SetUserName(&HSTRING::from(c.user.as_str()))?;
                    response.SetPassword(&HSTRING::from(c.password.expose().as_str()))?;
                }
            }
            (Some(_), true) => {
                // SAFETY: the event's own args, inside its handler.
                unsafe { args.SetCancel(true)? };
                fail(format!(
                    "the proxy {at} rejected the proxy password (for the user in the proxy URL; \
                     it asked again); not tried again"
                ));
            }
            (None, _) => {
                // SAFETY: the event's own args, inside its handler.
                unsafe { args.SetCancel(true)? };
                fail(format!(
                    "the proxy {at} asks for a user name and password: put the user in the \
                     proxy URL (http://user@{at}); the password is then asked for"
                ));
            }
        }
        Ok(())
    }));
    let mut token = 0i64;
    // SAFETY: a live webview and a handler it keeps a reference to.
    if let Err(e) = unsafe { core10.add_BasicAuthenticationRequested(&handler, &mut token) } {
        tracing::warn!("cannot watch for the proxy's password challenge: {e}");
    }
}

/// `host:port` of our proxy when the challenge's URI names it.
fn proxy_named(servers: &ProxyServers, uri: &str) -> Option<String> {
    let parsed = Url::parse(uri)
        .ok()
        .filter(|u| u.has_host())
        .or_else(|| Url::parse(&format!("http://{uri}")).ok())?;
    let key = |u: &Url| {
        (
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    [&servers.https, &servers.http]
        .into_iter()
        .flatten()
        .find(|p| key(p) == key(&parsed))
        .map(finesse_sso::error::host_of)
}
