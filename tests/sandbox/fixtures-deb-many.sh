#!/bin/sh
# Builds MANY small Debian fixture packages, each in two versions, for the tests that need
# more upgradable packages than one page of the API holds (issue 14: 133 updates).
#
# Usage: tests/sandbox/fixtures-deb-many.sh OUTDIR [COUNT]   (COUNT defaults to 133)
#
# Result (deterministic: fixed timestamps; no network):
#   OUTDIR/old/lpa-many-NNN_1.0-1_all.deb   the installed versions, for `dpkg -i`
#   OUTDIR/repo/                            flat repository (suite lpa-many) holding every
#                                           lpa-many-NNN at 1.1-1
#   OUTDIR/sources.list                     the repository, assuming OUTDIR is bind-mounted
#                                           at /srv/lpa-many ([trusted=yes], unsigned)
#
# Prints nothing but errors.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR [COUNT]" >&2
    exit 2
fi
for tool in dpkg-deb apt-ftparchive; do
    command -v "$tool" >/dev/null || { echo "fixtures-deb-many: $tool is missing" >&2; exit 1; }
done

out=$1
count=${2:-133}
mkdir -p "$out"
out=$(cd "$out" && pwd)
SOURCE_DATE_EPOCH=1767225600 # 2026-01-01T00:00:00Z
export SOURCE_DATE_EPOCH
work=$out/.build
rm -rf "$work" "$out/old" "$out/repo"
mkdir -p "$work" "$out/old" "$out/repo"
trap 'rm -rf "$work"' EXIT

# package NAME VERSION DEST: one package holding one small file, built into DEST.
package() {
    tree=$work/$1_$2
    mkdir -p "$tree/DEBIAN" "$tree/usr/share/lpa-many"
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: LPA Tests <tests@lpa.invalid>\nSection: misc\nPriority: optional\nInstalled-Size: 1\nDescription: LPA fixture %s\n One of many fixture packages for the linux-patch-api test suite.\n' \
        "$1" "$2" "$1" > "$tree/DEBIAN/control"
    echo "$1 $2" > "$tree/usr/share/lpa-many/$1.txt"
    chmod 0644 "$tree/usr/share/lpa-many/$1.txt"
    find "$tree" -type d -exec chmod 0755 {} +
    find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    # No compression: hundreds of packages stay quick to build and to install.
    dpkg-deb --root-owner-group -Znone --build "$tree" "$3/" >/dev/null
    rm -rf "$tree"
}

i=1
while [ "$i" -le "$count" ]; do
    name=$(printf 'lpa-many-%03d' "$i")
    package "$name" 1.0-1 "$out/old"
    package "$name" 1.1-1 "$out/repo"
    i=$((i + 1))
done

(
    cd "$out/repo"
    apt-ftparchive packages . > Packages 2>"$work/ftparchive.err" || { cat "$work/ftparchive.err" >&2; exit 1; }
    apt-ftparchive \
        -o "APT::FTPArchive::Release::Origin=LPA" \
        -o "APT::FTPArchive::Release::Label=LPA" \
        -o "APT::FTPArchive::Release::Suite=lpa-many" \
        -o "APT::FTPArchive::Release::Codename=lpa-many" \
        -o "APT::FTPArchive::Release::Date=Thu, 01 Jan 2026 00:00:00 UTC" \
        release . > "$work/Release" 2>"$work/ftparchive.err" || { cat "$work/ftparchive.err" >&2; exit 1; }
    mv "$work/Release" Release
)

printf 'deb [trusted=yes] file:/srv/lpa-many/repo ./\n' > "$out/sources.list"
