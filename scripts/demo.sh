#!/bin/sh
# `make demo`: run the agent on loopback with throw-away certificates, read-only, and print
# curl commands that work. `scripts/demo.sh --check` does the same in the background, runs
# those curl commands, and fails unless each answers as printed (make test runs this).
set -eu

mode=${1:-run}
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$mode" = "--check" ]; then
    dir=${DEMO_DIR:-$top/target/demo-check}
    port=${DEMO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
else
    dir=${DEMO_DIR:-$top/demo}
    port=${DEMO_PORT:-12443}
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "demo: $1 is missing (Debian package: $2)" >&2; exit 1; }; }
need openssl openssl
need curl curl
need cargo "rustup / cargo"

(cd "$top" && cargo build --quiet)
bin=$top/target/debug/linux-patch-api

mkdir -p "$dir/certs" "$dir/jobs"
certs=$dir/certs
if [ ! -s "$certs/client.pem" ]; then
    old_umask=$(umask)
    umask 077
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    key "$certs/ca.key.pem"
    openssl req -x509 -new -key "$certs/ca.key.pem" -subj "/CN=linux-patch-api demo CA" -days 365 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$certs/ca.pem" 2>/dev/null
    issue() { # name cn extensions
        key "$certs/$1.key.pem"
        openssl req -new -key "$certs/$1.key.pem" -subj "/CN=$2" -out "$certs/$1.csr" 2>/dev/null
        printf '%s\n' "$3" > "$certs/$1.ext"
        openssl x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key.pem" \
            -CAcreateserial -days 365 -extfile "$certs/$1.ext" -out "$certs/$1.pem" 2>/dev/null
        rm -f "$certs/$1.csr" "$certs/$1.ext"
    }
    issue server localhost-server "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
    issue client demo-admin "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    umask "$old_umask"
fi

cat > "$dir/whitelist.yaml" <<YAML
# Demo whitelist: loopback only.
allowed:
  - 127.0.0.1
  - ::1
YAML

cat > "$dir/config.yaml" <<YAML
# Demo configuration written by scripts/demo.sh: loopback, read-only, state under $dir.
server:
  bind: 127.0.0.1
  port: $port
tls:
  ca_cert: certs/ca.pem
  server_cert: certs/server.pem
  server_key: certs/server.key.pem
whitelist:
  path: whitelist.yaml
logging:
  level: info
  audit_log: audit.log
jobs:
  storage_path: jobs
  rollback_cache_path: rollback
api:
  read_only: true
YAML

curl_base="curl -sS --cacert $certs/ca.pem --cert $certs/client.pem --key $certs/client.key.pem"
url="https://127.0.0.1:$port"

print_commands() {
    cat <<TXT

linux-patch-api demo: https://127.0.0.1:$port (read-only, throw-away certificates in $certs)

  $curl_base $url/api/v1/health
  $curl_base $url/api/v1/system/info
  $curl_base -X POST $url/api/v1/system/reboot -d '{}'     # refused: read-only
  curl -sS --cacert $certs/ca.pem $url/api/v1/health                # no client cert: dropped

Stop with Ctrl-C.
TXT
}

if [ "$mode" != "--check" ]; then
    "$bin" --check-config --config "$dir/config.yaml"
    print_commands
    exec "$bin" --config "$dir/config.yaml"
fi

# --check: serve in the background and run the printed commands.
"$bin" --config "$dir/config.yaml" 2>"$dir/agent.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
i=0
until curl -s -o /dev/null --cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key.pem" "$url/health"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "demo check: agent did not start"; cat "$dir/agent.log"; exit 1; }
    sleep 0.1
done
fail() { echo "demo check FAILED: $*" >&2; cat "$dir/agent.log" >&2; exit 1; }
$curl_base "$url/api/v1/health" | grep -q '"success":true' || fail "health"
$curl_base "$url/api/v1/system/info" | grep -q '"hostname"' || fail "system/info"
$curl_base -X POST "$url/api/v1/system/reboot" -d '{}' | grep -q '"API_READ_ONLY"' || fail "read-only refusal"
if curl -sS --max-time 5 --cacert "$certs/ca.pem" "$url/api/v1/health" 2>/dev/null; then fail "no-cert request answered"; fi
kill -TERM $pid
wait $pid || fail "agent did not exit 0 on SIGTERM"
trap - EXIT
echo "demo check: the printed curl commands work"
