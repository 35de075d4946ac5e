//! RFC 3339 UTC timestamps as the API writes them (`2026-04-09T13:04:02Z`), and the
//! durations operators type (`90s`, `15m`, `24h`, `2d`).

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

/// Longest text a [`SecondCache`] keeps (an RFC 3339 stamp takes 20, an HTTP date 29).
const CACHED_LEN: usize = 32;

/// The current second in one format, formatted again only when the second changes: every
/// response carries a `Date` and every API answer a timestamp. Kept per thread
/// (`thread_local!`), one format per cache; the text is copied out, so `f` may use any cache.
pub struct SecondCache(std::cell::Cell<(i64, [u8; CACHED_LEN], usize)>);

impl SecondCache {
    /// An empty cache (its first use formats).
    pub const fn new() -> SecondCache {
        SecondCache(std::cell::Cell::new((i64::MIN, [0; CACHED_LEN], 0)))
    }

    /// Calls `f` with `format(now)`, without an allocation unless the second changed.
    pub fn with<T>(&self, format: fn(OffsetDateTime) -> String, f: impl FnOnce(&str) -> T) -> T {
        let now = OffsetDateTime::now_utc();
        let second = now.unix_timestamp();
        let (at, mut bytes, mut len) = self.0.get();
        if at != second {
            let text = format(now);
            if text.len() > CACHED_LEN {
                return f(&text);
            }
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            len = text.len();
            self.0.set((second, bytes, len));
        }
        // The bytes were copied from a `String`, so they are UTF-8.
        f(std::str::from_utf8(&bytes[..len]).unwrap_or(""))
    }
}

impl Default for SecondCache {
    fn default() -> SecondCache {
        SecondCache::new()
    }
}

/// Calls `f` with the current time as [`rfc3339`] writes it, lent from this thread's
/// [`SecondCache`].
pub fn with_now_rfc3339<T>(f: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static STAMP: SecondCache = const { SecondCache::new() };
    }
    STAMP.with(|cache| cache.with(rfc3339, f))
}

/// Parses a duration: whole seconds (`90`) or a number with one unit `s`, `m`, `h`, `d`;
/// at least one second, at most a year.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration such as 90s, 15m, 24h or 2d"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 15m, 24h or 2d"))?;
    let secs = n.saturating_mul(scale);
    if !(1..=365 * 86_400).contains(&secs) {
        return Err(format!("{text:?}: must be between 1 second and 365 days"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lent_timestamp_is_now_as_rfc3339_writes_it() {
        // Twice: the first call formats, the second may be the cached text of that second.
        for _ in 0..2 {
            let before = now_rfc3339();
            let lent = with_now_rfc3339(str::to_string);
            let after = now_rfc3339();
            assert!(
                lent == before || lent == after,
                "{lent} not in {before}..{after}"
            );
            assert_eq!(lent.len(), 20, "{lent}");
        }
    }

    #[test]
    fn durations_in_every_unit() {
        let s = |t| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(s("90"), Ok(90));
        assert_eq!(s("90s"), Ok(90));
        assert_eq!(s("15m"), Ok(900));
        assert_eq!(s("24h"), Ok(86_400));
        assert_eq!(s("2d"), Ok(172_800));
        for bad in [
            "",
            "h",
            "1.5h",
            "-1s",
            "10w",
            "0",
            "400d",
            "1 h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

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
