#!/usr/bin/env bash
# Instructions per request that the export-control layer adds, counted with
# callgrind (repeatable to a few instructions, unlike wall-clock throughput).
#
#   scripts/callgrind.sh [N] [server...] [-- kind...]
#
# For each server (axum, hyper) and request kind (get, post, license), runs
# examples/bench_server under `valgrind --tool=callgrind` bare, with the
# floor layer (`--floor`: only the tag headers and extension the contract
# asks of any layer) and layered, once with N sequential keep-alive
# requests and once with 1; the difference divided by N-1 is the cost of
# one request, startup and shutdown excluded. Prints one line per server
# and kind: bare, floor, layered, added (layered - bare) and added over the
# floor. FEATURES (e.g. FEATURES=metrics) builds the crate with those cargo
# features. With CHART naming the chart's data table
# (benches/engines/chart-data.tsv), the instructions added replace its
# instructions panel (scripts/chart-rows.py). The callgrind
# outputs stay in $OUT (default target/callgrind) for callgrind_annotate:
#
#   callgrind_annotate --inclusive=yes target/callgrind/axum-post-layered-N.out | head -60
set -euo pipefail

N=${1:-1000}
shift || true
servers=()
while [[ $# -gt 0 && $1 != -- ]]; do servers+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
kinds=("$@")
[[ ${#servers[@]} -eq 0 ]] && servers=(axum hyper)
[[ ${#kinds[@]} -eq 0 ]] && kinds=(get post license)

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$target/callgrind}
mkdir -p "$OUT"
# Release code with symbols and line tables, so callgrind_annotate names
# functions and lines.
CARGO_PROFILE_RELEASE_DEBUG=true cargo build --quiet --release --example bench_server \
    ${FEATURES:+--features "$FEATURES"}
bin=$target/release/examples/bench_server
port=${PORT:-39871}
addr=127.0.0.1:$port

# run NAME REQUESTS KIND SERVER-FLAGS...: the instructions the server ran.
run() {
    local name=$1 requests=$2 kind=$3
    shift 3
    local out=$OUT/$name.out
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" --listen "$addr" "$@" 2>"$OUT/$name.log" &
    local pid=$!
    if ! "$bin" --client "$kind" --addr "$addr" --requests "$requests"; then
        kill -INT "$pid"
        wait "$pid" || true
        echo "client failed; server log: $OUT/$name.log" >&2
        exit 1
    fi
    kill -INT "$pid"
    wait "$pid"
    awk '/^totals:/ {print $2}' "$out"
}

printf '%-6s %-8s %9s %9s %9s %9s %11s   (instructions per request, N=%s)\n' \
    server kind bare floor layered added over-floor "$N"
rows=()
for server in "${servers[@]}"; do
    flags=()
    [[ $server == hyper ]] && flags+=(--hyper)
    for kind in "${kinds[@]}"; do
        kflags=("${flags[@]}")
        [[ $kind == license ]] && kflags+=(--license)
        per=()
        for mode in bare floor layered; do
            mflags=("${kflags[@]}")
            [[ $mode == bare ]] && mflags+=(--bare)
            [[ $mode == floor ]] && mflags+=(--floor)
            many=$(run "$server-$kind-$mode-N" "$N" "$kind" "${mflags[@]}")
            one=$(run "$server-$kind-$mode-1" 1 "$kind" "${mflags[@]}")
            per+=($(( (many - one) / (N - 1) )))
        done
        printf '%-6s %-8s %9d %9d %9d %9d %11d\n' "$server" "$kind" "${per[0]}" "${per[1]}" \
            "${per[2]}" $(( per[2] - per[0] )) $(( per[2] - per[1] ))
        rows+=("$server $kind"$'\t'"added"$'\t'"$(( per[2] - per[0] ))"$'\t'"instructions")
        rows+=("$server $kind"$'\t'"floor (tags only)"$'\t'"$(( per[1] - per[0] ))"$'\t'"instructions")
        case $kind in
            get) rows+=("$server $kind"$'\t'"target"$'\t'"1500"$'\t'"instructions") ;;
            post) rows+=("$server $kind"$'\t'"target"$'\t'"3000"$'\t'"instructions") ;;
        esac
    done
done
if [[ -n ${CHART:-} ]]; then
    printf '%s\n' "${rows[@]}" |
        python3 scripts/chart-rows.py "instructions the layer adds per request (callgrind)" "$CHART"
fi
