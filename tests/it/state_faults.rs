//! Crash safety and a failing disk for the saved web session: a writer SIGKILLed at random
//! moments never leaves a half-written store, and a full or read-only state directory gives a
//! clear error while the previous store stays intact and loadable.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::Mount;
use finesse_sso::redact::Secret;
use finesse_sso::websession;
use finesse_sso::window::SavedCookie;

const WRITER_ENV: &str = "FINESSE_SSO_TEST_WRITER_DIR";

/// A store of `n` cookies whose values all name generation `generation`.
fn store(generation: u64, n: usize) -> Vec<SavedCookie> {
    (0..n)
        .map(|i| SavedCookie {
            name: format!("c{i}"),
            value: Secret::new(format!("{generation}-{}", "v".repeat(i * 37 % 900))),
            domain: "idp.example".into(),
            path: "/".into(),
            secure: true,
            http_only: true,
            expires: None,
            same_site: None,
        })
        .collect()
}

/// Not a test: the child process of `sigkill_during_writes_never_leaves_a_torn_store`, which
/// rewrites the store as fast as it can until it is killed. Without its variable it returns.
#[test]
#[ignore = "helper process for the crash-safety test"]
fn writer_child() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let mut generation = 1u64;
    loop {
        let n = 1 + (generation as usize * 7919) % 120;
        websession::save(Path::new(&dir), &store(generation, n)).unwrap();
        generation += 1;
    }
}

#[test]
fn sigkill_during_writes_never_leaves_a_torn_store() {
    let dir = tempfile::tempdir().unwrap();
    websession::save(dir.path(), &store(0, 3)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut kills = 0;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    while kills < 40 && started.elapsed() < Duration::from_secs(20) {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "state_faults::writer_child",
                "--nocapture",
            ])
            .env(WRITER_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(20 + seed % 80));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        // The store is always one whole generation: every cookie names the same one.
        let bytes = std::fs::read(websession::path(dir.path())).unwrap();
        let cookies = websession::decode(&bytes, 0).expect("the store parses after SIGKILL");
        assert!(!cookies.is_empty());
        let generation = |c: &SavedCookie| c.value.expose().split('-').next().unwrap().to_string();
        let first = generation(&cookies[0]);
        assert!(cookies.iter().all(|c| generation(c) == first), "torn store");
        assert!(!dir.path().join("web-session.json.damaged").exists());
    }
    assert!(kills >= 10, "only {kills} kills in 20 s");
    // A killed writer may leave its temp file; the next load does not care, nothing is torn.
    assert!(!websession::load(dir.path()).is_empty());
}

#[test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
fn full_or_read_only_state_dir_is_a_clear_error_and_keeps_the_old_store() {
    crate::support::need_root();
    let dir = tempfile::tempdir().unwrap();
    let m = Mount::tmpfs(dir.path(), "64k");
    let dir = dir.path();
    websession::save(dir, &store(1, 3)).unwrap();
    // Disk full: a store larger than the filesystem.
    let err = websession::save(dir, &store(2, 400))
        .unwrap_err()
        .to_string();
    assert!(err.contains("web-session.json"), "names the file: {err}");
    assert!(err.to_lowercase().contains("no space"), "{err}");
    assert_eq!(
        websession::load(dir),
        store(1, 3),
        "the old store is intact"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "no temp file left behind");
    // Read-only: saving fails clearly, loading still works.
    m.remount("ro");
    let err = websession::save(dir, &store(3, 1)).unwrap_err().to_string();
    assert!(err.to_lowercase().contains("read-only"), "{err}");
    assert_eq!(websession::load(dir), store(1, 3));
    m.remount("rw");
}
