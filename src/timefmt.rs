//! RFC 3339 UTC timestamps as the API writes them (`2026-04-09T13:04:02Z`).

use time::OffsetDateTime;

/// Formats a time as RFC 3339 in UTC with second precision and a `Z` suffix.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The current time, formatted by [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_z() {
        let t = time::macros::datetime!(2026-04-09 15:04:02 +02:00);
        assert_eq!(rfc3339(t), "2026-04-09T13:04:02Z");
    }

    #[test]
    fn now_parses_back_as_rfc3339() {
        let s = now_rfc3339();
        let parsed = OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339);
        assert!(parsed.is_ok(), "{s}");
    }
}
