//! Advisory and CVE ids as feeds really publish them, normalised.
//!
//! Published feeds carry `CVE_2019-2426`, `CVE 2018-16859`, lower case `cve-2020-1234` and
//! several ids in one string (`CVE-2018-7540 XSA-252`). Every parser passes its raw id
//! strings through [`normalise`]: CVE ids come out as `CVE-YYYY-NNNN...`, other ids
//! (XSA-, TALOS-, GHSA-, ...) are kept apart as advisory ids, and nothing that is not
//! written as a CVE id is ever made into one.

/// The ids found in one or more raw strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// CVE ids, normalised (`CVE-2019-2426`), sorted and unique.
    pub cves: Vec<String>,
    /// Other advisory ids (`XSA-252`, `TALOS-2017-0471`, `GHSA-...`), as written, sorted
    /// and unique.
    pub others: Vec<String>,
}

impl Ids {
    /// Adds the ids of another raw string.
    pub fn add(&mut self, raw: &str) {
        for token in tokens(raw) {
            match cve(&token) {
                Some(id) => self.cves.push(id),
                None if is_advisory_id(&token) => self.others.push(token),
                None => {}
            }
        }
        self.cves.sort();
        self.cves.dedup();
        self.others.sort();
        self.others.dedup();
    }
}

/// The ids of every string in `raw`.
pub fn normalise<'a>(raw: impl IntoIterator<Item = &'a str>) -> Ids {
    let mut ids = Ids::default();
    for r in raw {
        ids.add(r);
    }
    ids
}

/// Splits a raw string into candidate ids, joining the published `CVE 2018-16859` form
/// (the prefix separated from its number by a space) back into one token.
fn tokens(raw: &str) -> Vec<String> {
    let words: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w.eq_ignore_ascii_case("CVE") && i + 1 < words.len() && starts_with_year(words[i + 1]) {
            out.push(format!("CVE-{}", words[i + 1]));
            i += 2;
            continue;
        }
        out.push(
            w.trim_matches(|c: char| "()[]<>\"'".contains(c))
                .to_string(),
        );
        i += 1;
    }
    out
}

fn starts_with_year(s: &str) -> bool {
    s.len() >= 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
}

/// `CVE-YYYY-N{4,}` from a token written with `-`, `_` or nothing between the parts, in
/// any case; `None` for anything else. A patch-file suffix after the number, as the
/// Alpine secdb publishes (`CVE-2019-19451.patch`, `CVE-2017-17434-1` for the first of
/// two patches), is dropped: the CVE id is written there in full.
pub fn cve(token: &str) -> Option<String> {
    let upper = token.to_ascii_uppercase();
    let rest = upper.strip_prefix("CVE")?;
    let rest = rest.strip_prefix(['-', '_']).unwrap_or(rest);
    let (year, tail) = rest.split_once(['-', '_'])?;
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = tail.split_at(digits);
    let ok = year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && number.len() >= 4
        && is_patch_suffix(suffix);
    ok.then(|| format!("CVE-{year}-{number}"))
}

/// Nothing, `.patch`/`.diff`, or a patch part number `-N` (one or two digits).
fn is_patch_suffix(suffix: &str) -> bool {
    if suffix.is_empty() || suffix == ".PATCH" || suffix == ".DIFF" {
        return true;
    }
    suffix
        .strip_prefix('-')
        .is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a token looks like another source's advisory id: letters, a dash, then
/// something that starts with a digit or a letter (`XSA-252`, `TALOS-2017-0471`,
/// `GHSA-xxxx-xxxx-xxxx`, `DSA-5000-1`, `USN-7900-1`). A malformed CVE id is neither.
pub fn is_advisory_id(token: &str) -> bool {
    let Some((prefix, rest)) = token.split_once('-') else {
        return false;
    };
    prefix.len() >= 2
        && !prefix.eq_ignore_ascii_case("CVE")
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_variants_are_normalised() {
        let ids = normalise(["CVE_2019-2426", "CVE 2018-16859", "cve-2020-1234"]);
        assert_eq!(
            ids.cves,
            ["CVE-2018-16859", "CVE-2019-2426", "CVE-2020-1234"]
        );
        assert!(ids.others.is_empty());
    }

    #[test]
    fn several_ids_in_one_string_are_split_and_other_ids_kept_apart() {
        let ids = normalise([
            "CVE-2018-7540 XSA-252",
            "TALOS-2017-0471, GHSA-abcd-efgh-ijkl",
        ]);
        assert_eq!(ids.cves, ["CVE-2018-7540"]);
        assert_eq!(
            ids.others,
            ["GHSA-abcd-efgh-ijkl", "TALOS-2017-0471", "XSA-252"]
        );
    }

    #[test]
    fn nothing_is_invented() {
        let ids = normalise(["CVE-20-1", "CVE", "fixes a crash", "CVE-2019-12a4", "none"]);
        assert_eq!(ids, Ids::default());
        assert_eq!(cve("CVE-2019-123"), None);
        assert_eq!(cve("CVE2019-12345"), Some("CVE-2019-12345".into()));
    }

    /// Published in alpine-secdb v3.11 (dia, rsync): before, these CVEs were dropped.
    #[test]
    fn patch_file_suffixes_are_dropped() {
        let ids = normalise([
            "CVE-2019-19451.patch",
            "CVE-2017-17434-1",
            "CVE-2017-17434-2",
        ]);
        assert_eq!(ids.cves, ["CVE-2017-17434", "CVE-2019-19451"]);
        assert!(ids.others.is_empty());
        for not_an_id in [
            "CVE-2019-1234.5",
            "CVE-2019-12345-678",
            "CVE-2019-12345-",
            "CVE-2019-12345x",
            "CVE-????-?????",
        ] {
            assert_eq!(cve(not_an_id), None, "{not_an_id}");
        }
    }

    #[test]
    fn duplicates_collapse() {
        let ids = normalise(["CVE-2020-0001 CVE_2020-0001", "CVE 2020-0001"]);
        assert_eq!(ids.cves, ["CVE-2020-0001"]);
    }
}
