//! Which apt origins are security archives: shared by the apt backend (its security
//! classification) and the Debian/Ubuntu feeds (which fall back on it), so neither imports
//! the other.

/// Whether one origin (as apt prints it: `Label:Suite` or `Label:Version/Suite`) is a
/// security archive: Debian's `Debian-Security` label, or any `*-security` suite / pocket
/// (Debian `bookworm-security`, Ubuntu `jammy-security`, Ubuntu Pro `*-infra-security`,
/// `*-apps-security`). An upgrade is a security update when ANY of its origins is one.
pub fn is_security_origin(origin: &str) -> bool {
    let (label, rest) = origin.split_once(':').unwrap_or((origin, ""));
    let suite = rest.rsplit('/').next().unwrap_or(rest).trim();
    // The label also covers Debian <= 10, whose security suite was `buster/updates`.
    label.trim().eq_ignore_ascii_case("Debian-Security")
        || suite.to_ascii_lowercase().ends_with("-security")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_origins() {
        for o in [
            "Debian-Security:bookworm-security",
            "Debian-Security:12/stable-security",
            "Ubuntu:22.04/jammy-security",
            "UbuntuESM:22.04/jammy-infra-security",
            "Debian-Security:10/oldoldstable",
            "debian-security:x",
        ] {
            assert!(is_security_origin(o), "{o}");
        }
        for o in [
            "LPA:lpa-stable",
            "Debian:12.5/stable",
            "Ubuntu:22.04/jammy-updates",
            "LPA-Updates:1.0/lpa-updates",
            "security",
            "",
        ] {
            assert!(!is_security_origin(o), "{o}");
        }
    }
}
