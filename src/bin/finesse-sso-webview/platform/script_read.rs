//! The finished document read by script after load, where native capture is not built yet
//! (Windows). The engine reports the status where it can (Navigation Timing
//! `responseStatus`); the URL and content type come from the document. Only a top-level JSON
//! document has no script of its own to interfere.

use tao::event_loop::EventLoopProxy;
use wry::WebView;

use crate::event::Ev;

const JS: &str = "(function(){var n=(performance.getEntriesByType('navigation')||[])[0];\
    return JSON.stringify({url:location.href,ct:document.contentType,\
    status:(n&&n.responseStatus)||200,body:document.body?document.body.innerText:''});})()";

/// Asks the page for its document; the answer arrives as [`Ev::Document`].
pub fn read_document(webview: &WebView, proxy: EventLoopProxy<Ev>) {
    let _ = webview.evaluate_script_with_callback(JS, move |result| {
        if let Some(ev) = document_event(&result) {
            let _ = proxy.send_event(ev);
        }
    });
}

/// The callback gets the JSON encoding of the returned string: decode twice.
fn document_event(result: &str) -> Option<Ev> {
    let inner: serde_json::Value = serde_json::from_str::<String>(result)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())?;
    Some(Ev::Document {
        url: inner["url"].as_str().unwrap_or("").to_string(),
        status: inner["status"].as_u64().unwrap_or(0) as u16,
        mime: inner["ct"].as_str().unwrap_or("").to_string(),
        body: inner["body"].as_str().unwrap_or("").as_bytes().to_vec(),
    })
}
