//! Everything that changes the host runs as a job: persisted, logged, cancellable, timed
//! out, and undoable from the changes it really made.

pub mod batch_times;
pub mod engine;
pub mod events;
pub mod model;
pub mod rollback;
pub mod spares;
pub mod store;
pub mod summary;

pub use engine::{BatchForecast, CancelOutcome, Engine, EngineError, EngineSettings, JobTally};
pub use model::{
    BudgetReport, Change, Job, JobError, JobRequest, JobResult, JobStatus, LogLine, NotAttempted,
    NotAttemptedReason, NotRestorable, Operation,
};
pub use summary::JobSummary;
