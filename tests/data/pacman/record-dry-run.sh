#!/bin/sh
# Re-records the real `pacman --print` output that src/pkg/pacman/dry_run.rs's unit tests
# read: the commands a dry run runs (Pacman::install_targets_with / install_files_with /
# remove_with with `--print --print-format '%n %v %s'`).
#
# Usage (root, from the checkout): tests/data/pacman/record-dry-run.sh
# Needs the cached base root (tests/sandbox/base-root.sh), overlayfs, bubblewrap. Never
# touches the host's packages: everything runs in an overlay over the base root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
base=$("$top/tests/sandbox/base-root.sh")
t=$(mktemp -d /tmp/lpa-pacman-dry.XXXXXX)
m=$t/m
cleanup() {
    umount "$m" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT

"$top/tests/sandbox/fixtures-pacman.sh" "$t/fx" > /dev/null
mkdir -p "$t/u" "$t/w" "$m"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$t/u,workdir=$t/w" "$m"
mkdir -p "$m/srv/lpa-pacman" "$m/var/cache/pacman/pkg"
cp "$t/fx/pacman.conf" "$m/etc/pacman.conf"

run() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
        bwrap --bind "$m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --ro-bind "$t/fx" /srv/lpa-pacman --unshare-pid --die-with-parent pacman "$@"
}
# rec NAME OP ARGS...: `pacman --noconfirm OP ARGS` with the print options before `--`.
rec() {
    name=$1
    shift
    set +e
    run --noconfirm "$@" > "$here/dry-run-$name.stdout" 2> "$here/dry-run-$name.stderr"
    echo $? > "$here/dry-run-$name.rc"
    set -e
    [ -s "$here/dry-run-$name.stderr" ] || rm -f "$here/dry-run-$name.stderr"
}
pkg=/srv/lpa-pacman/pkgs

run --noconfirm -Sy > /dev/null 2>&1
# Nothing cached yet: sizes are what pacman would download.
rec install-with-deps -S --needed --print --print-format '%n %v %s' -- lpa-hello
cp "$t/fx/pkgs/"* "$m/var/cache/pacman/pkg/"
run --noconfirm -U "$pkg/lpa-lib-1.0-1-any.pkg.tar.zst" "$pkg/lpa-hello-1.0-1-any.pkg.tar.zst" \
    "$pkg/lpa-tool-1.0-1-any.pkg.tar.zst" > /dev/null 2>&1
rec upgrade-and-up-to-date -S --needed --print --print-format '%n %v %s' -- lpa-hello lpa-tool
rec remove-breaks -R --print --print-format '%n %v %s' -- lpa-lib
rec remove-nodeps -R --nodeps --nodeps --print --print-format '%n %v %s' -- lpa-lib
rec remove -R --print --print-format '%n %v %s' -- lpa-tool
rec nosave-with-print -R --nosave --print --print-format '%n %v %s' -- lpa-tool
rec install-nope -S --needed --print --print-format '%n %v %s' -- lpa-nope
run --noconfirm -S lpa-lib > /dev/null 2>&1
rec downgrade-file -U --needed --print --print-format '%n %v %s' -- \
    /var/cache/pacman/pkg/lpa-lib-1.0-1-any.pkg.tar.zst
