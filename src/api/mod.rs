//! The REST surface: routing, envelope, handlers. Handlers translate; they hold no logic.
