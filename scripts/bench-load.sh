#!/usr/bin/env bash
# The load generator's standard matrix (issue 3: cases a-d) against a
# gateway this script starts from ./caddy and the shipped Caddyfile, then
# stops; loadtest/bench.sh rewrites the table in BENCHMARKS.md.
#   scripts/bench-load.sh            (BENCH_CASES="a b c d", BENCH_DURATION=30s)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${BENCH_PORT:-18080}"
admin="${BENCH_ADMIN_PORT:-12019}"
ops="${BENCH_OPS_PORT:-19180}"
CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off CHATGATE_ADDR=":$port" CHATGATE_ADMIN="127.0.0.1:$admin" CHATGATE_OPS_ADDR="127.0.0.1:$ops" \
	./caddy run --config Caddyfile >.bench-gateway.log 2>&1 &
gw=$!
trap 'kill "$gw" 2>/dev/null; wait "$gw" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
	curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
BENCH_ADMIN="http://127.0.0.1:$admin" BENCH_METRICS="http://127.0.0.1:$ops/metrics" loadtest/bench.sh "http://127.0.0.1:$port"
