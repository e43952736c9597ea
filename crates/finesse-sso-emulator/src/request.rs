//! An incoming request as the handlers see it: method, path, query, cookies, bounded body.

use hyper::HeaderMap;
use hyper::Method;
use hyper::body::Bytes;

use crate::response::Resp;

/// A fully read request. Handlers never touch hyper types beyond this.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub raw_query: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub cookies: Vec<(String, String)>,
    pub body: Bytes,
}

impl Req {
    pub fn new(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let query_raw = query.map(str::to_string);
        let query = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let cookies = headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| {
                let (n, v) = c.trim().split_once('=')?;
                Some((n.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        Req {
            method,
            path: path.to_string(),
            raw_query: query_raw,
            query,
            headers,
            cookies,
            body,
        }
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lowercased (`""` when absent).
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// Whether the body is an HTML/URL-encoded form.
    pub fn is_form(&self) -> bool {
        self.content_type() == "application/x-www-form-urlencoded"
    }

    /// The URL-encoded form body; any other content type is a 415 naming the expected one.
    pub fn form(&self) -> Result<Form, Resp> {
        if !self.is_form() {
            return Err(Resp::unsupported_media_type(
                "application/x-www-form-urlencoded",
            ));
        }
        Ok(Form(
            url::form_urlencoded::parse(&self.body)
                .into_owned()
                .collect(),
        ))
    }

    /// Form field names (for the request log; values never leave).
    pub fn form_names(&self) -> Vec<String> {
        if !self.is_form() {
            return Vec::new();
        }
        url::form_urlencoded::parse(&self.body)
            .map(|(k, _)| k.into_owned())
            .collect()
    }

    /// Rejects any method but `allowed` with 405 and an `Allow` header.
    pub fn only(&self, allowed: &[Method]) -> Result<(), Resp> {
        if allowed.contains(&self.method) {
            Ok(())
        } else {
            Err(Resp::method_not_allowed(allowed))
        }
    }
}

/// A parsed URL-encoded form.
#[derive(Debug)]
pub(crate) struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required, non-empty field; its absence is a 400 naming it.
    pub fn required(&self, name: &str) -> Result<&str, Resp> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Resp::missing("form field", name)),
        }
    }
}

/// A required, non-empty query parameter; its absence is a 400 naming it.
pub(crate) fn required_query<'a>(req: &'a Req, name: &str) -> Result<&'a str, Resp> {
    match req.query(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Resp::missing("query parameter", name)),
    }
}

/// Percent-decodes a path segment or cookie value; invalid UTF-8 yields `None`.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(
            percent_decode("agent%40x.com").as_deref(),
            Some("agent@x.com")
        );
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "invalid UTF-8");
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
    }

    #[test]
    fn cookies_and_query_parse_leniently() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; b = 2;junk; c=x=y".parse().unwrap());
        let r = Req::new(Method::GET, "/p", Some("k=v&e=&k=w"), h, Bytes::new());
        assert_eq!(
            (r.cookie("a"), r.cookie("b"), r.cookie("c")),
            (Some("1"), Some("2"), Some("x=y"))
        );
        assert_eq!(r.query("k"), Some("v"));
        assert!(required_query(&r, "e").is_err());
        assert!(r.form().is_err(), "no content type: 415");
    }
}
