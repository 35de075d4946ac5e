#!/usr/bin/env python3
"""Builds fuzz/corpus-seed/<target>/ from the real recorded tool outputs and feeds.

Sources: the repository's tests/data/ (recorded from the real tools, see each README there)
and, when present, ../shared/recorded/ (real advisory feed files). Run from anywhere; the
result is committed so a fresh clone needs neither. Each seed is capped at 16 KiB: the
fuzzer mutates small inputs faster, and the head of a recording has every structure.
"""

import glob
import gzip
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "recorded")
OUT = os.path.join(HERE, "corpus-seed")
CAP = 16 * 1024


def data(*patterns):
    """Files under tests/data matching the patterns."""
    files = []
    for p in patterns:
        files += sorted(glob.glob(os.path.join(REPO, "tests", "data", p)))
    return files


def shared(*patterns):
    """Files under ../shared/recorded matching the patterns (none if it is absent)."""
    files = []
    for p in patterns:
        files += sorted(glob.glob(os.path.join(SHARED, p)))
    return files


def put(target, name, content):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(content[:CAP])


def copy(target, files, prefix=b""):
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        if body:
            put(target, os.path.basename(path), prefix + body)


def versions(target, lists):
    """Version-target seeds: pieces separated by 0xFF, each `\\x01` + raw text."""
    for i, vs in enumerate(lists):
        put(target, f"list{i}", b"\xff".join(b"\x01" + v.encode() for v in vs))


def der_seeds():
    """A real CA certificate, leaf, key and CRL from openssl, as DER and as a bundle."""
    tmp = tempfile.mkdtemp()
    run = lambda *a: subprocess.run(a, cwd=tmp, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Fuzz CA/O=lpa",
        "-days", "3650")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=host.example")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "365")
    with open(os.path.join(tmp, "idx"), "w"):
        pass
    with open(os.path.join(tmp, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=idx\ndefault_md=sha256\n"
                "default_crl_days=30\n")
    run("openssl", "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert",
        "ca.pem", "-out", "crl.pem")
    for name, kind in [("ca.pem", "x509"), ("srv.pem", "x509"), ("crl.pem", "crl")]:
        der = run("openssl", kind, "-in", name, "-outform", "DER").stdout
        put("x509", name.replace(".pem", ".der"), der)
    read = lambda n: open(os.path.join(tmp, n)).read()
    import json
    bundle = {"status": "approved", "ca_crt": read("ca.pem"), "server_crt": read("srv.pem"),
              "server_key": read("srv.key"), "crl_pem": read("crl.pem")}
    put("enroll_bundle", "approved.json", json.dumps(bundle).encode())
    put("enroll_bundle", "minimal.json", b'{"status":"approved","ca_crt":"","server_crt":""}')
    shutil.rmtree(tmp)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    copy("dpkg_status", data("apt/status", "apt/status-after-*", "apt/restore.state"))
    copy("apt_output", data("apt/policy-*.stdout", "apt/simulate-*.stdout",
                            "apt/dist-upgrade*.stdout", "apt/install*.stdout"))
    copy("rpm_query", data("dnf/rpm-*"))
    copy("dnf_output", data("dnf/dnf-check-update*.stdout", "dnf/dnf-updateinfo-*.stdout",
                            "dnf/dnf-list-*.stdout", "yum/*.stdout"))
    copy("zypper_output", data("zypper/*.stdout", "zypper/*.stderr"))
    copy("pacman_output", data("pacman/*.stdout", "pacman/local-*"))
    copy("apk_output", data("apk/*.stdout", "apk/lib-apk-db-installed", "apk/world-*") +
         shared("apk/lib-apk-db-installed.txt"))
    # The index of the signed fixture repository (the unsigned one differs only by it).
    copy("apk_output", data("apk/index/signed/APKINDEX.tar.gz"))
    copy("dnf_output", data("rpm-md/repodata/repomd.xml"))
    for path in data("rpm-md/repodata/*-primary.xml.gz"):
        with gzip.open(path, "rb") as f:
            put("dnf_output", "primary.xml", f.read())
    # feed_json: the first byte picks the parser (0 secdb, 1 ASA, 2 tracker, 3 OSV).
    copy("feed_json", data("feeds/alpine-secdb-*.json") + shared("advisories/alpine-secdb/*.json"), b"\x00")
    copy("feed_json", data("feeds/arch-*.json") + shared("advisories/arch-asa/*.json"), b"\x01")
    copy("feed_json", data("feeds/debian-tracker-*.json") + shared("advisories/debian-tracker/*.json"), b"\x02")
    copy("feed_json", shared("advisories/osv-*/*.json"), b"\x03")
    copy("feed_updateinfo", data("dnf/dnf-cache-updateinfo.xml") + shared("advisories/updateinfo/*.xml"))
    copy("config", [os.path.join(REPO, "etc", "config.yaml")])
    # proc_maps: the first byte picks the reader (0 maps, 1 cgroup).
    copy("proc_maps", data("proc/maps-*"), b"\x00")
    copy("proc_maps", data("proc/cgroup-*"), b"\x01")
    put("proc_maps", "cgroup-v2", b"\x010::/system.slice/ssh.service\n")
    put("proc_maps", "cgroup-openrc", b"\x010::/openrc.sshd\n")
    copy("whitelist", [os.path.join(REPO, "etc", "whitelist.yaml")], b"\x00\x0a\x00\x00\x01")
    put("whitelist", "list", b"\x00\xc0\xa8\x01\x07- 10.0.0.0/8\n- ::1\n")
    put("http_request", "get", b"GET /api/v1/packages?sort=version&order=desc HTTP/1.1\r\nHost: a\r\n\r\n")
    put("http_request", "post", b"POST /api/v1/packages/install HTTP/1.1\r\nHost: a\r\n"
        b"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"packages\":[\"lpa-hello\"]}\n")
    put("http_request", "chunked", b"POST /api/v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    put("http_request", "ws", b"GET /api/v1/ws/jobs HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    put("uri", "path", b"/api/v1/packages/lpa%2Dhello/versions")
    put("uri", "query", b"sort=version&order=desc&name=lpa+hello&page=%32")
    for i, msg in enumerate([b'{"type":"subscribe","job_id":"0b9a8f3e-3c4f-4a51-9a0f-8f7c1b2d3e4f"}',
                             b'{"type":"unsubscribe","payload":{"job_id":"0b9a8f3e-3c4f-4a51-9a0f-8f7c1b2d3e4f"}}',
                             b'{"type":"subscribe_all"}', b'{"type":"ping"}']):
        put("ws", f"text{i}", b"\x00" + msg)
        mask = b"\x01\x02\x03\x04"
        frame = bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[j % 4] for j, b in enumerate(msg))
        put("ws", f"frame{i}", b"\x01" + frame + bytes([0x89, 0x80]) + mask + bytes([0x88, 0x80]) + mask)
    versions("version_deb", [["1.0", "1.0-1", "1:0.9", "1.0~rc1", "1.0+b1", "2.36-9+deb12u4"],
                             ["0.0", "0", "1.0a", "1.0+", "1.010", "1.9"]])
    versions("version_rpm", [["1.0-1", "1.0", "1:1.0-1.fc40", "1.0~rc1-1", "1.0^git1-1", "2.0-0.1.el9"],
                             ["1.0.a", "1.0a", "1..0", "1.0_1", "0:1.0", "1.0-"]])
    versions("version_alpm", [["1-2", "1", "1-1", "1:1-1", "1.0.a", "1.0a"],
                              ["6.8.9.arch1-1", "1.2.3-1", "2:1.0-1", "1.0rc1-1", "1..0", "1.0-1.1"]])
    versions("version_apk", [["1.0-r0", "1.0_alpha1-r2", "1.0_p1", "1.0a-r1", "1.0~abc-r1", "1.06-r6"],
                             ["2.34", "0.1.0_alpha", "23_foo", "4_beta", "006", "1.0.0"]])
    der_seeds()


if __name__ == "__main__":
    main()
