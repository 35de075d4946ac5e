//! Fan-out of job events to WebSocket sessions (and anything else that listens).
//!
//! Publishing never waits: each subscriber has a bounded buffer, and a subscriber whose
//! buffer is full is dropped (its session then closes), so a slow reader cannot hold up the
//! job engine.

use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::model::{Job, JobStatus};

/// One change of one job, as sent to subscribers: the job's state after it. The API renders
/// it (`api/wire/jobs.rs`); the hub only carries it.
#[derive(Clone, Debug)]
pub struct JobEvent {
    /// The job after the change, without its log lines. Shared: every subscriber's copy of
    /// the event points at the one snapshot instead of copying it.
    pub job: Arc<Job>,
    /// The job's output (the end of its log, see [`Job::output`]); set on its last event,
    /// whose frame carries it.
    pub output: Option<Arc<str>>,
}

impl JobEvent {
    /// The event of `job`'s current state: on a final status it carries the output too.
    pub fn of(job: &Job) -> JobEvent {
        let output = job.status.is_terminal().then(|| Arc::from(job.output()));
        JobEvent {
            job: Arc::new(job.without_logs()),
            output,
        }
    }

    /// The job it is about.
    pub fn job_id(&self) -> uuid::Uuid {
        self.job.id
    }

    /// The job's status after the change.
    pub fn status(&self) -> JobStatus {
        self.job.status
    }

    /// True when the job reached a final status (this is its last event).
    pub fn is_terminal(&self) -> bool {
        self.job.status.is_terminal()
    }
}

/// A subscriber's end: events arrive on `receiver` until it is dropped or overflows.
///
/// Dropping it leaves the hub at once. Waiting for the next publish to notice would keep
/// every ended WebSocket session's buffer allocated while no job runs.
pub struct Subscription {
    /// Where events arrive. Disconnected when the hub dropped this subscriber.
    pub receiver: Receiver<JobEvent>,
    hub: Weak<Mutex<Subscribers>>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            let mut subs = hub.lock().unwrap_or_else(|e| e.into_inner());
            subs.list.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The live subscribers, each under the id its [`Subscription`] removes it by.
#[derive(Default)]
struct Subscribers {
    next_id: u64,
    list: Vec<(u64, Sender<JobEvent>)>,
}

/// The hub every job event goes through.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Arc<Mutex<Subscribers>>,
}

impl Events {
    /// A hub with no subscribers.
    pub fn new() -> Events {
        Events::default()
    }

    /// Subscribes with a buffer of `capacity` events.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let mut subs = self.lock();
        let id = subs.next_id;
        subs.next_id += 1;
        subs.list.push((id, tx));
        Subscription {
            receiver: rx,
            hub: Arc::downgrade(&self.subscribers),
            id,
        }
    }

    /// Sends an event to every subscriber without waiting; full or gone subscribers are
    /// dropped.
    pub fn publish(&self, event: &JobEvent) {
        self.lock()
            .list
            .retain(|(_, tx)| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    log::warn!("a job event subscriber fell behind; dropping it");
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// How many subscribers are attached.
    pub fn subscriber_count(&self) -> usize {
        self.lock().list.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        // The vector is valid whatever a panicking holder did to it.
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::JobRequest;
    use crate::pkg::RemoveOptions;
    use time::OffsetDateTime;

    fn event(n: u8) -> JobEvent {
        let request = JobRequest::Remove {
            name: "a".into(),
            options: RemoveOptions::default(),
        };
        let mut job = Job::new(uuid::Uuid::nil(), request, OffsetDateTime::now_utc());
        job.status = JobStatus::Running;
        job.progress_percent = n;
        JobEvent::of(&job)
    }

    #[test]
    fn an_event_carries_the_job_without_its_log_and_the_output_only_at_the_end() {
        let mut running = Job::new(
            uuid::Uuid::new_v4(),
            JobRequest::Remove {
                name: "a".into(),
                options: RemoveOptions::default(),
            },
            OffsetDateTime::now_utc(),
        );
        running.status = JobStatus::Running;
        running.note("info", "removing a");
        let e = JobEvent::of(&running);
        assert!(e.job.logs.is_empty() && e.output.is_none() && !e.is_terminal());
        assert_eq!((e.job_id(), e.status()), (running.id, JobStatus::Running));
        assert_eq!(e.job.log_bytes, running.log_bytes);
        running.status = JobStatus::Failed;
        let last = JobEvent::of(&running);
        assert!(last.is_terminal());
        assert_eq!(last.output.as_deref(), Some("removing a"));
    }

    #[test]
    fn every_subscriber_gets_every_event_in_order() {
        let hub = Events::new();
        let a = hub.subscribe(8);
        let b = hub.subscribe(8);
        for n in 0..3 {
            hub.publish(&event(n));
        }
        for s in [&a, &b] {
            let got: Vec<u8> = s
                .receiver
                .try_iter()
                .map(|e| e.job.progress_percent)
                .collect();
            assert_eq!(got, [0, 1, 2]);
        }
    }

    #[test]
    fn a_full_subscriber_is_dropped_without_blocking_the_publisher() {
        let hub = Events::new();
        let slow = hub.subscribe(2);
        let fast = hub.subscribe(16);
        for n in 0..5 {
            hub.publish(&event(n));
            let _ = fast.receiver.try_recv();
        }
        assert_eq!(hub.subscriber_count(), 1, "the slow one was dropped");
        let got: Vec<u8> = slow
            .receiver
            .try_iter()
            .map(|e| e.job.progress_percent)
            .collect();
        assert_eq!(got, [0, 1], "it keeps what it had buffered");
        assert!(slow.receiver.recv().is_err(), "then sees the disconnect");
    }

    #[test]
    fn a_dropped_subscription_is_forgotten() {
        let hub = Events::new();
        let kept = hub.subscribe(1);
        drop(hub.subscribe(1));
        // Forgotten at once, not at the next publish.
        assert_eq!(hub.subscriber_count(), 1);
        hub.publish(&event(1));
        assert_eq!(
            kept.receiver.try_recv().map(|e| e.job.progress_percent),
            Ok(1)
        );
        drop(kept);
        assert_eq!(hub.subscriber_count(), 0);
        // A subscription outliving its hub drops quietly.
        let orphan = Events::new().subscribe(1);
        assert!(orphan.receiver.try_recv().is_err());
    }
}
