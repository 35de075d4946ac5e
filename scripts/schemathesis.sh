#!/bin/sh
# Prints the path of schemathesis at the version `make contract` is written for, installing
# it once (from PyPI, with pip) into a virtual environment cached outside the checkout, like
# the sandbox roots (tests/sandbox/base-root.sh). Needs python3 with venv and pip (Debian
# packages python3-venv, python3-pip).
set -eu

version=4.32.5
cache=${LPA_SANDBOX_CACHE:-/var/cache/linux-patch-api-tests}
venv=$cache/venv-schemathesis-$version

if [ -f "$venv/.lpa-complete" ]; then
    echo "$venv/bin/schemathesis"
    exit 0
fi
command -v python3 >/dev/null || { echo "schemathesis.sh: python3 is missing (Debian package: python3)" >&2; exit 1; }
mkdir -p "$cache"
# A venv cannot be moved (its scripts name their own path): build in place, mark when whole.
rm -rf "$venv"
python3 -m venv "$venv" >&2 || { echo "schemathesis.sh: python3 -m venv failed (Debian package: python3-venv)" >&2; exit 1; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version" >&2
"$venv/bin/schemathesis" --version >&2
touch "$venv/.lpa-complete"
echo "$venv/bin/schemathesis"
