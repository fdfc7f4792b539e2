#!/usr/bin/env bash
# Issue 14's soak: cycles of connect, chat, disconnect, forced GC and a heap
# reading, until BENCH_SOAK is over; the load generator fails (exit 1) when a
# heap does not plateau or goroutines do not come back (loadtest/README.md,
# "Leak check"). `make bench-soak` runs it.
#
#   scripts/bench-soak.sh [gateway] [cluster] [signup]   (default: gateway cluster)
#
#   gateway  a private gateway from ./caddy and the shipped Caddyfile, one
#            soak per case of BENCH_SOAK_CASES: a (1,000 users, 1,000 msg/s)
#            and d (100 msg/s + 2,000 REST reads/s through the memory
#            response cache)
#   cluster  deploy/Caddyfile.lb in front of two gateways (Redis between
#            them): 1,000 users, 200 msg/s + 200 reads/s through the LB; the
#            LB's and both gateways' heaps are judged
#   signup   RSS of a fresh gateway before, right after and 60 s after 1,000
#            users register (argon2id; a fresh seed file)
#
# Env: BENCH_SOAK (each soak's length, 3m), BENCH_SOAK_CYCLE (send phase of
# a cycle, 10s), BENCH_SOAK_CASES ("a d"), BENCH_OUT (.bench),
# BENCH_SIGNUP_ENV (VAR=value ... for the signup gateway, e.g.
# GOMEMLIMIT=128MiB), BENCH_CADDY (the binary, ./caddy); the environment
# passes through to the gateways.
# Results: $BENCH_OUT/soak-<case>.{json,html,svg}; the script exits 1 when
# any soak failed.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-.bench}"
soak="${BENCH_SOAK:-3m}"
cycle="${BENCH_SOAK_CYCLE:-10s}"
caddy="${BENCH_CADDY:-./caddy}"
mkdir -p "$out"
go build -o "$out/loadtest" ./loadtest

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap cleanup EXIT

wait_ready() { # url
	for _ in $(seq 1 300); do
		curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	curl -fsS "$1/readyz" >/dev/null
}

# gateway N [env...]: gateway N on :1810N, admin 1211N, operator 1919N.
gateway() {
	local n="$1"
	shift
	env CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off CHATGATE_ADDR=":1810$n" \
		CHATGATE_ADMIN="127.0.0.1:1211$n" CHATGATE_OPS_ADDR="127.0.0.1:1919$n" CHATGATE_INSTANCE="soak$n" "$@" \
		"$caddy" run --config Caddyfile >"$out/soak-gw$n.log" 2>&1 &
	pids+=($!)
}

rss() { # metrics URL → RSS in MiB
	curl -fsS "$1" | awk '$1 == "process_resident_memory_bytes" { printf "%.1f", $2 / 1048576 }'
}

status=0
# soak_run name admin-URLs(comma list) loadtest-flags...: a failed soak
# leaves each server's goroutines and heap profile (after a GC) beside its
# report, to see what stayed.
soak_run() {
	local name="$1" admins="$2"
	shift 2
	echo "== soak ($name): $soak of ${cycle} cycles: $*" >&2
	if ! "$out/loadtest" -soak "$soak" -duration "$cycle" -ramp 3s -drain 5s -q -admin "$admins" "$@" \
		-json "$out/soak-$name.json" -html "$out/soak-$name.html" -soak-svg "$out/soak-$name.svg"; then
		status=1
		local a
		for a in ${admins//,/ }; do
			curl -fsS "$a/debug/pprof/goroutine?debug=1" >"$out/soak-$name-${a##*:}.goroutines.txt" || true
			curl -fsS "$a/debug/pprof/heap?gc=1" >"$out/soak-$name-${a##*:}.heap.pb.gz" || true
		done
	fi
}

run_gateway() {
	for c in ${BENCH_SOAK_CASES:-a d}; do
		gateway 1
		wait_ready http://127.0.0.1:18101
		common=(-url http://127.0.0.1:18101 -metrics http://127.0.0.1:19191/metrics -seed "$out/seed-soak.json")
		case "$c" in
		a) soak_run a http://127.0.0.1:12111 "${common[@]}" -users 1000 -rooms 100 -rate 1000 ;;
		d) soak_run d http://127.0.0.1:12111 "${common[@]}" -users 1000 -rooms 100 -rate 100 -api-rate 2000 ;;
		*) echo "unknown case $c" >&2; exit 2 ;;
		esac
		cleanup
	done
}

# The LB keeps idle connections to the gateways for reuse (deploy/
# Caddyfile.lb: keepalive_idle_conns 512, 128 per host, closed after 90 s
# idle): up to 1,024 goroutines in the LB (two per connection) and 128 in
# each gateway (one) after a cycle. Bounded, so -goroutine-slack allows them.
run_cluster() {
	local redis_port=16391
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/soak-redis.log" 2>&1 &
	pids+=($!)
	gateway 1 CHATGATE_REDIS="redis://127.0.0.1:$redis_port/0"
	gateway 2 CHATGATE_REDIS="redis://127.0.0.1:$redis_port/0"
	wait_ready http://127.0.0.1:18101
	wait_ready http://127.0.0.1:18102
	CHATGATE_LB_ADDR=":18190" CHATGATE_LB_ADMIN="127.0.0.1:12190" CHATGATE_UPSTREAMS="127.0.0.1:18101 127.0.0.1:18102" \
		CHATGATE_LB_HEALTH_INTERVAL=1s "$caddy" run --config deploy/Caddyfile.lb >"$out/soak-lb.log" 2>&1 &
	pids+=($!)
	wait_ready http://127.0.0.1:18190
	soak_run lb http://127.0.0.1:12190,http://127.0.0.1:12111,http://127.0.0.1:12112 -url http://127.0.0.1:18190 \
		-metrics http://127.0.0.1:18190/metrics,http://127.0.0.1:19191/metrics,http://127.0.0.1:19192/metrics \
		-users 1000 -rooms 100 -rate 200 -api-rate 200 -seed "$out/seed-soak-cluster.json" \
		-goroutine-slack 1024,128,128
	cleanup
}

run_signup() {
	gateway 1 "$@"
	wait_ready http://127.0.0.1:18101
	local m=http://127.0.0.1:19191/metrics seed
	seed=$(mktemp -u "$out/seed-signup-XXXXXX.json")
	sleep 2
	local before after after5 after60 peak
	before=$(rss "$m")
	(while :; do rss "$m" && echo; sleep 0.5; done >"$out/signup-rss.txt" 2>/dev/null) &
	local sampler=$!
	"$out/loadtest" -url http://127.0.0.1:18101 -users 1000 -rooms 100 -setup-only -seed "$seed" >"$out/signup.txt" 2>&1
	after=$(rss "$m")
	kill "$sampler"
	wait "$sampler" 2>/dev/null || true
	peak=$(sort -n "$out/signup-rss.txt" | tail -1)
	sleep 5
	after5=$(rss "$m")
	sleep 55
	after60=$(rss "$m")
	rm -f "$seed"
	echo "signup: 1,000 users registered ($(grep -o 'ready in .*' "$out/signup.txt")); gateway RSS before $before MiB, peak $peak MiB, after $after MiB, 5 s later $after5 MiB, 60 s later $after60 MiB ${*:-}" | tee -a "$out/signup.txt" >&2
	cleanup
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(gateway cluster); fi
for t in "${targets[@]}"; do
	case "$t" in
	gateway) run_gateway ;;
	cluster) run_cluster ;;
	# shellcheck disable=SC2086 # BENCH_SIGNUP_ENV is a list of VAR=value
	signup) run_signup ${BENCH_SIGNUP_ENV:-} ;;
	*) echo "unknown target $t (gateway, cluster, signup)" >&2; exit 2 ;;
	esac
done
echo "reports in $out/soak-*.html" >&2
exit "$status"
