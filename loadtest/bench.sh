#!/usr/bin/env bash
# The standard benchmark matrix of issue 3, against a running server, then
# BENCHMARKS.md's table rewritten from the results. `make bench` runs this.
#
#   loadtest/bench.sh [URL]        (default http://127.0.0.1:8080)
#
# Env: BENCH_DURATION (30s), BENCH_OUT (results dir, .bench), BENCH_SEED
# (seed file, .bench/seed.json: users are created once, reused after),
# BENCH_ADMIN (Caddy admin URL, for GC before heap readings), BENCH_METRICS
# (the gateway's /metrics on its operator listener; default: the loadtest's
# -metrics auto), BENCH_CASES (default "a b c d").
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-http://127.0.0.1:8080}"
dur="${BENCH_DURATION:-30s}"
out="${BENCH_OUT:-.bench}"
seed="${BENCH_SEED:-$out/seed.json}"
mkdir -p "$out"
go build -o "$out/loadtest" ./loadtest

common=(-url "$url" -duration "$dur" -seed "$seed" -q)
if [[ -n "${BENCH_ADMIN:-}" ]]; then common+=(-admin "$BENCH_ADMIN"); fi
if [[ -n "${BENCH_METRICS:-}" ]]; then common+=(-metrics "$BENCH_METRICS"); fi

run_case() { # name, flags...
	local name="$1"; shift
	echo "== bench ($name): $*" >&2
	# A failed correctness check still writes its JSON: record it, go on.
	"$out/loadtest" "${common[@]}" "$@" -json "$out/$name.json" -html "$out/$name.html" || true
}

args=()
for c in ${BENCH_CASES:-a b c d}; do
	case "$c" in
	a) run_case a -users 1000 -rooms 100 -rate 1000 ;;
	b) run_case b -users 10000 -rooms 1000 -rate 1000 -ramp 10s ;;
	c) run_case c -users 10000 -rooms 10 -rate 100 -ramp 10s ;;
	d) run_case d -users 1000 -rooms 100 -rate 100 -api-rate 2000 ;;
	*) echo "unknown case $c" >&2; exit 2 ;;
	esac
	if [[ -f "$out/$c.json" ]]; then args+=("($c)=$out/$c.json"); fi
done
go run ./loadtest/benchmd -doc BENCHMARKS.md "${args[@]}"
echo "BENCHMARKS.md updated; reports in $out/*.html" >&2
