#!/bin/sh
# Builds once, and prints the path of, a cached Alpine-like root for apk-tools 2 or 3:
#   alpine-root.sh 2|3 [APK]
# APK is the static apk binary of that major version; by default tests/sandbox/apk-tools.sh
# builds (or finds) it.
# Alpine itself is out of reach (no mirror), so the root is made of Debian's busybox-static
# (/bin/busybox and its applet links, /bin/sh among them), an Alpine /etc/os-release, the
# static apk (tests/sandbox/apk-tools.sh) at /sbin/apk where the agent looks for it, and an
# empty apk database made by `apk add --initdb`. /etc/apk/repositories and /etc/apk/world are
# empty, /etc/apk/keys has no key: each test adds its fixture repository and key.
# The cache lives outside the checkout, keyed by the apk binary and this recipe; tests copy
# the root with overlayfs and never change it.
set -eu

major=${1:-}
case $major in
    2 | 3) ;;
    *) echo "usage: $0 2|3 [APK] (the apk-tools major version, its static binary)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
apk=${2:-$(sh "$here/apk-tools.sh" | sed -n "s/^apk$major //p")}
[ -x "$apk" ] || { echo "alpine-root: no apk$major ('$apk')" >&2; exit 1; }
"$apk" --version | grep -q "^apk-tools $major\\." ||
    { echo "alpine-root: $apk is not apk-tools $major.x: $("$apk" --version)" >&2; exit 1; }
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 ||
    { echo "alpine-root: $busybox is missing (Debian package: busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
    { echo "alpine-root: $busybox is not static (Debian package: busybox-static, not busybox)" >&2; exit 1; }

# Bump the last field when the recipe below changes.
recipe="alpine-3.20.3 busybox-static v1"
key=$( { sha256sum "$apk" "$busybox" | cut -d' ' -f1; echo "$recipe"; } | sha256sum | cut -c1-16)
cache=${LPA_SANDBOX_CACHE:-/var/cache/linux-patch-api-tests}
root=$cache/alpine-apk$major-$key

if [ -f "$root/.lpa-complete" ]; then
    echo "$root"
    exit 0
fi

mkdir -p "$cache"
tmp=$root.tmp.$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
for d in bin sbin usr/bin usr/sbin etc/apk/keys lib var/cache/apk var/log var/tmp tmp run \
    root proc dev sys; do
    mkdir -p "$tmp/$d"
done
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 0700 "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
# Applet links at busybox's own places (/bin/sh, /bin/sleep, /usr/bin/env, ...).
chroot "$tmp" /bin/busybox --install -s
install -m 0755 "$apk" "$tmp/sbin/apk"

cat > "$tmp/etc/os-release" <<'EOF'
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
EOF
echo 3.20.3 > "$tmp/etc/alpine-release"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > "$tmp/etc/passwd"
printf 'root:x:0:root\nnobody:x:65534:\n' > "$tmp/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$tmp/etc/hosts"
echo x86_64 > "$tmp/etc/apk/arch"
: > "$tmp/etc/apk/repositories"
: > "$tmp/etc/apk/world"
# apk 2's --initdb needs /var/cache to exist (it does, above).
"$apk" --root "$tmp" --no-network add --initdb >&2
[ -f "$tmp/lib/apk/db/installed" ] ||
    { echo "alpine-root: apk --initdb made no /lib/apk/db/installed" >&2; exit 1; }

touch "$tmp/.lpa-complete"
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
echo "$root"
