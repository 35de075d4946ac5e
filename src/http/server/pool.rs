//! The connection threads: started on demand up to a limit, idle ones exit, each serving
//! handshaken connections taken from a bounded queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::super::conn::{serve_handshaken, ConnSettings};
use super::super::handshake::Established;
use super::super::trust::{ConnBounds, Trust};
use super::super::ws::Sessions;
use super::super::Service;
use super::{ConfigSource, Limits};

/// Idle connection threads exit after this long without work.
pub(super) const WORKER_IDLE_EXIT: Duration = Duration::from_secs(30);

/// Stack size of connection threads: request handling is shallow, and idle pools stay small.
const WORKER_STACK: usize = 512 * 1024;

/// A handshaken connection waiting for a thread.
pub(super) type Job = Established;

/// Thread accounting; `idle` is threads waiting for work minus jobs queued (negative =
/// jobs waiting for a busy thread to come free).
#[derive(Debug, Default)]
pub(super) struct PoolState {
    pub(super) threads: usize,
    pub(super) idle: isize,
}

/// The connection threads and what they share.
pub(super) struct Pool {
    pub(super) jobs: Receiver<Job>,
    pub(super) state: Mutex<PoolState>,
    /// Accepted connections not yet finished (queued + serving).
    pub(super) in_flight: Mutex<usize>,
    pub(super) drained: Condvar,
    pub(super) stop: AtomicBool,
    pub(super) config: Arc<dyn ConfigSource>,
    pub(super) service: Arc<dyn Service>,
    pub(super) limits: Limits,
    pub(super) bounds: ConnBounds,
    /// Where live connections are re-checked after a reload.
    pub(super) trust: Arc<Trust>,
    pub(super) unauthenticated_path: String,
    pub(super) max_threads: usize,
    pub(super) max_connections: usize,
    pub(super) idle_exit: Duration,
    /// Upgraded connections: counted apart from `in_flight`, they hold no pool thread.
    pub(super) sessions: Arc<Sessions>,
}

/// Locks a mutex, recovering from poisoning: the counters stay meaningful after a panic.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Releases one in-flight slot when a job is done, even if serving it panicked.
pub(super) struct InFlight<'a>(pub(super) &'a Pool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut n = lock(&self.0.in_flight);
        *n = n.saturating_sub(1);
        self.0.drained.notify_all();
    }
}

impl Pool {
    /// Takes an in-flight slot unless the server is full.
    pub(super) fn admit(&self) -> bool {
        let mut n = lock(&self.in_flight);
        if *n >= self.max_connections {
            return false;
        }
        *n += 1;
        true
    }

    /// Queues an admitted connection, starting a thread when none is free.
    pub(super) fn dispatch(self: &Arc<Self>, tx: &Sender<Job>, job: Job) {
        let mut state = lock(&self.state);
        if let Err(e) = tx.try_send(job) {
            let job = match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            };
            log::debug!("{}: queue full, closing", job.peer);
            drop(state);
            drop(InFlight(self));
            return;
        }
        state.idle -= 1;
        if state.idle < 0 && state.threads < self.max_threads {
            state.threads += 1;
            state.idle += 1;
            if let Err(e) = self.spawn_worker() {
                log::warn!("cannot start a connection thread: {e}");
                state.threads -= 1;
                state.idle -= 1;
                if state.threads == 0 {
                    // Nobody would ever take it: close it rather than leave it queued.
                    drop(state);
                    self.drop_one_queued();
                }
            }
        }
    }

    fn drop_one_queued(&self) {
        if let Ok(job) = self.jobs.try_recv() {
            log::debug!("{}: no thread available, closing", job.peer);
            let mut state = lock(&self.state);
            state.idle += 1;
            drop(state);
            drop(InFlight(self));
        }
    }

    fn spawn_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let pool = Arc::clone(self);
        thread::Builder::new()
            .name("http-conn".into())
            .stack_size(WORKER_STACK)
            .spawn(move || pool.work())
            .map(|_| ())
    }

    /// A connection thread: serves jobs until idle for too long or the queue closes.
    fn work(&self) {
        loop {
            match self.jobs.recv_timeout(self.idle_exit) {
                Ok(job) => {
                    self.serve(job);
                    lock(&self.state).idle += 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut state = lock(&self.state);
                    // idle == 0 means a job was queued for this very thread: stay.
                    if state.idle > 0 {
                        state.idle -= 1;
                        state.threads -= 1;
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let mut state = lock(&self.state);
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
    }

    fn serve(&self, job: Job) {
        let _slot = InFlight(self);
        if self.stop.load(Ordering::SeqCst) {
            log::debug!("{}: server stopping, closing queued connection", job.peer);
            return;
        }
        let settings = ConnSettings {
            limits: &self.limits,
            unauthenticated_path: &self.unauthenticated_path,
            service: &*self.service,
            stop: &self.stop,
            sessions: Some(&self.sessions),
            bounds: self.bounds,
            trust: Some(&self.trust),
        };
        serve_handshaken(job.conn, job.tcp, job.peer, job.checked_at, &settings);
    }

    /// Waits until no connection is in flight, or `grace` passes; true when drained.
    pub(super) fn wait_drained(&self, grace: Duration) -> bool {
        let n = lock(&self.in_flight);
        match self.drained.wait_timeout_while(n, grace, |n| *n > 0) {
            Ok((n, _)) => *n == 0,
            Err(poisoned) => *poisoned.into_inner().0 == 0,
        }
    }
}
