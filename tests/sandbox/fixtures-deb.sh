#!/bin/sh
# Builds the Debian fixture packages and two flat, unsigned apt repositories under OUTDIR.
#
# Usage: tests/sandbox/fixtures-deb.sh OUTDIR
#
# Result (deterministic: fixed timestamps, sorted inputs; no network):
#   OUTDIR/debs/*.deb          every fixture package (lpa-lib 1.0-1 1.1-1, lpa-hello 1.0-1 1.1-1
#                              2.0-1, lpa-tool 1.0-1, lpa-slow 1.0-1), all Architecture: all
#   OUTDIR/main/               suite lpa-stable (Origin/Label LPA): lpa-lib 1.0-1 + 1.1-1,
#                              lpa-hello 1.0-1 + 1.1-1, lpa-tool 1.0-1, lpa-slow 1.0-1
#   OUTDIR/security/           suite bookworm-security (Origin Debian, Label Debian-Security):
#                              lpa-hello 2.0-1 only
#   OUTDIR/ubuntu-security/    suite noble-security (Origin Ubuntu, Label Ubuntu), as Ubuntu
#                              labels its security pocket: lpa-hello 2.0-1 only
#   OUTDIR/sources.list        main and security
#   OUTDIR/security.list       the security repository only
#   OUTDIR/ubuntu.list         main and ubuntu-security (an Ubuntu-like root's sources)
#
# The .list files assume OUTDIR is bind-mounted at /srv/lpa-deb inside the sandbox, e.g.
#   bwrap --bind MERGED / --bind OUTDIR /srv/lpa-deb ...
# and copied to MERGED/etc/apt/sources.list.d/lpa.list. The repositories are unsigned:
# the lines carry [trusted=yes].
#
# Prints nothing but errors.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
for tool in dpkg-deb apt-ftparchive; do
    command -v "$tool" >/dev/null || { echo "fixtures-deb: $tool is missing" >&2; exit 1; }
done

out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Fixed timestamps make the .debs and Release files byte-for-byte repeatable.
SOURCE_DATE_EPOCH=1767225600 # 2026-01-01T00:00:00Z
export SOURCE_DATE_EPOCH
release_date='Thu, 01 Jan 2026 00:00:00 UTC'
maintainer='LPA Tests <tests@lpa.invalid>'
work=$out/.build
rm -rf "$work" "$out/debs" "$out/main" "$out/security" "$out/ubuntu-security"
mkdir -p "$work" "$out/debs" "$out/main" "$out/security" "$out/ubuntu-security"
trap 'rm -rf "$work"' EXIT

# copyright NAME: a machine-readable copyright file (where Debian records the license).
copyright() {
    mkdir -p "$tree/usr/share/doc/$1"
    cat > "$tree/usr/share/doc/$1/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $1

Files: *
Copyright: 2026 LPA Tests
License: MIT
EOF
}

# control NAME VERSION DESCRIPTION [DEPENDS]: starts a package tree with its control file.
control() {
    tree=$work/$1_$2
    mkdir -p "$tree/DEBIAN"
    {
        echo "Package: $1"
        echo "Version: $2"
        echo "Architecture: all"
        echo "Maintainer: $maintainer"
        echo "Section: misc"
        echo "Priority: optional"
        if [ -n "${4:-}" ]; then echo "Depends: $4"; fi
        echo "Homepage: https://lpa.invalid/${1#lpa-}"
        echo "Description: $3"
        echo " Fixture package for the linux-patch-api test suite."
        echo " ."
        echo " Version $2."
    } > "$tree/DEBIAN/control"
    copyright "$1"
}

# build: packs the current tree into OUTDIR/debs with fixed mtimes and modes.
build() {
    # Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory.
    size=$(find "$tree" -path "$tree/DEBIAN" -prune -o ! -path "$tree" -printf '%y %s\n' |
        awk '$1 == "d" { n += 1; next } { n += int(($2 + 1023) / 1024) } END { print n }')
    sed -i "/^Description:/i Installed-Size: $size" "$tree/DEBIAN/control"
    find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    find "$tree" -type d -exec chmod 0755 {} +
    dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/debs/" >/dev/null
}

for v in 1.0-1 1.1-1; do
    control lpa-lib "$v" "LPA fixture library"
    mkdir -p "$tree/usr/lib/lpa"
    echo "liblpa $v" > "$tree/usr/lib/lpa/liblpa.txt"
    chmod 0644 "$tree/usr/lib/lpa/liblpa.txt"
    build
done

for v in 1.0-1 1.1-1 2.0-1; do
    control lpa-hello "$v" "LPA fixture hello" "lpa-lib (>= 1.0)"
    mkdir -p "$tree/usr/bin" "$tree/etc"
    printf '#!/bin/sh\necho "lpa-hello %s"\n' "$v" > "$tree/usr/bin/lpa-hello"
    chmod 0755 "$tree/usr/bin/lpa-hello"
    printf '# lpa-hello configuration\ngreeting=hello\n' > "$tree/etc/lpa-hello.conf"
    chmod 0644 "$tree/etc/lpa-hello.conf"
    echo /etc/lpa-hello.conf > "$tree/DEBIAN/conffiles"
    chmod 0644 "$tree/DEBIAN/conffiles"
    build
done

control lpa-tool 1.0-1 "LPA fixture tool"
mkdir -p "$tree/usr/bin"
printf '#!/bin/sh\necho "lpa-tool 1.0-1"\n' > "$tree/usr/bin/lpa-tool"
chmod 0755 "$tree/usr/bin/lpa-tool"
build

# lpa-slow: its postinst sleeps, so tests can cancel or time out a transaction half-way
# (dpkg is left with the package unpacked / half-configured; `dpkg --configure -a` repairs).
control lpa-slow 1.0-1 "LPA fixture slow"
mkdir -p "$tree/usr/share/lpa"
echo "lpa-slow 1.0-1" > "$tree/usr/share/lpa/slow.txt"
chmod 0644 "$tree/usr/share/lpa/slow.txt"
printf '#!/bin/sh
set -e
if [ "$1" = configure ]; then
    sleep 30
fi
' > "$tree/DEBIAN/postinst"
chmod 0755 "$tree/DEBIAN/postinst"
build

for f in lpa-lib_1.0-1 lpa-lib_1.1-1 lpa-hello_1.0-1 lpa-hello_1.1-1 lpa-tool_1.0-1 lpa-slow_1.0-1; do
    cp "$out/debs/${f}_all.deb" "$out/main/"
done
cp "$out/debs/lpa-hello_2.0-1_all.deb" "$out/security/"
cp "$out/debs/lpa-hello_2.0-1_all.deb" "$out/ubuntu-security/"

# repo DIR ORIGIN LABEL SUITE CODENAME: indexes a flat repository and writes its Release.
repo() {
    (
        cd "$1"
        apt-ftparchive packages . > Packages 2>"$work/ftparchive.err" || { cat "$work/ftparchive.err" >&2; exit 1; }
        gzip -9n -c Packages > Packages.gz
        rm -f Release
        apt-ftparchive \
            -o "APT::FTPArchive::Release::Origin=$2" \
            -o "APT::FTPArchive::Release::Label=$3" \
            -o "APT::FTPArchive::Release::Suite=$4" \
            -o "APT::FTPArchive::Release::Codename=$5" \
            -o "APT::FTPArchive::Release::Date=$release_date" \
            -o "APT::FTPArchive::Release::Description=linux-patch-api test fixtures" \
            release . > "$work/Release" 2>"$work/ftparchive.err" || { cat "$work/ftparchive.err" >&2; exit 1; }
        mv "$work/Release" Release
    )
}

repo "$out/main" LPA LPA lpa-stable lpa-stable
repo "$out/security" Debian Debian-Security bookworm-security bookworm-security
repo "$out/ubuntu-security" Ubuntu Ubuntu noble-security noble

printf 'deb [trusted=yes] file:/srv/lpa-deb/main ./\ndeb [trusted=yes] file:/srv/lpa-deb/security ./\n' > "$out/sources.list"
printf 'deb [trusted=yes] file:/srv/lpa-deb/security ./\n' > "$out/security.list"
printf 'deb [trusted=yes] file:/srv/lpa-deb/main ./\ndeb [trusted=yes] file:/srv/lpa-deb/ubuntu-security ./\n' > "$out/ubuntu.list"
