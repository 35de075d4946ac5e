//! The wire format: a `Serialize` struct for every body the API answers with, built by the
//! handlers from domain values. Fields are declared in alphabetical order, the order the
//! answers had when they were `serde_json::Value` maps (sorted keys), so the bytes stay the same.

pub mod dry_run;
pub mod envelope;
pub mod health;
pub mod holds;
pub mod jobs;
pub mod packages;
pub mod patches;
pub mod policy;
pub mod restart;
pub mod system;
