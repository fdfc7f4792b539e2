#!/usr/bin/env bash
# Issue 4's benchmarks (e) and (f): three gateways from ./caddy and the
# shipped Caddyfile, a private Redis, the shipped Caddy load balancer in
# front, all on 127.0.0.1; then the load generator through the LB.
#   scripts/bench-cluster.sh e    10,000 users, rooms of 10, 1,000 msg/s
#   scripts/bench-cluster.sh f    the same with one gateway killed mid-run
# Env: BENCH_USERS, BENCH_RATE, BENCH_DURATION, BENCH_OUT (.bench).
set -euo pipefail
cd "$(dirname "$0")/.."
case="${1:-e}"
out="${BENCH_OUT:-.bench}"
users="${BENCH_USERS:-10000}"
rate="${BENCH_RATE:-1000}"
dur="${BENCH_DURATION:-30s}"
mkdir -p "$out"
go build -o "$out/loadtest" ./loadtest
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
redis_port=16390
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
pids+=($!)
ups=""
for i in 1 2 3; do
	CHATGATE_ADDR=":1808$i" CHATGATE_ADMIN="127.0.0.1:1202$i" CHATGATE_OPS_ADDR="127.0.0.1:1918$i" CHATGATE_INSTANCE="gw$i" \
		CHATGATE_REDIS="redis://127.0.0.1:$redis_port/0" CHATGATE_SHUTDOWN_DELAY=1500ms CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off \
		./caddy run --config Caddyfile >"$out/gw$i.log" 2>&1 &
	pids+=($!)
	eval "gw$i=$!"
	ups="$ups 127.0.0.1:1808$i"
done
CHATGATE_LB_ADDR=":18090" CHATGATE_LB_ADMIN="127.0.0.1:12029" CHATGATE_UPSTREAMS="${ups# }" CHATGATE_LB_HEALTH_INTERVAL=1s \
	./caddy run --config deploy/Caddyfile.lb >"$out/lb.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:18090/readyz >/dev/null 2>&1 && break; sleep 0.2; done
# -metrics: the LB's own /metrics (the gateways' are on their operator
# listeners, 127.0.0.1:1918N, and one of them is killed in f).
args=(-url http://127.0.0.1:18090 -users "$users" -rooms "$((users / 10))" -rate "$rate" -duration "$dur" -ramp 10s
	-seed "$out/seed-cluster.json" -admin http://127.0.0.1:12029 -metrics http://127.0.0.1:18090/metrics -leak-check warn -json "$out/$case.json" -html "$out/$case.html" -q)
if [[ "$case" == f ]]; then
	# shellcheck disable=SC2154 # gw1 is set by eval above
	args+=(-kill "KILL:$gw1@10s")
fi
"$out/loadtest" "${args[@]}"
