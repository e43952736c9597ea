//! Our background agent's listening side: take the profile's instance lock, bind the pipe, run
//! the refresh timer, accept connections up to a cap, and clean up on stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::connection::{self, Context, Limits};
use super::instance::InstanceLock;
use super::keeper::Keeper;
use crate::dirs::Dirs;
use crate::error::{ErrorKind, Result};
use crate::ipc::protocol::{self, WireError};
use crate::ipc::transport::{Endpoint, Listener};

/// After this many clients at once, memory is handed back when most of them have left.
const BURST: u64 = 32;

/// How the listener treats its clients.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub profile: String,
    pub limits: Limits,
    /// Connections beyond this get a `busy` error and are closed.
    pub max_clients: usize,
    /// Timings of the Finesse notification session.
    pub notify: crate::notify::runner::Options,
}

/// A bound, not yet serving, agent endpoint (the lock is held).
pub struct AgentListener {
    endpoint: Endpoint,
    listener: Listener,
    _lock: InstanceLock,
}

impl AgentListener {
    /// Takes the instance lock (else `AgentRunning`), cleans a stale socket, binds.
    pub async fn bind(dirs: &Dirs, profile: &str) -> Result<AgentListener> {
        let endpoint = Endpoint::of(dirs, profile)?;
        let lock = InstanceLock::acquire(&endpoint.lock, profile)?;
        let listener = Listener::bind(&endpoint).await?;
        Ok(AgentListener {
            endpoint,
            listener,
            _lock: lock,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves until `stop` turns true (a `stop` request, a signal, or the caller).
    pub async fn serve(
        mut self,
        keeper: Arc<Keeper>,
        opts: ServeOptions,
        stop: watch::Sender<bool>,
    ) {
        let mut stopped = stop.subscribe();
        let ctx = Arc::new(Context {
            keeper: keeper.clone(),
            profile: opts.profile.clone(),
            limits: opts.limits.clone(),
            stop,
            desktop: Default::default(),
            notifications: super::notifications::Notifications::new(opts.notify.clone()),
        });
        let scheduler = tokio::spawn(keeper.clone().schedule());
        let slots = Arc::new(Semaphore::new(opts.max_clients));
        let mut conns = JoinSet::new();
        // Most connections at once since memory was last handed back.
        let crowd = Arc::new(AtomicU64::new(0));
        loop {
            if *stopped.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = stopped.changed() => if changed.is_err() { break },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (mut conn, peer) = match accepted {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!("accepting a connection failed: {e}");
                            // EMFILE and friends: do not spin.
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::warn!("refusing a client: {} connections are open", opts.max_clients);
                        conns.spawn(async move {
                            let line = protocol::error_line(
                                None,
                                WireError::new(ErrorKind::Busy, "too many clients are connected; try again"),
                            );
                            let _ = tokio::time::timeout(
                                std::time::Duration::from_secs(2),
                                conn.write_all(line.as_bytes()),
                            )
                            .await;
                        });
                        continue;
                    };
                    tracing::debug!("client connected (pid {:?})", peer.pid);
                    let (ctx, crowd) = (ctx.clone(), crowd.clone());
                    conns.spawn(async move {
                        let n = ctx.keeper.clients.fetch_add(1, Ordering::Relaxed) + 1;
                        crowd.fetch_max(n, Ordering::Relaxed);
                        connection::serve(conn, ctx.clone()).await;
                        let left = ctx.keeper.clients.fetch_sub(1, Ordering::Relaxed) - 1;
                        drop(permit);
                        // Once a crowd has mostly gone, once per crowd.
                        let peak = crowd.load(Ordering::Relaxed);
                        if peak >= BURST
                            && left <= peak / 8
                            && crowd
                                .compare_exchange(peak, left, Ordering::Relaxed, Ordering::Relaxed)
                                .is_ok()
                        {
                            let _ = tokio::task::spawn_blocking(release_memory).await;
                        }
                    });
                }
            }
        }
        scheduler.abort();
        conns.abort_all();
        self.listener.remove();
        tracing::info!("agent stopped");
    }
}

/// Returns memory freed after a burst of clients to the OS: glibc keeps freed heap in its
/// per-thread arenas, so an all-day agent would otherwise stay at its busiest size.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
