//! The machine id reported at enrollment: the system's when it has one, else one generated
//! once and kept in the enrollment state directory.
//!
//! Order: `/etc/machine-id`, then `/var/lib/dbus/machine-id` (the first holding a valid id
//! wins); an absent, empty, `uninitialized` or otherwise malformed system file is skipped
//! (minimal images ship an empty one on purpose), with a warning when it exists. Without
//! either, `<enrollment.state_dir>/machine-id` is used: generated once from the OS random
//! source (32 lowercase hex digits, written atomically, 0644) and reused by every later
//! enrollment and restart. A malformed generated file is an error rather than replaced:
//! a new id would make the manager see a new host.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::fsutil::write_atomic;

/// Why the machine id could not be read or generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineIdError(pub String);

/// A machine id: the file's content trimmed, exactly 32 hex digits, lowercased.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// The system's machine-id files, in the order systemd and D-Bus document.
pub const SYSTEM_PATHS: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];
/// The generated id's file name inside the enrollment state directory.
pub const GENERATED_FILE: &str = "machine-id";
/// Mode of the generated file: not a secret, like `/etc/machine-id`.
pub const GENERATED_MODE: u32 = 0o644;

/// Where the id came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A system file.
    System(PathBuf),
    /// The generated file, read again.
    Kept(PathBuf),
    /// The generated file, written just now.
    Generated(PathBuf),
}

/// A machine id and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineId {
    /// 32 lowercase hex digits.
    pub id: String,
    /// Where it came from.
    pub source: Source,
}

impl MachineId {
    /// Where the id came from, for the log.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::System(p) => format!("from {}", p.display()),
            Source::Kept(p) => format!("generated earlier, from {}", p.display()),
            Source::Generated(p) => format!(
                "generated (no usable {}), saved in {}",
                SYSTEM_PATHS.join(" or "),
                p.display()
            ),
        }
    }
}

/// The machine id for an enrollment keeping its state in `state_dir` (which must exist).
pub fn resolve(state_dir: &Path) -> Result<MachineId, MachineIdError> {
    let paths: Vec<&Path> = SYSTEM_PATHS.iter().map(Path::new).collect();
    resolve_with(&paths, state_dir)
}

/// [`resolve`] with the system files given.
pub fn resolve_with(system: &[&Path], state_dir: &Path) -> Result<MachineId, MachineIdError> {
    if let Some(found) = system_id(system) {
        return Ok(found);
    }
    let path = state_dir.join(GENERATED_FILE);
    if let Some(id) = read_generated(&path)? {
        return Ok(MachineId {
            id,
            source: Source::Kept(path),
        });
    }
    let id = generate()?;
    write_atomic(&path, format!("{id}\n").as_bytes(), GENERATED_MODE)
        .map_err(|e| MachineIdError(format!("cannot save {}: {e}", path.display())))?;
    Ok(MachineId {
        id,
        source: Source::Generated(path),
    })
}

/// The first valid system id; files present but malformed are logged and skipped.
fn system_id(paths: &[&Path]) -> Option<MachineId> {
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => match parse_machine_id(&text) {
                Some(id) => {
                    return Some(MachineId {
                        id,
                        source: Source::System(path.to_path_buf()),
                    })
                }
                None => log::warn!("{}: ignored, does not hold 32 hex digits", path.display()),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => log::warn!("{}: ignored, {e}", path.display()),
        }
    }
    None
}

/// The generated id saved earlier; `None` when there is none. Anything else there is an
/// error that names the file and the way out.
fn read_generated(path: &Path) -> Result<Option<String>, MachineIdError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_machine_id(&text).map(Some).ok_or_else(|| {
            MachineIdError(format!(
                "{}: does not hold 32 hex digits; remove it to generate a new machine id \
                 (the manager will see a new host)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MachineIdError(format!("{}: {e}", path.display()))),
    }
}

/// 128 bits from the OS random source (`getrandom(2)`), as 32 lowercase hex digits.
fn generate() -> Result<String, MachineIdError> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: rest is valid for rest.len() writable bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(MachineIdError(format!("cannot read random bytes: {e}")));
        }
        filled += usize::try_from(n).unwrap_or(0);
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ids_are_trimmed_validated_and_lowercased() {
        assert_eq!(
            parse_machine_id(" 0123456789ABCDEF0123456789abcdef\n").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(parse_machine_id(""), None);
        assert_eq!(parse_machine_id("0123456789abcdef0123456789abcde"), None);
        assert_eq!(parse_machine_id("0123456789abcdef0123456789abcdeg"), None);
        assert_eq!(parse_machine_id("0123456789abcdef 123456789abcdef"), None);
    }
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-mid-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn is_id(s: &str) -> bool {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn a_valid_system_file_wins_in_order() {
        let dir = temp_dir();
        let (etc, dbus) = (dir.join("etc-machine-id"), dir.join("dbus-machine-id"));
        std::fs::write(&dbus, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n").unwrap();
        let got = resolve_with(&[&etc, &dbus], &dir).unwrap();
        assert_eq!(got.id, "f".repeat(32));
        assert_eq!(got.source, Source::System(dbus.clone()));
        std::fs::write(&etc, "0123456789abcdef0123456789abcdef\n").unwrap();
        let got = resolve_with(&[&etc, &dbus], &dir).unwrap();
        assert_eq!(got.id, "0123456789abcdef0123456789abcdef");
        assert_eq!(got.source, Source::System(etc));
        assert!(!dir.join(GENERATED_FILE).exists(), "nothing generated");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_a_usable_system_file_an_id_is_generated_once_and_kept() {
        let dir = temp_dir();
        let (etc, dbus) = (dir.join("etc-machine-id"), dir.join("dbus-machine-id"));
        // Empty and "uninitialized" files, as minimal images ship them, count as none.
        std::fs::write(&etc, "").unwrap();
        std::fs::write(&dbus, "uninitialized\n").unwrap();
        let first = resolve_with(&[&etc, &dbus], &dir).unwrap();
        let saved = dir.join(GENERATED_FILE);
        assert_eq!(first.source, Source::Generated(saved.clone()));
        assert!(is_id(&first.id), "{}", first.id);
        assert_eq!(
            std::fs::read_to_string(&saved).unwrap(),
            format!("{}\n", first.id)
        );
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, GENERATED_MODE);

        let again = resolve_with(&[&etc, &dbus], &dir).unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.source, Source::Kept(saved.clone()));
        assert!(again.describe().contains("generated earlier"));

        // Another directory generates another id: the source is random, not derived.
        let other = temp_dir();
        let elsewhere = resolve_with(&[&etc, &dbus], &other).unwrap();
        assert_ne!(elsewhere.id, first.id);

        // A system id appearing later wins over the kept one.
        std::fs::write(&etc, "abcdefabcdefabcdefabcdefabcdefab").unwrap();
        assert_eq!(
            resolve_with(&[&etc, &dbus], &dir).unwrap().id,
            "abcdefabcdefabcdefabcdefabcdefab"
        );
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(other).unwrap();
    }

    #[test]
    fn a_malformed_generated_file_is_an_error_naming_it() {
        let dir = temp_dir();
        let missing = dir.join("none");
        std::fs::write(dir.join(GENERATED_FILE), "not an id\n").unwrap();
        let e = resolve_with(&[&missing], &dir).unwrap_err().0;
        assert!(e.contains("machine-id: does not hold 32 hex digits"), "{e}");
        assert!(e.contains("remove it"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn generated_ids_are_hex_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert_ne!(a, b);
    }
}
