//! Enrollment: state (being implemented).
