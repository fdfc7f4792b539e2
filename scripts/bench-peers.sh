#!/usr/bin/env bash
# Chatgate against a plain Socket.IO 4.8 chat server (issue 14): scenarios
# a, b, c with the load generator against a private gateway (./caddy, the
# shipped Caddyfile) and, right after each, against
# loadtest/peers/socketio; prints
# the table (p50/p95/p99, CPU per delivered message, ratios) and writes it
# into BENCHMARKS.md's "Peers" section. `make bench-peers` runs it after
# scripts/services.sh up (CHATGATE_POSTGRES must reach the cluster).
#
#   (a) 1,000 users, rooms of 10,  1,000 sends/s
#   (b) 5,000 users, rooms of 10,  1,000 sends/s
#   (c) 5,000 users, rooms of 100,   500 sends/s
#
# Env: PEERS_CASES ("a b c"), PEERS_DURATION (20s per run), PEERS_OUT
# (.bench-peers: results, seed, logs), PEERS_DOC (BENCHMARKS.md; "" = print
# only), BENCH_PORT / BENCH_ADMIN_PORT / BENCH_OPS_PORT (gateway, 18080 /
# 12019 / 19180), PEERS_SIO_PORT (18090), PEERS_PG_PID (the postmaster's pid
# when psql cannot find it), PEERS_DB (chatgate_peers: created on the
# cluster of CHATGATE_POSTGRES, used by the private gateway). Everything listens and dials on 127.0.0.0/8;
# every run ends by itself and the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${PEERS_OUT:-.bench-peers}"
dur="${PEERS_DURATION:-20s}"
cases="${PEERS_CASES:-a b c}"
doc="${PEERS_DOC-BENCHMARKS.md}"
port="${BENCH_PORT:-18080}"
admin="${BENCH_ADMIN_PORT:-12019}"
ops="${BENCH_OPS_PORT:-19180}"
sioport="${PEERS_SIO_PORT:-18090}"
mkdir -p "$out"

log() { printf 'bench-peers: %s\n' "$*" >&2; }

[[ -x ./caddy ]] || ./xcaddy.sh
go build -o "$out/loadtest" ./loadtest
go build -o "$out/peersmd" ./loadtest/peersmd

pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

wait_http() { # url [curl flag]: up to a minute for an answer (-f: a 2xx)
	for _ in $(seq 1 300); do
		curl -s ${2:-} -o /dev/null "$1" && return 0
		sleep 0.2
	done
	curl -sS ${2:-} -o /dev/null "$1"
}

flags_for() { # case -> generator flags
	case "$1" in
	a) echo "-users 1000 -rooms 100 -rate 1000 -ramp 5s" ;;
	b) echo "-users 5000 -rooms 500 -rate 1000 -ramp 10s" ;;
	c) echo "-users 5000 -rooms 50 -rate 500 -ramp 10s" ;;
	*)
		log "unknown case $1"
		exit 2
		;;
	esac
}

run_case() { # case server url metrics extra...
	local c="$1" srv="$2" url="$3" metrics="$4"
	shift 4
	# shellcheck disable=SC2046
	set -- $(flags_for "$c") "$@"
	sleep "${PEERS_PAUSE:-5}" # let the previous run's sockets and load settle
	cut -d' ' -f1-3 /proc/loadavg >"$out/$c-$srv.load"
	log "($c) $srv: $* (load $(cat "$out/$c-$srv.load"))"
	rm -f "$out/$c-$srv.json"
	# A failed correctness check still writes its JSON: the table shows it.
	timeout 15m "$out/loadtest" -url "$url" -duration "$dur" -metrics "$metrics" -leak-check off -admin none \
		-q -json "$out/$c-$srv.json" "$@" || log "($c) $srv: exit status $?"
}

# --- Chatgate: gateway + Postgres ------------------------------------------
# A database of its own (PEERS_DB, default chatgate_peers) on the cluster
# CHATGATE_POSTGRES names: its backends are told apart from other work on
# a shared cluster by their process titles (-metrics proc:PID@DB).
dsn="${CHATGATE_POSTGRES:?CHATGATE_POSTGRES is not set: run through make bench-peers}"
pgdb="${PEERS_DB:-chatgate_peers}"
query=""
[[ $dsn == *\?* ]] && query="?${dsn#*\?}"
base="${dsn%%\?*}"
peers_dsn="${base%/*}/$pgdb$query"
psql "$dsn" -v ON_ERROR_STOP=1 -qAt -v db="$pgdb" >/dev/null <<<"SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec"
CHATGATE_POSTGRES="$peers_dsn" CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off CHATGATE_ADDR=":$port" \
	CHATGATE_ADMIN="127.0.0.1:$admin" CHATGATE_OPS_ADDR="127.0.0.1:$ops" \
	./caddy run --config Caddyfile >"$out/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
wait_http "http://127.0.0.1:$port/readyz" -f

# The postmaster: the parent of the cluster's checkpointer (a child that
# lives as long as the cluster; a backend of psql would be gone too soon).
pg="${PEERS_PG_PID:-}"
if [[ -z $pg ]]; then
	ckpt=$(psql "$peers_dsn" -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
	pg=$(awk '{sub(/.*\) /, ""); print $2}' "/proc/$ckpt/stat")
fi
[[ -r /proc/$pg/stat ]] || {
	log "no Postgres process $pg; set PEERS_PG_PID"
	exit 2
}
log "gateway pid $gw, postmaster pid $pg, database $pgdb"

# Registering users is argon2id, minutes for thousands: do it once, in a
# throwaway run, so no measured run starts on a machine still busy with it.
need=0
for c in $cases; do
	n=$(flags_for "$c" | awk '{print $2}')
	((n > need)) && need=$n
done
have=$( (jq '.users | length' "$out/seed.json" 2>/dev/null) || echo 0)
if ((have < need)); then
	log "registering $need users (seed $out/seed.json has $have)"
	"$out/loadtest" -url "http://127.0.0.1:$port" -users "$need" -rooms "$((need / 10))" -rate 10 -duration 1s -ramp 2s \
		-metrics none -leak-check off -admin none -q -seed "$out/seed.json" >/dev/null || true
	sleep "${PEERS_PAUSE:-5}"
fi

# --- Socket.IO peer ----------------------------------------------------------
# Both servers stay up (an idle one costs next to nothing) so each
# scenario runs against Chatgate and then the peer back to back: on a
# shared machine the pair sees the same background load.
sio_dir=loadtest/peers/socketio
if [[ ! -d $sio_dir/node_modules/socket.io ]]; then
	(cd "$sio_dir" && npm ci --no-audit --no-fund >&2)
fi
PORT="$sioport" HOST=127.0.0.1 node "$sio_dir/server.js" >"$out/socketio.log" 2>&1 &
sio=$!
pids+=("$sio")
wait_http "http://127.0.0.1:$sioport/"
log "socket.io pid $sio: $(head -1 "$out/socketio.log")"
for c in $cases; do
	run_case "$c" chatgate "http://127.0.0.1:$port" "proc:$gw,proc:$pg@$pgdb" -seed "$out/seed.json"
	run_case "$c" socketio "http://127.0.0.1:$sioport" "proc:$sio" -protocol socketio
done
cleanup
pids=()

"$out/peersmd" -dir "$out" -cases "$cases" -doc "$doc" -command "PEERS_DURATION=$dur PEERS_CASES=\"$cases\" make bench-peers"
