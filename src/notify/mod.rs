//! Finesse notifications (reference §4): XMPP over WebSocket (RFC 7395) to Finesse's
//! notification service, hand-written on a WebSocket library. `transport`: the WebSocket over
//! TLS, with the trust and proxy of every other request.

pub mod transport;
