//! What package holds mean to a job: a patch run (by id, by name, or update-all) leaves
//! the held packages out and lists them in `result.skipped_held`; an install, update or
//! removal naming a held package is refused (`PKG_HELD`), at submission and again once the
//! job holds the transaction (a hold may have been set while it waited). The backend is
//! asked directly ([`PackageManager::held_among`]), not the inventory's kept set, since the
//! answer decides what the tool is told to change.

use super::*;

impl Engine {
    /// `Err(Held)` for the first held package an install, update or removal names.
    pub(super) fn refuse_held(&self, request: &JobRequest) -> Result<(), PkgError> {
        let names = match request {
            JobRequest::Install { .. } | JobRequest::Update { .. } | JobRequest::Remove { .. } => {
                request.package_names()
            }
            _ => return Ok(()),
        };
        match self
            .inventory
            .backend()
            .held_among(&names)?
            .into_iter()
            .next()
        {
            Some(name) => Err(PkgError::Held(name)),
            None => Ok(()),
        }
    }

    /// For a patch job: the request with its held packages added to the exclusions (`None`
    /// when none is held, or for other jobs), and the held names, sorted.
    pub(super) fn skip_held(
        &self,
        id: &Uuid,
        request: &JobRequest,
    ) -> Result<(Option<JobRequest>, Vec<String>), PkgError> {
        let JobRequest::PatchApply {
            patches,
            exclude,
            reboot,
            reboot_delay_seconds,
            max_duration_minutes,
        } = request
        else {
            return Ok((None, Vec::new()));
        };
        let mut held = self
            .inventory
            .backend()
            .held_among(&request.package_names())?;
        if held.is_empty() {
            return Ok((None, held));
        }
        held.sort();
        self.note(
            id,
            "info",
            format!("skipping held packages: {}", held.join(", ")),
        );
        let mut exclude = exclude.clone();
        exclude.extend(held.iter().cloned());
        let adjusted = JobRequest::PatchApply {
            patches: patches.clone(),
            exclude,
            reboot: *reboot,
            reboot_delay_seconds: *reboot_delay_seconds,
            max_duration_minutes: *max_duration_minutes,
        };
        Ok((Some(adjusted), held))
    }
}
