#!/usr/bin/env python3
"""Builds linux-patch-api as an APK v2 package (Alpine, apk-tools 2.x) by hand.

`make apk` runs it. No abuild is needed, and none exists on Debian.

The APK v2 format, as apk-tools 2.x reads it. Sources: apk-tools' apk-v2(5)
(doc/apk-v2.5.scd in https://gitlab.alpinelinux.org/alpine/apk-tools), the
Alpine wiki page "Apk spec" (https://wiki.alpinelinux.org/wiki/Apk_spec), and
abuild's create_apks / abuild-tar, which write it:

  A .apk is up to three gzip streams concatenated. Together they decompress to
  one tar archive, but apk uses the stream boundaries to tell the parts apart:
    1. signature (optional): a tar segment holding .SIGN.RSA.<keyname>.rsa.pub,
       an RSA signature over stream 2. THIS PACKAGE IS UNSIGNED and has no such
       stream, so apk must be told --allow-untrusted (or the package signed
       with abuild-sign before distribution).
    2. control: a tar SEGMENT, i.e. WITHOUT the two zero end-of-archive blocks
       (apk 2's reader would stop at them), holding .PKGINFO and the install
       scripts .pre-install, .post-install, .pre-upgrade, .post-upgrade,
       .pre-deinstall, .post-deinstall (executable, run by /bin/sh).
    3. data: a complete tarball of the files, where each regular file's header
       is preceded by a PAX extended header carrying
       APK-TOOLS.checksum.SHA1=<hex SHA-1 of the file's contents>.
  .PKGINFO is "key = value" lines ('#' starts a comment): pkgname, pkgver,
  pkgdesc, url, builddate, packager, size (installed bytes), arch, origin,
  license, depend (one line each) and datahash = hex SHA-256 of stream 3 as
  stored (compressed), which ties the data to the (signed) control stream.
  Files under /etc that the administrator changed are kept on upgrade, the new
  ones written as *.apk-new: no conffile list is needed.

apk-tools cannot be installed on the build and test machines (Debian), so
tests/packaging.rs checks this structure, not an installation.
"""

import argparse
import gzip
import hashlib
import io
import os
import sys
import tarfile
import time

NAME = "linux-patch-api"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = [".pre-install", ".post-install", ".post-upgrade", ".pre-deinstall", ".post-deinstall"]


def gz(data: bytes) -> bytes:
    """One gzip stream, reproducible (no name, no time)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def entry(name: str, kind: bytes, mode: int, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def data_files(args) -> list:
    """(path in the package, mode, contents or None for a directory), parents first."""
    def read(path):
        with open(path, "rb") as f:
            return f.read()

    etc = args.etc
    return [
        ("etc/", 0o755, None),
        ("etc/init.d/", 0o755, None),
        ("etc/init.d/linux-patch-api", 0o755, read(os.path.join(TOP, "etc/openrc/linux-patch-api"))),
        ("etc/linux_patch_api/", 0o755, None),
        ("etc/linux_patch_api/certs/", 0o700, None),
        ("etc/linux_patch_api/config.yaml", 0o640, read(os.path.join(etc, "config.yaml"))),
        ("etc/linux_patch_api/whitelist.yaml", 0o640, read(os.path.join(etc, "whitelist.yaml"))),
        ("usr/", 0o755, None),
        ("usr/sbin/", 0o755, None),
        ("usr/sbin/linux-patch-api", 0o755, read(args.binary)),
        ("usr/share/", 0o755, None),
        ("usr/share/licenses/", 0o755, None),
        ("usr/share/licenses/linux-patch-api/", 0o755, None),
        ("usr/share/licenses/linux-patch-api/COPYING", 0o644, read(os.path.join(TOP, "packaging/deb/copyright"))),
        ("usr/share/man/", 0o755, None),
        ("usr/share/man/man5/", 0o755, None),
        ("usr/share/man/man5/linux-patch-api.yaml.5.gz", 0o644,
         gz(read(os.path.join(TOP, "man/linux-patch-api.yaml.5")))),
        ("usr/share/man/man8/", 0o755, None),
        ("usr/share/man/man8/linux-patch-api.8.gz", 0o644, gz(read(os.path.join(TOP, "man/linux-patch-api.8")))),
        ("var/", 0o755, None),
        ("var/lib/", 0o755, None),
        ("var/lib/linux_patch_api/", 0o700, None),
        ("var/log/", 0o755, None),
        ("var/log/linux_patch_api/", 0o750, None),
    ]


def data_tarball(files, mtime: int) -> bytes:
    """Stream 3: a PAX tarball, each regular file with its APK-TOOLS.checksum.SHA1."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, mode, content in files:
            if content is None:
                tar.addfile(entry(path.rstrip("/"), tarfile.DIRTYPE, mode, 0, mtime))
                continue
            info = entry(path, tarfile.REGTYPE, mode, len(content), mtime)
            info.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(content).hexdigest()}
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def control_segment(members, mtime: int) -> bytes:
    """Stream 2: ustar headers and padded contents, without the end-of-archive blocks."""
    out = bytearray()
    for name, mode, content in members:
        info = entry(name, tarfile.REGTYPE, mode, len(content), mtime)
        out += info.tobuf(format=tarfile.USTAR_FORMAT)
        out += content
        out += b"\0" * (-len(content) % tarfile.BLOCKSIZE)
    return bytes(out)


def pkginfo(args, size: int, datahash: str, mtime: int) -> bytes:
    lines = [
        "# Generated by packaging/apk/build-apk.py (APK v2, unsigned)",
        f"pkgname = {NAME}",
        f"pkgver = {args.version}",
        "pkgdesc = Remote patching agent with a REST API over mutual TLS",
        f"url = {args.url}",
        f"builddate = {mtime}",
        "packager = linux-patch-api maintainers <maintainers@linux-patch-api.invalid>",
        f"size = {size}",
        "arch = x86_64",
        f"origin = {NAME}",
        "license = MIT OR Apache-2.0",
        # The install scripts need a shell; the static binary needs nothing.
        "depend = /bin/sh",
        f"datahash = {datahash}",
    ]
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--version", required=True, help="pkgver, e.g. 0.1.0-r0")
    parser.add_argument("--etc", required=True, help="directory with config.yaml and whitelist.yaml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--url", default="https://linux-patch-api.invalid/", help="project home page")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"build-apk: {args.binary} is missing: run make static", file=sys.stderr)
        return 1
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))

    files = data_files(args)
    data = gz(data_tarball(files, mtime))
    size = sum(len(c) for _, _, c in files if c is not None)
    control = [(".PKGINFO", 0o644, pkginfo(args, size, hashlib.sha256(data).hexdigest(), mtime))]
    for script in SCRIPTS:
        with open(os.path.join(HERE, script.lstrip(".")), "rb") as f:
            control.append((script, 0o755, f.read()))
    package = gz(control_segment(control, mtime)) + data

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{NAME}-{args.version}.apk")
    with open(path + ".tmp", "wb") as f:
        f.write(package)
    os.replace(path + ".tmp", path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
