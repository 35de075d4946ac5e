#!/bin/sh
# Builds the .deb from the static binary: build-deb.sh BINARY VERSION ETCDIR OUTDIR
# (`make deb` calls it). dpkg-deb --root-owner-group gives root:root ownership without
# fakeroot. The result is checked by tests/packaging.rs and, when installed, lintian.
set -eu

[ $# -eq 4 ] || { echo "usage: $0 BINARY VERSION ETCDIR OUTDIR" >&2; exit 2; }
binary=$1 version=$2 etcdir=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=linux-patch-api

for tool in dpkg-deb gzip md5sum; do
    command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing" >&2; exit 1; }
done
[ -x "$binary" ] || { echo "build-deb: $binary is missing: run make static" >&2; exit 1; }

# Reproducible dates: the last commit's, unless the caller fixes one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$outdir"
root=$(mktemp -d "$outdir/.deb-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -D -m 0755 "$binary" "$root/usr/sbin/$name"
install -D -m 0640 "$etcdir/config.yaml" "$root/etc/linux_patch_api/config.yaml"
install -D -m 0640 "$etcdir/whitelist.yaml" "$root/etc/linux_patch_api/whitelist.yaml"
install -D -m 0644 "$top/etc/$name.service" "$root/lib/systemd/system/$name.service"
install -d -m 0755 "$root/usr/share/man/man8" "$root/usr/share/man/man5" "$root/usr/share/doc/$name"
gzip -9nc "$top/man/$name.8" > "$root/usr/share/man/man8/$name.8.gz"
gzip -9nc "$top/man/$name.yaml.5" > "$root/usr/share/man/man5/$name.yaml.5.gz"
install -m 0644 "$here/copyright" "$root/usr/share/doc/$name/copyright"
install -D -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/$name"
if [ -f "$top/CHANGELOG.md" ]; then
    gzip -9nc "$top/CHANGELOG.md" > "$root/usr/share/doc/$name/changelog.gz"
fi
{
    printf '%s (%s) unstable; urgency=medium\n\n' "$name" "$version"
    printf '  * Built from linux-patch-api %s (see changelog.gz).\n\n' "${version%-*}"
    printf ' -- linux-patch-api maintainers <maintainers@linux-patch-api.invalid>  %s\n' \
        "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$root/usr/share/doc/$name/changelog.Debian.gz"
find "$root/usr/share" -type f -exec chmod 0644 {} +
find "$root" -type d -exec chmod 0755 {} +

install -d -m 0755 "$root/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$root/DEBIAN/$script"
done
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print \
    | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$here/control.in" > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

out="$outdir/${name}_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
