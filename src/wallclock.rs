//! Wall-clock time as users see it: when a token expires (saturating sums on server values)
//! and RFC 3339 text. A leaf: the agent and the commands both use it.

/// Unix seconds at which a token that has `expires_in` seconds left at `now` expires. The
/// value comes from a server or the agent: the sum saturates instead of overflowing.
pub fn expires_at(now: i64, expires_in: u64) -> i64 {
    now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX))
}

/// RFC 3339 text for Unix seconds; empty when out of range.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
