//! The installed database, `<root>/lib/apk/db/installed`: records of `X:value` lines
//! separated by blank lines (the same format in apk 2 and 3), and apk dependency tokens.

use std::collections::BTreeSet;

use crate::pkg::{Dependency, InstalledPackage, PackageDetails};

/// One package record of the installed database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbRecord {
    /// `P:` name.
    pub name: String,
    /// `V:` version.
    pub version: String,
    /// `A:` architecture.
    pub arch: Option<String>,
    /// `T:` one-line description.
    pub description: Option<String>,
    /// `I:` installed size in bytes.
    pub installed_size: Option<u64>,
    /// `S:` package file size in bytes.
    pub size: Option<u64>,
    /// `m:` maintainer.
    pub maintainer: Option<String>,
    /// `U:` homepage.
    pub url: Option<String>,
    /// `L:` license.
    pub license: Option<String>,
    /// `t:` build time (Unix seconds); apk records no install time.
    pub build_time: Option<i64>,
    /// `o:` origin: the aport the package was built from (Alpine's secdb is keyed by it).
    pub origin: Option<String>,
    /// `D:` dependency tokens as written (`lpa-lib<2.0`, `so:libc.musl-x86_64.so.1`, `!foo`).
    pub depends: Vec<String>,
    /// `p:` provides as written (`cmd:lpa-hello=1.1-r0`).
    pub provides: Vec<String>,
    /// Installed files, absolute (from `F:` directories and `R:` files).
    pub files: Vec<String>,
}

/// Parses the whole installed database; the error names the offending line.
pub fn parse_installed_db(text: &str) -> Result<Vec<DbRecord>, String> {
    let mut out = Vec::new();
    let mut cur = DbRecord::default();
    let mut dir = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            finish_record(&mut out, std::mem::take(&mut cur), i)?;
            dir.clear();
            continue;
        }
        let (key, value) =
            split_db_line(line).ok_or_else(|| format!("line {}: {line:?}", i + 1))?;
        apply_field(&mut cur, &mut dir, key, value).map_err(|m| format!("line {}: {m}", i + 1))?;
    }
    finish_record(&mut out, cur, text.lines().count())?;
    Ok(out)
}

fn split_db_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let key = chars.next()?;
    let rest = chars.as_str().strip_prefix(':')?;
    key.is_ascii_alphabetic().then_some((key, rest))
}

fn finish_record(out: &mut Vec<DbRecord>, rec: DbRecord, line: usize) -> Result<(), String> {
    if rec == DbRecord::default() {
        return Ok(());
    }
    if rec.name.is_empty() || rec.version.is_empty() {
        return Err(format!("record ending at line {line} has no P: or V:"));
    }
    out.push(rec);
    Ok(())
}

fn apply_field(rec: &mut DbRecord, dir: &mut String, key: char, v: &str) -> Result<(), String> {
    let num = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{key}: not a number: {v}"))
    };
    match key {
        'P' => rec.name = v.to_string(),
        'V' => rec.version = v.to_string(),
        'A' => rec.arch = Some(v.to_string()),
        'T' => rec.description = Some(v.to_string()),
        'I' => rec.installed_size = Some(num(v)?),
        'S' => rec.size = Some(num(v)?),
        'm' => rec.maintainer = Some(v.to_string()),
        'U' => rec.url = Some(v.to_string()),
        'o' => rec.origin = Some(v.to_string()),
        'L' => rec.license = Some(v.to_string()),
        't' => {
            let secs = v.parse().map_err(|_| format!("t: not a number: {v}"))?;
            rec.build_time = Some(secs);
        }
        'D' => rec.depends.extend(v.split_whitespace().map(str::to_string)),
        'p' => rec
            .provides
            .extend(v.split_whitespace().map(str::to_string)),
        'F' => *dir = v.to_string(),
        'R' if dir.is_empty() => rec.files.push(format!("/{v}")),
        'R' => rec.files.push(format!("/{dir}/{v}")),
        // Checksums, ACLs, commit, replaces, install_if, ...: not needed here.
        _ => {}
    }
    Ok(())
}

/// Splits one apk dependency token (`name`, `name<2.0`, `so:libc.so.1`, `cmd:x=1-r0`).
/// Conflicts (`!name`) are not dependencies: `None`.
pub fn parse_dependency(token: &str) -> Option<Dependency> {
    if token.starts_with('!') {
        return None;
    }
    let (name, constraint) = split_constraint(token);
    Some(Dependency {
        name: name.to_string(),
        constraint: constraint.map(str::to_string),
        required: true,
    })
}

/// `name<op>version` into name and `<op>version`; apk's operators are built of `<>=~`.
fn split_constraint(token: &str) -> (&str, Option<&str>) {
    match token.find(['<', '>', '=', '~']) {
        Some(i) => (&token[..i], Some(&token[i..])),
        None => (token, None),
    }
}

impl DbRecord {
    /// The names this record satisfies: its own and every `p:` provide.
    pub(super) fn provided_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.provides.iter().map(|p| split_constraint(p).0))
    }

    /// Dependency names, virtuals (`so:`, `cmd:`, `pc:`) resolved to the installed package
    /// that provides them; an unresolved name is kept as written.
    pub(super) fn dependency_names(&self, db: &[DbRecord]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for dep in self.depends.iter().filter_map(|d| parse_dependency(d)) {
            let resolved = db
                .iter()
                .find(|r| r.provided_names().any(|n| n == dep.name))
                .map_or(dep.name.clone(), |r| r.name.clone());
            if resolved != self.name && seen.insert(resolved.clone()) {
                out.push(resolved);
            }
        }
        out
    }

    pub(super) fn to_installed(&self, db: &[DbRecord]) -> InstalledPackage {
        InstalledPackage {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            description: self.description.clone().unwrap_or_default(),
            size_bytes: self.installed_size,
            // The database has only the build time (`t:`), which is not when it was installed.
            installed_at: None,
            maintainer: self.maintainer.clone(),
            depends: self.dependency_names(db),
        }
    }

    pub(super) fn details(&self, db: &[DbRecord]) -> PackageDetails {
        let mut reverse: Vec<String> = db
            .iter()
            .filter(|r| r.name != self.name && r.dependency_names(db).contains(&self.name))
            .map(|r| r.name.clone())
            .collect();
        reverse.sort();
        PackageDetails {
            package: self.to_installed(db),
            dependencies: self
                .depends
                .iter()
                .filter_map(|d| parse_dependency(d))
                .collect(),
            reverse_dependencies: reverse,
            files: self.files.clone(),
            homepage: self.url.clone(),
            license: self.license.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = include_str!("../../../tests/data/apk/lib-apk-db-installed");
    const INFO_A_APK2: &str = include_str!("../../../tests/data/apk/info-a-lpa-hello-apk2.stdout");

    #[test]
    fn recorded_installed_database_parses() {
        let db = parse_installed_db(INSTALLED).unwrap();
        assert_eq!(db.len(), 2);
        let hello = &db[0];
        assert_eq!(hello.name, "lpa-hello");
        assert_eq!(hello.version, "1.1-r0");
        assert_eq!(hello.arch.as_deref(), Some("x86_64"));
        assert_eq!(hello.size, Some(729));
        assert_eq!(hello.installed_size, Some(66));
        assert_eq!(hello.description.as_deref(), Some("lpa-hello test package"));
        assert_eq!(
            hello.url.as_deref(),
            Some("https://example.invalid/lpa-hello")
        );
        assert_eq!(hello.license.as_deref(), Some("MIT"));
        assert_eq!(
            hello.maintainer.as_deref(),
            Some("apklab <apklab@example.invalid>")
        );
        assert_eq!(hello.build_time, Some(1_700_000_000));
        assert_eq!(hello.depends, ["lpa-lib<2.0"]);
        assert_eq!(hello.provides, ["cmd:lpa-hello=1.1-r0"]);
        assert_eq!(db[1].name, "lpa-lib");
        assert!(db[1].depends.is_empty());
    }

    #[test]
    fn files_match_what_apk_info_lists() {
        let db = parse_installed_db(INSTALLED).unwrap();
        // `apk info -a` prints the same paths, relative, under "contains:".
        let contains: Vec<String> = INFO_A_APK2
            .lines()
            .skip_while(|l| *l != "lpa-hello-1.0-r0 contains:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| format!("/{l}"))
            .collect();
        assert_eq!(contains, ["/etc/lpa-hello.conf", "/usr/bin/lpa-hello"]);
        assert_eq!(db[0].files, contains);
        assert_eq!(db[1].files, ["/etc/lpa-lib.conf", "/usr/bin/lpa-lib"]);
    }

    #[test]
    fn malformed_database_lines_are_errors() {
        let err = parse_installed_db("P:a\nV:1-r0\nnot a field\n\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = parse_installed_db("P:a\nI:many\n\n").unwrap_err();
        assert!(err.contains("I: not a number"), "{err}");
        let err = parse_installed_db("P:a\nA:x86_64\n\n").unwrap_err();
        assert!(err.contains("no P: or V:"), "{err}");
        // No final blank line: the last record still counts.
        assert_eq!(parse_installed_db("P:a\nV:1-r0").unwrap().len(), 1);
    }

    #[test]
    fn dependency_tokens() {
        let d = parse_dependency("lpa-lib<2.0").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint.as_deref()),
            ("lpa-lib", Some("<2.0"))
        );
        assert!(d.required);
        let d = parse_dependency("so:libc.musl-x86_64.so.1").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint),
            ("so:libc.musl-x86_64.so.1", None)
        );
        let d = parse_dependency("busybox>=1.36.1-r2").unwrap();
        assert_eq!(d.constraint.as_deref(), Some(">=1.36.1-r2"));
        let d = parse_dependency("foo~1.2").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint.as_deref()),
            ("foo", Some("~1.2"))
        );
        assert!(parse_dependency("!conflicting").is_none());
    }

    #[test]
    fn virtual_dependencies_resolve_to_their_provider() {
        let db = parse_installed_db(
            "P:musl\nV:1.2.5-r0\np:so:libc.musl-x86_64.so.1=1\n\n\
             P:app\nV:1-r0\nD:so:libc.musl-x86_64.so.1 cmd:nothing !old\n\n",
        )
        .unwrap();
        let app = db[1].to_installed(&db);
        assert_eq!(app.depends, ["musl", "cmd:nothing"]);
        let musl = db[0].details(&db);
        assert_eq!(musl.reverse_dependencies, ["app"]);
        let d = db[1].details(&db);
        assert_eq!(
            d.dependencies.len(),
            2,
            "the conflict !old is not a dependency"
        );
        assert_eq!(d.dependencies[0].name, "so:libc.musl-x86_64.so.1");
    }
}
