#!/bin/sh
# Re-records the real `apt-get -s` output that src/pkg/apt/dry_run.rs's unit tests read: the
# simulations a dry run runs, with the arguments the backend passes (Apt::apt_get's common
# options, then `-s -o Debug::NoLocking=1` and mutate::install_args / remove_args).
#
# Usage (root, from the checkout): tests/data/apt/record-dry-run.sh
# Needs what record.sh needs. Never touches the host's packages: everything runs in an
# overlay over the base root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
base=$("$top/tests/sandbox/base-root.sh")
t=$(mktemp -d /tmp/lpa-apt-dry.XXXXXX)
m=$t/m
cleanup() {
    umount "$m" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT

"$top/tests/sandbox/fixtures-deb.sh" "$t/fx"
mkdir -p "$t/u" "$t/w" "$m"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$t/u,workdir=$t/w" "$m"
mkdir -p "$m/srv/lpa-deb"
cp "$t/fx/sources.list" "$m/etc/apt/sources.list.d/lpa.list"

run() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
        APT_LISTCHANGES_FRONTEND=none LC_ALL=C \
        bwrap --bind "$m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --bind "$t/fx" /srv/lpa-deb --unshare-pid --die-with-parent "$@"
}
# rec NAME ARGS...: apt-get with the backend's options, saving stdout, stderr, exit code.
rec() {
    name=$1
    shift
    set +e
    run apt-get -o DPkg::Lock::Timeout=5 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0 \
        -s -o Debug::NoLocking=1 -o Dir::Log::Planner=/dev/null "$@" \
        > "$here/dry-run-$name.stdout" 2> "$here/dry-run-$name.stderr"
    echo $? > "$here/dry-run-$name.rc"
    set -e
    [ -s "$here/dry-run-$name.stderr" ] || rm -f "$here/dry-run-$name.stderr"
}
real() {
    run apt-get -y -q -o DPkg::Lock::Timeout=5 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0 "$@" > /dev/null
}

run apt-get update -q > /dev/null
rec install-with-deps install -y -q -- lpa-hello
real install -- lpa-hello=1.0-1 lpa-lib=1.0-1 lpa-tool
rec upgrade install -y -q -- lpa-hello
rec patch-apply install -y -q -- lpa-hello=2.0-1 lpa-lib=1.1-1
rec remove-with-dependents remove -y -q -- lpa-lib
rec purge purge -y -q -- lpa-tool
real install -- lpa-lib=1.1-1
rec downgrade install -y -q --allow-downgrades -- lpa-lib=1.0-1
rec downgrade-refused install -y -q -- lpa-lib=1.0-1
