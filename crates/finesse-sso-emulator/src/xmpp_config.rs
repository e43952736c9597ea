//! The notification service's settings in `finesse-sso emulate` (XMPP over WebSocket at `/ws/`,
//! over BOSH at `/http-bind/`): which transports, server pings, the presence-driven forced
//! logout, and the fault knobs.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// The transports the notification service offers on the Finesse port. 12.0/12.5 served both
/// on 7443; 12.6+ serves WebSocket on 8445 (reference §4.1).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmppTransport {
    Websocket,
    Bosh,
    Both,
}

impl XmppTransport {
    pub fn websocket(self) -> bool {
        self != XmppTransport::Bosh
    }

    pub fn bosh(self) -> bool {
        self != XmppTransport::Websocket
    }
}

/// Flattened into [`crate::EmulatorConfig`]; `Default` comes from there. Each knob can also be
/// changed at runtime through [`crate::Emulator::xmpp`].
#[derive(Args, Clone, Debug)]
pub struct XmppConfig {
    /// Which transports answer: the other's path is a 404 (as on a Finesse without it).
    #[arg(long, value_enum, default_value = "both")]
    pub xmpp_transport: XmppTransport,
    /// The longest a BOSH request is held (the server's `wait`: the client's, at most this).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::duration::parse_duration)]
    pub xmpp_bosh_wait: Duration,
    /// How often the notification service pings each client (XEP-0199); a client that does
    /// not answer within this time is dropped.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::duration::parse_duration)]
    pub xmpp_server_ping: Duration,
    /// How long after a user's last presence goes away Finesse signs the agent out with
    /// reason 255 (Finesse: 60 s).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::duration::parse_duration)]
    pub xmpp_forced_logout: Duration,
    /// Drop every notification connection this long after it is established (repeatedly).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub xmpp_drop_after: Option<Duration>,
    /// Stop answering the clients' pings (the connection stays open, silent).
    #[arg(long)]
    pub xmpp_no_pong: bool,
    /// Before each notification, send malformed and hostile frames: XML that is not
    /// well-formed, an oversized stanza, an escaped payload that is no `<Update>`, a DTD, and an
    /// update for another user's node.
    #[arg(long)]
    pub xmpp_malformed: bool,
    /// After each accepted LOGIN, the CTI server fails the device: the agent stays LOGOUT and
    /// an asynchronous `Device Busy` error (`apiErrors`) is published instead.
    #[arg(long)]
    pub xmpp_device_busy: bool,
}
