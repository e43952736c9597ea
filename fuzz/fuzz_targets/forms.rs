//! Fuzzes the silent walk's HTML scanner (`silent::forms::scan`) and entity decoder.
#![no_main]

use finesse_sso::silent::forms;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let page = forms::scan(&html);
    let _ = page.script_submitted();
    let _ = page.auto_post();
    if let Some(f) = page.login_form() {
        let _ = f.fields();
    }
    let _ = forms::decode_entities(&html);
});
