//! Outgoing responses: status, headers, body, plus builders for the shapes the servers answer.

use hyper::Method;

use serde_json::Value;

use crate::pages::escape;

/// A response before it is turned into hyper's type.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `--cut`: send half the body under the full length, then drop the connection.
    pub cut: bool,
}

pub const XML: &str = "application/xml;charset=UTF-8";
pub const JSON: &str = "application/json;charset=UTF-8";
pub const HTML: &str = "text/html;charset=UTF-8";
pub const TEXT: &str = "text/plain;charset=UTF-8";

impl Resp {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Resp {
            status,
            headers: vec![
                ("content-type".into(), content_type.into()),
                // Tokens and codes pass through these pages: nothing may be cached.
                ("cache-control".into(), "no-store".into()),
            ],
            body: body.into(),
            cut: false,
        }
    }

    pub fn html(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Resp::new(status, HTML, body)
    }

    pub fn xml(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Resp::new(status, XML, body)
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Resp::new(status, TEXT, body)
    }

    pub fn redirect(location: &str) -> Self {
        let mut r = Resp::new(302, HTML, Vec::new());
        r.headers.push(("location".into(), location.into()));
        r
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_cookie(self, set_cookie: &str) -> Self {
        self.with_header("set-cookie", set_cookie)
    }

    /// Finesse's REST error shape (reference §1.8).
    pub fn api_error(status: u16, error_type: &str, message: &str) -> Self {
        Resp::xml(
            status,
            format!(
                "<ApiErrors><ApiError><ErrorType>{}</ErrorType><ErrorData>{}</ErrorData>\
                 <ErrorMessage>{}</ErrorMessage></ApiError></ApiErrors>",
                escape(error_type),
                status,
                escape(message)
            ),
        )
    }

    /// 400 naming what is missing (never its value).
    pub fn missing(what: &str, name: &str) -> Self {
        Resp::api_error(400, "Bad Request", &format!("missing {what} `{name}`"))
    }

    pub fn bad_request(message: &str) -> Self {
        Resp::api_error(400, "Bad Request", message)
    }

    pub fn unauthorized(message: &str) -> Self {
        Resp::api_error(401, "Unauthorized", message)
    }

    pub fn not_found() -> Self {
        // Tomcat's plain 404, as for a path Finesse does not have.
        Resp::html(
            404,
            "<!doctype html><html><head><title>HTTP Status 404 – Not Found</title></head>\
             <body><h1>HTTP Status 404 – Not Found</h1></body></html>",
        )
    }

    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let list = allowed
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Resp::api_error(
            405,
            "Method Not Allowed",
            &format!("method not allowed; use {list}"),
        )
        .with_header("allow", &list)
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Resp::api_error(
            415,
            "Unsupported Media Type",
            &format!("Content-Type must be {expected}"),
        )
    }
}

/// Cookie attributes shared by the three servers.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    tls: bool,
    same_site_none: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly");
    if tls {
        c.push_str("; Secure");
        if same_site_none {
            c.push_str("; SameSite=None");
        }
    } else {
        // SameSite=None without Secure is rejected by browsers; over plain http use Lax.
        c.push_str("; SameSite=Lax");
    }
    c
}

/// A cookie that the browser deletes at once.
pub(crate) fn clear_cookie(name: &str, path: &str) -> String {
    format!("{name}=; Path={path}; Max-Age=0")
}

/// A JSON object with keys in the given order (serde_json's map would sort them).
pub(crate) fn ordered_json(fields: &[(&str, Value)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(*k), v))
        .collect();
    format!("{{{}}}", inner.join(","))
}
