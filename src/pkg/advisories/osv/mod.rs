//! Ubuntu and Debian advisories from OSV records (https://ossf.github.io/osv-schema).
//!
//! Ubuntu publishes its security notices (USN) and per-CVE records (`UBUNTU-CVE-*`) as OSV
//! JSON; OSV.dev publishes every ecosystem's records as one archive,
//! `https://osv-vulnerabilities.storage.googleapis.com/<ECOSYSTEM>/all.zip`, which also
//! carries Debian's DSA/DLA notices. This module reads such an archive (streamed entry by
//! entry), a directory of records or one record ([`load`]), keeps the records that name
//! the host's release ([`HostEcosystem`]) in an [`OsvIndex`], and turns the index into
//! patches for apt's upgrades ([`patches`]). Tolerant: a malformed record is skipped and
//! counted in the [`ParseReport`](super::report::ParseReport), never costing the feed.

pub mod archive;
pub mod ecosystem;
pub mod index;
pub mod inflate;
pub mod patches;
pub mod record;

pub use archive::{
    load, load_archive, load_dir, load_record, record_files, validate_archive, OsvError,
    ENTRY_LIMIT,
};
pub use ecosystem::{ubuntu_pro_enabled, Distro, HostEcosystem};
pub use index::{Notice, OsvFix, OsvIndex};
pub use patches::{patches, HostUpgrade, OsvPatches};

/// `severity_source` of patches from Ubuntu's OSV records.
pub const UBUNTU_SOURCE: &str = "ubuntu-osv";

/// `severity_source` of patches from Debian's OSV records.
pub const DEBIAN_SOURCE: &str = "debian-osv";

/// The OSV.dev archive of every record of a distribution.
pub fn archive_url(distro: Distro) -> String {
    format!(
        "https://osv-vulnerabilities.storage.googleapis.com/{}/all.zip",
        distro.osv_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_urls_name_the_ecosystem() {
        assert_eq!(
            archive_url(Distro::Ubuntu),
            "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip"
        );
        assert!(archive_url(Distro::Debian).ends_with("/Debian/all.zip"));
    }
}
