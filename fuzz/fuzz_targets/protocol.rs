//! Fuzzes the agent's pipe decoder (`parse_request`): no panic, typed errors only, and every
//! request it accepts round-trips through the encoder unchanged.
#![no_main]

use finesse_sso::error::ErrorKind;
use finesse_sso::ipc::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match protocol::parse_request(data) {
        Ok(env) => {
            let line = protocol::line(&env);
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            let back = protocol::parse_request(line.as_bytes()).expect("re-parses");
            assert_eq!(back, env);
        }
        Err((_, e)) => {
            assert!(
                matches!(e.kind, ErrorKind::BadRequest | ErrorKind::UnknownOp),
                "{}",
                e.kind
            );
            assert!(!e.message.is_empty());
        }
    }
});
