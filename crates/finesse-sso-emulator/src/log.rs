//! The request log: one JSON line per request with names only (query keys, form fields,
//! cookies), never a value, to `--log FILE`; a one-line summary goes to stderr via `tracing`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What is recorded about one request. Every field is safe to print: no values of any kind
/// except the path, method and status. (Paths carry user ids, which are not secret.)
#[derive(Debug, Serialize)]
pub(crate) struct Entry<'a> {
    pub time: String,
    pub origin: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<String>,
    pub form: Vec<String>,
    pub cookies: Vec<String>,
    pub status: u16,
    pub ms: u64,
}

pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}

/// Where entries go.
#[derive(Debug)]
pub(crate) struct RequestLog {
    file: Option<Mutex<File>>,
}

impl RequestLog {
    pub fn open(path: Option<&Path>) -> Result<Self, String> {
        let file = match path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("opening request log {}: {e}", p.display()))?,
            )),
            None => None,
        };
        Ok(RequestLog { file })
    }

    pub fn record(&self, e: &Entry<'_>) {
        tracing::info!(
            origin = e.origin,
            method = e.method,
            path = e.path,
            status = e.status,
            ms = e.ms,
            "request"
        );
        if let Some(f) = &self.file {
            let Ok(mut line) = serde_json::to_string(e) else {
                return;
            };
            line.push('\n');
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(err) = f.write_all(line.as_bytes()) {
                tracing::warn!("request log write failed: {err}");
            }
        }
    }
}
