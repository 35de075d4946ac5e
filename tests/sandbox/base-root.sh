#!/bin/sh
# Builds once, and prints the path of, the cached Debian base root that sandbox tests copy
# (via overlayfs) for each test. The cache lives outside the checkout, keyed by the recipe,
# so CI on the same machine and later sessions reuse it.
#
# The root holds apt/dpkg (Debian's own) plus dnf (with its versionlock plugin), rpm, zypper and
# pacman, each of which the tests drive against fixture repositories inside a copy of this
# root, never the host.
set -eu

suite=bookworm
include=dnf,rpm,zypper,pacman-package-manager,libarchive-tools,ca-certificates
# Bump the last field when the post-processing below changes.
recipe="$suite minbase $include post-v2"
key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
cache=${LPA_SANDBOX_CACHE:-/var/cache/linux-patch-api-tests}
root=$cache/base-$key

if [ -f "$root/.lpa-complete" ]; then
    echo "$root"
    exit 0
fi

for tool in mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "base-root: $tool is missing (Debian package: $tool)" >&2; exit 1; }
done
mkdir -p "$cache"
tmp=$root.tmp.$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# dnf's versionlock plugin (holds) comes in Debian's dnf-plugins-core, which declares
# `Breaks: zypper` (both ship needs-restarting.1), so apt will not install it here. Only the
# plugin's own files are unpacked from it, as Fedora's python3-dnf-plugin-versionlock holds
# them: none of its other plugins (`local`, enabled there, would add a repository).
versionlock="./etc/dnf/plugins/versionlock.conf ./etc/dnf/plugins/versionlock.list"
versionlock="$versionlock ./usr/lib/python3/dist-packages/dnf-plugins/versionlock.py"
versionlock="$versionlock ./usr/lib/python3/dist-packages/dnfpluginscore"
versionlock="$versionlock ./usr/share/man/man8/dnf-versionlock.8.gz"
unpack_versionlock="cd \"\$1/tmp\" && APT_CONFIG=\"\$MMDEBSTRAP_APT_CONFIG\" apt-get download -qq dnf-plugins-core && dpkg-deb --fsys-tarfile dnf-plugins-core_*.deb | tar -x -C \"\$1\" $versionlock && rm dnf-plugins-core_*.deb"
mmdebstrap --quiet --variant=minbase --include="$include" --customize-hook="$unpack_versionlock" \
    "$suite" "$tmp" >&2
grep -q '^enabled = 1$' "$tmp/etc/dnf/plugins/versionlock.conf"

# No public mirror inside: tests add their own file: repositories.
rm -f "$tmp/etc/apt/sources.list"
rm -f "$tmp/etc/apt/sources.list.d/"*
printf '127.0.0.1 localhost\n::1 localhost\n' > "$tmp/etc/hosts"
# Debian's rpm keeps its database under ~/.rpmdb unless told otherwise; dnf and zypper
# must see the same one.
mkdir -p "$tmp/etc/rpm" "$tmp/var/lib/rpm"
printf '%%_dbpath /var/lib/rpm\n' > "$tmp/etc/rpm/macros.dbpath"
chroot "$tmp" rpm --initdb
# pacman: no mirrors, no signature checks for the local fixture repository.
mkdir -p "$tmp/var/lib/pacman" "$tmp/var/cache/pacman/pkg"
touch "$tmp/.lpa-complete"
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
echo "$root"
