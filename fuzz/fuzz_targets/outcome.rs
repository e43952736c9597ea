//! Fuzzes the sign-in window's outcome line as the parent reads it (`WindowOutcome::from_line`).
#![no_main]

use finesse_sso::window::WindowOutcome;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(WindowOutcome::Ok { token, .. }) = WindowOutcome::from_line(line) {
        let t = token.token.expose();
        assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()));
        assert!(token.expires_in > 0);
    }
});
