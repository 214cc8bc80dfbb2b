//! Instants as operators type and read them: RFC 3339 in UTC, or Unix nanoseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads `2026-12-02T03:00:00Z` (fractions allowed) or a plain count of Unix ns.
pub fn parse_instant(text: &str) -> Result<u64, String> {
    if let Ok(ns) = text.parse::<u64>() {
        return Ok(ns);
    }
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("not RFC 3339 (2026-12-02T03:00:00Z) nor Unix ns: {e}"))?;
    let since_epoch = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "before 1970".to_owned())?;
    u64::try_from(since_epoch.as_nanos()).map_err(|_| "after the year 2554".to_owned())
}

/// `1700000000500000000` → `2023-11-14T22:13:20.500000000Z`.
pub fn format_ns(ns: u64) -> String {
    let at: SystemTime = UNIX_EPOCH + Duration::from_nanos(ns);
    humantime::format_rfc3339_nanos(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_both_ways_and_print_back() {
        let ns = 1_700_000_000_500_000_000;
        assert_eq!(parse_instant("1700000000500000000"), Ok(ns));
        assert_eq!(parse_instant("2023-11-14T22:13:20.5Z"), Ok(ns));
        assert_eq!(format_ns(ns), "2023-11-14T22:13:20.500000000Z");
        assert_eq!(parse_instant(&format_ns(ns)), Ok(ns));
        assert!(parse_instant("yesterday").is_err());
        assert!(parse_instant("1969-12-31T23:59:59Z").is_err());
    }
}
