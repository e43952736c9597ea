//! Failure injection and hostile modes, changeable at runtime (`Emulator::faults()`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::config::{EmulatorConfig, ForgeMode};
use crate::endpoints::{covers, normalize_endpoint};

/// How the token endpoint writes its success body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenBody {
    /// Cisco's JSON, `application/json`.
    Json,
    /// Truncated JSON (`--malformed-token-json`).
    Malformed,
    /// The real JSON labelled `text/html` (`--token-as-html`).
    AsHtml,
}

#[derive(Debug)]
struct State {
    fail: HashMap<String, u16>,
    /// `Retry-After` seconds on injected 418 and 429 answers.
    retry_after: Option<u64>,
    delay: HashMap<String, Duration>,
    rotate_refresh: bool,
    refresh_redirect: bool,
    token_body: TokenBody,
    forge: Option<ForgeMode>,
    /// Endpoints whose answers stop halfway: headers and half the body, then the connection drops.
    cut: HashSet<String>,
    /// Endpoints whose requests wait, unanswered, until released (`Faults::set_held`).
    held: HashSet<String>,
}

/// Runtime-switchable misbehaviour. Every setter takes effect on the next request.
#[derive(Debug)]
pub struct Faults(Mutex<State>, tokio::sync::Notify);

impl Faults {
    pub(crate) fn from_config(c: &EmulatorConfig) -> Self {
        let token_body = if c.malformed_token_json {
            TokenBody::Malformed
        } else if c.token_as_html {
            TokenBody::AsHtml
        } else {
            TokenBody::Json
        };
        Faults(
            Mutex::new(State {
                fail: c
                    .fails
                    .iter()
                    .map(|f| (f.endpoint.clone(), f.status))
                    .collect(),
                delay: c
                    .delays
                    .iter()
                    .map(|d| (d.endpoint.clone(), d.delay))
                    .collect(),
                retry_after: c.retry_after,
                rotate_refresh: c.rotate_refresh,
                refresh_redirect: c.refresh_redirect,
                token_body,
                forge: c.forge,
                cut: c.cuts.iter().cloned().collect(),
                held: HashSet::new(),
            }),
            tokio::sync::Notify::new(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer `endpoint` (path or short name) with `status`, or stop doing so with `None`.
    pub fn set_status(&self, endpoint: &str, status: Option<u16>) -> Result<(), String> {
        let ep = normalize_endpoint(endpoint)?;
        let mut s = self.lock();
        match status {
            Some(st) if (100..=599).contains(&st) => {
                s.fail.insert(ep, st);
            }
            Some(st) => return Err(format!("{st} is not an HTTP status")),
            None => {
                s.fail.remove(&ep);
            }
        }
        Ok(())
    }

    /// Delay `endpoint` (path or short name) by `delay`, or stop with `None`.
    pub fn set_delay(&self, endpoint: &str, delay: Option<Duration>) -> Result<(), String> {
        let ep = normalize_endpoint(endpoint)?;
        let mut s = self.lock();
        match delay {
            Some(d) => s.delay.insert(ep, d),
            None => s.delay.remove(&ep),
        };
        Ok(())
    }

    /// Drop the connection to `endpoint` (path or short name) halfway through each answer:
    /// the status line, the headers (announcing the full length) and half the body arrive, then
    /// the connection closes. `false` stops it.
    pub fn set_cut(&self, endpoint: &str, on: bool) -> Result<(), String> {
        let ep = normalize_endpoint(endpoint)?;
        let mut s = self.lock();
        match on {
            true => s.cut.insert(ep),
            false => s.cut.remove(&ep),
        };
        Ok(())
    }

    /// Hold requests to `endpoint` (path or short name) unanswered, those already waiting
    /// included, until `false` releases them: a test then knows what a client did meanwhile
    /// without guessing a delay long enough.
    pub fn set_held(&self, endpoint: &str, on: bool) -> Result<(), String> {
        let ep = normalize_endpoint(endpoint)?;
        match on {
            true => self.lock().held.insert(ep),
            false => self.lock().held.remove(&ep),
        };
        self.1.notify_waiters();
        Ok(())
    }

    /// Returns once no hold covers `path`.
    pub(crate) async fn wait_while_held(&self, path: &str) {
        loop {
            // Made before the check: a release between the two still wakes it.
            let released = self.1.notified();
            if !self.lock().held.iter().any(|ep| covers(ep, path)) {
                return;
            }
            released.await;
        }
    }

    /// The `Retry-After` seconds that injected 418 and 429 answers carry (`None`: no header).
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.lock().retry_after = secs;
    }

    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.lock().retry_after
    }

    pub fn set_rotate_refresh(&self, on: bool) {
        self.lock().rotate_refresh = on;
    }

    pub fn rotate_refresh(&self) -> bool {
        self.lock().rotate_refresh
    }

    pub fn set_refresh_redirect(&self, on: bool) {
        self.lock().refresh_redirect = on;
    }

    pub fn refresh_redirect(&self) -> bool {
        self.lock().refresh_redirect
    }

    pub fn set_token_body(&self, body: TokenBody) {
        self.lock().token_body = body;
    }

    pub fn token_body(&self) -> TokenBody {
        self.lock().token_body
    }

    pub fn set_forge(&self, forge: Option<ForgeMode>) {
        self.lock().forge = forge;
    }

    pub fn forge(&self) -> Option<ForgeMode> {
        self.lock().forge
    }

    /// Back to normal behaviour: no injected statuses or delays, no hostile modes.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.fail.clear();
        s.retry_after = None;
        s.delay.clear();
        s.cut.clear();
        s.held.clear();
        self.1.notify_waiters();
        s.refresh_redirect = false;
        s.token_body = TokenBody::Json;
        s.forge = None;
    }

    /// Whether answers on `path` are cut halfway.
    pub(crate) fn cut(&self, path: &str) -> bool {
        self.lock().cut.iter().any(|ep| covers(ep, path))
    }

    /// The injected status and delay for a request path (most specific endpoint wins).
    pub(crate) fn for_path(&self, path: &str) -> (Option<u16>, Option<Duration>) {
        let s = self.lock();
        let best = |keys: &mut dyn Iterator<Item = &String>| -> Option<String> {
            keys.filter(|ep| covers(ep, path))
                .max_by_key(|ep| ep.len())
                .cloned()
        };
        let fail = best(&mut s.fail.keys()).and_then(|k| s.fail.get(&k).copied());
        let delay = best(&mut s.delay.keys()).and_then(|k| s.delay.get(&k).copied());
        (fail, delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_paths_and_prefixes() {
        let f = Faults::from_config(&EmulatorConfig::default());
        f.set_status("user", Some(503)).unwrap();
        f.set_delay("/desktop/sso/token", Some(Duration::from_millis(5)))
            .unwrap();
        assert_eq!(f.for_path("/finesse/api/User/agent1").0, Some(503));
        assert_eq!(f.for_path("/finesse/api/UserAuthMode/agent1").0, None);
        assert_eq!(
            f.for_path("/desktop/sso/token").1,
            Some(Duration::from_millis(5))
        );
        assert_eq!(f.for_path("/desktop/sso/tokenx"), (None, None));
        assert!(f.set_held("nope", true).is_err());
        assert!(f.set_status("nope", Some(500)).is_err());
        assert!(f.set_status("token", Some(99)).is_err());
        f.set_cut("token", true).unwrap();
        assert!(f.cut("/desktop/sso/token") && !f.cut("/finesse/api/User/agent1"));
        f.clear();
        assert_eq!(f.for_path("/finesse/api/User/agent1"), (None, None));
        assert!(!f.cut("/desktop/sso/token"));
    }
}
