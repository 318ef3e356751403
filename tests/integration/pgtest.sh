# shellcheck shell=bash
# pgtest.sh - sourced (after tap.sh) by the integration scripts that
# need a PostgreSQL server: a throwaway cluster of the Debian
# PostgreSQL binaries, run as the user postgres (the server refuses
# root), its data and its Unix socket under DIR, listening on
# 127.0.0.1 only on a free port (tap.sh's free_port), password
# authentication (SCRAM) for the one role it has.
#
#   pg_up DIR        the cluster up in DIR (made; owned by postgres),
#                    or 1 with its log shown; sets PG_PORT, PG_USER,
#                    PG_PASSWORD
#   pg_db NAME       a new empty database NAME; its URI into PG_URL
#                    (postgresql://PG_USER:PG_PASSWORD@127.0.0.1:PG_PORT/NAME)
#   pg_sql URL SQL   psql: SQL run on URL, its rows unaligned without
#                    headers
#   pg_down          the cluster stopped (fast, 30 s at most, then
#                    SIGKILL); the caller's on_cleanup calls it
#
# PGTEST_BIN: the server's binaries (default the newest of
# /usr/lib/postgresql/*/bin).
# shellcheck disable=SC2034

PG_DIR=""
PG_PORT=""
PG_USER=lld
PG_PASSWORD=""

pg_bin() {
	if [ -n "${PGTEST_BIN:-}" ]; then
		echo "$PGTEST_BIN"
		return
	fi
	# shellcheck disable=SC2012
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# pg_missing: what this machine lacks to run a cluster ("" if nothing)
pg_missing() {
	local b m=""
	b=$(pg_bin)
	[ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ] || m="$m postgresql"
	command -v psql >/dev/null 2>&1 || m="$m postgresql-client"
	id postgres >/dev/null 2>&1 || m="$m (the user postgres)"
	command -v runuser >/dev/null 2>&1 || m="$m runuser"
	echo "$m"
}

as_pg() { runuser -u postgres -- "$@"; }

pg_up() {
	local bin
	bin=$(pg_bin)
	PG_DIR=$1
	mkdir -p "$PG_DIR/sock" || return 1
	PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
	chown -R postgres: "$PG_DIR" && chmod 700 "$PG_DIR" || return 1
	as_pg "$bin/initdb" -D "$PG_DIR/data" -U "$PG_USER" \
		--pwfile="$PG_DIR/pwfile" --auth=scram-sha-256 -E UTF8 \
		--locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
		tail -n 20 "$PG_DIR/initdb.log"
		return 1
	}
	rm -f "$PG_DIR/pwfile"
	free_port PG_PORT || return 1
	# fsync off: a test's data need not outlive the machine
	as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT \
		    -c unix_socket_directories=$PG_DIR/sock -c fsync=off \
		    -c log_min_messages=warning" start >/dev/null 2>&1 || {
		echo "PostgreSQL did not start:"
		tail -n 20 "$PG_DIR/server.log"
		return 1
	}
}

pg_sql() {
	local url=$1
	shift
	PGCONNECT_TIMEOUT=10 timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 \
		-d "$url" -c "$*"
}

pg_db() {
	pg_sql "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres" \
		"CREATE DATABASE $1" || return 1
	PG_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$1
}

pg_down() {
	local bin
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
	bin=$(pg_bin)
	as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
		>/dev/null 2>&1 && return 0
	# still there after 30 s
	kill -KILL "$(head -n 1 "$PG_DIR/data/postmaster.pid")" 2>/dev/null
}
