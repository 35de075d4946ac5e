"""The APK v2 format as apk-tools 2.x (and 3.x) reads it, and abuild-sign's signature.

Used by build-apk.py (`make apk`) and by the test fixtures (tests/sandbox/fixtures-apk.py).
Sources: apk-tools' apk-v2(5), the Alpine wiki page "Apk spec", abuild's create_apks,
abuild-tar and abuild-sign.

  A .apk is up to three gzip streams concatenated. Together they decompress to
  one tar archive, but apk uses the stream boundaries to tell the parts apart:
    1. signature (optional): a tar SEGMENT holding .SIGN.RSA.<keyname>.rsa.pub,
       `openssl dgst -sha1 -sign KEY` over stream 2 as stored (compressed). apk
       verifies it with /etc/apk/keys/<keyname>.rsa.pub; an unsigned package is
       refused (UNTRUSTED signature) unless --allow-untrusted is given.
    2. control: a tar SEGMENT, i.e. WITHOUT the two zero end-of-archive blocks
       (apk 2's reader would stop at them), holding .PKGINFO and the install scripts.
    3. data: a complete tarball of the files, where each regular file's header
       is preceded by a PAX extended header carrying
       APK-TOOLS.checksum.SHA1=<hex SHA-1 of the file's contents>.
  .PKGINFO's `datahash` (hex SHA-256 of stream 3 as stored) ties the data to the
  signed control stream. A repository index (APKINDEX.tar.gz) is signed the same way,
  the signature covering the whole unsigned index file.
"""

import base64
import gzip
import hashlib
import io
import os
import subprocess
import tarfile


def gz(data: bytes) -> bytes:
    """One gzip stream, reproducible (no name, no time)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def entry(name: str, kind: bytes, mode: int, size: int, mtime: int) -> tarfile.TarInfo:
    """A tar header owned by root."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def data_tarball(files, mtime: int) -> bytes:
    """Stream 3: a PAX tarball of (path, mode, contents or None for a directory), each
    regular file with its APK-TOOLS.checksum.SHA1."""
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


def tar_segment(members, mtime: int) -> bytes:
    """ustar headers and padded contents of (name, mode, contents), without the
    end-of-archive blocks (what abuild-tar --cut leaves)."""
    out = bytearray()
    for name, mode, content in members:
        info = entry(name, tarfile.REGTYPE, mode, len(content), mtime)
        out += info.tobuf(format=tarfile.USTAR_FORMAT)
        out += content
        out += b"\0" * (-len(content) % tarfile.BLOCKSIZE)
    return bytes(out)


class SignError(Exception):
    """The key cannot sign (missing, unreadable, not an RSA private key)."""


def key_name(key_path: str) -> str:
    """The name apk looks the public key up by: the key file's name plus `.pub`
    (`name.rsa` -> `name.rsa.pub`, as abuild-keygen names them)."""
    return os.path.basename(key_path) + ".pub"


def signature_segment(key_path: str, signed: bytes, mtime: int) -> bytes:
    """Stream 1: gzip'd tar segment with `.SIGN.RSA.<key_name>`, the RSA/SHA-1 signature of
    `signed` (what abuild-sign prepends)."""
    try:
        done = subprocess.run(
            ["openssl", "dgst", "-sha1", "-sign", key_path],
            input=signed,
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise SignError(f"cannot run openssl: {e}") from e
    if done.returncode != 0 or not done.stdout:
        raise SignError(f"openssl cannot sign with {key_path}: {done.stderr.decode(errors='replace').strip()}")
    name = ".SIGN.RSA." + key_name(key_path)
    return gz(tar_segment([(name, 0o644, done.stdout)], mtime))


def public_key(key_path: str) -> bytes:
    """The PEM public key of an RSA private key (what goes to /etc/apk/keys)."""
    done = subprocess.run(["openssl", "rsa", "-in", key_path, "-pubout"], capture_output=True, check=False)
    if done.returncode != 0:
        raise SignError(f"openssl cannot read {key_path}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def package(pkginfo_lines, scripts, files, mtime: int, key_path=None):
    """A whole .apk: (bytes, control stream). `pkginfo_lines` is .PKGINFO without
    `datahash`, which is appended; `scripts` is [(".post-install", contents)]."""
    data = gz(data_tarball(files, mtime))
    info = "\n".join(list(pkginfo_lines) + [f"datahash = {hashlib.sha256(data).hexdigest()}"]) + "\n"
    members = [(".PKGINFO", 0o644, info.encode())]
    members += [(name, 0o755, content) for name, content in scripts]
    control = gz(tar_segment(members, mtime))
    signature = signature_segment(key_path, control, mtime) if key_path else b""
    return signature + control + data, control


def identity(control: bytes) -> str:
    """The index's `C:` field: `Q1` + base64 SHA-1 of the control stream as stored."""
    return "Q1" + base64.b64encode(hashlib.sha1(control).digest()).decode()


def index(records, description: str, mtime: int, key_path=None) -> bytes:
    """APKINDEX.tar.gz (v2, read by apk 2 and 3): a tarball of DESCRIPTION and APKINDEX
    (`records`: one text block of `X:value` lines each), signed when `key_path` is given."""
    text = "".join(r.rstrip("\n") + "\n\n" for r in records).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in [("DESCRIPTION", description.encode()), ("APKINDEX", text)]:
            tar.addfile(entry(name, tarfile.REGTYPE, 0o644, len(content), mtime), io.BytesIO(content))
    unsigned = gz(out.getvalue())
    return (signature_segment(key_path, unsigned, mtime) if key_path else b"") + unsigned


def write_atomic(path: str, content: bytes) -> None:
    """temp + fsync + rename, so a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
