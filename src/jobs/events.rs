//! Fan-out of job events to WebSocket sessions (and anything else that listens).
//!
//! Publishing never waits: each subscriber has a bounded buffer, and a subscriber whose
//! buffer is full is dropped (its session then closes), so a slow reader cannot hold up the
//! job engine.

use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde_json::Value;

/// One change of one job, as sent to subscribers.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEvent {
    /// The job.
    pub job_id: uuid::Uuid,
    /// Its status after the change (`pending`, `running`, `completed`, ...).
    pub status: String,
    /// Its progress after the change, 0-100.
    pub progress_percent: u8,
    /// True when the job reached a final status (this is its last event).
    pub terminal: bool,
    /// The job status object (`job_status` frames) or, when terminal, the result object
    /// (`job_complete` frames), as the API renders it.
    pub payload: Value,
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

    fn event(n: u8) -> JobEvent {
        JobEvent {
            job_id: uuid::Uuid::nil(),
            status: "running".into(),
            progress_percent: n,
            terminal: false,
            payload: Value::Null,
        }
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
            let got: Vec<u8> = s.receiver.try_iter().map(|e| e.progress_percent).collect();
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
            .map(|e| e.progress_percent)
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
        assert_eq!(kept.receiver.try_recv().map(|e| e.progress_percent), Ok(1));
        drop(kept);
        assert_eq!(hub.subscriber_count(), 0);
        // A subscription outliving its hub drops quietly.
        let orphan = Events::new().subscribe(1);
        assert!(orphan.receiver.try_recv().is_err());
    }
}
