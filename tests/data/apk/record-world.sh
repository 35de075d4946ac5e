#!/bin/sh
# Re-records the real `/etc/apk/world` that src/pkg/apk/holds.rs's unit tests read, with
# apk-tools 2.14.10 and 3.0.6: as apk writes it after `apk add busybox-binsh`, an exact
# install (`lpa-lib=1.0-r0 lpa-hello=1.0-r0`, the pins that are apk's holds), a plain name
# (`lpa-tool`) and a range (`lpa-tool<2.0`), in an overlay over each Alpine-like root
# (tests/sandbox/alpine-root.sh) with the unsigned fixture repository.
#
# Usage (root, from the checkout): tests/data/apk/record-world.sh
# Needs the static apk-tools (tests/sandbox/apk-tools.sh builds them once), overlayfs,
# bubblewrap, python3 and openssl (fixtures). Never touches the host's packages.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
tools=$(sh "$top/tests/sandbox/apk-tools.sh")
t=$(mktemp -d /tmp/lpa-apk-world.XXXXXX)
cleanup() {
    umount "$t/m2" "$t/m3" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT
"$top/tests/sandbox/fixtures-apk.sh" "$t/fx" > /dev/null 2>&1

for v in 2 3; do
    bin=$(echo "$tools" | sed -n "s/^apk$v //p")
    root=$("$top/tests/sandbox/alpine-root.sh" "$v" "$bin")
    m=$t/m$v
    mkdir -p "$t/u$v" "$t/w$v" "$m"
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$t/u$v,workdir=$t/w$v" "$m"
    mkdir -p "$m/srv/lpa-apk"
    cp "$t/fx/repositories-unsigned" "$m/etc/apk/repositories"
    run() {
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
            bwrap --bind "$m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
            --ro-bind "$t/fx" /srv/lpa-apk --unshare-pid --die-with-parent \
            apk --allow-untrusted --wait 30 "$@"
    }
    run update > /dev/null 2>&1
    run add busybox-binsh > /dev/null 2>&1
    run add -- lpa-lib=1.0-r0 lpa-hello=1.0-r0 lpa-tool > /dev/null 2>&1
    cp "$m/etc/apk/world" "$here/world-pinned-apk$v"
    run add -- 'lpa-tool<2.0' > /dev/null 2>&1
    cp "$m/etc/apk/world" "$here/world-range-apk$v"
    umount "$m"
done
