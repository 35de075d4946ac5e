# Sourced by the apk recording scripts in this directory: the fixtures, and an overlay
# over each Alpine-like root (tests/sandbox/alpine-root.sh) with the unsigned fixture
# repository, where apk runs under bubblewrap with the overlay as `/`. Never touches the
# host's packages.
#
# Sets `here` (this directory), `t` (a temp directory removed on exit) and `tools`;
# `overlay V` mounts the overlay for apk-tools major V at `$m`; `run ARGS...` runs
# `apk --allow-untrusted ARGS` there. The caller sets `tmpname` first.
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
tools=$(sh "$top/tests/sandbox/apk-tools.sh")
t=$(mktemp -d "/tmp/$tmpname.XXXXXX")
cleanup() {
    umount "$t/m2" "$t/m3" 2>/dev/null || true
    rm -rf "$t"
}
trap cleanup EXIT
"$top/tests/sandbox/fixtures-apk.sh" "$t/fx" > /dev/null 2>&1

overlay() {
    bin=$(echo "$tools" | sed -n "s/^apk$1 //p")
    root=$("$top/tests/sandbox/alpine-root.sh" "$1" "$bin")
    m=$t/m$1
    mkdir -p "$t/u$1" "$t/w$1" "$m"
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$t/u$1,workdir=$t/w$1" "$m"
    mkdir -p "$m/srv/lpa-apk"
    cp "$t/fx/repositories-unsigned" "$m/etc/apk/repositories"
}

run() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
        bwrap --bind "$m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --ro-bind "$t/fx" /srv/lpa-apk --unshare-pid --die-with-parent \
        apk --allow-untrusted "$@"
}
