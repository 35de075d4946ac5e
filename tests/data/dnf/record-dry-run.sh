#!/bin/sh
# Re-records the real `dnf --assumeno` and `zypper --dry-run` output that
# src/pkg/dnf/dry_run.rs and src/pkg/zypper/dry_run.rs read: the change commands of the
# backends (Dnf::change_command / advisory_upgrade_command, zypper's install/remove/patch
# arguments) with the dry-run switch added, each in its own fresh overlay.
#
# Usage (root, from the checkout): tests/data/dnf/record-dry-run.sh
# Needs the cached base root (tests/sandbox/base-root.sh), overlayfs, bubblewrap,
# rpmbuild and createrepo_c. Never touches the host's packages.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
zdir=$(cd "$here/../zypper" && pwd)
top=$(cd "$here/../../.." && pwd)
base=$("$top/tests/sandbox/base-root.sh")
t=$(mktemp -d /tmp/lpa-rpm-dry.XXXXXX)
m=$t/m
cleanup() {
    umount "$m" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT

"$top/tests/sandbox/fixtures-rpm.sh" "$t/fx" > /dev/null 2>&1
mkdir -p "$t/u" "$t/w" "$m"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$t/u,workdir=$t/w" "$m"
mkdir -p "$m/srv/lpa-rpm" "$m/etc/zypp/repos.d" "$m/etc/yum.repos.d" "$m/etc/dnf"
cp "$t/fx/lpa.repo" "$m/etc/yum.repos.d/"
cp "$t/fx/lpa.repo" "$m/etc/zypp/repos.d/"
cp "$t/fx/dnf.conf" "$m/etc/dnf/dnf.conf"

run() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C ZYPP_LOGFILE=/var/log/zypper.log \
        bwrap --bind "$m" / --proc /proc --dev /dev --perms 1777 --tmpfs /tmp --tmpfs /run \
        --bind "$t/fx" /srv/lpa-rpm --unshare-pid --die-with-parent "$@"
}
# What Dnf::mutation_command passes (the root is / inside the sandbox), then --assumeno.
dnf="dnf --assumeyes --color=never --setopt=exit_on_lock=1 --setopt=*.skip_if_unavailable=0 --config /etc/dnf/dnf.conf --assumeno"
zyp="zypper --non-interactive --no-color"
# rec DIR NAME CMD...
rec() {
    dir=$1
    name=$2
    shift 2
    set +e
    run "$@" > "$dir/dry-run-$name.stdout" 2> "$dir/dry-run-$name.stderr"
    echo $? > "$dir/dry-run-$name.rc"
    set -e
    [ -s "$dir/dry-run-$name.stderr" ] || rm -f "$dir/dry-run-$name.stderr"
}

run dnf -y --config /etc/dnf/dnf.conf makecache > /dev/null 2>&1
run $zyp refresh > /dev/null 2>&1
# shellcheck disable=SC2086
rec "$here" install-with-deps $dnf install -- lpa-hello
# shellcheck disable=SC2086
rec "$here" install-nosuch $dnf install -- lpa-nope
# shellcheck disable=SC2086
rec "$zdir" install-with-deps $zyp install --dry-run --no-confirm -- lpa-hello
# shellcheck disable=SC2086
rec "$zdir" x-install-with-deps $zyp --xmlout install --dry-run --no-confirm -- lpa-hello
run dnf -y --config /etc/dnf/dnf.conf install lpa-lib-1.0-1 lpa-hello-1.0-1 lpa-tool > /dev/null 2>&1
# shellcheck disable=SC2086
rec "$here" upgrade $dnf upgrade -- lpa-hello
# shellcheck disable=SC2086
rec "$here" advisory $dnf upgrade --advisory=LPA-2026-0001 --advisory=LPA-2026-0003
# shellcheck disable=SC2086
rec "$here" remove-with-dependent $dnf remove -- lpa-lib
# shellcheck disable=SC2086
rec "$here" remove $dnf remove -- lpa-tool
# shellcheck disable=SC2086
rec "$zdir" upgrade $zyp install --dry-run --no-confirm -- lpa-hello
# shellcheck disable=SC2086
rec "$zdir" x-upgrade $zyp --xmlout install --dry-run --no-confirm -- lpa-hello
# shellcheck disable=SC2086
rec "$zdir" x-patch $zyp --xmlout install --dry-run --no-confirm -- patch:LPA-2026-0001 patch:LPA-2026-0003
# shellcheck disable=SC2086
rec "$zdir" x-remove-with-dependent $zyp --xmlout remove --dry-run --no-confirm -- lpa-lib
# shellcheck disable=SC2086
rec "$zdir" x-remove $zyp --xmlout remove --dry-run --no-confirm -- lpa-tool
# shellcheck disable=SC2086
rec "$zdir" x-install-nosuch $zyp --xmlout install --dry-run --no-confirm -- lpa-nope
run dnf -y --config /etc/dnf/dnf.conf upgrade lpa-lib > /dev/null 2>&1
# shellcheck disable=SC2086
rec "$here" downgrade $dnf install -- lpa-lib-1.0-1
# shellcheck disable=SC2086
rec "$zdir" x-downgrade $zyp --xmlout install --dry-run --no-confirm --oldpackage -- lpa-lib=1.0-1
