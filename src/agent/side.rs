//! The Finesse side our agent uses (`server = [a, b]`): the first listed while it is in
//! service, the other when SystemInfo says it is not (or it cannot be reached), never two
//! moves within [`MOVE_BACKOFF`] so that two failing sides cannot make a loop. Sign-ins,
//! refreshes, the User API and the notification session all use the side in use.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use url::Url;

use crate::error::{Error, Result, host_of};
use crate::finesse::client::Finesse;
use crate::finesse::sides::first_in_service;
use crate::finesse::xml::SystemInfo;

/// The least time between two moves from one side to another.
pub const MOVE_BACKOFF: Duration = Duration::from_secs(30);

/// Where a check left the agent: the side in use, what its SystemInfo said, and the side it
/// left if it just moved.
#[derive(Debug, Clone)]
pub struct Settled {
    pub side: Url,
    pub info: SystemInfo,
    pub moved_from: Option<Url>,
}

#[derive(Debug)]
struct State {
    index: usize,
    moved_at: Option<Instant>,
}

#[derive(Debug)]
pub struct SideInUse {
    sides: Vec<Url>,
    state: Mutex<State>,
}

impl SideInUse {
    /// `sides` in the order listed (at least one); the first is in use until a check moves.
    pub fn new(sides: Vec<Url>) -> Self {
        SideInUse {
            sides,
            state: Mutex::new(State {
                index: 0,
                moved_at: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// More than one side listed.
    pub fn several(&self) -> bool {
        self.sides.len() > 1
    }

    pub fn current(&self) -> Url {
        self.sides[self.lock().index.min(self.sides.len() - 1)].clone()
    }

    /// Reads SystemInfo of the side in use; with several sides, moves to the first other one
    /// in service when it is not in service or cannot be reached (unless the last move was
    /// less than [`MOVE_BACKOFF`] before `now`: then an error, and the caller backs off).
    pub async fn settle(&self, http: &reqwest::Client, now: Instant) -> Result<Settled> {
        let start = self.lock().index;
        if !self.several() {
            let side = self.current();
            let info = Finesse::new(side.clone(), http.clone())
                .system_info()
                .await?;
            return Ok(Settled {
                side,
                info,
                moved_from: None,
            });
        }
        let (found, info) = first_in_service(http, &self.sides, start).await?;
        let mut s = self.lock();
        if found == s.index {
            return Ok(Settled {
                side: self.sides[found].clone(),
                info,
                moved_from: None,
            });
        }
        let from = self.sides[s.index].clone();
        if let Some(at) = s.moved_at
            && now.saturating_duration_since(at) < MOVE_BACKOFF
        {
            return Err(Error::Server {
                step: "SystemInfo",
                host: host_of(&from),
                detail: format!(
                    "this Finesse side is not in service and the agent moved to it less than {} s ago; it waits before moving again",
                    MOVE_BACKOFF.as_secs()
                ),
            });
        }
        s.index = found;
        s.moved_at = Some(now);
        Ok(Settled {
            side: self.sides[found].clone(),
            info,
            moved_from: Some(from),
        })
    }
}
