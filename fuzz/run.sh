#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets, one at a time, one job each.
#
#   fuzz/run.sh --check          format and build check of every target
#                                (for CI; needs no cargo-fuzz)
#   fuzz/run.sh TARGET SECONDS   fuzz one target for SECONDS
#   fuzz/run.sh all SECONDS      fuzz each target for SECONDS, in turn
#
# Fuzzing needs `cargo install cargo-fuzz` and nightly features; on a stable
# toolchain RUSTC_BOOTSTRAP=1 (set here) enables them. The seed corpus in
# corpus/TARGET is read only; what the fuzzer finds goes to
# work/corpus/TARGET, its output to work/logs/TARGET.log, and crashing
# inputs to artifacts/TARGET/ (all ignored by git). Extra arguments after
# SECONDS go to libFuzzer. Prints executions, coverage and crashes per
# target; exits non-zero if a target crashed.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

TARGETS=(policy_compile request_facts json_body token_verify ip_table_csv layer_request)

usage() {
    echo "usage: $0 --check | TARGET|all SECONDS [LIBFUZZER-ARGS...]" >&2
    echo "targets: ${TARGETS[*]}" >&2
    exit 2
}

if [[ "${1:-}" == "--check" ]]; then
    # Formatting, then a type check (with clippy where installed) of the
    # harnesses and the crate, with the fuzz crate's own lock file; no
    # sanitizer build, no cargo-fuzz.
    cargo fmt --check
    if cargo clippy --version >/dev/null 2>&1; then
        cargo clippy --locked --lib --bins -- -D warnings
    else
        cargo check --locked --lib --bins
    fi
    echo "fuzz targets check: ${#TARGETS[@]} targets build"
    exit 0
fi

[[ $# -ge 2 ]] || usage
which="$1"
seconds="$2"
shift 2
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
if [[ "$which" == all ]]; then
    selected=("${TARGETS[@]}")
else
    [[ " ${TARGETS[*]} " == *" $which "* ]] || usage
    selected=("$which")
fi
command -v cargo-fuzz >/dev/null || {
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
}

if [[ "$which" == all ]]; then
    nice -n 10 cargo fuzz build
else
    nice -n 10 cargo fuzz build "$which"
fi

summary=()
status=0
for t in "${selected[@]}"; do
    mkdir -p "work/corpus/$t" "work/logs" "artifacts/$t"
    log="work/logs/$t.log"
    dict=()
    [[ -f "dict/$t.dict" ]] && dict=("-dict=dict/$t.dict")
    before=$(find "artifacts/$t" -type f | wc -l)
    echo "== $t: ${seconds}s"
    # -jobs=1 -workers=1: one fuzzing process, whose output libFuzzer
    # writes to fuzz-0.log in the current directory.
    rm -f fuzz-0.log
    set +e
    nice -n 10 cargo fuzz run "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 \
        -print_final_stats=1 "${dict[@]}" "$@" </dev/null >"$log.run" 2>&1
    rc=$?
    set -e
    cp "$log.run" "$log"
    if [[ -f fuzz-0.log ]] && ! grep -q '^INFO: Seed:' "$log"; then
        cat fuzz-0.log >>"$log"
    fi
    rm -f "$log.run" fuzz-0.log
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    cov=$(grep -oE '(DONE|pulse|NEW|REDUCE) +cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)/cov \1, ft \2, corpus \3/' || true)
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    [[ $rc -ne 0 || $crashes -ne 0 ]] && status=1
    line="$t: ${execs:-?} executions, ${speed:-?} exec/s, ${cov:-coverage ?}, crashes ${crashes} (exit ${rc})"
    echo "$line"
    summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
