//! What must hold before a job's tool may change the host, done once per job: the job's
//! first record durable (`admission.rs`), what a rollback of it needs saved, its progress at
//! "saved". The worker opens it before the mutation; for a backend whose tool takes its own
//! lock before it changes anything ([`PackageManager::starts_held`]: apk), the runner opens
//! it with the tool already started and held at that lock ([`crate::pkg::runner::run_held`]),
//! so that the tool's start-up runs beside the record's flush. Either way nothing is saved,
//! published or changed before the record is on disk.

use std::cell::RefCell;

use super::admission::NotAdmitted;
use super::*;
use crate::pkg::runner::StartGate;

/// Why a job's tool may not go on.
pub(super) enum Shut {
    /// The first record was not written: the job ends as [`NotAdmitted::outcome`] says.
    NotAdmitted(NotAdmitted),
    /// Saving for a rollback was stopped (a cancel or the deadline): the job's error.
    Save(PkgError),
}

enum State {
    Closed,
    Open,
    /// Shut, with the reason until [`Opening::open_or_shut`] hands it out.
    Shut(Option<Shut>),
}

/// One job's opening: its steps (`Engine::open_job`), run once.
pub(super) struct Opening<'a> {
    steps: &'a dyn Fn() -> Result<(), Shut>,
    state: RefCell<State>,
}

impl<'a> Opening<'a> {
    /// An opening of `steps`, not yet run.
    pub(super) fn new(steps: &'a dyn Fn() -> Result<(), Shut>) -> Opening<'a> {
        Opening {
            steps,
            state: RefCell::new(State::Closed),
        }
    }

    /// Opens it now unless that was done; why it is shut, once, when it is.
    pub(super) fn open_or_shut(&self) -> Option<Shut> {
        if self.open() {
            return None;
        }
        match &mut *self.state.borrow_mut() {
            State::Shut(why) => why.take(),
            State::Closed | State::Open => None,
        }
    }
}

impl StartGate for Opening<'_> {
    fn open(&self) -> bool {
        match &*self.state.borrow() {
            State::Open => return true,
            State::Shut(_) => return false,
            State::Closed => {}
        }
        let next = match (self.steps)() {
            Ok(()) => State::Open,
            Err(why) => State::Shut(Some(why)),
        };
        let open = matches!(next, State::Open);
        *self.state.borrow_mut() = next;
        open
    }
}

impl Engine {
    /// Whether `id`'s first record is still being written (it started at admission).
    pub(super) fn admission_pending(&self, id: &Uuid) -> bool {
        self.table().get(id).is_some_and(|e| e.admission.is_some())
    }
}
