#!/bin/sh
# Builds the apk fixture repositories (packages and versions: fixtures-apk.py) into OUTDIR:
#   OUTDIR/keys/lpa-fixtures.rsa        throw-away RSA key (0600), new on every build
#   OUTDIR/keys/lpa-fixtures.rsa.pub    its public key, for ROOT/etc/apk/keys/
#   OUTDIR/signed/x86_64/               every package and APKINDEX.tar.gz (v2), signed
#                                       the way abuild-sign does
#   OUTDIR/unsigned/x86_64/             the same, unsigned (needs --allow-untrusted)
#   OUTDIR/repositories                 /etc/apk/repositories line for the signed repository
#   OUTDIR/repositories-unsigned        ... for the unsigned one
# with OUTDIR bind-mounted at /srv/lpa-apk inside a sandbox. No network. Needs: python3,
# openssl.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
for tool in python3 openssl; do
    command -v "$tool" >/dev/null || { echo "fixtures-apk: $tool is missing" >&2; exit 1; }
done
python3 "$(dirname "$0")/fixtures-apk.py" "$1"
echo /srv/lpa-apk/signed > "$1/repositories"
echo /srv/lpa-apk/unsigned > "$1/repositories-unsigned"
