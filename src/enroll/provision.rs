//! Enrollment: provision (being implemented).
