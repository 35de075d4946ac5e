//! Command-line arguments (lexopt).
