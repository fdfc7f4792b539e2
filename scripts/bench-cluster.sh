#!/usr/bin/env bash
# Issue 4's benchmarks (e) and (f) and issue 14's (g) and (h): three
# gateways from ./caddy and the shipped Caddyfile, a private Redis (one
# server, or a Redis Cluster), the shipped Caddy load balancer
# (deploy/Caddyfile.lb) in front, all on 127.0.0.1; then the load
# generator through the LB(s).
#   scripts/bench-cluster.sh e    one Redis, one LB; 3,000 users, rooms of
#                                 10, 1,000 msg/s (one LB holds two sockets
#                                 per client, and a process may open 20,000
#                                 files here: 10,000 users need g/h's two)
#   scripts/bench-cluster.sh f    the same with gateway gw1 SIGKILLed mid-run
#   scripts/bench-cluster.sh g    10,000 users: a Redis Cluster (3 masters, 1
#                                 replica each, 6 redis-servers) and TWO LBs,
#                                 each with all three gateways; users split
#                                 over the LBs (-url a,b, as DNS round robin
#                                 would); the master of slot 0 SIGKILLed
#                                 mid-run: its replica takes over, the bus
#                                 and the caches carry on
#   scripts/bench-cluster.sh h    the same cluster and two LBs, gateway gw1
#                                 SIGKILLed mid-run instead
# A SIGKILL happens BENCH_KILL_AT (10s) into the send phase. In g the
# script also times the failover (kill → the replica answers as master →
# cluster_state:ok with every slot served) into $out/g-failover.txt.
# Env: BENCH_USERS (3,000 in e/f, 10,000 in g/h), BENCH_RATE (1000), BENCH_DURATION (30s), BENCH_RAMP
# (10s), BENCH_KILL_AT (10s), BENCH_PROCS (1: generator processes),
# BENCH_OUT (.bench: logs, results, the seed), BENCH_DB (chatgate_cluster:
# a database of its own on CHATGATE_POSTGRES's cluster, default
# postgres://postgres@127.0.0.1:5432). The seed ($out/seed-cluster.json)
# is reused: registering 10,000 users (argon2id) takes minutes, once.
# BENCH_MIX: the generator's -mix (issue 15: e.g.
# send=80,react=10,edit=5,delete=5; default sends only).
# Ports: gateways 18081-3 (admin 12021-3, ops 19181-3), LBs 18090-1
# (admin 12029-30), Redis 16390 or the cluster 16391-6; with
# BENCH_PORT_BASE=B (a free block of 100) instead B+1-3 (admin B+11-13, ops
# B+21-23), LBs B+30-31 (admin B+40-41), Redis B+50 or B+51-56, so runs
# on a shared machine do not collide. Everything listens and dials on
# 127.0.0.1 and stops when the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."
case="${1:-e}"
case "$case" in
e | f) cluster=0 lbs=1 users="${BENCH_USERS:-3000}" ;;
g | h) cluster=1 lbs=2 users="${BENCH_USERS:-10000}" ;;
*)
	echo "usage: $0 e|f|g|h" >&2
	exit 2
	;;
esac
out="${BENCH_OUT:-.bench}"
rate="${BENCH_RATE:-1000}"
dur="${BENCH_DURATION:-30s}"
ramp="${BENCH_RAMP:-10s}"
kill_at="${BENCH_KILL_AT:-10s}"
procs="${BENCH_PROCS:-1}"
db="${BENCH_DB:-chatgate_cluster}"
mix="${BENCH_MIX:-}"
if [[ -n ${BENCH_PORT_BASE:-} ]]; then
	pb=$BENCH_PORT_BASE
	gw_port=$((pb + 0)) gw_admin=$((pb + 10)) gw_ops=$((pb + 20)) lb_port=$((pb + 30)) lb_admin=$((pb + 40)) redis_port=$((pb + 50))
else
	# gateway i listens on gw_port+i (1808i), its admin and ops alike.
	gw_port=18080 gw_admin=12020 gw_ops=19180 lb_port=18090 lb_admin=12029 redis_port=16390
fi
dsn="${CHATGATE_POSTGRES:-postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable}"
query=""
[[ $dsn == *\?* ]] && query="?${dsn#*\?}"
base="${dsn%%\?*}"
bench_dsn="${base%/*}/$db$query"
mkdir -p "$out"
log() { printf 'bench-cluster: %s\n' "$*" >&2; }
[[ -x ./caddy ]] || ./xcaddy.sh
go build -o "$out/loadtest" ./loadtest

pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	# Last started first: the LBs and gateways go before the Redis they use.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

wait_ok() { # url: up to a minute for a 2xx
	for _ in $(seq 1 300); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	curl -fsS -o /dev/null "$1"
}

# --- Redis -------------------------------------------------------------------
declare -A rpid # port -> redis-server pid
start_redis() { # port extra-args...
	local port="$1" dir="$out/redis-$1"
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" "$@" >"$dir/redis.log" 2>&1 &
	pids+=($!)
	rpid[$port]=$!
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	log "redis-server on $port did not start"
	exit 2
}
if ((cluster)); then
	rports=()
	for k in 1 2 3 4 5 6; do rports+=($((redis_port + k))); done
	nodes=()
	for p in "${rports[@]}"; do
		# A short node timeout: a dead master is failed over within a few
		# seconds (cluster-node-timeout plus the replica's election).
		start_redis "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
		nodes+=("127.0.0.1:$p")
	done
	redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$out/redis-cluster-create.log" 2>&1
	# Ready: every node sees cluster_state:ok with all 16384 slots served,
	# and every replica's link to its master is up (a replica that never
	# synced may refuse to take over).
	for i in $(seq 1 300); do
		ready=1
		for p in "${rports[@]}"; do
			info=$(redis-cli -p "$p" cluster info 2>/dev/null || true)
			[[ $info == *cluster_state:ok* && $info == *cluster_slots_ok:16384* ]] || ready=0
			rep=$(redis-cli -p "$p" info replication 2>/dev/null || true)
			[[ $rep == *role:slave* && $rep != *master_link_status:up* ]] && ready=0
		done
		((ready)) && break
		((i == 300)) && {
			log "redis cluster not ready"
			exit 2
		}
		sleep 0.2
	done
	redis_spec=$(
		IFS=,
		echo "${nodes[*]}"
	)
	# The master serving slot 0 (the victim in g) and its replica.
	victim_port=$(redis-cli -p "${rports[0]}" cluster nodes | awk '$3 ~ /master/ && $9 ~ /^0-/ {split($2, a, "[:@]"); print a[2]}')
	victim_id=$(redis-cli -p "$victim_port" cluster myid)
	replica_port=$(redis-cli -p "${rports[0]}" cluster nodes | awk -v m="$victim_id" '$4 == m {split($2, a, "[:@]"); print a[2]}')
	log "redis cluster up: ${nodes[*]}; slot 0 on $victim_port (pid ${rpid[$victim_port]}), replica $replica_port"
else
	start_redis "$redis_port"
	redis_spec="redis://127.0.0.1:$redis_port/0"
fi

# --- gateways and load balancers ----------------------------------------------
ups=""
gwpids=()
for i in 1 2 3; do
	CHATGATE_POSTGRES="$bench_dsn" CHATGATE_ADDR=":$((gw_port + i))" CHATGATE_ADMIN="127.0.0.1:$((gw_admin + i))" CHATGATE_OPS_ADDR="127.0.0.1:$((gw_ops + i))" CHATGATE_INSTANCE="gw$i" \
		CHATGATE_REDIS="$redis_spec" CHATGATE_SHUTDOWN_DELAY=1500ms CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off \
		./caddy run --config Caddyfile >"$out/gw$i.log" 2>&1 &
	pids+=($!)
	gwpids+=($!)
	ups="$ups 127.0.0.1:$((gw_port + i))"
done
urls=() lbadmin=() metrics=()
for ((j = 0; j < lbs; j++)); do
	CHATGATE_LB_ADDR=":$((lb_port + j))" CHATGATE_LB_ADMIN="127.0.0.1:$((lb_admin + j))" CHATGATE_UPSTREAMS="${ups# }" CHATGATE_LB_HEALTH_INTERVAL=1s \
		./caddy run --config deploy/Caddyfile.lb >"$out/lb$((j + 1)).log" 2>&1 &
	pids+=($!)
	urls+=("http://127.0.0.1:$((lb_port + j))")
	lbadmin+=("http://127.0.0.1:$((lb_admin + j))")
	metrics+=("http://127.0.0.1:$((lb_port + j))/metrics")
done
for i in 1 2 3; do wait_ok "http://127.0.0.1:$((gw_port + i))/readyz"; done
for u in "${urls[@]}"; do wait_ok "$u/readyz"; done
log "gateways ${gwpids[*]}, LBs ${urls[*]}"

join() { # sep items...
	local IFS="$1"
	shift
	echo "$*"
}

# Registering users is argon2id: minutes for thousands. A short throwaway
# run fills the seed first, so the measured run starts on a settled machine.
have=$( (jq '.users | length' "$out/seed-cluster.json" 2>/dev/null) || echo 0)
if ((have < users)); then
	log "registering $users users (seed $out/seed-cluster.json has $have)"
	"$out/loadtest" -url "$(join , "${urls[@]}")" -users "$users" -rooms "$((users / 10))" -rate 10 -duration 1s -ramp 5s \
		-metrics none -leak-check off -admin none -q -seed "$out/seed-cluster.json" >"$out/setup.log" 2>&1 || true
	sleep 5
fi

# -metrics: the LBs' own /metrics and the gateways' operator listeners
# (CPU and heap of each; gw1's scrapes fail once it is killed in f and h).
for i in 1 2 3; do metrics+=("http://127.0.0.1:$((gw_ops + i))/metrics"); done
args=(-url "$(join , "${urls[@]}")" -users "$users" -rooms "$((users / 10))" -rate "$rate" -duration "$dur" -ramp "$ramp"
	-seed "$out/seed-cluster.json" -admin "$(join , "${lbadmin[@]}" "http://127.0.0.1:$((gw_admin + 1))" "http://127.0.0.1:$((gw_admin + 2))" "http://127.0.0.1:$((gw_admin + 3))")" -metrics "$(join , "${metrics[@]}")"
	-leak-check warn -json "$out/$case.json" -html "$out/$case.html" -q)
((procs > 1)) && args+=(-procs "$procs")
[[ -n $mix ]] && args+=(-mix "$mix")
case "$case" in
f | h) args+=(-kill "KILL:${gwpids[0]}@$kill_at") ;;
g)
	vpid=${rpid[$victim_port]}
	args+=(-kill "KILL:$vpid@$kill_at")
	# Failover timing: from the victim's death to its replica answering as
	# a master, then to every node it can reach reporting cluster_state:ok
	# with all slots served. Bounded: gives up after the run's length.
	(
		deadline=$((SECONDS + 600))
		# (a zombie is dead too: this shell may not have reaped it yet)
		while [[ $(ps -o stat= -p "$vpid" 2>/dev/null) == [^Z]* ]] && ((SECONDS < deadline)); do sleep 0.02; done
		t0=$(date +%s.%N)
		until redis-cli -p "$replica_port" role 2>/dev/null | head -1 | grep -q master || ((SECONDS > deadline)); do sleep 0.05; done
		t1=$(date +%s.%N)
		until [[ $(redis-cli -p "$replica_port" cluster info 2>/dev/null) == *cluster_state:ok*cluster_slots_ok:16384* ]] || ((SECONDS > deadline)); do sleep 0.05; done
		t2=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" -v c="$t2" -v v="$victim_port" -v r="$replica_port" \
			'BEGIN { printf "master %s killed; replica %s master after %.2f s, cluster_state:ok with all slots after %.2f s\n", v, r, b - a, c - a }' \
			| tee "$out/g-failover.txt" >&2
	) &
	pids+=($!)
	;;
esac
cut -d' ' -f1-3 /proc/loadavg >"$out/$case.load"
log "($case) load $(cat "$out/$case.load"): $out/loadtest ${args[*]}"
status=0
"$out/loadtest" "${args[@]}" || status=$?
log "($case) load after: $(cut -d' ' -f1-3 /proc/loadavg); exit status $status"
if ((cluster)); then
	redis-cli -p "$replica_port" cluster info | grep -E 'cluster_state|cluster_slots_ok' >&2 || true
fi
exit "$status"
