#!/bin/sh
# Builds the .rpm from the static binary: build-rpm.sh BINARY VERSION ETCDIR OUTDIR
# (`make rpm` calls it), with rpmbuild in a throw-away _topdir.
set -eu

[ $# -eq 4 ] || { echo "usage: $0 BINARY VERSION ETCDIR OUTDIR" >&2; exit 2; }
binary=$1 version=$2 etcdir=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

command -v rpmbuild >/dev/null || { echo "build-rpm: rpmbuild is missing (Debian package: rpm)" >&2; exit 1; }
[ -x "$binary" ] || { echo "build-rpm: $binary is missing: run make static" >&2; exit 1; }
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }

mkdir -p "$outdir"
work=$(mktemp -d "$outdir/.rpm-top.XXXXXX")
trap 'rm -rf "$work"' EXIT
rpmbuild -bb --quiet --target x86_64 \
    --define "_topdir $(abs "$work")" \
    --define "_rpmdir $(abs "$work")/RPMS" \
    --define "lpa_version $version" \
    --define "lpa_binary $(abs "$binary")" \
    --define "lpa_etc $(abs "$etcdir")" \
    --define "lpa_top $top" \
    --define "_binary_payload w9.gzdio" \
    "$here/linux-patch-api.spec" >&2
out="$outdir/linux-patch-api-$version-1.x86_64.rpm"
mv "$work/RPMS/x86_64/linux-patch-api-$version-1.x86_64.rpm" "$out"
echo "$out"
