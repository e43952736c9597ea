//! Fuzzes the TOML config file parser (`FileConfig::parse`).
#![no_main]

use std::path::Path;

use finesse_sso::config::FileConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = FileConfig::parse(Path::new("/etc/finesse-sso/config.toml"), text) {
        // Relative CA files are anchored at the file's directory.
        for s in std::iter::once(&c.top).chain(c.profiles.values()) {
            if let Some(ca) = &s.ca_file {
                assert!(ca.is_absolute() || ca.as_os_str().is_empty(), "{ca:?}");
            }
        }
    }
});
