//! Finesse's two sides (primary and secondary): which one to use. Each side's SystemInfo says
//! whether it is IN_SERVICE; the first listed side in service wins, and a side that cannot be
//! reached counts as out. Both sides front one CTI server and one IdS, so a token is valid on
//! either (reference: finesse-sso-api.md §2.7).

use url::Url;

use super::client::Finesse;
use super::xml::SystemInfo;
use crate::error::{Error, Result, host_of};

/// SystemInfo's `status` of a side that serves agents.
pub const IN_SERVICE: &str = "IN_SERVICE";

/// Whether a side's SystemInfo lets clients use it. A Finesse that names no status is taken
/// at its word that it answers (older releases; never a reason to lock a user out).
pub fn in_service(info: &SystemInfo) -> bool {
    info.status
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case(IN_SERVICE))
}

/// The order sides are tried in: `start` first, then the others in the order listed.
pub fn order(count: usize, start: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |i| (start + i) % count.max(1))
}

/// SystemInfo's `status` of a side that serves with a degraded service: used only when no
/// side is fully in service (better than no side at all).
pub const PARTIAL_SERVICE: &str = "PARTIAL_SERVICE";

/// Asks each side's SystemInfo, `start` first then in the listed order, and returns the first
/// side in service with what it said; when none is, the first in partial service. None of
/// either: an error naming what each side said.
pub async fn first_in_service(
    http: &reqwest::Client,
    sides: &[Url],
    start: usize,
) -> Result<(usize, SystemInfo)> {
    let mut said = Vec::new();
    let mut partial = None;
    for i in order(sides.len(), start) {
        let side = &sides[i];
        match Finesse::new(side.clone(), http.clone()).system_info().await {
            Ok(info) if in_service(&info) => return Ok((i, info)),
            Ok(info) => {
                let status = info.status.clone().unwrap_or_default();
                said.push(format!("{} is {status}", host_of(side)));
                if partial.is_none() && status.eq_ignore_ascii_case(PARTIAL_SERVICE) {
                    partial = Some((i, info));
                }
            }
            Err(e) => said.push(e.to_string()),
        }
    }
    partial.ok_or_else(|| Error::Server {
        step: "SystemInfo",
        host: sides.iter().map(host_of).collect::<Vec<_>>().join(", "),
        detail: format!("no Finesse side is IN_SERVICE ({})", said.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finesse::xml::AuthMode;

    fn info(status: Option<&str>) -> SystemInfo {
        SystemInfo {
            auth_mode: AuthMode::Sso,
            deployment_type: None,
            xmpp_domain: None,
            status: status.map(str::to_string),
        }
    }

    #[test]
    fn only_in_service_or_silent_sides_serve() {
        assert!(in_service(&info(Some("IN_SERVICE"))));
        assert!(in_service(&info(None)));
        assert!(!in_service(&info(Some("OUT_OF_SERVICE"))));
        assert!(!in_service(&info(Some("PARTIAL_SERVICE"))));
    }

    #[test]
    fn the_side_in_use_is_tried_first_then_the_listed_order() {
        assert_eq!(order(2, 0).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(order(2, 1).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(order(1, 0).collect::<Vec<_>>(), [0]);
        assert_eq!(order(0, 0).count(), 0);
    }
}
