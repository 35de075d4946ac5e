//! apt-get's simulation output (`-s`): the `Inst`, `Conf`, `Remv` and `Purg` lines.
//!
//! Their shape (apt 2.6, `pkgSimulate::Describe`):
//! `Inst NAME[:ARCH] [OLD] (NEW ORIGIN[, ORIGIN...] [ARCH]) [BROKEN...]`, where each ORIGIN is
//! `Label:Suite` or `Label:Version/Suite` of one Release file publishing the candidate;
//! `[OLD]` is absent for packages newly installed; `Remv NAME [OLD]`.

/// One action line of a simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimAction {
    /// Unpack a version (upgrade when `old` is set, new install otherwise).
    Inst(SimPackage),
    /// Configure a version.
    Conf(SimPackage),
    /// Remove (keep conffiles).
    Remv(SimPackage),
    /// Remove with conffiles.
    Purg(SimPackage),
}

/// The package part of a simulation line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPackage {
    /// Name as apt prints it (`name`, or `name:arch` for a foreign architecture).
    pub name: String,
    /// The installed version, in `[...]`, when shown.
    pub old: Option<String>,
    /// The version acted on, when shown.
    pub new: Option<String>,
    /// Every `Label:[Version/]Suite` publishing `new`, in apt's order.
    pub origins: Vec<String>,
    /// The architecture in the trailing `[...]` of the parenthesis, when shown.
    pub arch: Option<String>,
}

/// Parses every action line of a simulation, skipping apt's prose around them.
pub fn parse_simulation(text: &str) -> Vec<SimAction> {
    text.lines().filter_map(parse_line).collect()
}

/// Parses one line; `None` for anything that is not an action line.
pub fn parse_line(line: &str) -> Option<SimAction> {
    let (verb, rest) = line.trim_end().split_once(' ')?;
    let make: fn(SimPackage) -> SimAction = match verb {
        "Inst" => SimAction::Inst,
        "Conf" => SimAction::Conf,
        "Remv" => SimAction::Remv,
        "Purg" => SimAction::Purg,
        _ => return None,
    };
    parse_package(rest).map(make)
}

fn parse_package(rest: &str) -> Option<SimPackage> {
    let (name, mut rest) = match rest.split_once(' ') {
        Some((n, r)) => (n, r.trim_start()),
        None => (rest, ""),
    };
    if name.is_empty() {
        return None;
    }
    let mut old = None;
    if let Some(r) = rest.strip_prefix('[') {
        let (o, after) = r.split_once(']')?;
        old = Some(o.to_string());
        rest = after.trim_start();
    }
    let mut pkg = SimPackage {
        name: name.to_string(),
        old,
        new: None,
        origins: Vec::new(),
        arch: None,
    };
    if let Some(r) = rest.strip_prefix('(') {
        // The last `)` closes the group: what follows is only apt's list of packages whose
        // dependencies this step leaves broken.
        let inner = &r[..r.rfind(')')?];
        parse_candidate(inner, &mut pkg)?;
    }
    Some(pkg)
}

fn parse_candidate(inner: &str, pkg: &mut SimPackage) -> Option<()> {
    let inner = inner.trim();
    let mut body = inner;
    if inner.ends_with(']') {
        let open = inner.rfind('[')?;
        pkg.arch =
            Some(inner[open + 1..inner.len() - 1].trim().to_string()).filter(|a| !a.is_empty());
        body = inner[..open].trim_end();
    }
    let (version, origins) = match body.split_once(' ') {
        Some((v, o)) => (v, o.trim()),
        None => (body, ""),
    };
    if version.is_empty() {
        return None;
    }
    pkg.new = Some(version.to_string());
    // Labels may contain spaces ("Debian Backports"), so origins split on ", " only.
    pkg.origins = origins
        .split(", ")
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    Some(())
}

/// The upgrades in a simulation: `Inst` lines that replace an installed version.
///
/// `Inst` lines without `[OLD]` are packages a full upgrade would newly install (new
/// dependencies), not upgrades, so they are left out; so are reinstalls (same version),
/// `Conf` (a repeat of the `Inst`) and `Remv`/`Purg`.
pub fn upgrades(actions: &[SimAction]) -> Vec<super::super::Upgrade> {
    actions
        .iter()
        .filter_map(|a| match a {
            SimAction::Inst(p) => upgrade_of(p),
            _ => None,
        })
        .collect()
}

fn upgrade_of(p: &SimPackage) -> Option<super::super::Upgrade> {
    let old = p.old.as_ref()?;
    let new = p.new.as_ref()?;
    if old == new {
        return None;
    }
    Some(super::super::Upgrade {
        name: p.name.clone(),
        current_version: old.clone(),
        available_version: new.clone(),
        arch: p.arch.clone(),
        origins: p.origins.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::origin::is_security_origin;
    use crate::pkg::Upgrade;

    const BOTH: &str = include_str!("../../../tests/data/apt/dist-upgrade.stdout");
    const MAIN: &str = include_str!("../../../tests/data/apt/dist-upgrade-main.stdout");
    const SECURITY: &str = include_str!("../../../tests/data/apt/dist-upgrade-security.stdout");
    const MULTI: &str = include_str!("../../../tests/data/apt/dist-upgrade-multi-origin.stdout");
    const UPGRADE: &str = include_str!("../../../tests/data/apt/upgrade.stdout");
    const NEW: &str = include_str!("../../../tests/data/apt/simulate-install-new.stdout");
    const REMOVE: &str = include_str!("../../../tests/data/apt/simulate-remove.stdout");

    fn up(name: &str, cur: &str, new: &str, origins: &[&str]) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("all".into()),
            origins: origins.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn recorded_dist_upgrade_with_both_suites() {
        assert_eq!(
            upgrades(&parse_simulation(BOTH)),
            [
                up("lpa-lib", "1.0-1", "1.1-1", &["LPA:lpa-stable"]),
                up(
                    "lpa-hello",
                    "1.0-1",
                    "2.0-1",
                    &["Debian-Security:bookworm-security"]
                ),
            ]
        );
        assert_eq!(parse_simulation(BOTH).len(), 4);
        assert_eq!(
            upgrades(&parse_simulation(UPGRADE)),
            upgrades(&parse_simulation(BOTH))
        );
    }

    #[test]
    fn recorded_dist_upgrade_with_one_suite() {
        assert_eq!(
            upgrades(&parse_simulation(MAIN)),
            [
                up("lpa-lib", "1.0-1", "1.1-1", &["LPA:lpa-stable"]),
                up("lpa-hello", "1.0-1", "1.1-1", &["LPA:lpa-stable"]),
            ]
        );
        assert_eq!(
            upgrades(&parse_simulation(SECURITY)),
            [up(
                "lpa-hello",
                "1.0-1",
                "2.0-1",
                &["Debian-Security:bookworm-security"]
            )]
        );
    }

    #[test]
    fn recorded_candidate_with_two_origins_keeps_both() {
        let u = upgrades(&parse_simulation(MULTI));
        assert_eq!(
            u[1],
            up(
                "lpa-hello",
                "1.0-1",
                "2.0-1",
                &[
                    "Debian-Security:bookworm-security",
                    "LPA-Updates:1.0/lpa-updates"
                ]
            )
        );
        assert!(u[1].origins.iter().any(|o| is_security_origin(o)));
        assert!(!u[0].origins.iter().any(|o| is_security_origin(o)));
    }

    #[test]
    fn recorded_new_installs_are_not_upgrades() {
        let actions = parse_simulation(NEW);
        assert_eq!(
            actions[0],
            SimAction::Inst(SimPackage {
                name: "lpa-lib".into(),
                old: None,
                new: Some("1.1-1".into()),
                origins: vec!["LPA:lpa-stable".into()],
                arch: Some("all".into()),
            })
        );
        assert_eq!(actions.len(), 4);
        assert!(upgrades(&actions).is_empty());
    }

    #[test]
    fn recorded_removals() {
        let actions = parse_simulation(REMOVE);
        assert_eq!(
            actions,
            [
                SimAction::Remv(SimPackage {
                    name: "lpa-hello".into(),
                    old: Some("1.0-1".into()),
                    new: None,
                    origins: vec![],
                    arch: None,
                }),
                SimAction::Remv(SimPackage {
                    name: "lpa-lib".into(),
                    old: Some("1.0-1".into()),
                    new: None,
                    origins: vec![],
                    arch: None,
                }),
            ]
        );
        assert!(upgrades(&actions).is_empty());
    }

    #[test]
    fn foreign_arch_epoch_spaces_broken_marker_and_no_origin() {
        let a = parse_line(
            "Inst libfoo:i386 [1:2.0-1] (1:2.1-1 Debian Backports:12/bookworm-backports, \
             Debian:12.5/stable [i386]) [bar:i386 ]",
        )
        .unwrap();
        let SimAction::Inst(p) = a else {
            panic!("{a:?}")
        };
        assert_eq!(p.name, "libfoo:i386");
        assert_eq!(p.old.as_deref(), Some("1:2.0-1"));
        assert_eq!(p.new.as_deref(), Some("1:2.1-1"));
        assert_eq!(p.arch.as_deref(), Some("i386"));
        assert_eq!(
            p.origins,
            [
                "Debian Backports:12/bookworm-backports",
                "Debian:12.5/stable"
            ]
        );
        let SimAction::Inst(p) = parse_line("Inst local [1] (2 [amd64])").unwrap() else {
            panic!()
        };
        assert!(p.origins.is_empty());
        assert_eq!(p.new.as_deref(), Some("2"));
        assert_eq!(
            upgrades(&parse_simulation("Inst same [1] (1 X:y [all])\n")),
            Vec::<Upgrade>::new()
        );
    }

    #[test]
    fn prose_and_broken_lines_are_skipped() {
        for l in [
            "Reading package lists...",
            "Inst",
            "Inst  ",
            "Inst x [unterminated",
            "Inst x [1] (unterminated",
            "Inst x [1] ( [all])",
            "Installing foo",
            "",
        ] {
            assert_eq!(parse_line(l), None, "{l:?}");
        }
    }
}
