//! Advisory dates as updateinfo files write them.

use time::OffsetDateTime;

/// Parses an advisory date: `YYYY-MM-DD[ HH:MM[:SS]]` (UTC, as createrepo and Red Hat
/// write it; Amazon leaves out the seconds), `YYYY-MM-DDTHH:MM:SSZ` (Bottlerocket) or
/// seconds since the epoch (as SUSE and some tools write it).
pub fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return OffsetDateTime::from_unix_timestamp(s.parse().ok()?).ok();
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        num(0..4)? as i32,
        time::Month::try_from(num(5..7)? as u8).ok()?,
        num(8..10)? as u8,
    )
    .ok()?;
    let clock = match s.len() {
        // `YYYY-MM-DD HH:MM[:SS]`, or ISO 8601 `...THH:MM:SSZ` (Bottlerocket).
        16.. => {
            let seconds = if s.len() >= 19 { num(17..19)? } else { 0 };
            time::Time::from_hms(num(11..13)? as u8, num(14..16)? as u8, seconds as u8).ok()?
        }
        _ => time::Time::MIDNIGHT,
    };
    Some(date.with_time(clock).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2026-01-15 00:00:00"),
            Some(time::macros::datetime!(2026-01-15 00:00 UTC))
        );
        assert_eq!(
            parse_date("2024-04-24"),
            Some(time::macros::datetime!(2024-04-24 00:00 UTC))
        );
        assert_eq!(
            parse_date("1768435200"),
            Some(time::macros::datetime!(2026-01-15 00:00 UTC))
        );
        assert_eq!(
            parse_date("2018-02-07 18:49"),
            Some(time::macros::datetime!(2018-02-07 18:49 UTC))
        );
        assert_eq!(
            parse_date("2025-06-11T19:52:52Z"),
            Some(time::macros::datetime!(2025-06-11 19:52:52 UTC))
        );
        assert_eq!(parse_date("2024-01-01 25:00"), None);
        assert_eq!(parse_date("soon"), None);
        assert_eq!(parse_date("2024-13-01"), None);
    }
}
