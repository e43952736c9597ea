//! Where the sign-in window opens: in front of its caller's window (an X11 window id or a
//! Windows HWND, `--parent-window` / the pipe's `parent_window`) and with the caller's Wayland
//! activation token (`XDG_ACTIVATION_TOKEN`). Parsing only; the window program applies it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The environment variable a Wayland launcher hands its child the activation token in.
pub const ACTIVATION_TOKEN_ENV: &str = "XDG_ACTIVATION_TOKEN";

/// Longest activation token accepted (compositors hand out short opaque strings).
const MAX_TOKEN: usize = 256;

/// A native window handle of the caller: an X11 window id or a Windows HWND. Never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowHandle(pub u64);

impl FromStr for WindowHandle {
    type Err = String;

    /// Decimal, or hexadecimal after `0x` (as `xwininfo` and `xdotool` print them).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => t.parse::<u64>(),
        };
        match parsed {
            Ok(0) => Err("a window handle is never 0".into()),
            Ok(n) => Ok(WindowHandle(n)),
            Err(_) => Err(format!(
                "not a window handle: {:?} (expected a decimal or 0x-hexadecimal number)",
                t.chars().take(40).collect::<String>()
            )),
        }
    }
}

impl fmt::Display for WindowHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl<'de> Deserialize<'de> for WindowHandle {
    /// A JSON number or a string in either notation (JavaScript cannot hold every 64-bit HWND
    /// as a number).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Err(serde::de::Error::custom("a window handle is never 0")),
            Raw::Number(n) => Ok(WindowHandle(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Where the window goes; empty: wherever the desktop puts a new window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The caller's window: ours is made transient for (X11) or owned by (Windows) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_window: Option<WindowHandle>,
    /// A Wayland xdg-activation token from the caller, so the compositor lets us take focus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_token: Option<String>,
}

impl Placement {
    pub fn is_empty(&self) -> bool {
        self.parent_window.is_none() && self.activation_token.is_none()
    }

    /// The placement of a command run from a terminal or a thick client: the handle given,
    /// plus the activation token its launcher left in the environment.
    pub fn from_caller(parent_window: Option<WindowHandle>) -> Placement {
        Placement {
            parent_window,
            activation_token: activation_token(std::env::var(ACTIVATION_TOKEN_ENV).ok()),
        }
    }
}

/// A usable activation token, or none (empty, overlong or with control characters: a token
/// is opaque printable text).
pub fn activation_token(raw: Option<String>) -> Option<String> {
    raw.map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN && !t.chars().any(char::is_control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_parse_in_decimal_and_hex_and_never_zero() {
        assert_eq!("12345".parse(), Ok(WindowHandle(12345)));
        assert_eq!("0x1a00004".parse(), Ok(WindowHandle(0x1a0_0004)));
        assert_eq!(" 0X10 ".parse(), Ok(WindowHandle(16)));
        for bad in [
            "0",
            "0x0",
            "",
            "0x",
            "-1",
            "12ab",
            "0xzz",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<WindowHandle>().is_err(), "{bad}");
        }
        assert_eq!(WindowHandle(0x1a0_0004).to_string(), "0x1a00004");
    }

    #[test]
    fn placements_travel_as_numbers_or_strings_and_stay_off_the_wire_when_empty() {
        let p: Placement =
            serde_json::from_str(r#"{"parent_window":"0x20","activation_token":"t"}"#).unwrap();
        assert_eq!(p.parent_window, Some(WindowHandle(32)));
        let q: Placement = serde_json::from_str(r#"{"parent_window":32}"#).unwrap();
        assert_eq!(q.parent_window, Some(WindowHandle(32)));
        assert!(serde_json::from_str::<Placement>(r#"{"parent_window":0}"#).is_err());
        assert!(serde_json::from_str::<Placement>(r#"{"parent_window":"x"}"#).is_err());
        assert!(serde_json::from_str::<Placement>(r#"{"parent_window":-3}"#).is_err());
        assert_eq!(serde_json::to_string(&Placement::default()).unwrap(), "{}");
        assert!(Placement::default().is_empty());
    }

    #[test]
    fn activation_tokens_are_printable_and_short() {
        assert_eq!(activation_token(Some(" abc ".into())), Some("abc".into()));
        assert_eq!(activation_token(Some(String::new())), None);
        assert_eq!(activation_token(Some("a\nb".into())), None);
        assert_eq!(activation_token(Some("x".repeat(300))), None);
        assert_eq!(activation_token(None), None);
    }
}
