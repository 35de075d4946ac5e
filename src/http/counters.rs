//! Responses written since the process started, by status class (`2xx` ... `5xx`): the
//! request counters of `GET /metrics`. Counted where every response is written
//! (`response::write_response`), so routed answers, protocol errors and refusals all count;
//! a request left unanswered (a connection closed without a response) does not.

use std::sync::atomic::{AtomicU64, Ordering};

/// The status classes counted, in the order [`snapshot`] lists them.
pub const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Responses per class, process-wide: one agent serves one listener.
static COUNTS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// The index in [`CLASSES`] of a status; none for 1xx and anything outside 200-599.
fn class(status: u16) -> Option<usize> {
    match status {
        200..=599 => Some(usize::from(status / 100 - 2)),
        _ => None,
    }
}

/// Counts one response with `status`.
pub fn count(status: u16) {
    if let Some(i) = class(status) {
        COUNTS[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Every class with its count so far.
pub fn snapshot() -> [(&'static str, u64); 4] {
    std::array::from_fn(|i| (CLASSES[i], COUNTS[i].load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(class(200), Some(0));
        assert_eq!(class(204), Some(0));
        assert_eq!(class(304), Some(1));
        assert_eq!(class(429), Some(2));
        assert_eq!(class(503), Some(3));
        assert_eq!(class(101), None);
        assert_eq!(class(600), None);
        // Other tests count too (the counters are process-wide): only growth is certain.
        let before = snapshot();
        count(418);
        count(101);
        let after = snapshot();
        assert!(after[2].1 > before[2].1);
        assert_eq!(after[2].0, "4xx");
    }
}
