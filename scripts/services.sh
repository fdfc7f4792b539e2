#!/usr/bin/env bash
# Make the services Chatgate needs reachable, or stop the ones this script started.
#
#   eval "$(scripts/services.sh up)"   Postgres (and Redis when CHATGATE_REDIS is
#                                      set) reachable; prints export lines
#   scripts/services.sh down           stop only what `up` started
#
# Environment (see README.md, "The two commands" and "Configuration"):
#   CHATGATE_POSTGRES  primary DSN
#                      (default postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable)
#   CHATGATE_REDIS     redis://host:port/db or a comma list of cluster nodes;
#                      empty: no Redis is needed
#   CHATGATE_SECRET    token signing key; empty: <data dir>/secret, generated once
#   CHATGATE_DATA_DIR  project-local state (default .data; a relative path is
#                      taken from the project root)
#
# What `up` does when nothing answers at the DSN's host:port (local hosts only):
#   1. a stopped system cluster on that port (pg_lsclusters) is started, else
#   2. a project-local cluster is initialised in <data dir>/postgres (trust auth,
#      superuser postgres) and started; as root it runs as the postgres OS user.
# Missing Debian packages are installed when running as root. Whatever `up`
# starts is recorded in <data dir>/started; `down` stops exactly that.
# stdout carries only the export lines; progress and errors go to stderr.
set -euo pipefail

readonly DEFAULT_DSN='postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable'

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${CHATGATE_DATA_DIR:-.data}
[[ $DATA == /* ]] || DATA=$ROOT/$DATA
STARTED=$DATA/started

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

usage() {
	cat <<'EOF'
usage: scripts/services.sh up|down

  up    make Postgres (CHATGATE_POSTGRES) and, when CHATGATE_REDIS is set, Redis
        reachable, starting project-local instances when nothing answers; print
        eval-able export lines for CHATGATE_POSTGRES, CHATGATE_REDIS and
        CHATGATE_SECRET on stdout
  down  stop only what `up` started (recorded in $CHATGATE_DATA_DIR/started)

CHATGATE_DATA_DIR (default .data, relative to the project root) holds the local
Postgres cluster, Redis files, logs and the generated secret.
EOF
}

# Single-quote a value for sh/bash eval.
shquote() {
	local q=\'
	printf "'%s'" "${1//$q/$q\\$q$q}"
}

# Percent-decode a URL component (enough for user names, passwords, db names).
urldecode() {
	local s=${1//+/ }
	printf '%b' "${s//%/\\x}"
}

last_lines() {
	if [[ -f $1 ]]; then
		tail -n "${2:-20}" "$1" | sed 's/^/    /' >&2
	fi
}

# tcp_open HOST PORT: does anything accept a TCP connection?
tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

is_local_host() {
	case $1 in
	localhost | 127.* | ::1 | "") return 0 ;;
	*) return 1 ;;
	esac
}

lock_data_dir() {
	mkdir -p "$DATA"
	have flock || return 0
	# fd 9 holds the lock; anything long-lived we start gets 9>&-.
	exec 9>"$DATA/.lock"
	flock -w 300 9 || die "another services.sh is still running (lock $DATA/.lock)"
}

# record KIND FIELD... : remember something we started (deduplicated).
record() {
	local line
	line=$(printf '%s\t' "$@")
	line=${line%$'\t'}
	if [[ ! -f $STARTED ]] || ! grep -Fxq -- "$line" "$STARTED"; then
		printf '%s\n' "$line" >>"$STARTED"
	fi
}

apt_install() {
	if ! is_root || ! have apt-get; then
		return 1
	fi
	log "installing $* (apt-get)"
	# 9>&-: services started by package scripts must not inherit the lock.
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2 9>&-; then
		DEBIAN_FRONTEND=noninteractive apt-get update >&2 9>&- &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2 9>&-
	fi
}

# --------------------------------------------------------------------------
# Postgres

PG_HOST='' PG_PORT='' PG_USER='' PG_PASS='' PG_DB='' PG_MAINT=''

parse_dsn() {
	local dsn=$1
	if [[ $dsn =~ ^postgres(ql)?:// ]]; then
		local scheme=${dsn%%://*} rest=${dsn#*://} query='' path='' auth userinfo='' hostport
		if [[ $rest == *\?* ]]; then
			query=${rest#*\?}
			rest=${rest%%\?*}
		fi
		auth=${rest%%/*}
		[[ $rest == */* ]] && path=${rest#*/}
		if [[ $auth == *@* ]]; then
			userinfo=${auth%@*}
			hostport=${auth##*@}
		else
			hostport=$auth
		fi
		hostport=${hostport%%,*} # first host of a multi-host URL
		if [[ $hostport =~ ^\[([^]]*)\](:([0-9]*))?$ ]]; then
			PG_HOST=${BASH_REMATCH[1]}
			PG_PORT=${BASH_REMATCH[3]}
		else
			PG_HOST=${hostport%%:*}
			[[ $hostport == *:* ]] && PG_PORT=${hostport#*:}
		fi
		PG_USER=$(urldecode "${userinfo%%:*}")
		[[ $userinfo == *:* ]] && PG_PASS=$(urldecode "${userinfo#*:}")
		PG_DB=$(urldecode "$path")
		PG_MAINT="$scheme://$auth/postgres${query:+?$query}"
	else
		# key=value form (unquoted values only)
		local words kv
		read -ra words <<<"$dsn"
		for kv in "${words[@]}"; do
			case $kv in
			host=*) PG_HOST=${kv#*=} ;;
			hostaddr=*) [[ -n $PG_HOST ]] || PG_HOST=${kv#*=} ;;
			port=*) PG_PORT=${kv#*=} ;;
			user=*) PG_USER=${kv#*=} ;;
			password=*) PG_PASS=${kv#*=} ;;
			dbname=*) PG_DB=${kv#*=} ;;
			esac
		done
		PG_HOST=${PG_HOST%%,*}
		PG_PORT=${PG_PORT%%,*}
		PG_MAINT="$dsn dbname=postgres"
	fi
	PG_HOST=${PG_HOST:-localhost}
	PG_PORT=${PG_PORT:-5432}
	PG_USER=${PG_USER:-$(id -un)}
	PG_DB=${PG_DB:-$PG_USER}
	[[ $PG_PORT =~ ^[0-9]+$ ]] || die "bad port '$PG_PORT' in CHATGATE_POSTGRES"
}

# pg_bindir: newest server binaries (Debian layout first, then PATH).
pg_bindir() {
	local d best=''
	while IFS= read -r d; do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && best=$d
	done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
	if [[ -z $best ]] && have initdb && have pg_ctl; then
		best=$(dirname "$(command -v initdb)")
	fi
	[[ -n $best ]] && printf '%s\n' "$best"
}

# pg_tool NAME: a client program from PATH or the server bin dir.
pg_tool() {
	local d
	if have "$1"; then
		command -v "$1"
		return 0
	fi
	d=$(pg_bindir) || return 1
	[[ -x $d/$1 ]] && printf '%s\n' "$d/$1"
}

# probe_pg: 0 accepting, 1 rejecting (starting up / shutting down), 2 no answer.
probe_pg() {
	local isready rc=0
	if isready=$(pg_tool pg_isready); then
		"$isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 3 || rc=$?
		case $rc in 0 | 1) return "$rc" ;; *) return 2 ;; esac
	fi
	tcp_open "$PG_HOST" "$PG_PORT" || return 2
}

# wait_pg SECONDS: until the server accepts connections.
wait_pg() {
	local deadline=$((SECONDS + $1))
	while ((SECONDS < deadline)); do
		probe_pg && return 0
		sleep 0.3
	done
	probe_pg
}

# Run a command as OWNER (root only switches when OWNER is someone else).
as_user() {
	local owner=$1
	shift
	if is_root && [[ $owner != root ]]; then
		(cd / && runuser -u "$owner" -- "$@")
	else
		"$@"
	fi
}

pg_psql() {
	local psql
	psql=$(pg_tool psql) || return 127
	PGCONNECT_TIMEOUT=5 "$psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

ensure_database() {
	local out
	[[ $PG_DB != postgres ]] || return 0
	if ! pg_tool psql >/dev/null; then
		apt_install postgresql-client || true
		if ! pg_tool psql >/dev/null; then
			log "psql not found: not creating database $PG_DB (the gateway creates it itself)"
			return 0
		fi
	fi
	if ! out=$(pg_psql -At -d "$PG_MAINT" -v db="$PG_DB" 2>&1 <<<"SELECT count(*) FROM pg_database WHERE datname = :'db'"); then
		die "cannot connect to Postgres at $PG_HOST:$PG_PORT as $PG_USER (maintenance database postgres): $out"
	fi
	[[ $out == 1 ]] && return 0
	log "creating database $PG_DB"
	if ! out=$(pg_psql -d "$PG_MAINT" -v db="$PG_DB" 2>&1 <<<"SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec"); then
		# Lost a race with the gateway (or another `up`)? Fine if it exists now.
		[[ $(pg_psql -At -d "$PG_MAINT" -v db="$PG_DB" 2>/dev/null <<<"SELECT count(*) FROM pg_database WHERE datname = :'db'") == 1 ]] ||
			die "cannot create database $PG_DB: $out"
	fi
}

# A system cluster on our port that is merely stopped: start it.
start_system_cluster() {
	have pg_lsclusters && have pg_ctlcluster || return 1
	local ver name port status
	while read -r ver name port status _; do
		[[ $port == "$PG_PORT" && $status == down* ]] || continue
		log "starting system cluster $ver/$name on port $port"
		if ! pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9>&-; then
			log "could not start system cluster $ver/$name; falling back to a project-local cluster"
			return 1
		fi
		record postgres-system "$ver" "$name"
		wait_pg 60 || die "system cluster $ver/$name started but nothing answers at $PG_HOST:$PG_PORT"
		return 0
	done < <(pg_lsclusters -h 2>/dev/null)
	return 1
}

conf_quote() {
	local q=\'
	printf "'%s'" "${1//$q/$q$q}"
}

start_local_cluster() {
	local pgdata=$DATA/postgres logfile=$DATA/postgres.log sockdir=$DATA/pg-socket
	local bindir ver owner listen rc=0
	if [[ -f $pgdata/PG_VERSION ]]; then
		ver=$(<"$pgdata/PG_VERSION")
		bindir=/usr/lib/postgresql/$ver/bin
		if [[ ! -x $bindir/pg_ctl ]]; then
			if ! bindir=$(pg_bindir) || [[ $("$bindir/pg_ctl" --version) != *" $ver."* ]]; then
				die "$pgdata was made by PostgreSQL $ver but its binaries are missing (install postgresql-$ver)"
			fi
		fi
	else
		[[ ! -e $pgdata || -z $(ls -A "$pgdata") ]] ||
			die "$pgdata exists but is not a Postgres data directory; move it away"
		bindir=$(pg_bindir) || die "PostgreSQL server binaries not found (install the postgresql package)"
	fi
	# Unix socket paths are limited to ~107 bytes.
	if ((${#sockdir} > 90)); then
		sockdir=/tmp/chatgate-pg-$(printf '%s' "$DATA" | cksum | cut -d' ' -f1)
	fi

	owner=$(id -un)
	if is_root; then
		owner=postgres
		getent passwd postgres >/dev/null ||
			die "running as root needs the 'postgres' OS user (created by the postgresql package); initdb refuses root"
		as_user postgres test -x "$DATA" ||
			die "the postgres OS user cannot reach $DATA; make its parent directories searchable (chmod o+x) or set CHATGATE_DATA_DIR elsewhere"
	fi
	mkdir -p "$sockdir"
	touch "$logfile"
	is_root && chown postgres: "$sockdir" "$logfile"

	if [[ ! -f $pgdata/PG_VERSION ]]; then
		log "initialising a local Postgres cluster in $pgdata"
		mkdir -p "$pgdata"
		chmod 700 "$pgdata"
		is_root && chown postgres: "$pgdata"
		local loc=C
		if locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' >/dev/null; then
			loc=C.UTF-8
		fi
		if ! as_user "$owner" "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
			-E UTF8 --locale="$loc" >"$DATA/initdb.log" 2>&1; then
			last_lines "$DATA/initdb.log"
			die "initdb failed (full output in $DATA/initdb.log)"
		fi
		printf "\n# chatgate: listen address, port and socket dir, rewritten by scripts/services.sh\ninclude_if_exists = 'chatgate.conf'\n" >>"$pgdata/postgresql.conf"
	fi

	listen=$PG_HOST
	[[ $listen == localhost || -z $listen ]] && listen=localhost
	{
		printf 'listen_addresses = %s\n' "$(conf_quote "$listen")"
		printf 'port = %s\n' "$PG_PORT"
		printf 'unix_socket_directories = %s\n' "$(conf_quote "$sockdir")"
	} >"$pgdata/chatgate.conf"
	is_root && chown postgres: "$pgdata/chatgate.conf"

	as_user "$owner" "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || rc=$?
	if ((rc == 0)); then
		die "the local cluster in $pgdata is running but does not answer at $PG_HOST:$PG_PORT (started for another port?); run 'scripts/services.sh down' first"
	fi
	log "starting local Postgres on $PG_HOST:$PG_PORT ($pgdata, log $logfile)"
	# 9>&-: the server must not inherit (and so hold) the lock.
	if ! as_user "$owner" "$bindir/pg_ctl" -D "$pgdata" -l "$logfile" -w -t 60 -s start >&2 9>&-; then
		last_lines "$logfile"
		die "could not start the local Postgres cluster in $pgdata (log $logfile)"
	fi
	record postgres-local "$pgdata" "$bindir"
	wait_pg 30 || die "local Postgres started but nothing answers at $PG_HOST:$PG_PORT (log $logfile)"

	# A DSN user other than postgres: give it a (superuser) role in our cluster.
	if [[ $PG_USER != postgres ]]; then
		local conn="host=$sockdir port=$PG_PORT user=postgres dbname=postgres" out
		out=$(pg_psql -d "$conn" -v u="$PG_USER" -v p="$PG_PASS" 2>&1 <<<"SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', :'u', NULLIF(:'p', '')) WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec") ||
			die "cannot create role $PG_USER in the local cluster: $out"
	fi
}

install_postgres_server() {
	# Install binaries only: a fresh Debian main cluster would listen on 5432
	# with password auth for TCP, which the default DSN cannot use.
	local guard=/etc/postgresql-common/createcluster.d/zz-chatgate-services.conf rc=0
	mkdir -p "${guard%/*}"
	printf 'create_main_cluster = false\n' >"$guard"
	apt_install postgresql || rc=$?
	rm -f "$guard"
	return "$rc"
}

ensure_postgres() {
	local rc=0
	parse_dsn "$POSTGRES_DSN"
	probe_pg || rc=$?
	if ((rc == 1)); then
		log "Postgres at $PG_HOST:$PG_PORT is starting; waiting"
		wait_pg 60 && rc=0
	fi
	if ((rc != 0)); then
		is_local_host "$PG_HOST" ||
			die "nothing answers at $PG_HOST:$PG_PORT (CHATGATE_POSTGRES) and it is not a local address, so it cannot be started here"
		if ! pg_bindir >/dev/null; then
			if is_root; then
				install_postgres_server || die "could not install the postgresql package"
			else
				die "nothing answers at $PG_HOST:$PG_PORT and no PostgreSQL server binaries are installed (run as root to install them, or install the postgresql package)"
			fi
		fi
		if ! start_system_cluster; then
			start_local_cluster
		fi
	fi
	ensure_database
}

# --------------------------------------------------------------------------
# Redis

redis_alive() {
	local reply
	if have redis-cli; then
		reply=$(timeout 3 redis-cli -h "$1" -p "$2" ping 2>/dev/null) || true
		[[ -n $reply ]] # PONG, or an auth error: either way something answers
	else
		tcp_open "$1" "$2"
	fi
}

ensure_redis() {
	[[ -n $REDIS_URL ]] || return 0
	local first=${REDIS_URL%%,*} host port bind pid
	first=${first//[[:space:]]/}
	first=${first#*://}
	first=${first##*@}
	first=${first%%/*}
	first=${first%%\?*}
	if [[ $first =~ ^\[([^]]*)\](:([0-9]*))?$ ]]; then
		host=${BASH_REMATCH[1]}
		port=${BASH_REMATCH[3]}
	else
		host=${first%%:*}
		port=''
		[[ $first == *:* ]] && port=${first#*:}
	fi
	host=${host:-127.0.0.1}
	port=${port:-6379}
	[[ $port =~ ^[0-9]+$ ]] || die "bad port '$port' in CHATGATE_REDIS"

	redis_alive "$host" "$port" && return 0
	is_local_host "$host" ||
		die "nothing answers at $host:$port (CHATGATE_REDIS) and it is not a local address, so it cannot be started here"
	[[ $REDIS_URL != *,* ]] ||
		die "nothing answers at $host:$port and CHATGATE_REDIS lists several nodes: a Redis cluster is not started automatically"
	if ! have redis-server; then
		is_root || die "nothing answers at $host:$port and redis-server is not installed (run as root to install it, or install the redis-server package)"
		apt_install redis-server || die "could not install the redis-server package"
		# The package may have started its own service on this port.
		redis_alive "$host" "$port" && return 0
	fi

	bind=127.0.0.1
	[[ $host == ::1 ]] && bind=::1
	log "starting local Redis on $bind:$port (log $DATA/redis.log)"
	rm -f "$DATA/redis.pid"
	redis-server --daemonize yes --bind "$bind" --port "$port" --save "" --appendonly no \
		--dir "$DATA" --logfile "$DATA/redis.log" --pidfile "$DATA/redis.pid" >&2 9>&- ||
		die "redis-server failed to start (log $DATA/redis.log)"
	local deadline=$((SECONDS + 15))
	until [[ -s $DATA/redis.pid ]] && redis_alive "$host" "$port"; do
		if ((SECONDS >= deadline)); then
			last_lines "$DATA/redis.log"
			die "Redis did not come up on $host:$port (log $DATA/redis.log)"
		fi
		sleep 0.2
	done
	pid=$(<"$DATA/redis.pid")
	record redis "$pid" "$port"
}

# --------------------------------------------------------------------------
# Secret

ensure_secret() {
	local f=$DATA/secret tmp mode
	if [[ -n $SECRET ]]; then
		return 0
	fi
	if [[ ! -s $f ]]; then
		log "generating $f"
		tmp=$(umask 077 && mktemp "$DATA/.secret.XXXXXX")
		(umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' && echo) >"$tmp"
		mv -f "$tmp" "$f"
	fi
	mode=$(stat -c %a "$f")
	if [[ $mode != 600 ]]; then
		chmod 600 "$f" || die "cannot chmod 600 $f"
	fi
	SECRET=$(tr -d '[:space:]' <"$f")
	[[ -n $SECRET ]] || die "$f is empty"
}

# --------------------------------------------------------------------------
# down

pid_is() { # pid_is PID PATTERN: process PID's command line matches PATTERN
	local cmd=''
	if [[ -r /proc/$1/cmdline ]]; then
		cmd=$(tr '\0' ' ' <"/proc/$1/cmdline")
	elif have ps; then
		cmd=$(ps -o args= -p "$1" 2>/dev/null) || return 1
	fi
	# shellcheck disable=SC2053 # PATTERN is a glob on purpose
	[[ $cmd == $2 ]]
}

stop_local_cluster() { # PGDATA BINDIR
	local pgdata=$1 bindir=$2 owner rc=0
	[[ -f $pgdata/PG_VERSION ]] || return 0
	[[ -x $bindir/pg_ctl ]] || bindir=$(pg_bindir) || die "pg_ctl not found; cannot stop $pgdata"
	owner=$(stat -c %U "$pgdata")
	as_user "$owner" "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || rc=$?
	((rc == 0)) || return 0 # not running
	log "stopping local Postgres ($pgdata)"
	as_user "$owner" "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 -s stop >&2
}

stop_system_cluster() { # VER NAME
	local status
	status=$(pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v n="$2" '$1 == v && $2 == n { print $4 }')
	[[ $status == online* ]] || return 0
	log "stopping system cluster $1/$2"
	pg_ctlcluster --skip-systemctl-redirect "$1" "$2" stop >&2
}

stop_redis() { # PID PORT
	local pid=$1 port=$2 deadline
	kill -0 "$pid" 2>/dev/null || return 0
	if ! pid_is "$pid" "*redis-server*:$port*"; then
		log "pid $pid is no longer our Redis on port $port; leaving it alone"
		return 0
	fi
	log "stopping local Redis on port $port (pid $pid)"
	kill -TERM "$pid"
	deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < deadline)) || {
			log "Redis pid $pid did not exit"
			return 1
		}
		sleep 0.2
	done
}

cmd_down() {
	[[ -s $STARTED ]] || return 0
	lock_data_dir
	local kind a b keep=() line ok
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		IFS=$'\t' read -r kind a b _ <<<"$line"
		ok=0
		case $kind in
		postgres-local) stop_local_cluster "$a" "$b" || ok=$? ;;
		postgres-system) stop_system_cluster "$a" "$b" || ok=$? ;;
		redis) stop_redis "$a" "$b" || ok=$? ;;
		*) log "ignoring unknown entry in $STARTED: $line" ;;
		esac
		((ok == 0)) || keep+=("$line")
	done <"$STARTED"
	if ((${#keep[@]})); then
		printf '%s\n' "${keep[@]}" >"$STARTED"
		die "could not stop everything; still recorded in $STARTED"
	fi
	rm -f "$STARTED"
}

# --------------------------------------------------------------------------

cmd_up() {
	lock_data_dir
	ensure_secret
	ensure_postgres
	ensure_redis
	printf 'export CHATGATE_POSTGRES=%s\n' "$(shquote "$POSTGRES_DSN")"
	printf 'export CHATGATE_REDIS=%s\n' "$(shquote "$REDIS_URL")"
	printf 'export CHATGATE_SECRET=%s\n' "$(shquote "$SECRET")"
}

POSTGRES_DSN=${CHATGATE_POSTGRES:-$DEFAULT_DSN}
REDIS_URL=${CHATGATE_REDIS:-}
SECRET=${CHATGATE_SECRET:-}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
