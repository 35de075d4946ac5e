//! Placeholder: engineer X's cases for the recorded updateinfo files replace this module
//! when the branches are merged.

/// `(file under recorded/advisories, the check of its parse)`.
pub const CASES: &[(&str, fn())] = &[];
