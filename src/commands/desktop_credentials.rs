//! The credentials a `desktop` command holds when no background agent runs (its own sign-in,
//! one refresh after a 401), and the pipe's sign-in request in the client's terms; shared by
//! `desktop` and `desktop_demo`.

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::finesse::client::{Finesse, Refreshed};
use crate::finesse::token_response::TokenResponse;
use crate::finesse::user_api::{Auth, BoxFuture, Credentials, SignIn};
use crate::finesse::user_xml::{Mobile, MobileMode};
use crate::ipc::desktop::SignInRequest;

/// A token from a sign-in in this process; a 401 gets one refresh with its refresh token.
pub(super) struct SignedIn {
    pub finesse: Finesse,
    pub user: String,
    pub token: Mutex<TokenResponse>,
}

impl Credentials for SignedIn {
    fn current(&self) -> BoxFuture<'_, Result<Auth>> {
        let t = self
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .token
            .clone();
        Box::pin(async move { Ok(Auth::Bearer(t)) })
    }
    fn renew(&self) -> BoxFuture<'_, Result<Option<Auth>>> {
        Box::pin(async move {
            let (token, refresh) = {
                let t = self.token.lock().unwrap_or_else(|p| p.into_inner());
                (t.token.clone(), t.refresh_token.clone())
            };
            let Some(refresh) = refresh else {
                return Ok(None);
            };
            match self.finesse.refresh(&self.user, &token, &refresh).await? {
                Refreshed::Token(t) => {
                    let a = Auth::Bearer(t.token.clone());
                    *self.token.lock().unwrap_or_else(|p| p.into_inner()) = t;
                    Ok(Some(a))
                }
                Refreshed::NeedsBrowser(_) => Ok(None),
            }
        })
    }
}

pub(super) fn sign_in_of(r: SignInRequest) -> Result<SignIn> {
    Ok(SignIn {
        extension: r.extension,
        active_device_id: r.active_device_id,
        mobile: r
            .mobile_agent
            .map(|m| {
                Ok::<_, Error>(Mobile {
                    mode: match m.mode.as_str() {
                        "CALL_BY_CALL" => MobileMode::CallByCall,
                        "NAILED_CONNECTION" => MobileMode::NailedConnection,
                        _ => return Err(Error::Usage("unknown mobile-agent mode".into())),
                    },
                    dial_number: m.dial_number,
                })
            })
            .transpose()?,
    })
}
