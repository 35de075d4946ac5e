#!/bin/sh
# Runs every fuzz target for SECONDS each and prints one line per target with libFuzzer's
# own figures (executions, seconds, result). `make fuzz` and `make fuzz-smoke` call this.
#
#   sh fuzz/run.sh [--smoke] SECONDS [TARGET...]
#
# --smoke: a fresh corpus in a temporary directory (seeds only), so a smoke run in
# `make test` always does the same work; otherwise the corpus grows across runs in
# $FUZZ_CACHE/corpus/TARGET. Seeds (fuzz/corpus-seed/TARGET) are read, never written.
# Build artifacts live in $FUZZ_CACHE/target, outside the checkout, so CI can keep them.
# Crashes are saved to $FUZZ_CACHE/artifacts/TARGET/ and fail the run. FUZZ_LOG_DIR, when
# set, keeps each target's libFuzzer output (TARGET.log) there.
set -eu
cd "$(dirname "$0")/.."

FUZZ_CACHE=${FUZZ_CACHE:-/var/cache/linux-patch-api-tests/fuzz}
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
seconds=${1:?usage: fuzz/run.sh [--smoke] SECONDS [TARGET...]}
shift

command -v cargo-fuzz >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-fuzz" ] || {
    echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 1
}

mkdir -p "$FUZZ_CACHE"
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov); RUSTC_BOOTSTRAP lets
# the stable toolchain accept them. No sanitizer: the parsers are safe Rust, and without
# ASan each target runs about twice as many inputs; -a keeps overflow checks and
# debug assertions on, which is what finds arithmetic bugs in safe code.
RUSTC_BOOTSTRAP=1 cargo fuzz build -s none -a --target-dir "$FUZZ_CACHE/target" >&2
bindir="$FUZZ_CACHE/target/x86_64-unknown-linux-gnu/release"

targets="$*"
[ -n "$targets" ] || targets=$(cargo fuzz list)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
failed=""
total=0
printf '%-16s %12s %8s  %s\n' target executions seconds result
for t in $targets; do
    if [ $smoke = 1 ]; then corpus="$work/corpus-$t"; else corpus="$FUZZ_CACHE/corpus/$t"; fi
    artifacts="$FUZZ_CACHE/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    log="$work/$t.log"
    start=$(date +%s)
    # -timeout: one input taking 10 s is a hang (the agent allows no unbounded waits).
    # -rss_limit_mb: a parser allocating 2 GB on one input is a defect too.
    if "$bindir/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus-seed/$t" \
        >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $artifacts/)"
        failed="$failed $t"
        tail -n 40 "$log" >&2
    fi
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    total=$(( total + ${execs:-0} ))
    [ -z "${FUZZ_LOG_DIR:-}" ] || { mkdir -p "$FUZZ_LOG_DIR"; cp "$log" "$FUZZ_LOG_DIR/"; }
    printf '%-16s %12s %8s  %s\n' "$t" "${execs:-?}" "$elapsed" "$result"
done
printf '%-16s %12s\n' total "$total"
if [ -n "$failed" ]; then
    echo "fuzz/run.sh: crashes in:$failed" >&2
    exit 1
fi
