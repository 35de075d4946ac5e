//! Enrollment: identity (being implemented).
