#!/usr/bin/env bash
# Throughput and p99 latency, bare vs layered, with an external load
# generator (wrk) on loopback; server and wrk pinned to separate cores.
#
#   scripts/wrk.sh [ROUNDS] [SECONDS] [server...] [-- kind...]
#
# For each server (axum, hyper) and request kind (get, post, license), runs
# ROUNDS rounds (default 5) of SECONDS (default 5) each, bare, with the
# floor layer (bench_server --floor: only the tag headers and extension)
# and layered, the order reversed every other round, each on a fresh examples/bench_server pinned to
# SERVER_CPU (default 0), wrk pinned to CLIENT_CPU (default 1) with
# CONNECTIONS keep-alive connections (default 16). Every response must be
# a 200. Prints each run, then per server and kind the medians: requests
# per second bare and layered, their ratio (median of the rounds' ratios),
# the floor's ratio, p99 latency bare and layered, and the p99 added. Raw lines stay in
# $OUT/wrk.tsv (default target/wrk). With CHART naming the chart's data
# table (benches/engines/chart-data.tsv), the ratios replace its end-to-end
# panel (scripts/chart-rows.py); then redraw with scripts/chart.py.
set -euo pipefail

ROUNDS=${1:-5}
SECONDS_EACH=${2:-5}
shift 2 || shift $# || true
servers=()
while [[ $# -gt 0 && $1 != -- ]]; do servers+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
kinds=("$@")
[[ ${#servers[@]} -eq 0 ]] && servers=(axum hyper)
[[ ${#kinds[@]} -eq 0 ]] && kinds=(get post license)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CONNECTIONS=${CONNECTIONS:-16}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$target/wrk}
mkdir -p "$OUT"
cargo build --quiet --release --example bench_server ${FEATURES:+--features "$FEATURES"}
bin=$target/release/examples/bench_server
port=${PORT:-39872}
addr=127.0.0.1:$port
tsv=$OUT/wrk.tsv
printf 'server\tkind\tround\tmode\trps\tp99_us\n' >"$tsv"

# us VALUE: a wrk latency (e.g. 85.00us, 1.20ms) in microseconds.
us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /s$/) print n * 1000000; else print n }'
}

# run SERVER KIND ROUND MODE: one wrk run against a fresh server.
run() {
    local server=$1 kind=$2 round=$3 mode=$4
    local flags=(--listen "$addr")
    [[ $server == hyper ]] && flags+=(--hyper)
    [[ $kind == license ]] && flags+=(--license)
    [[ $mode == bare ]] && flags+=(--bare)
    [[ $mode == floor ]] && flags+=(--floor)
    taskset -c "$SERVER_CPU" "$bin" "${flags[@]}" 2>"$OUT/server.log" &
    local pid=$!
    # Waits for the server and warms it (and the token cache) up.
    "$bin" --client "$kind" --addr "$addr" --requests 200
    local lua=$OUT/$kind.lua
    "$bin" --print-wrk "$kind" >"$lua"
    local log=$OUT/$server-$kind-$round-$mode.txt
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency \
        -s "$lua" "http://$addr" >"$log"
    kill -INT "$pid"
    wait "$pid" || true
    if grep -q 'Non-2xx' "$log"; then
        echo "non-200 answers in $log" >&2
        exit 1
    fi
    local rps p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
    p99=$(us "$(awk '$1 == "99%" {print $2}' "$log")")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$kind" "$round" "$mode" "$rps" "$p99" | tee -a "$tsv"
}

for server in "${servers[@]}"; do
    for kind in "${kinds[@]}"; do
        for ((round = 1; round <= ROUNDS; round++)); do
            # Alternate the order, so drift in the machine's load falls on
            # both alike.
            if ((round % 2)); then modes=(bare floor layered); else modes=(layered floor bare); fi
            for mode in "${modes[@]}"; do run "$server" "$kind" "$round" "$mode"; done
        done
    done
done

python3 - "$tsv" "${CHART:-}" <<'PY'
import csv, statistics, subprocess, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
chart = []
runs = {}
for r in rows:
    runs.setdefault((r["server"], r["kind"]), {}).setdefault(int(r["round"]), {})[r["mode"]] = r
print()
print(f"{'server':6} {'kind':8} {'bare rps':>10} {'layer rps':>10} {'ratio':>6} {'floor':>6} "
      f"{'bare p99':>9} {'layer p99':>9} {'p99 added':>9}   (medians of {len(next(iter(runs.values())))} rounds; p99 in us)")
for (server, kind), rounds in runs.items():
    pairs = [v for v in rounds.values() if "bare" in v and "layered" in v]
    med = lambda xs: statistics.median(xs)
    b = med([float(v["bare"]["rps"]) for v in pairs])
    l = med([float(v["layered"]["rps"]) for v in pairs])
    ratio = med([float(v["layered"]["rps"]) / float(v["bare"]["rps"]) for v in pairs])
    floor = med([float(v["floor"]["rps"]) / float(v["bare"]["rps"]) for v in pairs if "floor" in v] or [0])
    bp = med([float(v["bare"]["p99_us"]) for v in pairs])
    lp = med([float(v["layered"]["p99_us"]) for v in pairs])
    added = med([float(v["layered"]["p99_us"]) - float(v["bare"]["p99_us"]) for v in pairs])
    print(f"{server:6} {kind:8} {b:10.0f} {l:10.0f} {ratio:6.3f} {floor:6.3f} {bp:9.1f} {lp:9.1f} {added:9.1f}")
    group = f"{server} {kind}"
    chart.append(f"{group}\tlayered / bare\t{ratio:.3f}\tratio")
    chart.append(f"{group}\tfloor (tags only) / bare\t{floor:.3f}\tratio")
    target = {"get": 0.97, "post": 0.95}.get(kind)
    if target:
        chart.append(f"{group}\ttarget\t{target}\tratio")
if sys.argv[2]:
    subprocess.run(
        ["python3", "scripts/chart-rows.py", "end to end: layered / bare requests per second (wrk)", sys.argv[2]],
        input="\n".join(chart) + "\n", text=True, check=True)
PY
