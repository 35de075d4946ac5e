#!/bin/sh
# Re-records the real `apk --simulate` output that src/pkg/apk/dry_run.rs's unit tests read,
# with apk-tools 2.14.10 and 3.0.6: the change commands of the backend (Apk::add_command /
# upgrade_command / del_command) with `--simulate`, in an overlay over each Alpine-like root
# (tests/sandbox/alpine-root.sh) with the unsigned fixture repository.
#
# Usage (root, from the checkout): tests/data/apk/record-dry-run.sh
# Needs the static apk-tools (tests/sandbox/apk-tools.sh builds them once), overlayfs,
# bubblewrap, python3 and openssl (fixtures). Never touches the host's packages. Also checks
# that no simulation changed /etc/apk/world or the installed database (it exits 1 if one did).
set -eu

tmpname=lpa-apk-dry
. "$(dirname "$0")/record-lib.sh"

for v in 2 3; do
    overlay "$v"
    state() { cat "$m/etc/apk/world" "$m/lib/apk/db/installed" | md5sum; }
    # rec NAME ARGS...: `apk --allow-untrusted --wait 30 --simulate ARGS`.
    rec() {
        name=$1
        shift
        before=$(state)
        set +e
        run --wait 30 --simulate "$@" > "$here/dry-run-$name-apk$v.stdout" \
            2> "$here/dry-run-$name-apk$v.stderr"
        echo $? > "$here/dry-run-$name-apk$v.rc"
        set -e
        [ -s "$here/dry-run-$name-apk$v.stderr" ] || rm -f "$here/dry-run-$name-apk$v.stderr"
        [ "$before" = "$(state)" ] || { echo "apk$v --simulate $* changed world or the database" >&2; exit 1; }
    }
    run update > /dev/null 2>&1
    run add busybox-binsh > /dev/null 2>&1
    rec install-with-deps add -u -- lpa-hello
    rec install-nope add -u -- lpa-nope
    run add -- lpa-lib=1.0-r0 lpa-hello=1.0-r0 lpa-tool > /dev/null 2>&1
    rec upgrade add -u -- lpa-hello
    rec patch-apply upgrade -- lpa-hello lpa-lib
    rec remove-needed del -- lpa-lib
    rec remove-rdepends del -r -- lpa-lib
    rec purge --purge del -- lpa-tool
    run add -u -- lpa-lib > /dev/null 2>&1
    rec downgrade add -- lpa-lib=1.0-r0
done
