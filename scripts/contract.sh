#!/bin/sh
# `make contract`: checks the live agent against docs/openapi.yaml with schemathesis.
#
# Two agents, each the real binary inside its own copy-on-write view of the cached Debian
# sandbox root (tests/sandbox/base-root.sh; never the host's packages), on loopback with
# throw-away certificates, apt driving the suite's fixture repositories:
#   ro  api.read_only: true, serving the Patch Manager's shape (compat.patch_manager); every
#       operation, mutating ones included (403 API_READ_ONLY).
#   rw  writable, the specification's shape; every operation, none excluded: its jobs run
#       the real apt on fixture packages in its own overlay (about a second each) and its
#       reboot_command is /bin/true inside the sandbox.
# Every response must conform to the document (status, content type, headers, schema) and
# no request may get a 5xx or a dropped connection. Needs root (overlayfs, bubblewrap).
# docs/CONTRACT.md says more. `--serve` only starts both agents, for trying requests by hand.
#
# Environment: SCHEMATHESIS (the schemathesis command; default: schemathesis on PATH;
# `make contract` uses the pinned one of scripts/schemathesis.sh), CONTRACT_EXAMPLES (max
# examples per operation and phase, default 60), CONTRACT_SEED (default 16), CONTRACT_DIR
# (work directory, default target/contract), LPA_BIN (agent binary; default: cargo build).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${CONTRACT_DIR:-$top/target/contract}
examples=${CONTRACT_EXAMPLES:-60}
st=${SCHEMATHESIS:-schemathesis}
schema=$top/docs/openapi.yaml

need() { command -v "$1" >/dev/null 2>&1 || { echo "contract: $1 is missing ($2)" >&2; exit 1; }; }
need "$st" "pip install schemathesis, or SCHEMATHESIS=path"
need openssl "Debian package: openssl"
need bwrap "Debian package: bubblewrap"
need curl "Debian package: curl"
need jq "Debian package: jq"
# Like the sandbox tests: skipped, and saying so, where it cannot run (CI is root).
[ "$(id -u)" = 0 ] || { echo "contract: SKIPPED: needs root (overlayfs mounts), as CI runs it" >&2; exit 0; }

if [ -z "${LPA_BIN:-}" ]; then
    (cd "$top" && cargo build --quiet)
    LPA_BIN=$top/target/debug/linux-patch-api
fi

# Leftovers of an interrupted run first (its agents died with it: bwrap --die-with-parent).
for m in "$dir"/ro/m "$dir"/rw/m; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
rm -rf "$dir"
mkdir -p "$dir/certs"
certs=$dir/certs
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for m in "$dir"/ro/m "$dir"/rw/m; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
    return 0
}
trap cleanup EXIT INT TERM

# Throw-away CA, server and client certificates (as scripts/demo.sh makes them).
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key "$certs/ca.key.pem"
openssl req -x509 -new -key "$certs/ca.key.pem" -subj "/CN=linux-patch-api contract CA" -days 365 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$certs/ca.pem" 2>/dev/null
issue() { # name cn extensions
    key "$certs/$1.key.pem"
    openssl req -new -key "$certs/$1.key.pem" -subj "/CN=$2" -out "$certs/$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$certs/$1.ext"
    openssl x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key.pem" \
        -CAcreateserial -days 365 -extfile "$certs/$1.ext" -out "$certs/$1.pem" 2>/dev/null
}
issue server localhost-server "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
issue client contract-client "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

base=$(sh "$top/tests/sandbox/base-root.sh")
fix=$dir/fixtures-deb
sh "$top/tests/sandbox/fixtures-deb.sh" "$fix"
feed=$top/tests/sandbox/feeds/debian-tracker.json
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# inside NAME PROGRAM ARGS...: runs a program with the sandbox NAME as its root.
inside() {
    n=$1
    shift
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive \
        bwrap --bind "$dir/$n/m" / --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --ro-bind "$fix" /srv/lpa-deb --ro-bind "$LPA_BIN" /usr/local/sbin/linux-patch-api \
        --ro-bind "$feed" /srv/feeds/debian-tracker.json \
        --unshare-pid --unshare-ipc --unshare-uts --die-with-parent -- "$@"
}

# sandbox NAME EXTRA_YAML: a fresh root with the fixture packages at 1.0-1 (so updates and
# patches exist), and the agent serving from it; sets $port.
sandbox() {
    n=$1
    r=$dir/$n/m
    mkdir -p "$dir/$n/u" "$dir/$n/w" "$r"
    mount -t overlay overlay -o "lowerdir=$base,upperdir=$dir/$n/u,workdir=$dir/$n/w" "$r"
    mkdir -p "$r/srv/lpa-deb" "$r/srv/feeds" "$r/usr/local/sbin" "$r/etc/linux_patch_api/certs"
    : > "$r/usr/local/sbin/linux-patch-api"
    : > "$r/srv/feeds/debian-tracker.json"
    cp "$fix/sources.list" "$r/etc/apt/sources.list.d/lpa.list"
    # An OpenRC stand-in (the root has no init system): `lpa-demo` exists, nothing else does.
    cat > "$r/usr/sbin/rc-service" <<'SH'
#!/bin/sh
if [ "$1" = lpa-demo ]; then echo ' * status: started'; else echo " * rc-service: service \`$1' does not exist"; exit 1; fi
SH
    cat > "$r/usr/sbin/rc-update" <<'SH'
#!/bin/sh
echo '            lpa-demo | default'
SH
    chmod 0755 "$r/usr/sbin/rc-service" "$r/usr/sbin/rc-update"
    inside "$n" apt-get update -q >"$dir/$n.setup.log" 2>&1
    inside "$n" apt-get install -y -q lpa-hello=1.0-1 lpa-lib=1.0-1 lpa-tool=1.0-1 >>"$dir/$n.setup.log" 2>&1
    cp "$certs/ca.pem" "$certs/server.pem" "$certs/server.key.pem" "$r/etc/linux_patch_api/certs/"
    echo "allowed: [127.0.0.1]" > "$r/etc/linux_patch_api/whitelist.yaml"
    port=$(free_port)
    cat > "$r/etc/linux_patch_api/config.yaml" <<YAML
# Written by scripts/contract.sh.
server:
  bind: 127.0.0.1
  port: $port
  shutdown_grace_seconds: 2
tls:
  ca_cert: /etc/linux_patch_api/certs/ca.pem
  server_cert: /etc/linux_patch_api/certs/server.pem
  server_key: /etc/linux_patch_api/certs/server.key.pem
whitelist:
  path: /etc/linux_patch_api/whitelist.yaml
# The contract is about shapes, not budgets: 429 is documented, but would hide the handlers.
rate_limits:
  enabled: false
logging:
  level: info
  audit_log: /var/log/linux_patch_api/audit.log
package_manager:
  backend: apt
advisories:
  download: false
  feed_file: /srv/feeds/debian-tracker.json
  release: bookworm
system:
  reboot_command: [/bin/true]
$2
YAML
    inside "$n" /usr/local/sbin/linux-patch-api --config /etc/linux_patch_api/config.yaml \
        >/dev/null 2>"$dir/$n.agent.log" &
    pids="$pids $!"
    i=0
    until curl -s -o /dev/null --cacert "$certs/ca.pem" --cert "$certs/client.pem" \
        --key "$certs/client.key.pem" "https://127.0.0.1:$port/health"; do
        i=$((i + 1))
        [ $i -lt 150 ] || { echo "contract: agent $n did not start" >&2; cat "$dir/$n.agent.log" >&2; exit 1; }
        sleep 0.1
    done
}

# api METHOD PATH [BODY]: one request to the agent on $port; prints the envelope's data.
api() {
    curl -sS --max-time 30 --cacert "$certs/ca.pem" --cert "$certs/client.pem" \
        --key "$certs/client.key.pem" -X "$1" ${3:+-H Content-Type:application/json -d "$3"} \
        "https://127.0.0.1:$port$2" | jq -e .data
}

# seed: one job of every operation on the writable agent, finished (a rollback and a
# cancelled reboot included), so that the real bodies of each kind are checked and not only
# 404s; schemathesis draws half of its job ids from them (see config below).
seed() {
    job() { api "$@" | jq -er .job_id >> "$dir/job-ids"; }
    : > "$dir/job-ids"
    job POST /api/v1/packages '{"packages":["lpa-tool"],"options":{"force":true}}'
    job PUT /api/v1/packages/lpa-lib '{"version":"1.1-1"}'
    job DELETE '/api/v1/packages/lpa-tool?purge=true'
    job POST /api/v1/patches/apply '{"packages":["lpa-hello"]}'
    job POST /api/v1/system/reboot '{"delay_seconds":3600,"force":true,"reason":"contract"}'
    api DELETE "/api/v1/jobs/$(tail -n 1 "$dir/job-ids")" >/dev/null
    settle
    job POST "/api/v1/jobs/$(sed -n 2p "$dir/job-ids")/rollback" '{}'
    settle
}

# settle: waits (up to 60 s) until no job is pending or running.
settle() {
    i=0
    while [ "$(api GET '/api/v1/jobs?limit=1000' | jq '[.jobs[] | select(.status == "pending" or .status == "running")] | length')" != 0 ]; do
        i=$((i + 1))
        [ $i -lt 300 ] || { echo "contract: seeded jobs did not finish" >&2; exit 1; }
        sleep 0.2
    done
}

# Real values mixed into generated ones: the seeded job ids, and names that exist.
cat > "$dir/schemathesis.toml" <<TOML
[dictionaries.jobs]
from-file = "job-ids.dict"
[dictionaries.names]
values = ["lpa-hello", "lpa-lib", "lpa-tool", "apt", "lpa-demo"]
[parameters]
"path.id" = { dictionary = "jobs", probability = 0.5 }
"path.name" = { dictionary = "names", probability = 0.5 }
TOML

# check NAME: schemathesis against agent NAME on $port; reports under $dir/NAME-report.
# Every check but two the specification contradicts: positive_data_acceptance (a
# schema-valid name may break the ecosystem's grammar, a valid version may not be offered:
# both 400 by the specification) and use_after_free (DELETE of a pending job cancels it, the
# job stays). One worker: two tripped a race in Python's ast inside schemathesis.
check() {
    echo "contract: $1 agent on 127.0.0.1:$port, $examples examples per operation"
    [ -s "$dir/job-ids" ] || cat /proc/sys/kernel/random/uuid > "$dir/job-ids"
    sed 's/.*/"&"/' "$dir/job-ids" > "$dir/job-ids.dict" # the dictionary format quotes entries
    (cd "$dir" && "$st" --no-color --config-file "$dir/schemathesis.toml" run "$schema" \
        --url "https://127.0.0.1:$port" --tls-verify "$certs/ca.pem" \
        --request-cert "$certs/client.pem" --request-cert-key "$certs/client.key.pem" \
        --checks all --exclude-checks positive_data_acceptance,use_after_free \
        --max-examples "$examples" --seed "${CONTRACT_SEED:-16}" \
        --phases examples,coverage,fuzzing,stateful --request-timeout 30 --workers 1 \
        --report junit --report-dir "$dir/$1-report" --warnings off --generation-database none \
    ) || { echo "contract: $1 agent FAILED; its log: $dir/$1.agent.log" >&2; return 1; }
}

ro_config="api:
  read_only: true
compat:
  patch_manager: true"
# Schemathesis submits jobs faster than apt runs them; a backlog past jobs.max_queued would
# be answered 503 JOB_QUEUE_FULL (documented, but a 5xx the run refuses): room for all.
rw_config="jobs:
  max_queued: 10000"
if [ "${1:-}" = --serve ]; then # both agents, for trying requests by hand
    sandbox ro "$ro_config"
    echo "ro: https://127.0.0.1:$port"
    sandbox rw "$rw_config"
    echo "rw: https://127.0.0.1:$port"
    echo "curl --cacert $certs/ca.pem --cert $certs/client.pem --key $certs/client.key.pem URL"
    wait
fi
status=0
sandbox ro "$ro_config"
check ro || status=1
sandbox rw "$rw_config"
seed
check rw || status=1
[ $status = 0 ] && echo "contract: both agents conform to docs/openapi.yaml"
exit $status
