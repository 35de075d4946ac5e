//! Which client's shape the answers take: the specification's, or the central Patch
//! Manager's (INTEROP.md). The job engine and the package layer know one shape only; the
//! handlers translate here, right before rendering.
//!
//! The manager's shape differs from the specification's in three places:
//! - `GET /api/v1/system/info`: `os` and `kernel` are strings, not objects;
//! - `GET /api/v1/packages` and `GET /api/v1/patches` without `limit` return every match
//!   (the manager never pages); an explicit `limit` keeps its meaning;
//! - a job whose status is `timeout` is reported as `failed` with `error_code`
//!   `JOB_TIMEOUT` (the manager does not know `timeout`).

use super::router::{Page, DEFAULT_LIMIT};
use crate::error_code::ErrorCode;

/// The error code a timed-out job carries in the manager's shape.
pub const TIMEOUT_CODE: &str = ErrorCode::JobTimeout.as_str();

/// The shape of the answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientShape {
    /// The API specification's shape.
    #[default]
    Specification,
    /// The central Patch Manager's shape (`compat.patch_manager` in effect).
    PatchManager,
}

impl ClientShape {
    /// The shape for a decided `compat.patch_manager` (true = the manager's).
    pub fn from_patch_manager(on: bool) -> ClientShape {
        if on {
            ClientShape::PatchManager
        } else {
            ClientShape::Specification
        }
    }

    /// True for the manager's shape.
    pub fn is_patch_manager(self) -> bool {
        self == ClientShape::PatchManager
    }

    /// How many list entries a page holds: the request's `limit`, else the default 100 in
    /// the specification's shape and no bound at all in the manager's.
    pub fn page_size(self, page: &Page) -> Option<u32> {
        match (page.limit, self) {
            (Some(limit), _) => Some(limit),
            (None, ClientShape::Specification) => Some(DEFAULT_LIMIT),
            (None, ClientShape::PatchManager) => None,
        }
    }

    /// A job status as this shape spells it: `timeout` becomes `failed` for the manager.
    pub fn job_status(self, status: &str) -> &str {
        match (self, status) {
            (ClientShape::PatchManager, "timeout") => "failed",
            _ => status,
        }
    }
}

/// The number of entries to take from a list: `size` or all of them.
pub fn take_count(size: Option<u32>) -> usize {
    size.map_or(usize::MAX, |n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ClientShape = ClientShape::Specification;
    const MANAGER: ClientShape = ClientShape::PatchManager;

    #[test]
    fn only_the_manager_goes_without_a_default_page() {
        let none = Page {
            limit: None,
            offset: 0,
        };
        let fifty = Page {
            limit: Some(50),
            offset: 0,
        };
        assert_eq!(SPEC.page_size(&none), Some(100));
        assert_eq!(MANAGER.page_size(&none), None);
        assert_eq!(SPEC.page_size(&fifty), Some(50));
        assert_eq!(MANAGER.page_size(&fifty), Some(50));
        assert_eq!(take_count(None), usize::MAX);
        assert_eq!(take_count(Some(50)), 50);
    }

    #[test]
    fn timed_out_jobs_are_failed_for_the_manager_only() {
        assert_eq!(MANAGER.job_status("timeout"), "failed");
        assert_eq!(SPEC.job_status("timeout"), "timeout");
        assert_eq!(MANAGER.job_status("running"), "running");
    }

    #[test]
    fn the_decision_maps_to_a_shape() {
        assert_eq!(ClientShape::from_patch_manager(true), MANAGER);
        assert_eq!(ClientShape::from_patch_manager(false), SPEC);
        assert_eq!(ClientShape::default(), SPEC);
    }
}
