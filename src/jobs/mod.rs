//! Everything that changes the host runs as a job: persisted, logged, cancellable, timed
//! out, and undoable from the changes it really made.

pub mod events;
