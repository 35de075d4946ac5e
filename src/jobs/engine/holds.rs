//! What package holds mean to a job: a patch run (by id, by name, or update-all) leaves
//! the held packages out and lists them in `result.skipped_held`; an install, update or
//! removal naming a held package is refused (`PKG_HELD`), at submission and again once the
//! job holds the transaction (a hold may have been set while it waited). The backend is
//! asked directly ([`PackageManager::held_among`]), not the inventory's kept set, since the
//! answer decides what the tool is told to change. A dry run asks the same functions, so
//! its `skipped` list is what the real run would put in `skipped_held`.

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
    /// when none is held, or for other jobs), and the held names, sorted; noted in the log.
    pub(super) fn skip_held(
        &self,
        id: &Uuid,
        request: &JobRequest,
    ) -> Result<(Option<JobRequest>, Vec<String>), PkgError> {
        let (adjusted, held) = self.held_exclusions(request)?;
        if !held.is_empty() {
            self.note(
                id,
                "info",
                format!("skipping held packages: {}", held.join(", ")),
            );
        }
        Ok((adjusted, held))
    }

    /// What a patch run leaves out because it is held: the request with the held packages
    /// added to its exclusions (`None` when none is held, or for other requests) and their
    /// names, sorted. The one answer of the real job ([`Engine::skip_held`]) and its dry run.
    pub(super) fn held_exclusions(
        &self,
        request: &JobRequest,
    ) -> Result<(Option<JobRequest>, Vec<String>), PkgError> {
        if !matches!(request, JobRequest::PatchApply { .. }) {
            return Ok((None, Vec::new()));
        }
        let mut held = self
            .inventory
            .backend()
            .held_among(&request.package_names())?;
        if held.is_empty() {
            return Ok((None, held));
        }
        held.sort();
        let mut adjusted = request.clone();
        if let JobRequest::PatchApply { exclude, .. } = &mut adjusted {
            exclude.extend(held.iter().cloned());
        }
        Ok((Some(adjusted), held))
    }
}
