//! Security keys (WebAuthn) where the engine has none (WebKitGTK): notice that the IdP asked for
//! one and say so in plain words, instead of leaving a dead page. The page script below wraps
//! `navigator.credentials.get/create` and tells the window over wry's IPC channel, which any
//! page or frame can post to: the message may only lead to the notice, never to anything about
//! capture or navigation.

use tao::event_loop::EventLoopProxy;
use wry::WebViewBuilder;

use crate::event::Ev;

/// The one IPC message this window accepts. Anything else is ignored.
pub const ASKED: &str = "finesse-sso:security-key";

/// What the user (and stderr) is told. Never "use your system browser": Finesse's token answer
/// could not be captured there.
pub fn notice(host: &str) -> String {
    format!(
        "this sign-in ({host}) asked for a security key, which the embedded browser on this \
         system cannot use: choose another sign-in method, or ask your IdP administrator"
    )
}

/// Runs in every frame before the page's own scripts. Does nothing where the engine has
/// WebAuthn (`PublicKeyCredential` defined, as in WebView2). Elsewhere a call with `publicKey`
/// options tells the window once and fails as a browser without the feature does
/// (`NotSupportedError`), so the IdP can show its own "not supported" text too.
const SCRIPT: &str = r#"(function () {
  if (typeof window.PublicKeyCredential !== 'undefined') { return; }
  var told = false;
  function tell() {
    if (told) { return; }
    told = true;
    try {
      if (window.ipc && window.ipc.postMessage) { window.ipc.postMessage('finesse-sso:security-key'); }
      else { window.webkit.messageHandlers.ipc.postMessage('finesse-sso:security-key'); }
    } catch (e) {}
  }
  function refuse() {
    return Promise.reject(new DOMException(
      'Security keys are not supported by this embedded browser', 'NotSupportedError'));
  }
  var c = navigator.credentials;
  function wrap(name) {
    var orig = c && typeof c[name] === 'function' ? c[name].bind(c) : null;
    return function (options) {
      if (options && options.publicKey) { tell(); return refuse(); }
      return orig ? orig(options) : refuse();
    };
  }
  try {
    if (c) {
      c.get = wrap('get');
      c.create = wrap('create');
    } else {
      Object.defineProperty(navigator, 'credentials', {
        configurable: true,
        value: { get: wrap('get'), create: wrap('create'),
                 store: refuse, preventSilentAccess: function () { return Promise.resolve(); } }
      });
    }
  } catch (e) {}
})();"#;

/// Adds the script and the IPC handler to a webview's builder (main window and pop-ups).
pub fn watch<'a>(builder: WebViewBuilder<'a>, proxy: EventLoopProxy<Ev>) -> WebViewBuilder<'a> {
    builder
        .with_initialization_script_for_main_only(SCRIPT, false)
        .with_ipc_handler(move |request: wry::http::Request<String>| {
            // The URI is the engine's (the page the message came from); the body is the page's.
            if request.body() == ASKED {
                let _ = proxy.send_event(Ev::SecurityKeyAsked(request.uri().to_string()));
            }
        })
}
