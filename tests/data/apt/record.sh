#!/bin/sh
# Re-records the real apt/dpkg output that src/pkg/apt.rs's unit tests read.
#
# Usage (root, from the checkout): tests/data/apt/record.sh
# Needs: the cached base root (tests/sandbox/base-root.sh), overlayfs, bubblewrap, python3
# (only to hold a dpkg lock for the lock-contention recording). Never touches the host's
# packages: everything runs in an overlay over the base root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
base=$("$top/tests/sandbox/base-root.sh")
t=$(mktemp -d /tmp/lpa-apt-record.XXXXXX)
m=$t/m
cleanup() {
    umount "$m" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT

"$top/tests/sandbox/fixtures-deb.sh" "$t/fx"
# A third repository republishing lpa-hello 2.0-1, so one candidate has two origins.
mkdir -p "$t/fx/updates"
cp "$t/fx/debs/lpa-hello_2.0-1_all.deb" "$t/fx/updates/"
(
    cd "$t/fx/updates"
    apt-ftparchive packages . > Packages 2>/dev/null
    apt-ftparchive -o APT::FTPArchive::Release::Origin=LPA \
        -o APT::FTPArchive::Release::Label=LPA-Updates \
        -o APT::FTPArchive::Release::Suite=lpa-updates \
        -o APT::FTPArchive::Release::Version=1.0 \
        -o APT::FTPArchive::Release::Codename=lpa-updates \
        -o "APT::FTPArchive::Release::Date=Thu, 01 Jan 2026 00:00:00 UTC" \
        release . > ../updates.Release 2>/dev/null
    mv ../updates.Release Release
)
printf 'deb [trusted=yes] file:/srv/lpa-deb/main ./\n' > "$t/fx/main.list"
printf 'deb [trusted=yes] file:/srv/lpa-deb/updates ./\n' > "$t/fx/updates.list"
printf 'deb [trusted=yes] file:/srv/lpa-deb/missing ./\n' > "$t/fx/missing.list"

mkdir -p "$t/u" "$t/w" "$m"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$t/u,workdir=$t/w" "$m"
mkdir -p "$m/srv/lpa-deb"
cp "$t/fx/sources.list" "$m/etc/apt/sources.list.d/lpa.list"

# rec NAME CMD...: runs CMD in the sandbox, saving stdout, stderr and the exit code.
rec() {
    name=$1
    shift
    set +e
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a LC_ALL=C \
        bwrap --bind "$m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --bind "$t/fx" /srv/lpa-deb --unshare-pid --die-with-parent "$@" \
        > "$here/$name.stdout" 2> "$here/$name.stderr"
    echo $? > "$here/$name.rc"
    set -e
    [ -s "$here/$name.stderr" ] || rm -f "$here/$name.stderr"
}
sim='-s -q -o Debug::NoLocking=1'
# What Apt::install and friends pass (src/pkg/apt.rs: Apt::apt_get, mutation arguments).
mut='-y -q -o DPkg::Lock::Timeout=5 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0'
only() { echo "-o Dir::Etc::SourceList=/srv/lpa-deb/$1 -o Dir::Etc::SourceParts=/nonexistent"; }

rec version apt-get --version
head -n 1 "$here/version.stdout" > "$here/versions.txt"
rm -f "$here/version.stdout" "$here/version.rc"
rec dpkg-version dpkg --version
head -n 1 "$here/dpkg-version.stdout" >> "$here/versions.txt"
rm -f "$here/dpkg-version.stdout" "$here/dpkg-version.rc"

rec update apt-get update --error-on=any -q -o DPkg::Lock::Timeout=5
# Versions on offer, and refusals that change nothing (run before anything is installed).
rec policy-new apt-cache policy -- lpa-hello
rec policy-unknown apt-cache policy -- lpa-nosuch
rec policy-regex apt-cache policy -- lpa.hello
# shellcheck disable=SC2086
rec install-not-found apt-get $mut install -- lpa-nosuch
# shellcheck disable=SC2086
rec install-version-missing apt-get $mut install -- lpa-hello=9.9
# shellcheck disable=SC2086
rec install-broken apt-get $mut install -- lpa-hello lpa-lib-
# shellcheck disable=SC2086
rec simulate-install-regex apt-get -s $mut install -- lpa.hello
# shellcheck disable=SC2086
rec simulate-install-new apt-get $sim install lpa-hello
rec install apt-get install -y -q -o DPkg::Lock::Timeout=5 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    lpa-hello=1.0-1 lpa-lib=1.0-1 lpa-tool
# shellcheck disable=SC2086
rec dist-upgrade apt-get $sim dist-upgrade
# shellcheck disable=SC2086
rec dist-upgrade-main apt-get $sim $(only main.list) dist-upgrade
# shellcheck disable=SC2086
rec dist-upgrade-security apt-get $sim $(only security.list) dist-upgrade
# shellcheck disable=SC2086
rec upgrade apt-get $sim upgrade
# shellcheck disable=SC2086
rec simulate-remove apt-get $sim remove lpa-lib
cp "$m/var/lib/dpkg/status" "$here/status"
cp "$m/var/lib/dpkg/info/lpa-hello.list" "$here/lpa-hello.list"

# Lock contention: hold dpkg's frontend lock (fcntl, as dpkg does) while apt-get waits 1 s.
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(8)
' "$m/var/lib/dpkg/lock-frontend" &
holder=$!
sleep 1
rec install-locked apt-get install -y -q -o DPkg::Lock::Timeout=1 lpa-tool
wait "$holder"
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(8)
' "$m/var/lib/apt/lists/lock" &
holder=$!
sleep 1
rec update-locked apt-get update --error-on=any -q -o DPkg::Lock::Timeout=1
wait "$holder"

# Two origins for one candidate.
cp "$t/fx/updates.list" "$m/etc/apt/sources.list.d/updates.list"
rec update-with-updates apt-get update --error-on=any -q
rm -f "$here/update-with-updates.stdout" "$here/update-with-updates.rc" "$here/update-with-updates.stderr"
# shellcheck disable=SC2086
rec dist-upgrade-multi-origin apt-get $sim dist-upgrade
rm "$m/etc/apt/sources.list.d/updates.list"

# A repository that does not exist: exit 100 only because of --error-on=any.
cp "$t/fx/missing.list" "$m/etc/apt/sources.list.d/missing.list"
rec update-missing apt-get update --error-on=any -q
rec update-missing-no-error-on apt-get update -q
rm "$m/etc/apt/sources.list.d/missing.list"

# remove leaves the package in state config-files (rc).
rec remove apt-get remove -y -q lpa-hello
awk -v RS= -v ORS='\n\n' '/^Package: lpa-/' "$m/var/lib/dpkg/status" > "$here/status-after-remove-lpa"
rm -f "$here/install.stdout" "$here/install.stderr" "$here/remove.stdout" "$here/remove.stderr"

# --- Mutations (Apt::install/remove/save_for_rollback/restore/repair). State here:
# lpa-hello rc (conffile kept), lpa-lib 1.0-1, lpa-tool 1.0-1.
test -f "$m/etc/lpa-hello.conf" || { echo "record: remove dropped the conffile" >&2; exit 1; }
rec policy-installed apt-cache policy -- lpa-lib
# shellcheck disable=SC2086
rec policy-status-only apt-cache policy $(only security.list) -- lpa-lib lpa-hello
# shellcheck disable=SC2086
rec simulate-remove-alone apt-get $sim remove -- lpa-tool
# shellcheck disable=SC2086
rec purge apt-get $mut purge -- lpa-hello
test ! -e "$m/etc/lpa-hello.conf" || { echo "record: purge kept the conffile" >&2; exit 1; }
awk -v RS= -v ORS='\n\n' '/^Package: lpa-/' "$m/var/lib/dpkg/status" > "$here/status-after-purge-lpa"
# Saving for a rollback: apt-get download writes into the working directory (env -C).
mkdir -p "$m/var/tmp/lpa-save"
rec save-download env -C /var/tmp/lpa-save apt-get download -q -- lpa-lib=1.0-1
ls "$m/var/tmp/lpa-save" > "$here/save-download.ls"
rec save-download-missing env -C /var/tmp/lpa-save apt-get download -q -- lpa-lib=0.9
# Upgrade, refused downgrade, allowed downgrade.
# shellcheck disable=SC2086
rec install-upgrade apt-get $mut install -- lpa-lib=1.1-1
# shellcheck disable=SC2086
rec install-downgrade-refused apt-get $mut install -- lpa-lib=1.0-1
# shellcheck disable=SC2086
rec install-downgrade apt-get $mut --allow-downgrades install -- lpa-lib=1.1-1 lpa-hello=1.1-1
# Rollback in one transaction: a saved file, a repository version, a removal.
# shellcheck disable=SC2086
rec restore apt-get $mut --allow-downgrades install -- /var/tmp/lpa-save/lpa-lib_1.0-1_all.deb lpa-tool- lpa-hello-
dpkg-query --admindir="$m/var/lib/dpkg" -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'lpa-*' > "$here/restore.state"
# A transaction killed in lpa-slow's postinst (timeout signals apt-get's whole process group,
# as the runner does), then apt refusing to work, the audit, and the repair.
rec dpkg-audit-clean dpkg --audit
# shellcheck disable=SC2086
rec install-killed timeout 6 apt-get $mut install -- lpa-slow
rec dpkg-audit-interrupted dpkg --audit
# shellcheck disable=SC2086
rec install-interrupted apt-get $mut install -- lpa-tool
rec configure-a dpkg --configure -a
rec dpkg-audit-repaired dpkg --audit
rm -f "$here/install-upgrade.stdout" "$here/install-downgrade.stdout" "$here/restore.stdout" \
    "$here/install-killed.stdout" "$here/purge.stdout" "$here/save-download.stderr"

