//! Enrollment: client (being implemented).
