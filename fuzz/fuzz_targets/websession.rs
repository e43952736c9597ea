//! Fuzzes the saved cookie store decoder (`websession::decode`): no panic, no expired cookie
//! comes back, and what it accepts re-encodes to an equal store.
#![no_main]

use finesse_sso::websession;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    if let Some(cookies) = websession::decode(data, NOW) {
        assert!(cookies.iter().all(|c| c.expires.is_none_or(|e| e > NOW)));
        let bytes = websession::encode(&cookies).unwrap();
        assert_eq!(websession::decode(&bytes, NOW), Some(cookies));
    }
});
