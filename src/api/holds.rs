//! `/api/v1/packages/holds` and `/api/v1/packages/{name}/hold`: the packages the package
//! manager's own hold mechanism keeps back, and setting or releasing one.
//!
//! A hold change is a quick edit of the tool's hold list, answered synchronously with the
//! new state, but it runs only while no package transaction runs (it takes the job engine's
//! transaction, as a metadata refresh does): it never races a dpkg or rpm run. A job that
//! keeps the transaction past [`HOLD_WAIT`] makes it `409 PKG_TRANSACTION_BUSY`.

use std::time::Duration;

use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::packages::need;
use super::wire::holds::{HoldList, HoldState};
use crate::jobs::Engine;
use crate::pkg::holds::covers;
use crate::pkg::inventory::Inventory;
use crate::pkg::refresh::TransactionGate;
use crate::pkg::PkgError;

/// How long a hold change waits for a running package transaction to end.
pub const HOLD_WAIT: Duration = Duration::from_secs(10);

/// `GET /api/v1/packages/holds`.
pub fn list_holds(inventory: Option<&Inventory>) -> Result<Reply, ApiError> {
    let inventory = need(inventory)?;
    let held = inventory.holds().map_err(pkg_error)?;
    let installed = inventory.installed().map_err(pkg_error)?;
    let kind = inventory.backend().kind().name();
    Ok(Reply::ok(HoldList::new(&held, &installed, kind)))
}

/// `PUT` (`hold: true`) or `DELETE` (`hold: false`) `/api/v1/packages/{name}/hold`.
/// Idempotent: holding a held package, or releasing one that is not held, is `200` with the
/// state. A name neither installed, nor offered by the repositories, nor held is `404`.
pub fn set_hold(
    inventory: Option<&Inventory>,
    engine: Option<&Engine>,
    name: &str,
    hold: bool,
) -> Result<Reply, ApiError> {
    let inventory = need(inventory)?;
    let engine = super::jobs::need(engine)?;
    let backend = inventory.backend();
    backend.validate_name(name).map_err(pkg_error)?;
    known(inventory, name)?;
    let mut outcome: Option<Result<(), PkgError>> = None;
    let ran = engine.exclusive(HOLD_WAIT, &mut || {
        outcome = Some(if hold {
            backend.hold(name)
        } else {
            backend.unhold(name)
        });
    });
    if !ran {
        return Err(ApiError::PkgTransactionBusy(format!(
            "a package job kept the package transaction for {} s; try the hold change again when it has finished",
            HOLD_WAIT.as_secs()
        )));
    }
    let changed = outcome.unwrap_or_else(|| {
        Err(PkgError::Unsupported(
            "the hold change did not run".to_string(),
        ))
    });
    // Whatever happened, the next read asks the tool again.
    inventory.invalidate_holds();
    changed.map_err(pkg_error)?;
    let now = inventory.holds().map_err(pkg_error)?;
    let held = now.iter().any(|h| covers(h, name));
    if held != hold {
        // The tool accepted the change but its own list says otherwise: a glob lock still
        // covers the name, or a hold in a file the agent does not edit.
        let by: Vec<&str> = now
            .iter()
            .filter(|h| covers(h, name))
            .map(String::as_str)
            .collect();
        return Err(ApiError::PkgManagerError(format!(
            "{name}: the hold list still says held={held} after the change (held by: {})",
            by.join(", ")
        )));
    }
    let installed = inventory.installed().map_err(pkg_error)?;
    Ok(Reply::ok(HoldState::new(name, held, &installed)))
}

/// `404 PKG_NOT_FOUND` for a name that is neither installed, held, nor offered.
fn known(inventory: &Inventory, name: &str) -> Result<(), ApiError> {
    let installed = inventory.installed().map_err(pkg_error)?;
    if installed.iter().any(|p| p.name == name) {
        return Ok(());
    }
    let held = inventory.holds().map_err(pkg_error)?;
    if held.iter().any(|h| h == name) {
        return Ok(());
    }
    let offered = inventory
        .backend()
        .available_versions(name)
        .map_err(pkg_error)?;
    if offered.is_empty() {
        return Err(ApiError::PkgNotFound(name.to_string()));
    }
    Ok(())
}
