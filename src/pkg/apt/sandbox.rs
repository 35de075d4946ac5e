//! Where `apt-get download` may write so that apt keeps its download sandbox.
//!
//! apt downloads as its sandbox user `_apt` and, when that user cannot write the target
//! directory, falls back to downloading as root with the warning "Download is performed
//! unsandboxed as root as file '...' couldn't be accessed by user '_apt'". The agent's
//! rollback cache lives under its state directory (mode 0700, root), which `_apt` can never
//! traverse, and must not be opened up. So packages are downloaded into a private staging
//! directory (random name, mode 0700, in a root-owned parent of mode 0711, see
//! [`crate::pkg::staging`]) that is handed to `_apt` — the same arrangement apt uses for
//! `/var/cache/apt/archives/partial` — and the finished file is then moved into the
//! rollback cache and given back to root.
//!
//! A root without a `_apt` user keeps a root-owned directory: apt then has no sandbox user
//! to drop to at all (and says so itself), which is the host's configuration, not ours.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// apt's sandbox user (`APT::Sandbox::User`'s default).
pub const SANDBOX_USER: &str = "_apt";

/// A numeric owner: user and group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// `user`'s ids from a passwd file's text (`name:x:uid:gid:...`); `None` when absent or
/// malformed.
pub fn lookup(passwd: &str, user: &str) -> Option<Owner> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != user {
            return None;
        }
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some(Owner { uid, gid })
    })
}

/// The sandbox user of the root whose passwd file is `passwd` (the root apt runs in, which
/// is where it looks the user up); `None` when the file or the user is missing.
pub fn sandbox_owner(passwd: &Path) -> Option<Owner> {
    let text = fs::read_to_string(passwd).ok()?;
    lookup(&text, SANDBOX_USER)
}

/// Hands a fresh private staging directory (see [`crate::pkg::staging`]) to `owner` when
/// given: a directory only apt's sandbox user (and root) can enter.
pub fn hand_over(dir: &Path, owner: Option<Owner>) -> io::Result<()> {
    if let Some(o) = owner {
        std::os::unix::fs::lchown(dir, Some(o.uid), Some(o.gid))?;
    }
    Ok(())
}

/// Moves a downloaded `file` to `to` (in a directory only root can enter) and makes it
/// root's. Checked after the move, when the sandbox user can no longer swap it: anything
/// but a regular file (a symlink planted by a compromised download) is deleted and refused.
pub fn adopt(file: &Path, to: &Path) -> io::Result<PathBuf> {
    if fs::rename(file, to).is_err() {
        // Another file system: copy what is there, never following a link.
        if !fs::symlink_metadata(file)?.is_file() {
            return Err(not_regular(file));
        }
        crate::fsutil::copy_atomic(file, to)?;
        fs::remove_file(file)?;
    }
    let meta = fs::symlink_metadata(to)?;
    if !meta.is_file() {
        let _ = fs::remove_file(to);
        return Err(not_regular(to));
    }
    if meta.uid() != 0 || meta.gid() != 0 {
        std::os::unix::fs::lchown(to, Some(0), Some(0))?;
    }
    Ok(to.to_path_buf())
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: not a regular file", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          _apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n\
                          broken:x:notanumber:1::/:/bin/false\n";

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-apt-sbx-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_sandbox_user_is_read_from_the_roots_passwd() {
        assert_eq!(
            lookup(PASSWD, "_apt"),
            Some(Owner {
                uid: 42,
                gid: 65534
            })
        );
        assert_eq!(lookup(PASSWD, "root"), Some(Owner { uid: 0, gid: 0 }));
        assert_eq!(lookup(PASSWD, "broken"), None);
        assert_eq!(lookup(PASSWD, "_ap"), None);
        assert_eq!(lookup("root:x:0:0::/:/bin/sh\n", "_apt"), None);
        let d = temp("passwd");
        assert_eq!(sandbox_owner(&d.join("missing")), None);
        fs::write(d.join("passwd"), PASSWD).unwrap();
        assert_eq!(sandbox_owner(&d.join("passwd")).map(|o| o.uid), Some(42));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_download_dir_is_handed_to_its_owner() {
        let d = temp("dir");
        let dir = d.join("dl");
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let owner = Owner {
            uid: 4242,
            gid: 4243,
        };
        hand_over(&dir, Some(owner)).unwrap();
        let m = fs::symlink_metadata(&dir).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o700);
        // Changing the owner needs root, which the suite has (CI is root).
        assert_eq!((m.uid(), m.gid()), (4242, 4243));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn adopted_files_are_roots_and_links_are_refused() {
        let d = temp("adopt");
        let from = d.join("a.deb");
        fs::write(&from, "deb").unwrap();
        std::os::unix::fs::lchown(&from, Some(4242), Some(4242)).unwrap();
        let to = adopt(&from, &d.join("b.deb")).unwrap();
        let m = fs::symlink_metadata(&to).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
        assert_eq!(fs::read_to_string(&to).unwrap(), "deb");
        assert!(!from.exists());

        let link = d.join("link.deb");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let err = adopt(&link, &d.join("c.deb")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(fs::symlink_metadata(d.join("c.deb")).is_err());
        assert_eq!(fs::symlink_metadata("/etc/passwd").unwrap().uid(), 0);
        fs::remove_dir_all(&d).unwrap();
    }
}
