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

tmpname=lpa-apk-world
. "$(dirname "$0")/record-lib.sh"

for v in 2 3; do
    overlay "$v"
    run --wait 30 update > /dev/null 2>&1
    run --wait 30 add busybox-binsh > /dev/null 2>&1
    run --wait 30 add -- lpa-lib=1.0-r0 lpa-hello=1.0-r0 lpa-tool > /dev/null 2>&1
    cp "$m/etc/apk/world" "$here/world-pinned-apk$v"
    run --wait 30 add -- 'lpa-tool<2.0' > /dev/null 2>&1
    cp "$m/etc/apk/world" "$here/world-range-apk$v"
    umount "$m"
done
