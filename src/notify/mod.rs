//! Finesse notifications (reference §4): XMPP over WebSocket (RFC 7395) to Finesse's
//! notification service, hand-written on a WebSocket library. Leaves first: `transport` (the
//! WebSocket over TLS, trust and proxy as every request), `stanza` (the XMPP subset), `update`
//! (the `<Update>` payloads), `session` (the XMPP state machine, pure), `connection` (one
//! session's I/O), `runner` (reconnects, renewals, the User re-read). The agent holds one
//! `runner` per profile while clients subscribe (`agent::notifications`).

pub mod bosh;
pub mod connection;
pub mod link;
pub mod runner;
pub mod session;
pub mod stanza;
pub mod transport;
pub mod update;
