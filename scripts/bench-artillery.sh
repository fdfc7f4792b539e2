#!/usr/bin/env bash
# Issue 14: the Artillery scenario (loadtest/artillery/chat.yml) and then
# the load generator on the same scenario, against a private gateway this
# script starts from ./caddy and the shipped Caddyfile, then stops.
#
#   scripts/bench-artillery.sh        (`make bench-artillery`)
#
# The scenario is the load generator's case (a): ART_USERS users (1000) in
# ART_ROOMS rooms (100: rooms of 10), connected over ART_RAMP seconds (10),
# sending ART_RATE messages/s in all (1000) for ART_DURATION seconds (30).
# Users are made once by the load generator (-seed, argon2id) and handed to
# Artillery as a CSV of tokens (-payload); both tools drive the same
# accounts and rooms. Results in BENCH_OUT (.bench): artillery.json and
# .html (Artillery's report), artillery-summary.txt, artillery-lg.json and
# .html (the load generator's), artillery-bench.txt (both, and the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
port="${BENCH_PORT:-18180}"
admin="${BENCH_ADMIN_PORT:-12119}"
ops="${BENCH_OPS_PORT:-19280}"
users="${ART_USERS:-1000}"
rooms="${ART_ROOMS:-100}"
rate="${ART_RATE:-1000}"
dur="${ART_DURATION:-30}"
ramp="${ART_RAMP:-10}"
out="${BENCH_OUT:-.bench}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
seed="${BENCH_ART_SEED:-$out/artillery-seed.json}" # not bench-load's: another base URL
payload="$out/artillery-users.csv"
# Artillery joins a payload path to the script's folder, absolute or not.
rel_payload=$(realpath --relative-to="$root/loadtest/artillery" "$payload")
url="http://127.0.0.1:$port"
log="$out/artillery-bench.txt"
: >"$log"
say() { echo "$*" | tee -a "$log" >&2; }

go build -o "$out/loadtest" ./loadtest

# Artillery, as pinned by package-lock.json; npm ci only when the lock file
# changed since the last install. No install scripts: the ws engine needs
# none, and one of Artillery's dependencies would download a browser.
(
	cd loadtest/artillery
	if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.chatgate-lock; then
		npm ci --ignore-scripts --no-audit --no-fund
		cp package-lock.json node_modules/.chatgate-lock
	fi
)

# The gateway: the load generator spreads its connections over 16 source
# addresses, Artillery holds all of its own from 127.0.0.1, so ip_conns
# (1000 per address) is raised for both to see the same server.
CHATGATE_AUTH_IP_RATE=off CHATGATE_IP_CONNECT_RATE=off CHATGATE_IP_CONNS=100000 \
	CHATGATE_ADDR=":$port" CHATGATE_ADMIN="127.0.0.1:$admin" CHATGATE_OPS_ADDR="127.0.0.1:$ops" \
	./caddy run --config Caddyfile >"$out/artillery-gateway.log" 2>&1 &
gw=$!
art=""
cleanup() {
	[[ -n "$art" ]] && kill "$art" 2>/dev/null
	kill "$gw" 2>/dev/null
	wait "$gw" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do
	curl -fsS "$url/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "$url/readyz" >/dev/null

# Users, rooms and memberships (registered once, reused after), as CSV.
"$out/loadtest" -url "$url" -users "$users" -rooms "$rooms" -seed "$seed" -payload "$payload"

srv_cpu() { curl -fsS "http://127.0.0.1:$ops/metrics" | awk '$1 == "process_cpu_seconds_total" { print $2 }'; }
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
sleep_until() { local d=$(($1 - $(now_ms))); if ((d > 0)); then sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"; fi; }

# Artillery. The arrival phase brings in $users users over $ramp s; the
# processor fixes the send window (load + ramp + settle) and writes it to
# $win, so the CPU of the server and of Artillery is read over exactly the
# seconds of sending, as the load generator does.
win="$out/artillery-window"
rm -f "$win"
overrides=$(printf '{"config":{"phases":[{"name":"ramp","duration":%s,"arrivalCount":%s}]}}' "$ramp" "$users")
cmd="npx artillery run --overrides '$overrides' --output $out/artillery.json chat.yml"
say "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') $(uname -srm), $(nproc) cores, Node $(node --version), Artillery $(node -p "require('./loadtest/artillery/node_modules/artillery/package.json').version")"
say "== artillery: $users users, $rooms rooms, $rate sends/s, ${dur}s (ramp ${ramp}s)"
say "   (cd loadtest/artillery && TARGET=$url ART_PAYLOAD=$rel_payload ART_USERS=$users ART_RATE=$rate ART_DURATION=$dur ART_RAMP=$ramp $cmd)"
say "   load before: $(cut -d' ' -f1-3 /proc/loadavg)"
(
	cd loadtest/artillery
	ARTILLERY_DISABLE_TELEMETRY=1 TARGET="$url" ART_PAYLOAD="$rel_payload" ART_USERS="$users" ART_RATE="$rate" ART_DURATION="$dur" ART_RAMP="$ramp" ART_WINDOW_FILE="$win" \
		exec node node_modules/artillery/bin/run run --overrides "$overrides" --output "$out/artillery.json" chat.yml
) >"$out/artillery.log" 2>&1 &
art=$!
t_art0=$(now_ms)
for _ in $(seq 1 1200); do
	[[ -s "$win" ]] && break
	kill -0 "$art" 2>/dev/null || break
	sleep 0.1
done
window=""
if [[ -s "$win" ]]; then
	read -r start_ms end_ms <"$win"
	sleep_until "$start_ms"
	s0=$(srv_cpu) a0=$(proc_cpu "$art")
	sleep_until "$end_ms"
	s1=$(srv_cpu) a1=$(proc_cpu "$art")
	window=$(awk -v s0="$s0" -v s1="$s1" -v a0="$a0" -v a1="$a1" -v ms="$((end_ms - start_ms))" \
		'BEGIN { printf "server CPU %.0f%%, Artillery CPU %.0f%% over the %gs send window (100%% = one core)", (s1 - s0) * 100000 / ms, (a1 - a0) * 100000 / ms, ms / 1000 }')
	say "   load at the end of sending: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
a_total=""
while kill -0 "$art" 2>/dev/null; do
	a_total=$(proc_cpu "$art" 2>/dev/null || echo "$a_total")
	sleep 0.5
done
rc=0
wait "$art" || rc=$?
art=""
tail -n 60 "$out/artillery.log" >&2
say "   artillery exit $rc; ${window:-no send window seen}; Artillery CPU ${a_total:-?} s over the whole run of $((($(now_ms) - t_art0) / 1000)) s"
(cd loadtest/artillery && ARTILLERY_DISABLE_TELEMETRY=1 node node_modules/artillery/bin/run report --output "$out/artillery.html" "$out/artillery.json" >/dev/null 2>&1) ||
	say "   (artillery report failed: no HTML)"
ART_USERS="$users" ART_ROOMS="$rooms" node loadtest/artillery/summary.js "$out/artillery.json" | tee "$out/artillery-summary.txt" | tee -a "$log" >&2

# The load generator, same users, rooms, rate, ramp and duration, right after.
sleep 5
say "== load generator: same scenario"
say "   go run ./loadtest -url $url -users $users -rooms $rooms -rate $rate -duration ${dur}s -ramp ${ramp}s -seed $seed -json $out/artillery-lg.json"
say "   load before: $(cut -d' ' -f1-3 /proc/loadavg)"
lrc=0
"$out/loadtest" -url "$url" -users "$users" -rooms "$rooms" -rate "$rate" -duration "${dur}s" -ramp "${ramp}s" \
	-seed "$seed" -admin "http://127.0.0.1:$admin" -metrics "http://127.0.0.1:$ops/metrics" \
	-json "$out/artillery-lg.json" -html "$out/artillery-lg.html" -q | tee -a "$log" >&2 || lrc=$?
say "   load generator exit $lrc; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
say "reports: $out/artillery.json $out/artillery.html $out/artillery-lg.json $out/artillery-lg.html; both summaries in $log"
cd "$root"
exit $((rc != 0 || lrc != 0))
