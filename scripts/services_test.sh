#!/usr/bin/env bash
# Real test of scripts/services.sh. It exercises the fallback path on unused
# ports (a project-local Postgres cluster and Redis in a temporary data dir)
# without touching the machine's own services on 5432/6379, apart from the
# "server already answers" case, which creates and drops one scratch database
# on the Postgres at 127.0.0.1:5432 when that one accepts postgres@127.0.0.1.
#
#   scripts/services_test.sh        prints PASS/FAIL lines; exit 1 on any failure
#
# Ports: SERVICES_TEST_PG_PORT (default 55432) and SERVICES_TEST_REDIS_PORT
# (default 56379); the first free port from there is used.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SVC=$HERE/services.sh

CHECKS=0
FAILS=0
pass() {
	CHECKS=$((CHECKS + 1))
	printf 'PASS %s\n' "$*"
}
fail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	printf 'FAIL %s\n' "$*"
}
# check DESCRIPTION COMMAND...: PASS when COMMAND succeeds.
check() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$desc"; else fail "$desc"; fi
}
# check_eq DESCRIPTION WANT GOT
check_eq() {
	if [[ $2 == "$3" ]]; then
		pass "$1"
	else
		fail "$1 (want '$2', got '$3')"
	fi
}

tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}
# First port from $1 on where nothing listens and no system cluster is configured.
free_port() {
	local p=$1 used=''
	if command -v pg_lsclusters >/dev/null; then
		used=" $(pg_lsclusters -h 2>/dev/null | awk '{ printf "%s ", $3 }')"
	fi
	while tcp_open 127.0.0.1 "$p" || [[ $used == *" $p "* ]]; do
		p=$((p + 1))
	done
	printf '%s\n' "$p"
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$1" -t 3; }
redis_ping() { timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null || true; }
redis_run_id() { timeout 3 redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^run_id://p' || true; }
psql_val() { PGCONNECT_TIMEOUT=5 psql -X -q -At -d "$1" -c "$2" 2>/dev/null || true; }
pid_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
file_mode() { stat -c %a "$1" 2>/dev/null || echo missing; }

# Values of the three exported variables, one per line, from `up` output.
exported() {
	(
		unset CHATGATE_POSTGRES CHATGATE_REDIS CHATGATE_SECRET
		eval "$(cat "$1")"
		printf '%s\n' "${CHATGATE_POSTGRES-<unset>}" "${CHATGATE_REDIS-<unset>}" "${CHATGATE_SECRET-<unset>}"
	)
}

PG_PORT=$(free_port "${SERVICES_TEST_PG_PORT:-55432}")
REDIS_PORT=$(free_port "${SERVICES_TEST_REDIS_PORT:-56379}")
DB=chatgate_svc_test
DSN="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
EXT_DB=chatgate_svc_test_ext_$$
EXT_DSN="postgres://postgres@127.0.0.1:5432/$EXT_DB?sslmode=disable"
SYS_MAINT='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatgate-services-test.XXXXXX")
chmod 755 "$TMP" # as root the cluster runs as the postgres OS user, which must reach it
DATA=$TMP/data
EXT_DATA=$TMP/ext
ext_db_created=0

svc() { # svc DATA_DIR DSN REDIS ACTION OUT ERR [extra env...]
	local data=$1 dsn=$2 redis=$3 action=$4 out=$5 err=$6
	shift 6
	env -u CHATGATE_SECRET CHATGATE_DATA_DIR="$data" CHATGATE_POSTGRES="$dsn" \
		CHATGATE_REDIS="$redis" "$@" "$SVC" "$action" >"$out" 2>"$err"
}

cleanup() {
	local rc=$? pid
	svc "$DATA" "$DSN" "$REDIS_URL" down /dev/null /dev/null || true
	# Belt and braces if `down` itself is what broke.
	if [[ -f $DATA/postgres/postmaster.pid ]]; then
		pid=$(head -n1 "$DATA/postgres/postmaster.pid")
		if pid_alive "$pid"; then kill -INT "$pid" 2>/dev/null || true; fi
	fi
	if [[ -f $DATA/redis.pid ]]; then
		pid=$(<"$DATA/redis.pid")
		if pid_alive "$pid" && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *redis-server*:"$REDIS_PORT"* ]]; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	fi
	if ((ext_db_created)); then
		psql -X -q -d "$SYS_MAINT" -c "DROP DATABASE IF EXISTS $EXT_DB" >/dev/null 2>&1 || true
	fi
	sleep 0.5
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

printf 'services_test: data dir %s, postgres port %s, redis port %s\n' "$DATA" "$PG_PORT" "$REDIS_PORT"

# ---------------------------------------------------------------- baseline
sys_pg=0 sys_pg_start='' sys_redis=0 sys_redis_id=''
if pg_ready 5432; then
	sys_pg=1
	sys_pg_start=$(psql_val "$SYS_MAINT" 'select pg_postmaster_start_time()')
fi
if [[ $(redis_ping 6379) == PONG ]]; then
	sys_redis=1
	sys_redis_id=$(redis_run_id 6379)
fi

# ---------------------------------------------------------------- first up
if ! svc "$DATA" "$DSN" "$REDIS_URL" up "$TMP/out1" "$TMP/err1"; then
	fail "up (fresh data dir) exits 0"
	sed 's/^/    /' "$TMP/err1"
	printf 'FAIL services_test: %d of %d checks failed\n' "$FAILS" "$CHECKS"
	exit 1
fi
pass "up (fresh data dir) exits 0"
check_eq "up prints exactly 3 export lines" 3/3 "$(grep -c '^export CHATGATE_\(POSTGRES\|REDIS\|SECRET\)=' "$TMP/out1")/$(wc -l <"$TMP/out1")"
mapfile -t vals < <(exported "$TMP/out1")
check_eq "exported CHATGATE_POSTGRES is the DSN given" "$DSN" "${vals[0]}"
check_eq "exported CHATGATE_REDIS is unchanged" "$REDIS_URL" "${vals[1]}"
secret=$(tr -d '[:space:]' <"$DATA/secret" 2>/dev/null || true)
check_eq "exported CHATGATE_SECRET is the secret file's" "$secret" "${vals[2]}"
check "secret is 32 random bytes in hex" grep -Eqx '[0-9a-f]{64}' <<<"$secret"
check_eq "secret file has mode 600" 600 "$(file_mode "$DATA/secret")"

check "local Postgres answers on 127.0.0.1:$PG_PORT" pg_ready "$PG_PORT"
check_eq "it is the project-local cluster" "$DATA/postgres" "$(psql_val "$DSN" 'show data_directory')"
check_eq "database $DB exists (select 1)" 1 "$(psql_val "$DSN" 'select 1')"
check_eq "connected to database $DB" "$DB" "$(psql_val "$DSN" 'select current_database()')"
check "unix socket is inside the data dir" test -S "$DATA/pg-socket/.s.PGSQL.$PG_PORT"
check "Postgres log is the data dir's postgres.log" test -s "$DATA/postgres.log"
check "started records the local cluster" grep -q "^postgres-local	$DATA/postgres	" "$DATA/started"

check_eq "local Redis answers on 127.0.0.1:$REDIS_PORT" PONG "$(redis_ping "$REDIS_PORT")"
check_eq "it is the project-local Redis (dir)" "$DATA" "$(timeout 3 redis-cli -p "$REDIS_PORT" config get dir 2>/dev/null | sed -n 2p)"
check_eq "it does not persist (save)" "" "$(timeout 3 redis-cli -p "$REDIS_PORT" config get save 2>/dev/null | sed -n 2p)"
redis_pid=$(cat "$DATA/redis.pid" 2>/dev/null || true)
check "started records Redis with its pid" grep -qx "redis	$redis_pid	$REDIS_PORT" "$DATA/started"

pm_pid=$(head -n1 "$DATA/postgres/postmaster.pid" 2>/dev/null || true)
started_before=$(cat "$DATA/started" 2>/dev/null || true)

# ---------------------------------------------------------------- second up: no-op
if svc "$DATA" "$DSN" "$REDIS_URL" up "$TMP/out2" "$TMP/err2"; then pass "second up exits 0"; else fail "second up exits 0"; fi
check "second up prints the same exports" cmp -s "$TMP/out1" "$TMP/out2"
check_eq "second up is quiet on stderr" "" "$(cat "$TMP/err2")"
check_eq "second up reuses the running Postgres (same postmaster pid)" "$pm_pid" "$(head -n1 "$DATA/postgres/postmaster.pid" 2>/dev/null || true)"
check_eq "second up reuses the running Redis (same pid)" "$redis_pid" "$(cat "$DATA/redis.pid" 2>/dev/null || true)"
check_eq "second up keeps the secret" "$secret" "$(tr -d '[:space:]' <"$DATA/secret" 2>/dev/null || true)"
check_eq "second up records nothing new" "$started_before" "$(cat "$DATA/started" 2>/dev/null || true)"

# ---------------------------------------------------------------- explicit secret
weird="it's a \"secret\" \$HOME \`x\`"
if svc "$DATA" "$DSN" "$REDIS_URL" up "$TMP/out3" "$TMP/err3" CHATGATE_SECRET="$weird"; then
	pass "up with CHATGATE_SECRET set exits 0"
else
	fail "up with CHATGATE_SECRET set exits 0"
fi
mapfile -t vals < <(exported "$TMP/out3")
check_eq "a given CHATGATE_SECRET is exported verbatim (quoting)" "$weird" "${vals[2]:-}"
check_eq "a given CHATGATE_SECRET leaves the secret file alone" "$secret" "$(tr -d '[:space:]' <"$DATA/secret" 2>/dev/null || true)"

# ---------------------------------------------------------------- down
if svc "$DATA" "$DSN" "$REDIS_URL" down "$TMP/out4" "$TMP/err4"; then pass "down exits 0"; else fail "down exits 0" && sed 's/^/    /' "$TMP/err4"; fi
check_eq "down prints nothing on stdout" "" "$(cat "$TMP/out4")"
check "local Postgres is stopped" bash -c "! pg_isready -q -h 127.0.0.1 -p $PG_PORT -t 2"
check "local postmaster pid $pm_pid is gone" bash -c "! kill -0 $pm_pid"
check "local Redis is stopped" bash -c "! timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT'"
check "local Redis pid $redis_pid is gone" bash -c "! kill -0 $redis_pid"
check "started is cleared" test ! -e "$DATA/started"
if svc "$DATA" "$DSN" "$REDIS_URL" down "$TMP/out5" "$TMP/err5"; then pass "second down is a quiet no-op"; else fail "second down is a quiet no-op"; fi
check_eq "second down says nothing" "" "$(cat "$TMP/out5" "$TMP/err5")"

# ---------------------------------------------------------------- up again: existing cluster is just started
if svc "$DATA" "$DSN" "$REDIS_URL" up "$TMP/out6" "$TMP/err6"; then pass "up after down exits 0"; else fail "up after down exits 0" && sed 's/^/    /' "$TMP/err6"; fi
check "up after down starts the existing cluster without initdb" bash -c "grep -q 'starting local Postgres' '$TMP/err6' && ! grep -q initialising '$TMP/err6'"
check "up after down finds the database already there" bash -c "! grep -q 'creating database' '$TMP/err6'"
check_eq "database $DB still answers (select 1)" 1 "$(psql_val "$DSN" 'select 1')"
check_eq "Redis answers again" PONG "$(redis_ping "$REDIS_PORT")"
check "up after down prints the same exports" cmp -s "$TMP/out1" "$TMP/out6"
if svc "$DATA" "$DSN" "$REDIS_URL" down "$TMP/out7" "$TMP/err7"; then pass "down again exits 0"; else fail "down again exits 0"; fi
check "Postgres and Redis stopped again" bash -c "! pg_isready -q -h 127.0.0.1 -p $PG_PORT -t 2 && ! timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT'"

# ---------------------------------------------------------------- servers that already answer are used, never stopped
if ((sys_pg && sys_redis)) && [[ $(psql_val "$SYS_MAINT" 'select 1') == 1 ]]; then
	ext_db_created=1
	if svc "$EXT_DATA" "$EXT_DSN" "redis://127.0.0.1:6379/0" up "$TMP/out8" "$TMP/err8"; then
		pass "up against the running 5432/6379 exits 0"
	else
		fail "up against the running 5432/6379 exits 0" && sed 's/^/    /' "$TMP/err8"
	fi
	check_eq "it created database $EXT_DB on the running server" 1 "$(psql_val "$SYS_MAINT" "select count(*) from pg_database where datname = '$EXT_DB'")"
	check "it recorded nothing as started" test ! -e "$EXT_DATA/started"
	svc "$EXT_DATA" "$EXT_DSN" "redis://127.0.0.1:6379/0" down "$TMP/out9" "$TMP/err9" || true
	psql -X -q -d "$SYS_MAINT" -c "DROP DATABASE IF EXISTS $EXT_DB" >/dev/null 2>&1 && ext_db_created=0
else
	printf 'SKIP reuse of running servers (no passwordless postgres@127.0.0.1:5432 or no Redis on 6379)\n'
fi

# ---------------------------------------------------------------- the machine's services are untouched
if ((sys_pg)); then
	check "the machine's Postgres on 5432 still answers" pg_ready 5432
	if [[ -n $sys_pg_start ]]; then
		check_eq "the machine's Postgres was not restarted" "$sys_pg_start" "$(psql_val "$SYS_MAINT" 'select pg_postmaster_start_time()')"
	fi
else
	printf 'SKIP machine Postgres on 5432 (was not answering before the test)\n'
fi
if ((sys_redis)); then
	check_eq "the machine's Redis on 6379 still answers" PONG "$(redis_ping 6379)"
	check_eq "the machine's Redis was not restarted (run_id)" "$sys_redis_id" "$(redis_run_id 6379)"
else
	printf 'SKIP machine Redis on 6379 (was not answering before the test)\n'
fi

if ((FAILS)); then
	printf 'FAIL services_test: %d of %d checks failed\n' "$FAILS" "$CHECKS"
	exit 1
fi
printf 'PASS services_test: %d checks\n' "$CHECKS"
