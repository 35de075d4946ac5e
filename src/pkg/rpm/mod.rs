//! The rpm family's shared code: what the dnf, yum and zypper backends all use, so that
//! `dnf/` and `zypper/` import from here and never from each other.
//!
//! Files: [`rpmdb`] (queries of the rpm database all three install into), [`updateinfo`]
//! (rpm-md advisories and the kernel-based reboot check), [`nevra`] (splitting
//! `name-[E:]V-R.arch`), [`memo`] (the installed set kept until the database changes), [`apply`] (the end of a patch application),
//! [`repos`] + [`primary`] (what the enabled repositories offer, from the metadata files). rpm's version ordering
//! is [`crate::pkg::version::rpm`], shared with every family.

pub mod apply;
pub mod memo;
pub mod nevra;
pub mod primary;
pub mod repos;
pub mod rpmdb;
pub mod updateinfo;

pub use apply::finish_apply;
pub use nevra::split_nevra;
