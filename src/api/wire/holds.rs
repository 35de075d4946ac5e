//! `/api/v1/packages/holds` and `/api/v1/packages/{name}/hold` bodies: the held packages,
//! and one package's hold state after a change.

use serde::Serialize;

use crate::pkg::InstalledPackage;

/// One held package: its name as the tool's hold list names it (a zypper lock may be a
/// glob), and the installed version, null when nothing by that name is installed.
#[derive(Debug, Serialize)]
pub struct HoldEntry<'a> {
    name: &'a str,
    version: Option<&'a str>,
}

/// `GET /api/v1/packages/holds`: every hold, sorted by name, and the backend.
#[derive(Debug, Serialize)]
pub struct HoldList<'a> {
    holds: Vec<HoldEntry<'a>>,
    package_manager: &'static str,
    total: usize,
}

impl<'a> HoldList<'a> {
    /// The `held` names (sorted), with their versions from `installed`.
    pub fn new(
        held: &'a [String],
        installed: &'a [InstalledPackage],
        package_manager: &'static str,
    ) -> HoldList<'a> {
        let holds: Vec<HoldEntry<'a>> = held
            .iter()
            .map(|name| HoldEntry {
                name,
                version: version_of(installed, name),
            })
            .collect();
        HoldList {
            total: holds.len(),
            holds,
            package_manager,
        }
    }
}

/// `PUT` / `DELETE /api/v1/packages/{name}/hold`: the package's hold state now.
#[derive(Debug, Serialize)]
pub struct HoldState<'a> {
    held: bool,
    name: &'a str,
    version: Option<&'a str>,
}

impl<'a> HoldState<'a> {
    /// `name`, held or not, with its installed version from `installed`.
    pub fn new(name: &'a str, held: bool, installed: &'a [InstalledPackage]) -> HoldState<'a> {
        HoldState {
            held,
            name,
            version: version_of(installed, name),
        }
    }
}

fn version_of<'a>(installed: &'a [InstalledPackage], name: &str) -> Option<&'a str> {
    installed
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.version.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;

    fn pkg(name: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: None,
            description: String::new(),
            size_bytes: None,
            installed_at: None,
            maintainer: None,
            depends: vec![],
        }
    }

    #[test]
    fn the_hold_list_names_versions_and_counts() {
        let installed = [pkg("lpa-hello", "1.0-1"), pkg("lpa-lib", "1.0-1")];
        let held = ["lpa-hello".to_string(), "lpa-gone".to_string()];
        let v = assert_sorted_bytes(&HoldList::new(&held, &installed, "apt"));
        assert_eq!(
            v.to_string(),
            r#"{"holds":[{"name":"lpa-hello","version":"1.0-1"},{"name":"lpa-gone","version":null}],"package_manager":"apt","total":2}"#
        );
    }

    #[test]
    fn the_hold_state_says_held_and_the_version() {
        let installed = [pkg("lpa-hello", "1.0-1")];
        let v = assert_sorted_bytes(&HoldState::new("lpa-hello", true, &installed));
        assert_eq!(
            v.to_string(),
            r#"{"held":true,"name":"lpa-hello","version":"1.0-1"}"#
        );
        let v = assert_sorted_bytes(&HoldState::new("nope", false, &installed));
        assert_eq!(v["version"], serde_json::Value::Null);
        assert_eq!(v["held"], false);
    }
}
