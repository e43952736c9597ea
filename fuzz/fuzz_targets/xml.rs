//! Fuzzes Finesse's XML answers: SystemInfo, UserAuthMode and ApiErrors.
#![no_main]

use finesse_sso::finesse::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if xml::system_info(data).is_ok() || xml::user_auth_mode(data).is_ok() {
        assert!(data.len() <= xml::MAX_XML_BYTES);
    }
    if let Some(m) = xml::api_error(data) {
        assert!(m.chars().count() <= 120);
    }
});
