//! apk's holds: a `name=version` pin in `/etc/apk/world`. apk has no hold command; an
//! operator keeps a package at its version by pinning it there (`apk add name=1.2-r0`), and
//! `apk upgrade` then leaves it alone. So a world entry whose operator is exactly `=` is a
//! hold (with or without a repository tag: `name@edge=1.2-r0`). Other constraints are not:
//! `name<2`, `name>=1`, `name~1.2` and a checksum pin `name><Q1...` let the package move
//! within a range or name a file, a bare `name@tag` only picks a repository, and `!name`
//! forbids it. A patch run that such a constraint keeps back still fails naming it.
//!
//! `hold` pins the installed version, `unhold` turns the pin back into the bare name (the
//! tag kept); both rewrite world's token for that name only, every other byte as it was,
//! temp + fsync + rename with the file's mode ([`world::write_world`]). apk is not run: it
//! would re-resolve all of world, and a world edited by hand but not yet applied would then
//! change other packages.
//!
//! The agent's own exact install (`apk add name=version`) writes the same pin, so after it
//! [`unpinned_after_install`] puts back the bare name for names that were not pinned before:
//! installing a version does not hold it, as with the other backends.

use std::path::PathBuf;

use super::world::{self, WORLD};
use super::Apk;
use crate::pkg::PkgError;

/// One world token, split: `!`, the name, `@tag`, the operator and the version.
#[derive(Debug, PartialEq, Eq)]
struct Token<'a> {
    negated: bool,
    name: &'a str,
    tag: Option<&'a str>,
    op: &'a str,
    version: &'a str,
}

/// Splits a world token (`!name@tag<=version`).
fn token(text: &str) -> Token<'_> {
    let (negated, rest) = match text.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let op_at = rest.find(['<', '>', '=', '~']).unwrap_or(rest.len());
    let (left, constraint) = rest.split_at(op_at);
    let op_end = constraint
        .find(|c| !matches!(c, '<' | '>' | '=' | '~'))
        .unwrap_or(constraint.len());
    let (op, version) = constraint.split_at(op_end);
    let (name, tag) = match left.split_once('@') {
        Some((n, t)) => (n, Some(t)),
        None => (left, None),
    };
    Token {
        negated,
        name,
        tag,
        op,
        version,
    }
}

impl Token<'_> {
    /// Whether this token pins its package to one version: a hold.
    fn is_pin(&self) -> bool {
        !self.negated && !self.name.is_empty() && self.op == "=" && !self.version.is_empty()
    }

    /// The token as apk writes it, with `constraint` (`=1.0-r0`, or `""` for none).
    fn with(&self, constraint: &str) -> String {
        match self.tag {
            Some(tag) => format!("{}@{tag}{constraint}", self.name),
            None => format!("{}{constraint}", self.name),
        }
    }
}

/// The names world pins to one version (`name=version`, `name@tag=version`), in file order.
pub fn pins(world: &str) -> Vec<String> {
    world
        .split_whitespace()
        .map(token)
        .filter(Token::is_pin)
        .map(|t| t.name.to_string())
        .collect()
}

/// `world` with each token for `name` rewritten by `edit` (`None`: left as it is); every
/// other byte, whitespace included, kept. Returns the text and whether a token named it.
fn rewrite(world: &str, name: &str, edit: &dyn Fn(&Token) -> Option<String>) -> (String, bool) {
    let mut out = String::with_capacity(world.len() + name.len() + 16);
    let mut named = false;
    let mut rest = world;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let text = &rest[..end];
        let t = token(text);
        if !text.is_empty() && !t.negated && t.name == name {
            named = true;
            match edit(&t) {
                Some(new) => out.push_str(&new),
                None => out.push_str(text),
            }
        } else {
            out.push_str(text);
        }
        rest = &rest[end..];
    }
    (out, named)
}

/// `world` with `name` pinned to `version`: its entries rewritten, or a new line at the end
/// when world does not name it.
pub fn with_pin(world: &str, name: &str, version: &str) -> String {
    let pin = format!("={version}");
    let (mut out, named) = rewrite(world, name, &|t| Some(t.with(&pin)));
    if !named {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{name}{pin}\n"));
    }
    out
}

/// `world` with the pins of `name` turned back into the bare name (its tag kept).
pub fn without_pin(world: &str, name: &str) -> String {
    rewrite(world, name, &|t| t.is_pin().then(|| t.with(""))).0
}

/// What world should be after the agent's exact install of `names` succeeded: apk wrote a
/// `name=version` pin for each; those not pinned in `before` go back to the bare name (a
/// name pinned before stays pinned, as apk left it). `None` when nothing changes.
pub fn unpinned_after_install(before: &str, after: &str, names: &[String]) -> Option<String> {
    let was_pinned = pins(before);
    let mut out = after.to_string();
    for name in names.iter().filter(|n| !was_pinned.contains(n)) {
        out = without_pin(&out, name);
    }
    (out != after).then_some(out)
}

impl Apk {
    /// world's text, empty when there is none.
    fn world_text(&self) -> Result<String, PkgError> {
        let bytes = world::read_world(&self.settings.root)?.unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| PkgError::Parse {
            what: self.world_path().display().to_string(),
            message: "not UTF-8".into(),
        })
    }

    /// world as seen by this process.
    pub(super) fn world_path(&self) -> PathBuf {
        self.settings.root.join(WORLD)
    }

    /// The names world pins.
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        Ok(pins(&self.world_text()?))
    }

    /// Pins `name` at its installed version; refused (`Unsupported`, the answer a hold the
    /// tool cannot set gets, as dnf's without its plugin) when it is not installed (an apk pin
    /// names a version, and writing one for a package apk has not installed would make apk
    /// install it at the next change).
    pub(super) fn add_hold(&self, name: &str) -> Result<(), PkgError> {
        let db = self.read_db()?;
        let Some(version) = Apk::installed_version(&db, name) else {
            return Err(PkgError::Unsupported(format!(
                "{name} is not installed: an apk hold pins the installed version in /etc/apk/world; install it first"
            )));
        };
        let text = self.world_text()?;
        let edited = with_pin(&text, name, &version);
        world::write_world(&self.settings.root, Some(edited.as_bytes()))
    }

    /// Turns `name`'s pins back into the bare name.
    pub(super) fn remove_hold(&self, name: &str) -> Result<(), PkgError> {
        let text = self.world_text()?;
        let edited = without_pin(&text, name);
        world::write_world(&self.settings.root, Some(edited.as_bytes()))
    }

    /// After the exact install of `names` succeeded: the pins apk wrote for names that were
    /// not pinned in `before` (world's bytes before the install) go back to bare names.
    pub(super) fn unpin_installed(
        &self,
        before: Option<&[u8]>,
        names: &[String],
    ) -> Result<(), PkgError> {
        let before = String::from_utf8_lossy(before.unwrap_or_default());
        let after = self.world_text()?;
        match unpinned_after_install(&before, &after, names) {
            Some(edited) => world::write_world(&self.settings.root, Some(edited.as_bytes())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORLD_TEXT: &str =
        "busybox\nlpa-hello=1.0-r0\nlpa-lib<2\nlpa-tool@edge=1.1-r0\nfoo@edge\n!bar\nbaz~1.2\nqux>=1\n";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn only_exact_pins_are_holds() {
        assert_eq!(pins(WORLD_TEXT), ["lpa-hello", "lpa-tool"]);
        assert!(pins("a<=1 b>=1 c~1 d><Q1abc= !e=1 f= g\n").is_empty());
        assert_eq!(pins("a=1 b=2"), ["a", "b"]);
        assert!(pins("").is_empty());
        // No name, or a tag holding operators: read as apk's `name@tag` then the constraint.
        assert!(pins("=1 @x=1").is_empty());
        assert_eq!(pins("x@a=b=c"), ["x"]);
        assert_eq!(without_pin("x@a=b=c\n", "x"), "x@a\n");
    }

    #[test]
    fn tokens_split_into_their_parts() {
        assert_eq!(
            token("!lpa@edge<=1.0-r0"),
            Token {
                negated: true,
                name: "lpa",
                tag: Some("edge"),
                op: "<=",
                version: "1.0-r0"
            }
        );
        assert_eq!(token("lpa").op, "");
    }

    #[test]
    fn a_hold_rewrites_only_its_entry() {
        let held = with_pin(WORLD_TEXT, "lpa-lib", "1.0-r0");
        assert_eq!(held, WORLD_TEXT.replace("lpa-lib<2\n", "lpa-lib=1.0-r0\n"));
        let tagged = with_pin(WORLD_TEXT, "foo", "3-r0");
        assert_eq!(tagged, WORLD_TEXT.replace("foo@edge\n", "foo@edge=3-r0\n"));
        // Not in world (a dependency): a line of its own at the end.
        assert_eq!(with_pin("a\nb", "c", "1-r0"), "a\nb\nc=1-r0\n");
        assert_eq!(with_pin("", "c", "1-r0"), "c=1-r0\n");
        // `!bar` forbids bar; it is not bar's entry.
        assert_eq!(with_pin("!bar\n", "bar", "1"), "!bar\nbar=1\n");
        // Holding a held package again writes the same pin.
        assert_eq!(with_pin(WORLD_TEXT, "lpa-hello", "1.0-r0"), WORLD_TEXT);
    }

    #[test]
    fn a_release_keeps_the_name_and_its_tag() {
        let out = without_pin(WORLD_TEXT, "lpa-tool");
        assert_eq!(
            out,
            WORLD_TEXT.replace("lpa-tool@edge=1.1-r0", "lpa-tool@edge")
        );
        assert_eq!(without_pin(WORLD_TEXT, "lpa-lib"), WORLD_TEXT, "not a pin");
        assert_eq!(without_pin(WORLD_TEXT, "nope"), WORLD_TEXT);
        // Odd spacing and several tokens on a line stay as they were.
        assert_eq!(without_pin("  a=1\tb=2 \r\n", "b"), "  a=1\tb \r\n");
        let round = without_pin(&with_pin(WORLD_TEXT, "busybox", "1.36"), "busybox");
        assert_eq!(round, WORLD_TEXT);
    }

    /// world as apk-tools 2 or 3 wrote it (`tests/data/apk/record-world.sh`).
    fn recorded(name: &str) -> String {
        let path = format!("{}/tests/data/apk/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn worlds_apk_wrote_read_and_edit_as_expected() {
        for v in ["apk2", "apk3"] {
            let pinned = recorded(&format!("world-pinned-{v}"));
            assert_eq!(pins(&pinned), ["lpa-hello", "lpa-lib"], "{v}");
            // The agent's exact install from `busybox-binsh` alone: no pin left.
            let names = s(&["lpa-lib", "lpa-hello"]);
            assert_eq!(
                unpinned_after_install("busybox-binsh\n", &pinned, &names).as_deref(),
                Some("busybox-binsh\nlpa-hello\nlpa-lib\nlpa-tool\n"),
                "{v}"
            );
            let range = recorded(&format!("world-range-{v}"));
            assert_eq!(
                pins(&range),
                ["lpa-hello", "lpa-lib"],
                "{v}: a range is no hold"
            );
            let held = with_pin(&range, "lpa-tool", "1.0-r0");
            assert_eq!(
                held,
                range.replace("lpa-tool<2.0", "lpa-tool=1.0-r0"),
                "{v}"
            );
            assert_eq!(
                without_pin(&held, "lpa-tool"),
                range.replace("lpa-tool<2.0", "lpa-tool")
            );
        }
    }

    #[test]
    fn an_exact_install_leaves_no_pin_unless_one_was_there() {
        let before = "busybox\nlpa-hello=1.0-r0\n";
        // What `apk add lpa-hello=1.1-r0 lpa-lib=1.0-r0` writes (sorted).
        let after = "busybox\nlpa-hello=1.1-r0\nlpa-lib=1.0-r0\n";
        let names = s(&["lpa-hello", "lpa-lib"]);
        assert_eq!(
            unpinned_after_install(before, after, &names).as_deref(),
            Some("busybox\nlpa-hello=1.1-r0\nlpa-lib\n")
        );
        assert_eq!(
            unpinned_after_install("", "lpa-lib\n", &s(&["lpa-lib"])),
            None
        );
    }
}
