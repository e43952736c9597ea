//! One background agent per profile: an exclusive lock on a file in the private runtime directory, held
//! for the agent's life. The OS drops it when the process dies, so a crash leaves nothing stale.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::dirs::{ensure_private_dir, open_lock_file};
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock or fails with `AgentRunning` (exit code 15).
    pub fn acquire(path: &Path, profile: &str) -> Result<Self> {
        let dir = path
            .parent()
            .ok_or_else(|| Error::state(path, "no parent directory"))?;
        ensure_private_dir(dir)?;
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(InstanceLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::AgentRunning(format!(
                "profile {profile} (lock {} is held)",
                path.display()
            ))),
            Err(TryLockError::Error(e)) => Err(Error::state(path, format!("cannot lock: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("run").join("default.lock");
        let first = InstanceLock::acquire(&p, "default").unwrap();
        let e = InstanceLock::acquire(&p, "default").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::AGENT_RUNNING);
        drop(first);
        InstanceLock::acquire(&p, "default").unwrap();
    }
}
