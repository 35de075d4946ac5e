#!/bin/sh
# Builds once, and prints the paths of, static apk-tools 2.14.10 and 3.0.6 from the vendored
# source tarballs (../shared/vendor/apk-tools, or $LPA_APK_TOOLS_SRC). apk-tools is a test tool
# here, never shipped. The cache lives outside the checkout, keyed by the tarballs' hash and
# this recipe, so CI on the same machine and later sessions reuse it.
#
# Output (stdout), one line each:
#   apk2 /var/cache/linux-patch-api-tests/apk-tools-<key>/apk2
#   apk3 /var/cache/linux-patch-api-tests/apk-tools-<key>/apk3
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=${LPA_APK_TOOLS_SRC:-$here/../../../shared/vendor/apk-tools}
v2=2.14.10
v3=3.0.6
t2=$src/apk-tools-$v2.tar.gz
t3=$src/apk-tools-$v3.tar.gz
for t in "$t2" "$t3"; do
    [ -f "$t" ] || { echo "apk-tools: $t is missing (set LPA_APK_TOOLS_SRC to the directory holding the apk-tools tarballs)" >&2; exit 1; }
done

# Bump the last field when the build recipe below changes.
recipe="static-v1"
key=$( { sha256sum "$t2" "$t3" | cut -d' ' -f1; echo "$recipe"; } | sha256sum | cut -c1-16)
cache=${LPA_SANDBOX_CACHE:-/var/cache/linux-patch-api-tests}
out=$cache/apk-tools-$key

if [ -f "$out/.lpa-complete" ]; then
    echo "apk2 $out/apk2"
    echo "apk3 $out/apk3"
    exit 0
fi

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "apk-tools: $1 is missing (Debian package: $2; .ci/run installs it)" >&2; exit 1; }
}
need make make
need gcc gcc
need pkg-config pkg-config
need meson meson
need ninja ninja-build
for h in /usr/include/openssl/evp.h:libssl-dev /usr/include/zlib.h:zlib1g-dev /usr/include/zstd.h:libzstd-dev; do
    [ -f "${h%%:*}" ] || { echo "apk-tools: ${h%%:*} is missing (Debian package: ${h#*:})" >&2; exit 1; }
done

mkdir -p "$cache"
tmp=$out.tmp.$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
jobs=$(nproc 2>/dev/null || echo 2)

# 2.x: its Makefile's static target (Lua off: the test needs no Lua applets).
tar -xzf "$t2" -C "$tmp"
make -C "$tmp/apk-tools-$v2" -j"$jobs" static LUA=no >"$tmp/build2.log" 2>&1 ||
    { tail -n 40 "$tmp/build2.log" >&2; echo "apk-tools: building $v2 failed" >&2; exit 1; }
cp "$tmp/apk-tools-$v2/src/apk.static" "$tmp/apk2"

# 3.x: meson, everything static, nothing optional but zstd.
tar -xzf "$t3" -C "$tmp"
(
    cd "$tmp/apk-tools-$v3"
    meson setup build -Ddefault_library=static -Dprefer_static=true -Dc_link_args=-static \
        -Ddocs=disabled -Dhelp=disabled -Dlua=disabled -Dpython=disabled -Dtests=disabled \
        -Dzstd=enabled && ninja -C build -j"$jobs"
) >"$tmp/build3.log" 2>&1 ||
    { tail -n 40 "$tmp/build3.log" >&2; echo "apk-tools: building $v3 failed" >&2; exit 1; }
cp "$tmp/apk-tools-$v3/build/src/apk" "$tmp/apk3"

# Prove both run and are the versions named (they will run in a root with no libc).
"$tmp/apk2" --version | grep -q "apk-tools $v2" ||
    { echo "apk-tools: $tmp/apk2 is not $v2: $("$tmp/apk2" --version)" >&2; exit 1; }
"$tmp/apk3" --version | grep -q "apk-tools $v3" ||
    { echo "apk-tools: $tmp/apk3 is not $v3: $("$tmp/apk3" --version)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
mv "$tmp/apk2" "$tmp/apk3" "$out/"
chmod 0755 "$out/apk2" "$out/apk3"
touch "$out/.lpa-complete"
rm -rf "$tmp"
trap - EXIT
echo "apk2 $out/apk2"
echo "apk3 $out/apk3"
